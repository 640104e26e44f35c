"""The command line on the shipped example file, with the embedded judge, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.process
def test_score_example_file(tmp_path):
    out = tmp_path / "scored.jsonl"
    proc = run_cli("score", "--judge", "default", "--input", "examples/rollouts.jsonl", "--output", str(out),
                   "--max-new-tokens", "16", "--max-attempts", "1", "--raw", "--quiet")
    assert proc.returncode == 0, proc.stderr
    # --quiet: no progress bar of ours nor the weight-loading bars of transformers; no deprecation warnings
    assert "it/s]" not in proc.stderr and "Loading weights" not in proc.stderr, proc.stderr
    assert "past_key_values" not in proc.stderr and "FutureWarning" not in proc.stderr, proc.stderr
    inputs = [json.loads(line) for line in (ROOT / "examples/rollouts.jsonl").read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(inputs)
    for source, row in zip(inputs, rows):
        assert {k: row[k] for k in source} == source  # input fields kept, in order
        assert {"score", "reward", "feedback", "ok", "attempts", "fallback", "error", "judge_output", "truncated",
                "distribution"} <= set(row)
        assert row["distribution"] is not None and abs(sum(row["distribution"].values()) - 1) < 1e-6  # direct mode
        assert row["ok"] == (row["score"] is not None)
        assert row["fallback"] == (not row["ok"])
    assert f"judged {len(inputs)} rollouts with prometheus-v2" in proc.stderr


@pytest.mark.process
def test_score_writes_bad_input_lines_in_place_and_strict_stops_at_the_first(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "Q"}\n\nnot json\n{"prompt": "Q", "completion": ["x"]}\n\xff\xfe\n')
    out = tmp_path / "o.jsonl"
    # every row is bad: the judge never has to load, and the job still finishes with one line per input line
    proc = run_cli("score", "--input", str(bad), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["error"] for r in records] == [
        "bad input row (line 1): missing field 'completion' (fields: ['prompt'])",
        "bad input row (line 3): is not valid JSON (Expecting value)",
        "bad input row (line 4): completion[0] must be a chat message with 'role' and 'content', got 'x'",
        "bad input row (line 5): is not UTF-8 text (invalid start byte at byte 0)"]
    assert all(r["ok"] is False and r["reward"] is None and r["fallback"] is False for r in records)
    assert records[0]["prompt"] == "Q" and "prompt" not in records[1]  # an object keeps its fields
    assert "judged 0 rollouts" in proc.stderr and "4 bad input rows written in place" in proc.stderr
    proc = run_cli("score", "--input", str(bad), "--output", str(tmp_path / "strict.jsonl"), "--strict")
    assert proc.returncode != 0 and "bad.jsonl:1: missing field 'completion'" in proc.stderr
    assert not (tmp_path / "strict.jsonl").exists()
    proc = run_cli("score", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode != 0 and "does not exist" in proc.stderr


@pytest.mark.unit
def test_protocols_listing(capsys):
    from reward_judge.integrations.cli import main

    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "the card's code loads keval-2-9b in 4-bit; this smaller judge needs no quantisation" in out
    assert "keval-2-3b" in out and "the card loads the 9B" not in out
    for name in ("prometheus-v1", "prometheus-v2-relative", "autoj-pairwise-zh", "kobench-math", "mtbench-pair",
                 "GAIR/autoj-13b", "heegyu/ko-prometheus-8b-lora-0708", "davidkim205/keval-2-9b"):
        assert name in out


@pytest.mark.unit
def test_every_judge_option_of_the_config_is_on_the_command_line():
    """The judge flags are generated from JudgeConfig, GroupOptions and the backends' option classes: none is
    missing, a backend's flags carry its name, and the options only Python or a trainer can fill have none."""
    import dataclasses

    from reward_judge.backends.registry import backend_names, get_backend
    from reward_judge.config import JudgeConfig
    from reward_judge.groups.options import GroupOptions
    from reward_judge.integrations.cli import make_parser

    parser = make_parser()
    score = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "score")[1]
    flags = {option for action in score._actions for option in action.option_strings}
    python_only = {"backend_options", "group_options", "reference_column", "rubric_column", "log_feedback",
                   "gather_groups"}
    expected = {"--" + f.name.replace("_", "-") for cls in (JudgeConfig, GroupOptions) for f in dataclasses.fields(cls)
                if f.name not in python_only}
    for name in backend_names():
        expected |= {f"--{name}-" + f.name.replace("_", "-") for f in dataclasses.fields(get_backend(name).options)}
    assert sorted(expected - flags) == []
    assert not {"--" + name.replace("_", "-") for name in python_only} & flags
    # each flag carries its field's documentation, choices and default
    mode = next(a for a in score._actions if "--mode" in a.option_strings)
    assert mode.choices == ["generate", "expected", "direct", "cascade"] and "probability" in mode.help
    assert "(default: generate)" in mode.help
    batch = next(a for a in score._actions if "--transformers-batch-size" in a.option_strings)
    assert "(default: 8)" in batch.help


@pytest.mark.process
def test_command_line_values_become_config_options():
    from reward_judge.integrations.cli import make_parser
    from reward_judge.integrations.cli.judge_options import judge_option_values

    args = make_parser().parse_args([
        "score", "--input", "x", "--output", "y", "--fallback", "none", "--mode", "expected", "--backend", "openai",
        "--openai-base-url", "http://a:1", "--openai-base-url", "http://b:2", "--protocol", '{"custom_name": "c", '
        '"template": "{instruction} {response}", "answer_pattern": "(\\\\d)", "range": [1, 5]}', "--max-input-tokens",
        "300"])
    values = judge_option_values(args)
    assert values["mode"] == "expected" and values["backend"] == "openai" and values["max_input_tokens"] == 300
    assert values["base_url"] == ["http://a:1", "http://b:2"]
    assert values["protocol"].name == "c" and values["protocol"].score_range == (1, 5)
    assert values["fallback"] is None and "dtype" not in values  # given flags only: presets keep the rest
    proc = run_cli("score", "--input", "examples/rollouts.jsonl", "--output", "/dev/null", "--fallback", "maybe")
    assert proc.returncode != 0 and "--fallback: fallback must be 'none', 'min', 'raise' or a number, got 'maybe'" in proc.stderr
    proc = run_cli("score", "--input", "examples/rollouts.jsonl", "--output", "/dev/null", "--mode", "fast")
    assert proc.returncode != 0 and "invalid choice: 'fast'" in proc.stderr


@pytest.mark.unit
def test_a_command_without_its_extra_names_the_extra(monkeypatch):
    """`reward-judge serve` without the serve extra says which extra to install (not a bare ModuleNotFoundError)."""
    import importlib.util

    from reward_judge.integrations.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(SystemExit, match=r"reward-judge serve needs the 'serve' extra \(uvicorn is not installed\): "
                                         r"pip install 'reward-judge\[serve\]'"):
        main(["serve", "--judge", "default"])
