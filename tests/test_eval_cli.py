"""``reward-judge eval`` as a user runs it: a real subprocess of the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]
AUTOJ = ROOT / "tests" / "data" / "eval" / "autoj"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "eval", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


def test_replay_autoj_predictions_prints_autoj_figures(tmp_path):
    proc = run_cli("autoj-pairwise", "--data", AUTOJ / "testdata_pairwise.jsonl",
                   "--predictions", AUTOJ / "pairwise_example_output.jsonl",
                   "--predictions-swapped", AUTOJ / "pairwise_exchange_example_output.jsonl",
                   "--json", tmp_path / "autoj.json", "--report", tmp_path / "report")
    assert proc.returncode == 0, proc.stderr
    assert "autoj-pairwise: 1392 items, replayed from" in proc.stdout
    assert "| Overall               | 54.96     | 83.41       | 1392 |" in proc.stdout
    assert "| Code                  | 47.5      | 75.83       | 120  |" in proc.stdout
    document = json.loads((tmp_path / "autoj.json").read_text())
    assert document["overall"] == {"agreement": 54.96, "consistency": 83.41, "n": 1392}
    assert list(document["groups"]) == ["Summarization", "Exam Questions", "Code", "Rewriting", "Creative Writing",
                                        "Functional Writing", "General Communication", "NLP Tasks"]
    assert (tmp_path / "report" / "confusion.png").is_file() and "wrote report:" in proc.stderr


def test_bad_data_exits_with_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in (AUTOJ / "short_pairs.jsonl").read_text().splitlines()]
    rows[4]["label"] = 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(row) + "\n" for row in rows))
    proc = run_cli("autoj-pairwise", "--data", bad, "--predictions", AUTOJ / "pairwise_example_output.jsonl")
    assert proc.returncode != 0
    assert f"reward-judge eval: {bad}:5: field 'label' must be 0 (first better), 1 (second better) or 2 (tie), got 5" \
        in proc.stderr
    proc = run_cli("autoj-pairwise", "--data", AUTOJ / "short_pairs.jsonl",
                   "--predictions", AUTOJ / "pairwise_example_output.jsonl")
    assert proc.returncode != 0 and "the file holds 1392 predictions (its last at this line) but the data has 8" \
        in proc.stderr


def test_live_pairwise_run_with_the_embedded_judge_then_replay(tmp_path):
    # the embedded judge's preset has a pairwise protocol (prometheus-v2-relative): eval uses it, in the preset's mode
    proc = run_cli("autoj-pairwise", "--data", AUTOJ / "short_pairs.jsonl", "--judge", "default", "--limit", "8",
                   "--json", tmp_path / "live.json", "--report", tmp_path / "report")
    assert proc.returncode == 0, proc.stderr
    assert "judged by judge-prometheus-v2-relative (prometheus-v2-relative, mode direct)" in proc.stdout
    assert "| Overall " in proc.stdout and "items with a valid verdict      | 8 of 8 (100.0%)" in proc.stdout
    assert "judging" in proc.stderr  # the progress bar
    live = json.loads((tmp_path / "live.json").read_text())
    assert live["judging"]["answers"] == 16 and live["judging"]["judge_seconds"] > 0
    shown = [json.loads(line) for line in (tmp_path / "report" / "predictions.jsonl").read_text().splitlines()]
    swapped = [json.loads(line) for line in (tmp_path / "report" / "predictions_swapped.jsonl").read_text().splitlines()]
    labels = [json.loads(line)["label"] for line in (AUTOJ / "short_pairs.jsonl").read_text().splitlines()]
    for record in shown + swapped:
        assert record["output"] == {"A": 0, "B": 1}[record["winner"]]  # prometheus-v2-relative has no tie
    back = {0: 1, 1: 0, 2: 2}
    both_right = sum(s["output"] == back[w["output"]] == label for s, w, label in zip(shown, swapped, labels, strict=True))
    same = sum(s["output"] == back[w["output"]] for s, w in zip(shown, swapped, strict=True))
    assert live["overall"] == {"agreement": round(100 * both_right / 8, 2), "consistency": round(100 * same / 8, 2), "n": 8}
    for name in ("report.md", "confusion.png", "groups.png", "calibration.png", "metrics.json"):
        assert (tmp_path / "report" / name).is_file(), name

    proc = run_cli("autoj-pairwise", "--data", AUTOJ / "short_pairs.jsonl",
                   "--predictions", tmp_path / "report" / "predictions.jsonl",
                   "--predictions-swapped", tmp_path / "report" / "predictions_swapped.jsonl", "--json", tmp_path / "replay.json")
    assert proc.returncode == 0, proc.stderr
    replay = json.loads((tmp_path / "replay.json").read_text())
    assert (replay["overall"], replay["groups"], replay["calibration"]) == (live["overall"], live["groups"], live["calibration"])
