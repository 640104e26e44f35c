"""Bad benchmark data and bad prediction files get an error naming the file, the line and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reward_judge.eval import EvalDataError, evaluate

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data" / "eval"
AUTOJ = DATA / "autoj" / "testdata_pairwise.jsonl"
PRED = DATA / "autoj" / "pairwise_example_output.jsonl"
MT_BENCH = DATA / "prometheus" / "mt_bench_eval_excerpt.json"
HHH = DATA / "prometheus" / "hhh_alignment_eval_excerpt.json"


def autoj_lines(n: int = 6) -> list[dict]:
    with AUTOJ.open() as handle:
        return [json.loads(next(handle)) for _ in range(n)]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def raises(path: Path, line, field, text: str):
    """pytest.raises for an EvalDataError at ``path:line`` about ``field`` whose message holds ``text``."""
    where = f"{path}:{line}" if line is not None else str(path)
    return pytest.raises(EvalDataError, match=re.escape(where) + ".*" + re.escape(text))


def check(err: pytest.ExceptionInfo, line, field) -> None:
    assert err.value.line == line and err.value.field == field


# ------------------------------------------------------------------ data files
def test_autoj_missing_field(tmp_path):
    rows = autoj_lines()
    del rows[3]["response 2"]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with raises(path, 4, "response 2", "field 'response 2' is missing") as err:
        evaluate("autoj-pairwise", path, predictions=PRED)
    check(err, 4, "response 2")


def test_autoj_label_out_of_range_and_unknown_scenario(tmp_path):
    rows = autoj_lines()
    rows[2]["label"] = 3
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with raises(path, 3, "label", "field 'label' must be 0 (first better), 1 (second better) or 2 (tie), got 3"):
        evaluate("autoj-pairwise", path, predictions=PRED)
    rows = autoj_lines()
    rows[1]["label"] = True  # a bool is not a label
    with raises(write_jsonl(path, rows), 2, "label", "got True"):
        evaluate("autoj-pairwise", path, predictions=PRED)
    rows = autoj_lines()
    rows[5]["scenario"] = "poetry"
    with raises(write_jsonl(path, rows), 6, "scenario", "is not one of Auto-J's 58 scenarios, got 'poetry'"):
        evaluate("autoj-pairwise", path, predictions=PRED)


def test_prometheus_set_bad_scores_name_the_item_line(tmp_path):
    raw = json.loads(MT_BENCH.read_text())
    raw[2]["gpt4_score"] = [3, 6, 2]
    path = tmp_path / "mt.json"
    text = json.dumps(raw, indent=4)
    path.write_text(text)
    line = text[: text.index(json.dumps(raw[2], indent=4).replace("\n", "\n    "))].count("\n") + 1
    with raises(path, line, "gpt4_score", "must hold scores between 1 and 5, got 6") as err:
        evaluate("mt-bench", path, predictions=PRED)
    check(err, line, "gpt4_score")
    raw[2]["gpt4_score"] = [3, 3, 3]
    raw[4]["instruction"] = "Rate this answer: 42"
    path.write_text(json.dumps(raw, indent=4))
    with pytest.raises(EvalDataError, match=r"mt\.json:\d+: field 'instruction' has no '###The instruction to evaluate:'"):
        evaluate("mt-bench", path, predictions=PRED)
    del raw[4]["instruction"]
    path.write_text(json.dumps(raw, indent=4))
    with pytest.raises(EvalDataError, match=r"mt\.json:\d+: field 'instruction' is missing"):
        evaluate("mt-bench", path, predictions=PRED)


def test_hhh_pairs_must_share_the_instruction(tmp_path):
    raw = json.loads(HHH.read_text())
    raw[1]["rejected_instruction"] = raw[0]["rejected_instruction"]
    path = tmp_path / "hhh.json"
    path.write_text(json.dumps(raw, indent=4))
    with pytest.raises(EvalDataError, match=r"hhh\.json:\d+: field 'rejected_instruction' has another instruction"):
        evaluate("hhh-alignment", path, predictions=PRED)


def test_custom_sets(tmp_path):
    path = write_jsonl(tmp_path / "abs.jsonl", [{"prompt": "q", "response": "a", "label": 3},
                                                 {"prompt": "q", "response": "b", "label": "high"}])
    with raises(path, 2, "label", "field 'label' must be a finite number, got 'high'"):
        evaluate("custom-absolute", path, predictions=PRED)
    write_jsonl(path, [{"prompt": "q", "response": "a", "label": 3}, {"prompt": "q", "response": "b", "label": 11}])
    with raises(path, 2, "label", "is outside label_range 1-10, got 11"):
        evaluate("custom-absolute", path, predictions=PRED, label_range=(1, 10))
    write_jsonl(path, [{"prompt": "q", "label": 3}])
    with raises(path, 1, "response", "field 'response' is missing"):
        evaluate("custom-absolute", path, predictions=PRED)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "q", "response_a": "a", "response_b": "b", "label": "C"}])
    with raises(pairs, 1, "label", "must be 0, 1, 2 (or 'A', 'B', 'tie'), got 'C'"):
        evaluate("custom-pairwise", pairs, predictions=PRED)
    write_jsonl(pairs, [{"prompt": "q", "response_a": "a", "response_b": 7, "label": "A"}])
    with raises(pairs, 1, "response_b", "must be a string, got 7"):
        evaluate("custom-pairwise", pairs, predictions=PRED)
    pairs.write_text('{"prompt": "q", "response_a": "a", "response_b": "b", "label": 0}\n{"prompt": "q",\n')
    with raises(pairs, 2, None, "is not valid JSON"):
        evaluate("custom-pairwise", pairs, predictions=PRED)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with raises(empty, None, None, "holds no items"):
        evaluate("custom-pairwise", empty, predictions=PRED)


# ------------------------------------------------------------------ prediction files
def test_prediction_count_mismatch_names_file_and_line(tmp_path):
    lines = PRED.read_text().splitlines()
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:-1]) + "\n")
    with raises(short, 1391, None, "the file holds 1391 predictions (its last at this line) but the data has 1392 items"):
        evaluate("autoj-pairwise", AUTOJ, predictions=short)
    with raises(short, 1391, None, "the data has 1392 (or the 8 selected) items"):
        evaluate("autoj-pairwise", AUTOJ, predictions=PRED, predictions_swapped=short, limit=8)


def test_prediction_values_are_checked(tmp_path):
    lines = PRED.read_text().splitlines()
    lines[9] = '{"output": 3}'
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with raises(bad, 10, "output", "must be 0 (first better), 1 (second better), 2 (tie) or null, got 3") as err:
        evaluate("autoj-pairwise", AUTOJ, predictions=bad)
    check(err, 10, "output")
    lines[9] = '{"verdict": 1}'
    bad.write_text("\n".join(lines) + "\n")
    with raises(bad, 10, "output", "field 'output' is missing"):
        evaluate("autoj-pairwise", AUTOJ, predictions=bad)

    n = len(json.loads(MT_BENCH.read_text()))
    scores = write_jsonl(tmp_path / "scores.jsonl", [{"score": 3}] * 4 + [{"score": "four"}] + [{"score": 3}] * (n - 5))
    with raises(scores, 5, "score", "must be a number or null, got 'four'"):
        evaluate("mt-bench", MT_BENCH, predictions=scores)
    write_jsonl(scores, [{"score": 3}] * (n - 1) + [{"scores": []}])
    with raises(scores, n, "scores", "must be a non-empty list"):
        evaluate("mt-bench", MT_BENCH, predictions=scores)
    write_jsonl(scores, [{"grade": 3}] + [{"score": 3}] * (n - 1))
    with raises(scores, 1, "score", "is missing: give 'score' or 'scores'"):
        evaluate("mt-bench", MT_BENCH, predictions=scores)
    hhh = write_jsonl(tmp_path / "hhh.jsonl", [{"chosen_scores": [4, 5], "rejected_scores": [3]}] * 12)
    with raises(hhh, 1, "rejected_scores", "must have one score per run like chosen_scores (2)"):
        evaluate("hhh-alignment", HHH, predictions=hhh)


def test_prediction_indices(tmp_path):
    n = len(json.loads(MT_BENCH.read_text()))
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [{"index": k, "score": 3} for k in range(n)] + [{"index": 2, "score": 4}])
    with raises(path, n + 1, "index", "repeats item 2 (first at line 3)"):
        evaluate("mt-bench", MT_BENCH, predictions=path)
    write_jsonl(path, [{"index": k, "score": 3} for k in range(n - 1)] + [{"index": n, "score": 3}])
    with raises(path, n, "index", f"must be an item position 0-{n - 1} of the data, got {n}"):
        evaluate("mt-bench", MT_BENCH, predictions=path)
    write_jsonl(path, [{"index": 0, "score": 3}, {"score": 3}])
    with raises(path, 2, "index", "is missing (other lines have one"):
        evaluate("mt-bench", MT_BENCH, predictions=path)
    # a file from a limit-4 run replayed without the limit
    write_jsonl(path, [{"index": k, "score": 3} for k in (0, 4, 8, 12)])
    with raises(path, None, None, f"has no prediction for data item 1 ({n - 4} of {n} selected items missing"):
        evaluate("mt-bench", MT_BENCH, predictions=path)
    assert evaluate("mt-bench", MT_BENCH, predictions=path, limit=4).n == 4


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark 'mtbench'; known benchmarks: autoj-pairwise, mt-bench"):
        evaluate("mtbench", MT_BENCH, predictions=PRED)
    with pytest.raises(ValueError, match="pass reward_model= to judge the benchmark, or predictions= to replay"):
        evaluate("mt-bench", MT_BENCH)
    with pytest.raises(ValueError, match="predictions_swapped= applies to pairwise benchmarks, not to 'mt-bench'"):
        evaluate("mt-bench", MT_BENCH, predictions=PRED, predictions_swapped=PRED)
    with pytest.raises(ValueError, match="limit must be a positive integer, got 0"):
        evaluate("mt-bench", MT_BENCH, predictions=PRED, limit=0)
    with pytest.raises(ValueError, match="runs=3 applies when judging"):
        evaluate("mt-bench", MT_BENCH, predictions=PRED, runs=3)
    with pytest.raises(FileNotFoundError, match="data file .*nowhere.json' does not exist"):
        evaluate("mt-bench", tmp_path / "nowhere.json", predictions=PRED)


def test_judge_that_does_not_fit_the_benchmark():
    # lazy: the configuration is checked, no weights are loaded (these errors come before any judging)
    from reward_judge import GenerativeRewardModel

    pairwise = GenerativeRewardModel.from_pretrained("default", protocol="prometheus-v2-relative", lazy=True)
    with pytest.raises(ValueError, match="this benchmark scores single responses, but the judge's protocol "
                                         "'prometheus-v2-relative' compares two"):
        evaluate("mt-bench", MT_BENCH, pairwise)
    with pytest.raises(ValueError, match="runs=2: several runs apply to absolute and hhh-alignment benchmarks"):
        evaluate("autoj-pairwise", DATA / "autoj" / "short_pairs.jsonl", pairwise, runs=2)
    with pytest.raises(ValueError, match="pass reward_model= to judge the benchmark, or predictions= to replay"):
        evaluate("mt-bench", MT_BENCH, pairwise, predictions=PRED)
