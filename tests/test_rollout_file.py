"""The pieces of ``score`` and ``--ray`` that need no cluster and no model: rollout lines read one by one (a bad
line is a bad row), chunks judged by the scripted judge with a refused row isolated, the Ray flags and options."""

from __future__ import annotations

import argparse
import json
import logging

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


def _score_in_process(tmp_path, rows, *flags):
    """``reward-judge score`` on the scripted judge, in this process; the output records."""
    from reward_judge.integrations.cli import make_parser
    from tests._scripted import ensure_registered

    ensure_registered()  # before the parser: the backend's flags are made from the registry
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = make_parser().parse_args(["score", "--judge", "scripted-judge", "--backend", "scripted", "--chat-format",
                                     "raw", "--max-new-tokens", "8", "--input", str(source), "--output", str(target),
                                     "--quiet", *flags])
    assert args.func(args) == 0
    return [json.loads(line) for line in target.read_text().splitlines()]


GROUP_ROWS = [{"prompt": "Q", "completion": "a score=2", "id": 0}, {"prompt": "R", "completion": "b score=5", "id": 1},
              {"prompt": "Q", "completion": "c score=4", "id": 2}, {"prompt": "R", "completion": "d score=1", "id": 3},
              {"prompt": "Q", "completion": "e score=3", "id": 4}, {"prompt": "S", "completion": "f score=3", "id": 5}]


def test_a_group_protocol_judges_each_prompt_s_rows_together_whatever_the_chunk_size(tmp_path):
    whole = _score_in_process(tmp_path, GROUP_ROWS, "--protocol", "listwise", "--raw", "--chunk-size", "64")
    # the listwise answer covers the group it was shown: Q's three rows, R's two, S alone
    assert [sorted(json.loads(o["judge_output"]).values()) for o in whole] == [[2, 3, 4], [1, 5]] * 2 + [[2, 3, 4], [3]]
    for chunk_size in ("1", "2", "4"):  # a group larger than the chunk stays whole; rows keep input order
        assert _score_in_process(tmp_path, GROUP_ROWS, "--protocol", "listwise", "--raw", "--chunk-size",
                                 chunk_size) == whole
    assert [o["id"] for o in whole] == list(range(6)) and [o["score"] for o in whole] == [2, 5, 4, 1, 3, 3]


def test_chunks_hold_whole_groups_and_come_back_in_input_order():
    from reward_judge.integrations.rollout_file import InOrder, line_group_key, plan_chunks

    lines = [InputLine(n + 1, row) for n, row in enumerate(GROUP_ROWS)] + [InputLine(7, None, "is not valid JSON (x)")]
    chunks = list(plan_chunks(lines, 2, line_group_key))
    assert [[p for p, _ in chunk] for chunk in chunks] == [[0, 2, 4], [1, 3], [5, 6]]  # a bad line is a group of one
    assert [[p for p, _ in chunk] for chunk in plan_chunks(lines, 3)] == [[0, 1, 2], [3, 4, 5], [6]]  # no key: a stream
    order = InOrder()
    assert [order.add(p, p) for p in (1, 0, 3, 2)] == [[], [0, 1], [], [2, 3]]
    with pytest.raises(ValueError, match="position 2 was given twice"):
        order.add(2, 2)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        next(plan_chunks(lines, 0))


def test_a_refused_row_of_a_group_protocol_leaves_the_other_groups_whole():
    rm = scripted_model(protocol="listwise", rubric=None)
    rows = [GROUP_ROWS[0], {"prompt": "R", "completion": "x", "rubric": {"x": 1}}, GROUP_ROWS[2]]
    judged = judge_records(rm, [InputLine(n + 1, row) for n, row in enumerate(rows)], raw=True)
    assert [j.kind for j in judged] == [SCORED, BAD, SCORED]
    assert judged[1].record["error"] == ("bad input row (line 2): A rubric mapping needs a 'criteria' key, got keys "
                                         "['x']")
    assert [sorted(json.loads(judged[k].record["judge_output"]).values()) for k in (0, 2)] == [[2, 4]] * 2  # together


