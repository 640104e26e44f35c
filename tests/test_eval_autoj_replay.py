"""Replaying Auto-J's released predictions reproduces the figures of Auto-J's own scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_judge.eval import evaluate

pytestmark = pytest.mark.unit

AUTOJ = Path(__file__).parent / "data" / "eval" / "autoj"
DATA = AUTOJ / "testdata_pairwise.jsonl"
PRED = AUTOJ / "pairwise_example_output.jsonl"
SWAPPED = AUTOJ / "pairwise_exchange_example_output.jsonl"

# Printed by Auto-J's scorer, GAIR-NLP/auto-j codes/leaderboard/pairwise_eval.py (commit 5e280be), run on the
# two prediction files and the test set in tests/data/eval/autoj on 2026-11-23:
#   python pairwise_eval.py --type pairwise --pred_file_path pairwise_example_output.jsonl \
#       --exchange_pred_file_path pairwise_exchange_example_output.jsonl --source_file_path testdata_pairwise.jsonl
# (the copy vendored by prometheus-eval, /work/shared/data/autoj/pairwise_eval.py, prints only the Overall
# agreement, 54.96, because its per-group lines are commented out; the numbers agree).
AUTOJ_PAIRWISE = {
    "Summarization": (45.83, 73.61),
    "Exam Questions": (38.89, 69.44),
    "Code": (47.5, 75.83),
    "Rewriting": (49.17, 74.17),
    "Creative Writing": (59.72, 87.04),
    "Functional Writing": (61.67, 81.67),
    "General Communication": (55.21, 92.36),
    "NLP Tasks": (57.58, 86.36),
}
AUTOJ_OVERALL = (54.96, 83.41)
# The same scorer with --type single on pairwise_example_output.jsonl alone (agreement only; it prints "-" for
# consistency); the vendored copy prints the same Overall, 59.99.
AUTOJ_SINGLE = {"Summarization": 56.94, "Exam Questions": 41.67, "Code": 54.17, "Rewriting": 57.5,
                "Creative Writing": 63.43, "Functional Writing": 68.33, "General Communication": 57.29,
                "NLP Tasks": 62.12}
AUTOJ_SINGLE_OVERALL = 59.99


def test_replay_reproduces_autoj_scorer(tmp_path):
    report = evaluate("autoj-pairwise", DATA, predictions=PRED, predictions_swapped=SWAPPED,
                      json_out=tmp_path / "metrics.json", report_dir=tmp_path / "report")
    assert report.n == 1392 and report.source == "replayed"
    assert list(report.groups) == list(AUTOJ_PAIRWISE)  # Auto-J's 8 group names, in its order
    for group, (agreement, consistency) in AUTOJ_PAIRWISE.items():
        assert (report.groups[group]["agreement"], report.groups[group]["consistency"]) == (agreement, consistency), group
    assert (report.overall["agreement"], report.overall["consistency"]) == AUTOJ_OVERALL
    assert report.judging["coverage"] == 1.0 and report.judging["answers"] == 2 * 1392

    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["benchmark"] == "autoj-pairwise" and document["n"] == 1392
    assert document["overall"] == {"agreement": 54.96, "consistency": 83.41, "n": 1392}
    assert document["groups"]["Code"] == {"agreement": 47.5, "consistency": 75.83, "n": 120}
    assert json.loads((tmp_path / "report" / "metrics.json").read_text()) == document

    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| Overall               | 54.96     | 83.41       | 1392 |" in markdown
    for name in ("confusion.png", "groups.png"):
        assert (tmp_path / "report" / name).read_bytes().startswith(b"\x89PNG"), name


def test_replay_single_order_is_autoj_single_type():
    report = evaluate("autoj-pairwise", DATA, predictions=PRED)
    assert {g: v["agreement"] for g, v in report.groups.items()} == AUTOJ_SINGLE
    assert report.overall["agreement"] == AUTOJ_SINGLE_OVERALL
    assert report.overall["consistency"] is None  # Auto-J prints "-": one order cannot be inconsistent


def test_replay_with_limit_uses_the_spread_items(tmp_path):
    # Auto-J's files have no "index": with a limit, the lines of the selected items are used
    report = evaluate("autoj-pairwise", DATA, predictions=PRED, predictions_swapped=SWAPPED, limit=58)
    assert report.n == 58 and len(report.groups) == 8  # the spread reaches every group
    full = [json.loads(line)["output"] for line in PRED.read_text().splitlines()]
    assert report.details["outputs"] == [full[k * 1392 // 58] for k in range(58)]


def test_missing_verdict_is_wrong_and_inconsistent(tmp_path):
    # one verdict lost in the swapped file: that pair no longer agrees nor is consistent
    lines = SWAPPED.read_text().splitlines()
    originals = [json.loads(line)["output"] for line in PRED.read_text().splitlines()]
    labels = [json.loads(line)["label"] for line in DATA.read_text().splitlines()]
    back = {0: 1, 1: 0, 2: 2}
    k = next(i for i, line in enumerate(lines)
             if back[json.loads(line)["output"]] == originals[i] == labels[i])  # a pair right in both orders
    lines[k] = json.dumps({"output": None})
    broken = tmp_path / "swapped.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    report = evaluate("autoj-pairwise", DATA, predictions=PRED, predictions_swapped=broken)
    both_right = round(AUTOJ_OVERALL[0] * 1392 / 100)  # 765 pairs
    disagree = round((100 - AUTOJ_OVERALL[1]) * 1392 / 100)  # 231 pairs
    assert report.overall["agreement"] == round(100 * (both_right - 1) / 1392, 2)
    assert report.overall["consistency"] == round(100 * (1 - (disagree + 1) / 1392), 2)
    assert report.judging["items_with_verdict"] == 1391 and report.judging["answers_without_verdict"] == 1


@pytest.mark.parametrize("benchmark", ["custom-pairwise"])
def test_custom_pairwise_uses_the_same_scorer(tmp_path, benchmark):
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    custom = tmp_path / "pairs.jsonl"
    names = {0: "A", 1: "B", 2: "tie"}
    with custom.open("w") as handle:
        for k, row in enumerate(rows):
            label = names[row["label"]] if k % 2 else row["label"]  # both label spellings
            handle.write(json.dumps({"prompt": row["prompt"], "response_a": row["response 1"],
                                     "response_b": row["response 2"], "label": label}) + "\n")
    report = evaluate(benchmark, custom, predictions=PRED, predictions_swapped=SWAPPED)
    assert list(report.groups) == ["all"]
    assert (report.overall["agreement"], report.overall["consistency"]) == AUTOJ_OVERALL
