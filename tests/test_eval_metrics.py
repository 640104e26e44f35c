"""Metrics on the Prometheus sets equal scipy's on the same vectors; HHH, keval and calibration as defined."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from reward_judge import get_protocol
from reward_judge.eval import evaluate, spread_selection
from reward_judge.eval.datasets import read_hhh_alignment, read_prometheus_absolute
from reward_judge.eval.metrics import calibration_bins, keval_scores, preference_outcome

pytestmark = pytest.mark.unit

PROMETHEUS = Path(__file__).parent / "data" / "eval" / "prometheus"
MT_BENCH = PROMETHEUS / "mt_bench_eval_excerpt.json"
VICUNA = PROMETHEUS / "vicuna_eval_excerpt.json"
HHH = PROMETHEUS / "hhh_alignment_eval_excerpt.json"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def scipy_figures(judge: list[float], labels: list[float]) -> dict:
    return {"pearson": pearsonr(judge, labels)[0], "spearman": spearmanr(judge, labels)[0],
            "kendall": kendalltau(judge, labels)[0]}  # scipy's default Kendall is tau-b


def test_mt_bench_correlations_equal_scipy(tmp_path):
    raw = json.loads(MT_BENCH.read_text())
    # a "judge" that repeats GPT-4's first and third scores as two runs, with gaps: item 3 has no valid
    # score in any run (left out), item 5 only in its second run
    rows = []
    for k, item in enumerate(raw):
        scores = [item["gpt4_score"][0], item["gpt4_score"][2]]
        if k == 3:
            scores = [None, None]
        if k == 5:
            scores[0] = None
        rows.append({"scores": scores})
    report = evaluate("mt-bench", MT_BENCH, predictions=write_jsonl(tmp_path / "p.jsonl", rows))

    def vectors(members):
        judge = [statistics.mean([s for s in rows[k]["scores"] if s is not None]) for k in members if k != 3]
        labels = [statistics.mean(raw[k]["gpt4_score"]) for k in members if k != 3]
        return judge, labels

    expected = scipy_figures(*vectors(range(len(raw))))
    assert {name: report.overall[name] for name in expected} == expected
    assert report.overall["n"] == len(raw) - 1
    assert report.judging["items_with_verdict"] == len(raw) - 1 and report.judging["answers_without_verdict"] == 3
    for category in dict.fromkeys(item["category"] for item in raw):
        members = [k for k, item in enumerate(raw) if item["category"] == category]
        judge, labels = vectors(members)
        figures = report.groups[category]
        if len(set(judge)) > 1 and len(set(labels)) > 1:
            assert {name: figures[name] for name in expected} == scipy_figures(judge, labels), category
        else:  # scipy gives NaN (and a warning) on a constant vector: we report "undefined"
            assert figures["pearson"] is None and figures["kendall"] is None, category


def test_vicuna_single_scores_with_index(tmp_path):
    raw = json.loads(VICUNA.read_text())
    # lines in reverse order, matched to the data by "index"; a judge on the 1-10 scale (correlation is scale-free)
    rows = [{"index": k, "score": 2 * raw[k]["gpt4_score"][1] - (k % 3)} for k in reversed(range(len(raw)))]
    report = evaluate("vicuna", VICUNA, predictions=write_jsonl(tmp_path / "p.jsonl", rows))
    judge = [2 * item["gpt4_score"][1] - (k % 3) for k, item in enumerate(raw)]
    labels = [statistics.mean(item["gpt4_score"]) for item in raw]
    expected = scipy_figures(judge, labels)
    assert {name: report.overall[name] for name in expected} == expected
    assert list(report.groups) == list(dict.fromkeys(item["category"] for item in raw))


def test_prometheus_prompts_are_split_into_fields_that_render_back_exactly():
    protocol = get_protocol("prometheus-v1", message_split="user")
    for path in (MT_BENCH, VICUNA):
        raw = json.loads(path.read_text())
        items = read_prometheus_absolute(path)
        for item, record in zip(items, raw, strict=True):
            assert item.reference is not None and item.label == statistics.mean(record["gpt4_score"])
            rendered = protocol.render(item.prompt, item.response, reference=item.reference, rubric=item.rubric)
            assert rendered[0]["content"] == record["instruction"]  # byte for byte
    for item, record in zip(read_hhh_alignment(HHH), json.loads(HHH.read_text()), strict=True):
        assert item.rubric.startswith("[") and "Score 5:" in item.rubric
        assert f"###Response to evaluate:\n{item.chosen}\n\n###Score Rubrics:" in record["chosen_instruction"]
        assert f"###Response to evaluate:\n{item.rejected}\n\n###Score Rubrics:" in record["rejected_instruction"]


def test_hhh_accuracy_ties_and_runs(tmp_path):
    raw = json.loads(HHH.read_text())
    patterns = [
        ([5], [3], "right"), ([2], [4], "wrong"), ([3], [3], "tie"), ([None], [3], "missing"),
        ([3, 5], [3, 2], "right"),          # run 1 ties, run 2 decides
        ([None, 1], [4, 4], "wrong"),       # run 1 lacks a score, run 2 decides
        ([4, 4], [4, 4], "tie"),
    ]
    rows, expected = [], []
    for k in range(len(raw)):
        chosen, rejected, outcome = patterns[k % len(patterns)]
        rows.append({"chosen_scores": chosen, "rejected_scores": rejected})
        expected.append(outcome)
    report = evaluate("hhh-alignment", HHH, predictions=write_jsonl(tmp_path / "p.jsonl", rows))
    assert report.overall["accuracy"] == 100 * expected.count("right") / len(raw)
    assert report.overall["ties"] == expected.count("tie") and report.overall["missing"] == expected.count("missing")
    assert list(report.groups) == ["helpful", "harmless", "honest", "other"]
    for group, figures in report.groups.items():
        members = [k for k, item in enumerate(raw) if item["source"] == group]
        assert figures["accuracy"] == 100 * sum(expected[k] == "right" for k in members) / len(members)
    assert report.judging["items_with_verdict"] == len(raw) - expected.count("missing")


def test_preference_outcome_reads_runs_in_order():
    assert preference_outcome([3, 1], [3, 5]) == "wrong"
    assert preference_outcome([None, None], [1, 2]) == "missing"
    with pytest.raises(ValueError):
        preference_outcome([1, 2], [1])


def test_keval_diff_score_accuracy_and_wrong(tmp_path):
    # keval card: a difference of 0 earns 1 point, of 1 half a point; divided by all items; "wrong" = no valid score
    labels = [0, 3, 7, 10, 5, 5, 8, 2]
    judged = [0, 4, 5, 10, None, 5.4, 6.5, 2]   # 5.4 rounds to 5, 6.5 rounds up to 7
    out = keval_scores(labels, judged)
    assert out["diff_counts"] == {0: 4, 1: 2, 2: 1} and out["wrong"] == 1 and out["length"] == 8
    assert out["diff_score"] == 100 * (4 + 0.5 * 2) / 8 and out["accuracy"] == 100 * 4 / 8

    data = write_jsonl(tmp_path / "data.jsonl", [
        {"prompt": f"q{k}", "response": f"a{k}", "label": label, "group": "even" if k % 2 == 0 else "odd"}
        for k, label in enumerate(labels)])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"score": s} for s in judged])
    report = evaluate("custom-absolute", data, predictions=preds)
    assert {k: report.overall[k] for k in ("diff_score", "accuracy", "wrong")} == \
        {k: out[k] for k in ("diff_score", "accuracy", "wrong")}
    valid = [k for k, s in enumerate(judged) if s is not None]
    assert report.overall["pearson"] == pearsonr([judged[k] for k in valid], [labels[k] for k in valid])[0]
    assert report.groups["even"]["wrong"] == 1 and report.groups["odd"]["wrong"] == 0

    fractional = write_jsonl(tmp_path / "frac.jsonl", [{"prompt": "q", "response": "a", "label": 2.5},
                                                        {"prompt": "q", "response": "b", "label": 4}])
    report = evaluate("custom-absolute", fractional, predictions=write_jsonl(tmp_path / "fp.jsonl",
                                                                            [{"score": 2}, {"score": 4}]))
    assert "diff_score" not in report.overall and any("integer labels" in note for note in report.notes)


def test_calibration_bins():
    out = calibration_bins([0.95, 0.92, 0.55, 0.51, 1.0], [True, False, True, True, True], bins=10)
    assert [(b["low"], b["count"], b["accuracy"]) for b in out["bins"]] == [(0.5, 2, 1.0), (0.9, 3, 2 / 3)]
    assert out["ece"] == pytest.approx(2 / 5 * abs(1.0 - 0.53) + 3 / 5 * abs(2 / 3 - (0.95 + 0.92 + 1.0) / 3))


def test_spread_selection():
    assert spread_selection(1392, 8) == [0, 174, 348, 522, 696, 870, 1044, 1218]
    assert spread_selection(5, 8) == [0, 1, 2, 3, 4] and spread_selection(5, None) == [0, 1, 2, 3, 4]
    assert len(set(spread_selection(321, 320))) == 320
