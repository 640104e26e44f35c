"""The command line on the shipped example file, with the embedded judge, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reward_judge.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_score_example_file(tmp_path):
    out = tmp_path / "scored.jsonl"
    proc = run_cli("score", "--judge", "default", "--input", "examples/rollouts.jsonl", "--output", str(out),
                   "--max-new-tokens", "16", "--max-attempts", "1", "--raw")
    assert proc.returncode == 0, proc.stderr
    inputs = [json.loads(line) for line in (ROOT / "examples/rollouts.jsonl").read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(inputs)
    for source, row in zip(inputs, rows):
        assert {k: row[k] for k in source} == source  # input fields kept, in order
        assert {"score", "reward", "feedback", "ok", "attempts", "fallback", "error", "judge_output"} <= set(row)
        assert row["ok"] == (row["score"] is not None)
        assert row["fallback"] == (not row["ok"])
    assert f"judged {len(inputs)} rollouts with prometheus-v2" in proc.stderr


def test_score_reports_bad_input_lines(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q"}\n')
    proc = run_cli("score", "--input", str(bad), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode != 0 and "bad.jsonl:1: missing field 'completion'" in proc.stderr
    proc = run_cli("score", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode != 0 and "does not exist" in proc.stderr


def test_protocols_listing():
    proc = run_cli("protocols")
    assert proc.returncode == 0, proc.stderr
    for name in ("prometheus-v1", "prometheus-v2-relative", "autoj-pairwise-zh", "kobench-math", "mtbench-pair",
                 "GAIR/autoj-13b", "heegyu/ko-prometheus-8b-lora-0708", "davidkim205/keval-2-9b"):
        assert name in proc.stdout