def test_the_ray_job_cuts_and_writes_chunks_as_the_command_does(tmp_path):
    import io

    from reward_judge.integrations.ray_data import JudgeReplica, _read_chunks, write_in_order
    from tests._scripted import ensure_registered

    ensure_registered()
    whole = _score_in_process(tmp_path, GROUP_ROWS + [{"prompt": "Q", "completion": "g", "score": 1}], "--protocol",
                              "listwise", "--raw", "--chunk-size", "2")
    replica = JudgeReplica("scripted-judge", {"backend": "scripted", "protocol": "listwise", "chat_format": "raw",
                                              "max_new_tokens": 8}, raw=True)
    blocks = list(_read_chunks(str(tmp_path / "in.jsonl"), 2, by_group=True))
    assert [b.column("lines").to_pylist() for b in blocks] == [[[1, 3, 5, 7]], [[2, 4]], [[6]]]
    out, tally = io.StringIO(), ScoreTally()
    judged = [replica(block) for block in blocks]  # in order: a listwise judge shuffles by its call count
    written = []
    write_in_order(reversed(judged), out, tally, written.append)  # whatever order the chunks come back in
    assert written == [0, 0, 7]  # the later chunks wait for the first
    assert [json.loads(line) for line in out.getvalue().splitlines()] == whole
    assert tally.rows == 7 and tally.renamed == {"score": {"input_score"}}


def test_input_fields_named_like_result_fields_are_kept_under_another_name(tmp_path, caplog):
    row = {"prompt": "Q", "completion": "A score=4", "score": 5, "reward": 1.0, "error": "label noise",
           "ok": "human-verified", "input_ok": "taken", "winner": "gold", "judge_output": "old"}
    kept = {"input_score": 5, "input_reward": 1.0, "input_error": "label noise", "input_input_ok": "human-verified",
            "input_ok": "taken", "input_winner": "gold", "input_judge_output": "old"}
    rm = scripted_model(fallback=0.0)
    judged = judge_records(rm, [InputLine(1, row), InputLine(2, dict(row, completion=1), "completion must be text")],
                           raw=True)
    for j in judged:
        assert {key: j.record[key] for key in kept} == kept
        assert j.renamed == {"score": "input_score", "reward": "input_reward", "error": "input_error",
                             "ok": "input_input_ok", "winner": "input_winner", "judge_output": "input_judge_output"}
    assert (judged[0].record["score"], judged[0].record["ok"], judged[0].record["judge_output"]) == (
        4, True, "Feedback. [RESULT] 4")
    assert (judged[1].record["score"], judged[1].record["ok"], judged[1].record["error"]) == (
        None, False, "bad input row (line 2): completion must be text")
    assert list(judged[0].record)[:9] == ["prompt", "completion", "input_score", "input_reward", "input_error",
                                          "input_input_ok", "input_ok", "input_winner", "input_judge_output"]
    assert bad_record(InputLine(3, {"distribution": [1]}, "why"))["input_distribution"] == [1]
    # the command: every row keeps its values, and one warning for the run names the renamed fields
    rows = [{"prompt": "Q", "completion": f"c score={k}", "score": k, "cached": "yes"} for k in (1, 2, 3)]
    with caplog.at_level(logging.WARNING, logger="reward_judge.integrations.rollout_file"):
        out = _score_in_process(tmp_path, rows, "--chunk-size", "1")
    assert [(o["input_score"], o["input_cached"], o["score"], o["cached"]) for o in out] == [
        (k, "yes", k, False) for k in (1, 2, 3)]
    warnings = [r.getMessage() for r in caplog.records if "kept under another name" in r.getMessage()]
    assert warnings == ["input fields named like result fields were kept under another name, not overwritten: "
                        "cached -> input_cached, score -> input_score"]


def test_score_dataset_keeps_input_columns_named_like_result_columns():
    import pyarrow as pa

    from reward_judge.integrations.ray_data import _with_results

    batch = pa.table({"prompt": ["Q"], "completion": ["A"], "score": [5], "input_score": ["x"]})
    record = bad_record(InputLine(None, batch.to_pylist()[0], "why"))
    table = _with_results(batch, [record], pairwise=False, raw=False)
    assert table.column_names[:4] == ["prompt", "completion", "input_input_score", "input_score"]
    assert table.to_pylist()[0]["input_input_score"] == 5 and table.to_pylist()[0]["score"] is None
