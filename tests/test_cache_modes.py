"""The reward cache serves every scoring mode: a second process on the same SQLite file judges nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


# One process judges the same rollouts in each mode with a cache file and prints its results as JSON.
# The default judge with its own preset (direct mode), the same in expected mode, and generate mode
# with a prompt the tiny judge answers with a digit (its Prometheus answers rarely parse, and only
# valid verdicts are stored).
SCRIPT = textwrap.dedent("""
    import json, sys
    from reward_judge import CustomProtocol, GenerativeRewardModel

    cache = sys.argv[1]
    prompts = ["What is 2+2?", "What is 2+2?", "Name a primary colour.", "Say hi."]
    completions = ["4", "It is 5.", "Blue.", "Hi!"]
    digit = CustomProtocol(custom_name="digit-1-9",
                           template="Question: {instruction}\\nAnswer: {response}\\nOn a scale of 1 to 9, the answer's score is",
                           answer_pattern=r"(\\d)", range=(1, 9))
    judges = {
        "direct": GenerativeRewardModel.from_pretrained("default", cache=cache),
        "expected": GenerativeRewardModel.from_pretrained("default", cache=cache, mode="expected", max_new_tokens=8),
        "generate": GenerativeRewardModel.from_pretrained("default", cache=cache, protocol=digit, chat_format="raw",
                                                          mode="generate", max_new_tokens=4, max_attempts=1),
    }
    out = {}
    for mode, rm in judges.items():
        results = rm.score(prompts, completions)
        out[mode] = {"results": [r.to_dict() for r in results], "judge_requests": rm.stats.judge_requests,
                     "mode": rm.config.mode}
    print(json.dumps(out))
""")


def run_process(cache: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, cache], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.process
def test_a_second_process_gets_every_result_from_the_cache_in_every_mode(tmp_path):
    cache = str(tmp_path / "rewards.sqlite")
    first = run_process(cache)
    second = run_process(cache)
    assert first["direct"]["mode"] == "direct"  # the default judge's preset mode
    for mode in ("direct", "expected", "generate"):
        a, b = first[mode], second[mode]
        assert all(r["ok"] for r in a["results"]), (mode, [r["error"] for r in a["results"]])
        assert not any(r["cached"] for r in a["results"]) and a["judge_requests"] == 4
        # the second process judges nothing: every result comes from the file, equal to the first
        assert all(r["cached"] for r in b["results"]) and b["judge_requests"] == 0, mode
        strip = lambda r: {k: v for k, v in r.items() if k != "cached"}  # noqa: E731
        assert [strip(r) for r in b["results"]] == [strip(r) for r in a["results"]], mode
        if mode != "generate":
            assert all(r["distribution"] and r["extra"]["answer_mass"] > 0 for r in b["results"])


@pytest.mark.model
def test_modes_do_not_share_cache_entries(make_rm, tmp_path):
    """The key includes the mode: the same input judged in another mode is a miss, not another mode's verdict."""
    from tests.test_modes import CERTAIN

    path = str(tmp_path / "c.sqlite")
    first = make_rm(protocol=CERTAIN, mode="direct", cache=path).score(["Q"], ["A"])[0]
    other = make_rm(protocol=CERTAIN, mode="expected", max_new_tokens=4, cache=path)
    result = other.score(["Q"], ["A"])[0]
    assert first.ok and not result.cached and other.stats.judge_requests == 1
    again = make_rm(protocol=CERTAIN, mode="direct", cache=path).score(["Q"], ["A"])[0]
    assert again.cached and again.distribution == first.distribution
