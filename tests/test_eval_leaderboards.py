"""RewardBench, RewardBench 2, JudgeBench and RM-Bench: their authors' counting rules, on replayed and judged records.

The RewardBench replay rebuilds, from two published per-subset results (beaver-7b-cost, from rewardbench's
README; prometheus-8x7b-v2.0, from allenai/reward-bench-results), a data file with RewardBench's real subset
sizes and a predictions file whose items score 1, 0.5 or 0, and checks that the replay gives the section
scores RewardBench's own calculate_scores_per_section gives. The judging rules run on the scripted backend
(a judge whose verdicts follow from the text it reads), so each rule's outcome is known in advance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reward_judge.eval import EvalDataError, evaluate
from reward_judge.eval.judgebench import flip, pair_correct
from reward_judge.eval.leaderboard_data import read_rewardbench_2
from reward_judge.eval.rewardbench import (EXAMPLE_COUNTS, SUBSET_MAPPING, ratings_best_of, section_scores, seeded_bit,
                                           seeded_slot, ties_score)
from reward_judge.eval.rmbench import hard_normal_easy, mean_matrix, score_cells
from tests._scripted import scripted_model

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data" / "eval" / "leaderboards"
WORKED = json.loads((DATA / "rewardbench_worked_examples.json").read_text())


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------ RewardBench replay with its own weighting
@pytest.mark.parametrize("example", WORKED["examples"], ids=lambda e: e["model"].split("/")[-1])
def test_rewardbench_replay_recomputes_the_sections_with_rewardbench_weighting(tmp_path, example):
    data, predictions = [], []
    for subset, size in WORKED["subset_sizes"].items():
        halves = round(example["metrics"][subset] * size * 2)  # every published accuracy is k/2 of the subset
        scores = [1.0] * (halves // 2) + [0.5] * (halves % 2) + [0.0] * (size - halves // 2 - halves % 2)
        for score in scores:
            index = len(data)
            data.append({"prompt": f"p{index}", "chosen": "c", "rejected": "r", "subset": subset, "id": index})
            predictions.append({"index": index, "id": index, "subset": subset, "correct": score})
    assert len(data) == 2985
    report = evaluate("rewardbench", write_jsonl(tmp_path / "rb.jsonl", data),
                      predictions=write_jsonl(tmp_path / "preds.jsonl", predictions))
    for subset, accuracy in example["metrics"].items():
        assert math.isclose(report.groups[subset]["accuracy"], 100 * accuracy, abs_tol=1e-9)
        assert report.groups[subset]["n"] == WORKED["subset_sizes"][subset]
    for section, expected in example["expected_sections"].items():
        assert math.isclose(report.overall["sections"][section], 100 * expected, abs_tol=1e-9)
    assert math.isclose(report.overall["accuracy"], 100 * example["expected_mean_of_4_sections"], abs_tol=1e-9)
    assert "section: Chat Hard" in report.table()


def test_section_weights_are_rewardbench_constants():
    assert EXAMPLE_COUNTS["math-prm"] == 984 == 6 * EXAMPLE_COUNTS["hep-cpp"]
    assert {s: sum(EXAMPLE_COUNTS[t] for t in subsets) for s, subsets in SUBSET_MAPPING.items()} == {
        "Chat": 358, "Chat Hard": 456, "Safety": 740, "Reasoning": 1968}
    assert section_scores({"alpacaeval-easy": 1.0})["Safety"] is None  # RewardBench would say 0


def test_a_partial_run_has_no_rewardbench_score(tmp_path):
    data = [{"prompt": "p", "chosen": "c", "rejected": "r", "subset": "alpacaeval-easy", "id": 1}]
    preds = [{"index": 0, "id": 1, "subset": "alpacaeval-easy", "correct": 1}]
    report = evaluate("rewardbench", write_jsonl(tmp_path / "d.jsonl", data), predictions=write_jsonl(tmp_path / "p.jsonl", preds))
    assert report.overall["accuracy"] is None and report.overall["sections"]["Chat"] == 100.0
    assert any("no RewardBench score" in note for note in report.notes)


# ------------------------------------------------------------------ RewardBench judged (scripted judge)
def test_rewardbench_pairwise_order_is_seeded_and_counted_as_rewardbench_does(tmp_path):
    # a judge that always names the first answer: right exactly when the chosen answer was shown first
    rm = scripted_model(protocol="prometheus-v2-relative", answer_format="[RESULT] A", seed=7)
    report = evaluate("rewardbench", DATA / "rewardbench_sample.jsonl", rm, report_dir=tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and all({"id", "subset", "correct"} <= set(line) for line in lines)
    for line in lines:
        shown_as = "B" if seeded_bit(7, "rewardbench", line["id"]) else "A"
        assert line["orders"] == [{"chosen_as": shown_as, "winner": "A", "score": 1.0 if shown_as == "A" else 0.0}]
        assert line["correct"] == (1.0 if shown_as == "A" else 0.0)
    assert {line["correct"] for line in lines} == {0.0, 1.0}  # the draw puts chosen answers in both places
    both = evaluate("rewardbench", DATA / "rewardbench_sample.jsonl", rm, order="both")
    assert all(g["accuracy"] == 50.0 for g in both.groups.values())  # pure position bias: 1 and 0 in every pair
    replayed = evaluate("rewardbench", DATA / "rewardbench_sample.jsonl", predictions=tmp_path / "predictions.jsonl")
    assert replayed.overall == report.overall and replayed.groups == report.groups


def test_rewardbench_ratings_and_unparsed_verdicts_count_one_half(tmp_path):
    rows = [json.loads(line) for line in (DATA / "rewardbench_sample.jsonl").read_text().splitlines()][:3]
    rows[0]["chosen"] += " score=5"
    rows[0]["rejected"] += " score=2"   # chosen rated higher: 1
    rows[1]["chosen"] += " score=3"
    rows[1]["rejected"] += " score=3"   # equal ratings: 0.5
    rows[2]["chosen"] += " score=1"
    rows[2]["rejected"] += " score=4"   # rejected higher: 0
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    report = evaluate("rewardbench", path, scripted_model(), report_dir=tmp_path / "r")
    lines = [json.loads(line) for line in (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()]
    assert [line["correct"] for line in lines] == [1.0, 0.5, 0.0]
    garbled = evaluate("rewardbench", path, scripted_model(protocol="prometheus-v2-relative", max_attempts=1,
                                                             answer_format="I cannot tell."), order="both")
    assert all(g["accuracy"] == 50.0 for g in garbled.groups.values())  # no verdict: 0.5, as RewardBench counts it


# ------------------------------------------------------------------ RewardBench 2
def test_rewardbench_2_rules():
    assert ratings_best_of([9, 9, 9, 2]) == pytest.approx(1 / 3) and ratings_best_of([4, None, None, None]) == 1.0
    assert seeded_slot(0, "rewardbench-2", "f1") == seeded_slot(0, "rewardbench-2", "f1")
    # both kinds accurate, margins above the (zero) spread of the tied correct answers, no tanh term
    assert ties_score([("ref:0", [9, 3, 1], 1), ("tied:0", [9, 9, 9, 2, 1], 3)]) == pytest.approx(1.0)
    assert ties_score([("ref:0", [2, 3], 1), ("tied:0", [9, 9, 9, 2, 1], 3)]) == pytest.approx(0.3 + 0.2)


def test_rewardbench_2_four_way_and_ties_by_ratings(tmp_path):
    # a 4-way judge that always answers [[D]]: right exactly when the chosen answer was swapped into slot D
    rm = scripted_model(protocol="rewardbench-four", rubric=None, answer_format="[[D]]", seed=3)
    report = evaluate("rewardbench-2", DATA / "rewardbench2_sample.jsonl", rm, report_dir=tmp_path)
    items = read_rewardbench_2(DATA / "rewardbench2_sample.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    for item, line in zip(items, lines, strict=True):
        assert (line["id"], line["subset"]) == (item.item_id, item.group)
        if item.ties:  # rated with RewardBench 2's Ties prompt: the scripted judge writes no rating, all invalid
            assert line["method"] == "ratings" and len(line["ratings"]) == len(item.completions)
        else:
            slot = seeded_slot(3, "rewardbench-2", item.item_id)
            assert line["chosen_slot"] == "ABCD"[slot] and line["choice"] == "D"
            assert line["correct"] == (1.0 if slot == 3 else 0.0)
    assert set(report.groups) == {"Factuality", "Math", "Precise IF", "Safety", "Focus", "Ties"}
    assert report.overall["accuracy"] == pytest.approx(sum(g["accuracy"] for g in report.groups.values()) / 6)


def test_rewardbench_2_ratings_of_the_judge_own_protocol(tmp_path):
    rows = [json.loads(line) for line in (DATA / "rewardbench2_sample.jsonl").read_text().splitlines()]
    rows[0]["chosen"] = [rows[0]["chosen"][0] + " score=5"]
    rows[0]["rejected"] = [r + " score=2" for r in rows[0]["rejected"]]  # the chosen answer alone on top: 1
    rows[1]["chosen"] = [rows[1]["chosen"][0] + " score=4"]
    rows[1]["rejected"] = [rows[1]["rejected"][0] + " score=4"] + [r + " score=1" for r in rows[1]["rejected"][1:]]  # 0.5
    report = evaluate("rewardbench-2", write_jsonl(tmp_path / "rb2.jsonl", rows[:2] + rows[5:]), scripted_model(),
                      report_dir=tmp_path / "r")
    lines = [json.loads(line) for line in (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()]
    assert [line["correct"] for line in lines[:2]] == [1.0, 0.5]
    assert report.groups["Factuality"]["accuracy"] == 100.0 and report.groups["Math"]["accuracy"] == 50.0
    assert "Ties" in report.groups and any("absent" in note for note in report.notes)


def test_rewardbench_2_refuses_a_pairwise_protocol():
    with pytest.raises(ValueError, match="compares four answers"):
        evaluate("rewardbench-2", DATA / "rewardbench2_sample.jsonl", scripted_model(protocol="prometheus-v2-relative"))


# ------------------------------------------------------------------ JudgeBench
def test_judgebench_counter_rule():
    assert pair_correct("A>B", ["A>B", "A>B"]) == 1
    assert pair_correct("A>B", ["A>B", "B>A"]) == 0        # inconsistent
    assert pair_correct("A>B", ["A>B", "A=B"]) == 1        # right once, tie once
    assert pair_correct("B>A", [None, None]) == 0
    assert pair_correct("B>A", ["B>A"]) == 1 and flip("A=B") == "A=B"


def test_judgebench_both_orders_catch_position_bias(tmp_path):
    rm = scripted_model(protocol="prometheus-v2-relative", answer_format="[RESULT] A")  # always the first answer
    report = evaluate("judgebench", DATA / "judgebench_sample.jsonl", rm, report_dir=tmp_path)
    assert report.overall["accuracy"] == 0.0  # A>B then (flipped) B>A on every pair: counter 0
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert all(line["decisions"] == ["A>B", "B>A"] and line["correct"] == 0 for line in lines)
    assert list(report.groups) == ["knowledge", "reasoning", "math", "coding"]
    single = evaluate("judgebench", DATA / "judgebench_sample.jsonl", rm, order="shown")
    assert single.overall["accuracy"] == 50.0  # two labels of four are A>B
    replay = evaluate("judgebench", DATA / "judgebench_sample.jsonl", predictions=tmp_path / "predictions.jsonl")
    assert replay.overall == report.overall


# ------------------------------------------------------------------ RM-Bench
def test_rm_bench_matrix_rules():
    assert hard_normal_easy(mean_matrix([score_cells([1, 1, 1], [0, 0, 0]), score_cells([0, 0, 0], [1, 1, 1])])) == {
        "hard": 0.5, "normal": 0.5, "easy": 0.5}
    assert score_cells([2, 2, 2], [2, 1, 3]) == [[0.0, 1.0, 0.0]] * 3  # equal scores are wrong


def test_rm_bench_scores_each_style(tmp_path):
    rows = [json.loads(line) for line in (DATA / "rmbench_sample.jsonl").read_text().splitlines()]
    for row in rows:  # chosen styles score 2, 3, 4; rejected 1, 3, 5: the fancier rejected beats plain chosen
        row["chosen"] = [c + f" score={s}" for c, s in zip(row["chosen"], (2, 3, 4))]
        row["rejected"] = [r + f" score={s}" for r, s in zip(row["rejected"], (1, 3, 5))]
    report = evaluate("rm-bench", write_jsonl(tmp_path / "rmb.jsonl", rows), scripted_model(), report_dir=tmp_path / "r")
    # cells: chosen 2 > [1]; 3 > [1]; 4 > [1, 3] -> hard (upper) 1/3? upper: (0,1)=0,(0,2)=0,(1,2)=0 -> 0
    assert report.overall["hard"] == 0.0 and report.overall["easy"] == 100.0
    assert report.overall["normal"] == pytest.approx(100 / 3)  # 2>1 only on the diagonal
    assert set(report.groups) == {"chat", "math", "code", "safety"}  # safety-refuse is safety
    line = json.loads((tmp_path / "r" / "predictions.jsonl").read_text().splitlines()[0])
    assert line["cells"] == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]] and line["correct"] == pytest.approx(4 / 9)


def test_rm_bench_pairwise_judge_compares_nine_pairs(tmp_path):
    rm = scripted_model(protocol="prometheus-v2-relative", answer_format="[RESULT] A")  # always the first answer
    report = evaluate("rm-bench", DATA / "rmbench_sample.jsonl", rm, order="both", report_dir=tmp_path)
    line = json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])
    assert line["cells"] == [[0.5] * 3] * 3 and len(line["answers"]) == 18
    assert report.overall["accuracy"] == 50.0


# ------------------------------------------------------------------ bad input
def test_bad_leaderboard_data_names_file_line_and_field(tmp_path):
    with pytest.raises(EvalDataError, match=r"rb2.jsonl:1: field 'rejected' must hold 3 answers"):
        bad = [{"id": "x", "subset": "Math", "prompt": "p", "chosen": ["a"], "rejected": ["b"]}]
        evaluate("rewardbench-2", write_jsonl(tmp_path / "rb2.jsonl", bad), scripted_model())
    with pytest.raises(EvalDataError, match=r"jb.jsonl:1: field 'label' must be 'A>B' or 'B>A'"):
        bad = [{"pair_id": "1", "source": "mmlu-pro-x", "question": "q", "response_A": "a", "response_B": "b", "label": "A"}]
        evaluate("judgebench", write_jsonl(tmp_path / "jb.jsonl", bad), scripted_model())
    with pytest.raises(EvalDataError, match=r"rb.jsonl:2: field 'id' repeats the id of line 1"):
        row = {"prompt": "p", "chosen": "c", "rejected": "r", "subset": "hep-go", "id": 5}
        evaluate("rewardbench", write_jsonl(tmp_path / "rb.jsonl", [row, row]), scripted_model())
    with pytest.raises(EvalDataError, match="'correct' must be a number between 0 and 1"):
        row = {"prompt": "p", "chosen": "c", "rejected": "r", "subset": "hep-go", "id": 5}
        evaluate("rewardbench", write_jsonl(tmp_path / "rb1.jsonl", [row]),
                 predictions=write_jsonl(tmp_path / "p.jsonl", [{"index": 0, "correct": 2}]))
    with pytest.raises(ValueError, match="order='shown' does not apply to 'rewardbench'"):
        evaluate("rewardbench", DATA / "rewardbench_sample.jsonl", scripted_model(), order="shown")
    with pytest.raises(ValueError, match="Ties item id is 'ref:N' or 'tied:N'"):
        bad = [{"id": "x", "subset": "Ties", "prompt": "p", "chosen": ["a"], "rejected": ["b"]}]
        evaluate("rewardbench-2", write_jsonl(tmp_path / "t.jsonl", bad), scripted_model())

