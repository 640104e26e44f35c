"""The pieces of ``score`` and ``--ray`` that need no cluster and no model: rollout lines read one by one (a bad
line is a bad row), chunks judged by the scripted judge with a refused row isolated, the Ray flags and options."""

from __future__ import annotations

import argparse
import json

import pytest

from reward_judge.integrations.rollout_file import (BAD, FAILED, SCORED, InputLine, RowSpec, ScoreTally, bad_record,
                                                    judge_records, parse_line, read_lines)
from tests._scripted import scripted_model

pytestmark = pytest.mark.unit


def test_lines_split_on_newlines_only_and_each_problem_is_named(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"prompt": "a\xe2\x80\xa8b", "completion": "c"}\r\n\n  \n{"prompt": 1, "completion": "c"}\n'
                     b'{"prompt": "p", "completion": "c"')
    lines = [parse_line(n, raw, RowSpec()) for n, raw in read_lines(path)]
    assert [line.number for line in lines] == [1, 4, 5]  # blank lines skipped, their numbers kept
    assert lines[0].ok and lines[0].row["prompt"] == "a\u2028b"  # U+2028 stays inside its string
    assert lines[1].problem.startswith("prompt must be a string or a list of chat messages, got int")
    assert lines[2].problem == "is not valid JSON (Expecting ',' delimiter)"
    assert parse_line(1, b"[" * 100_000, RowSpec()).problem.startswith("is not valid JSON")
    pairwise = parse_line(2, b'{"prompt": "p", "completion": "a"}', RowSpec(pairwise=True))
    assert pairwise.problem == "missing field 'completion_b' (fields: ['completion', 'prompt'])"
    assert bad_record(InputLine(None, {"prompt": "p"}, "why"), raw=True) == {
        "prompt": "p", "score": None, "reward": None, "feedback": None, "ok": False, "fallback": False,
        "error": "bad input row: why", "attempts": 0, "cached": False, "truncated": 0, "distribution": None,
        "judge_output": None}


def test_a_row_the_judge_refuses_becomes_a_bad_row_and_its_chunk_is_still_judged():
    rm = scripted_model(fallback=0.0)
    rows = [{"prompt": "Q", "completion": "score=4"}, {"prompt": "Q", "completion": "score=2", "rubric": "too short"},
            {"prompt": "Q", "completion": "no score here GARBLE"}]
    lines = [InputLine(1, rows[0]), InputLine(2, rows[1]), InputLine(3, None, "is not valid JSON (x)"),
             InputLine(4, rows[2])]
    judged = judge_records(rm, lines, raw=True)
    assert [j.kind for j in judged] == [SCORED, BAD, BAD, SCORED]
    assert judged[0].record["score"] == 4 and judged[0].record["judge_output"].endswith("[RESULT] 4")
    assert judged[1].record["error"].startswith("bad input row (line 2): protocol 'prometheus-v2' needs score "
                                                "descriptions") and judged[1].record["rubric"] == "too short"
    assert judged[2].record["error"] == "bad input row (line 3): is not valid JSON (x)"
    assert json.loads(judged[3].text)["ok"] is True  # a sampled retry answered the garbled first attempt
    with pytest.raises(ValueError, match=r"^lines 1-4: protocol 'prometheus-v2' needs score descriptions"):
        judge_records(rm, lines, strict=True)
    failing = scripted_model(fallback=0.0, max_attempts=1)
    assert [j.kind for j in judge_records(failing, [InputLine(7, rows[2])])] == [FAILED]


def test_the_tally_names_the_bad_lines(tmp_path):
    tally = ScoreTally()
    for kind, line in [(SCORED, 1), (BAD, 3)] + [(BAD, n) for n in range(10, 21)] + [(FAILED, 30)]:
        tally.add(kind, line)
    text = tally.summary("prometheus-v2", "direct", 0.0, tmp_path / "out.jsonl")
    assert text.startswith("judged 2 rollouts with prometheus-v2 (direct mode): 1 scored, 1 fell back (fallback=0.0); "
                           "12 bad input rows written in place with ok: false and the error (lines 3, 10, 11")
    assert "18, ...; --strict stops at the first)" in text


def test_ray_flags():
    from reward_judge.integrations.cli import make_parser
    from reward_judge.integrations.cli.ray_options import check_ray_options

    parser = make_parser()
    args = parser.parse_args(["serve", "--ray", "--num-replicas", "auto", "--autoscaling-config",
                              '{"min_replicas": 1, "max_replicas": 3}', "--num-gpus-per-replica", "1"])
    assert (args.num_replicas, args.autoscaling_config, args.num_gpus_per_replica) == ("auto", {"min_replicas": 1,
                                                                                               "max_replicas": 3}, 1.0)
    for bad in (["--num-replicas", "0"], ["--num-replicas", "two"], ["--num-cpus-per-replica", "-1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["score", "--input", "i", "--output", "o", "--ray", *bad])
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--autoscaling-config", "[1]"])
    with pytest.raises(SystemExit, match=r"--ray-address, --num-replicas only apply with --ray"):
        check_ray_options(parser.parse_args(["score", "--input", "i", "--output", "o", "--ray-address", "auto",
                                             "--num-replicas", "2"]))
    check_ray_options(argparse.Namespace(ray=True, num_replicas=4))


def test_deployment_options_and_portable_paths(tmp_path, monkeypatch):
    from reward_judge.integrations.ray_cluster import portable_judge, replica_resources
    from reward_judge.integrations.ray_serve import deployment_options

    assert deployment_options(num_replicas=3, num_cpus_per_replica=2, num_gpus_per_replica=1,
                              max_ongoing_requests=64) == {
        "ray_actor_options": {"num_cpus": 2.0, "num_gpus": 1.0}, "max_ongoing_requests": 64,
        "health_check_period_s": 2.0, "num_replicas": 3}
    assert deployment_options(num_replicas="auto")["num_replicas"] == "auto"
    with pytest.raises(ValueError, match="--autoscaling-config replaces --num-replicas"):
        deployment_options(num_replicas=2, autoscaling_config={"max_replicas": 2})
    with pytest.raises(ValueError, match="max_ongoing_requests must be a positive integer, got 0"):
        deployment_options(max_ongoing_requests=0)
    with pytest.raises(ValueError, match="num_gpus_per_replica must be a number >= 0, got -1"):
        replica_resources(1, -1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "judge").mkdir()
    judge, options = portable_judge("judge", {"cache": "c.sqlite", "tokenizer": "org/tok", "adapter": "judge"})
    assert judge == str(tmp_path / "judge") and options == {
        "cache": str(tmp_path / "c.sqlite"), "tokenizer": "org/tok", "adapter": str(tmp_path / "judge")}
    assert portable_judge("prometheus-eval/prometheus-7b-v2.0", {"cache": True}) == \
        ("prometheus-eval/prometheus-7b-v2.0", {"cache": True})
