"""The leaderboard benchmarks judged by the real embedded judge (its preset: Prometheus 2 prompts, ``direct`` mode).

A 135M judge proves the plumbing, not quality: every item gets a verdict, each prediction line has the item's
``id``, ``subset`` and ``correct`` by the benchmark's rule, and replaying the file gives the same figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_judge import GenerativeRewardModel
from reward_judge.eval import evaluate

pytestmark = pytest.mark.model

DATA = Path(__file__).parent / "data" / "eval" / "leaderboards"
CASES = [  # benchmark, data file, protocol (the preset's pairwise one where the benchmark compares pairs), limit
    ("rewardbench", "rewardbench_sample.jsonl", "prometheus-v2-relative", 4),
    ("rewardbench-2", "rewardbench2_sample.jsonl", "prometheus-v2", 4),
    ("judgebench", "judgebench_sample.jsonl", "prometheus-v2-relative", 2),
    ("rm-bench", "rmbench_sample.jsonl", "prometheus-v2", 1),
]


@pytest.mark.parametrize("benchmark, data, protocol, limit", CASES, ids=[c[0] for c in CASES])
def test_the_embedded_judge_runs_each_leaderboard(judge_backend, tmp_path, benchmark, data, protocol, limit):
    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol=protocol, mode="direct")
    report = evaluate(benchmark, DATA / data, rm, limit=limit, report_dir=tmp_path)
    assert report.judging["coverage"] == 1.0 and report.judging["answers_without_verdict"] == 0
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == report.n
    for line in lines:
        assert {"index", "id", "subset", "correct"} <= set(line) and 0 <= line["correct"] <= 1
    replay = evaluate(benchmark, DATA / data, predictions=tmp_path / "predictions.jsonl", limit=limit)
    assert replay.overall == report.overall and replay.groups == report.groups
    assert (tmp_path / "report.md").read_text().count("|") > 10
