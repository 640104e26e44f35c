"""Every example runs, as a user would run it, with small settings on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    """The example's JSON summary: the block opened by a line holding only "{" (trainer log lines are dicts too)."""
    start = ("\n" + proc.stdout).rindex("\n{\n")
    return json.loads(proc.stdout[start:])


def test_grpo_example(tmp_path):
    summary = summary_of(run_example("grpo_with_judge.py", "--steps", "2", "--max-completion-length", "8",
                                     "--judge-max-new-tokens", "8", "--output-dir", str(tmp_path)))
    assert summary["trainer"] == "grpo" and summary["steps"] == 2
    assert len(summary["judge_reward_mean_per_step"]) == 2
    assert summary["judge_stats"]["rollouts"] == 8


def test_pairwise_grpo_example(tmp_path):
    summary = summary_of(run_example("pairwise_grpo.py", "--steps", "2", "--num-generations", "3",
                                     "--max-completion-length", "8", "--output-dir", str(tmp_path)))
    assert summary["protocol"] == "prometheus-v2-relative" and summary["mode"] == "direct" and summary["steps"] == 2
    assert summary["judge_calls_per_group"] == [6.0, 6.0]  # G(G-1) for a round robin of 3, both orders
    # win rates of a round robin sum to G/2: each step's mean reward is one half
    assert summary["reward_mean_per_step"] == [pytest.approx(0.5, abs=1e-6)] * 2
    assert all(0.0 <= c <= 1.0 for c in summary["position_consistency"])
    assert summary["judge_stats"]["comparisons"] == 6 and summary["judge_stats"]["comparisons_failed"] == 0


def test_rloo_example_with_async_judge(tmp_path):
    summary = summary_of(run_example("grpo_with_judge.py", "--trainer", "rloo", "--async-judge", "--steps", "2",
                                     "--max-completion-length", "8", "--judge-max-new-tokens", "8",
                                     "--output-dir", str(tmp_path)))
    assert summary["trainer"] == "rloo" and summary["steps"] == 2 and summary["judge_stats"]["rollouts"] == 8


def test_rejection_sampling_example(tmp_path):
    out = tmp_path / "best.jsonl"
    proc = run_example("rejection_sampling.py", "-n", "3", "--max-new-tokens", "8", "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and "wrote 3 choices" in proc.stdout
    for row in rows:
        assert len(row["candidates"]) == 3 and len(row["rewards"]) == 3
        assert row["chosen"] == [row["candidates"][row["chosen_indices"][0]]]


def test_ppo_example():
    proc = run_example("ppo_with_judge.py", "--max-new-tokens", "8")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 4 and "registered_prompt=3" in lines[-1]
