"""Live evaluations with the embedded judge: files written, replay equal, interrupted runs resume from the cache.

The pairwise live run is the command-line test in tests/test_eval_cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_judge.eval import evaluate
from tests.conftest import GRADE_PROTOCOL

pytestmark = pytest.mark.model

DATA = Path(__file__).parent / "data" / "eval"
MT_BENCH = DATA / "prometheus" / "mt_bench_eval_excerpt.json"



def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def same_figures(live, replay) -> None:
    assert replay.overall == live.overall and replay.groups == live.groups
    assert replay.calibration == live.calibration
    measured = ("judge_seconds", "failure_reasons")
    assert {k: v for k, v in replay.judging.items() if k not in measured} == \
        {k: v for k, v in live.judging.items() if k not in measured}


def test_live_absolute_run_writes_everything_and_replays(default_judge, tmp_path):
    report_dir = tmp_path / "report"
    live = evaluate("mt-bench", MT_BENCH, default_judge, limit=8, json_out=tmp_path / "metrics.json",
                    report_dir=report_dir)
    assert live.source == "judged" and live.n == 8 and live.judge["protocol"] == "prometheus-v2"
    assert live.judging["answers"] == 8 and live.judging["judge_seconds"] > 0
    # the embedded judge's preset reads the score distribution: every item gets a score, none falls back
    assert live.judging["coverage"] == 1.0 and live.judging["fallbacks"] == 0
    assert set(live.overall) == {"pearson", "spearman", "kendall", "n"} and live.overall["n"] == 8

    records = lines(report_dir / "predictions.jsonl")
    assert [r["index"] for r in records] == [k * 16 // 8 for k in range(8)]
    for record in records:
        assert 1 <= record["score"] <= 5 and record["scores"] == [record["score"]]
        assert 0 < record["confidence"] <= 1 and record["runs"][0]["distribution"]
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["overall"] == live.overall and document["groups"] == live.groups
    assert document["judging"]["items_with_verdict"] == 8
    assert (report_dir / "metrics.json").is_file() and "## Metrics" in (report_dir / "report.md").read_text()
    for name in ("scores.png", "groups.png", "calibration.png"):
        assert (report_dir / name).read_bytes().startswith(b"\x89PNG"), name

    replay = evaluate("mt-bench", MT_BENCH, predictions=report_dir / "predictions.jsonl", limit=8)
    same_figures(live, replay)


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_from_the_cache(make_rm, tmp_path):
    questions = [("What is 2+2?", "4", 9), ("What is 2+2?", "5", 1), ("Capital of France?", "Paris", 9),
                 ("Capital of France?", "Rome", 1), ("What is 3*3?", "9", 9), ("What is 3*3?", "6", 2),
                 ("Colour of the sky?", "Blue", 8), ("Colour of the sky?", "Green", 1)]
    data = tmp_path / "graded.jsonl"
    data.write_text("".join(json.dumps({"prompt": q, "response": a, "label": label}) + "\n"
                            for q, a, label in questions))
    cache = str(tmp_path / "eval.sqlite")

    def stop_after_first_chunk(done: int, total: int) -> None:
        if done >= 4:
            raise Interrupted

    def judge():  # greedy, one attempt: a verdict depends only on its input
        return make_rm(protocol=GRADE_PROTOCOL, max_new_tokens=6, max_attempts=1, cache=cache)

    first = judge()
    with pytest.raises(Interrupted):
        evaluate("custom-absolute", data, first, chunk_size=4, progress=stop_after_first_chunk)
    stored = first.cache.stats.stores
    assert first.stats.rollouts == 4 and stored >= 1  # the tiny judge answers most of these with a number

    second = judge()
    resumed = evaluate("custom-absolute", data, second, chunk_size=4, report_dir=tmp_path / "resumed")
    records = lines(tmp_path / "resumed" / "predictions.jsonl")
    cached = [r["index"] for r in records if r["runs"][0]["cached"]]
    assert len(cached) == stored and set(cached) <= {0, 1, 2, 3}  # the chunk judged before the interruption
    assert resumed.judging["cache_hits"] == second.stats.cache_hits == stored
    assert second.stats.judge_requests == 8 - stored  # only what the cache did not hold was judged again
    assert resumed.n == 8 and resumed.judging["answers"] == 8
    assert {"diff_score", "accuracy", "wrong"} <= set(resumed.overall)  # integer labels on the judge's 1-9 scale


def test_sampled_runs_use_their_own_seed(make_rm, tmp_path):
    data = tmp_path / "rated.jsonl"
    data.write_text("".join(json.dumps({"prompt": q, "response": a, "label": label}) + "\n" for q, a, label in
                            [("What is 2+2?", "4", 9), ("Name a colour.", "Blue", 8)]))
    cache = str(tmp_path / "runs.sqlite")

    def judge():  # sampled generation, cached on request: a cache key holds the seed
        return make_rm(protocol=GRADE_PROTOCOL, max_new_tokens=6, max_attempts=1, do_sample=True, temperature=1.0,
                       cache=cache, cache_sampled=True)

    first_judge = judge()
    first = evaluate("custom-absolute", data, first_judge, runs=2, report_dir=tmp_path / "first")
    records = lines(tmp_path / "first" / "predictions.jsonl")
    assert first.judging["answers"] == 4 and first.runs == 2 and all(len(r["scores"]) == 2 for r in records)
    # run 2 finds none of the entries run 1 stored just before: it sampled with another seed
    assert not any(run["cached"] for r in records for run in r["runs"])
    stored = sum(s is not None for r in records for s in r["scores"])
    assert stored >= 1
    again = evaluate("custom-absolute", data, judge(), runs=2)
    assert again.judging["cache_hits"] == stored  # each run finds the answers of its own seed
    replay = evaluate("custom-absolute", data, predictions=tmp_path / "first" / "predictions.jsonl")
    same_figures(first, replay)
