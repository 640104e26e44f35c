"""What the framework glue (verl, OpenRLHF, slime) hands the judge from a dataset row: ground truths a judge has no
slot for are left out, and a NaN ground truth is refused with its row named, never shown as the reference "nan"."""

from __future__ import annotations

import json
import math

import pytest

from tests._scripted import ensure_registered

pytestmark = pytest.mark.unit


@pytest.fixture()
def no_reference_judge(monkeypatch):
    """A judge whose protocol has no reference slot (Auto-J single), on the scripted backend."""
    ensure_registered()
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "scripted-judge")
    monkeypatch.setenv("REWARD_JUDGE_PROTOCOL", "autoj-single")
    monkeypatch.setenv("REWARD_JUDGE_OPTIONS", json.dumps({"backend": "scripted", "chat_format": "raw",
                                                           "answer_format": "Rating: [[{score}]]", "max_attempts": 1}))
    monkeypatch.setenv("REWARD_JUDGE_MAX_WAIT_MS", "1")


def test_verl_and_openrlhf_leave_out_a_ground_truth_the_judge_cannot_read(no_reference_judge):
    """verl always passes a ground truth; a judge without a reference slot used to fail every batch on it."""
    from reward_judge.integrations.openrlhf import reward_func
    from reward_judge.integrations.verl import compute_score_batch

    scores = compute_score_batch(["ds"] * 2, ["4 score=7", "5 score=2"], ["4", 4],
                                 [{"question": "What is 2+2?"}, {"question": "What is 2+2?"}])
    assert [s["score"] for s in scores] == [pytest.approx(2 / 3), pytest.approx(1 / 9)]
    assert [s["judge_fallback"] for s in scores] == [0.0, 0.0]
    out = reward_func(["What is 2+2? 4 score=7"], ["What is 2+2? "], ["4"])
    assert out["rewards"].tolist() == [pytest.approx(2 / 3)] and out["extra_logs"]["judge_fallback"].tolist() == [0.0]


def test_a_nan_ground_truth_is_refused_naming_the_row():
    from reward_judge.integrations.policy_prompts import PolicyPromptReader
    from reward_judge.integrations.slime import read_sample
    from reward_judge.integrations.verl import _rows

    with pytest.raises(ValueError, match=r"ground_truth\[1\] is nan: a NaN is no reference answer"):
        _rows(PolicyPromptReader("auto"), ["4", "5"], ["4", math.nan], [{"question": "q"}, {"question": "q"}])
    with pytest.raises(ValueError, match="is nan: a NaN is no reference answer"):
        read_sample("q", "a", math.nan, None, PolicyPromptReader("auto"))
