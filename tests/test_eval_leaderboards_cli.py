"""``reward-judge eval rewardbench`` as a user runs it: a replay in a real subprocess of the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "eval" / "leaderboards"
WORKED = json.loads((DATA / "rewardbench_worked_examples.json").read_text())


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.process
def test_the_command_line_replays_rewardbench_with_its_sections(tmp_path):
    example = WORKED["examples"][1]  # prometheus-8x7b-v2.0
    data, predictions = [], []
    for subset, size in WORKED["subset_sizes"].items():
        halves = round(example["metrics"][subset] * size * 2)
        for score in [1.0] * (halves // 2) + [0.5] * (halves % 2) + [0.0] * (size - halves // 2 - halves % 2):
            data.append({"prompt": "p", "chosen": "c", "rejected": "r", "subset": subset, "id": len(data)})
            predictions.append({"index": len(predictions), "correct": score})
    proc = subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "eval", "rewardbench",
                           "--data", str(write_jsonl(tmp_path / "rb.jsonl", data)),
                           "--predictions", str(write_jsonl(tmp_path / "p.jsonl", predictions)),
                           "--json", str(tmp_path / "rb.json")], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert "rewardbench: 2985 items, replayed from" in proc.stdout
    assert "| section: Chat Hard" in proc.stdout and "| 47.15 " in proc.stdout
    assert "| Score (mean of the 4 sections) | 74.51 " in proc.stdout
    assert json.loads((tmp_path / "rb.json").read_text())["overall"]["accuracy"] == pytest.approx(74.5095375782243)
