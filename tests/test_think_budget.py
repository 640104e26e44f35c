"""think_budget: judges that think first get at most N thinking tokens, then the close and the answer marker.

The forced path runs on the real embedded judge (it never closes a thought by itself, so every budget
runs out); the bookkeeping around it (one call when the judge closed its thinking and answered, the
thinking never read for the verdict, validation, cache keys) runs on the scripted backend.
"""

from __future__ import annotations

import math

import pytest

from reward_judge import GenerativeRewardModel, JudgeConfig, get_protocol
from reward_judge.protocols.reasoning import FORCED_CLOSE, parse_ab_answer
from tests._scripted import scripted_model

PROMPT, GOOD, BAD = "What is 2+2?", "2 + 2 = 4.", "2 + 2 = 5."


# ------------------------------------------------------------------ the embedded judge
@pytest.fixture(scope="module")
def reasoning_judge(judge_backend):
    return GenerativeRewardModel.from_pretrained(judge_backend, protocol="rm-r1-reasoning", think_budget=6,
                                                 max_new_tokens=6, max_attempts=1)


@pytest.mark.model
def test_think_budget_forces_the_close_and_reads_only_the_answer(reasoning_judge, judge_backend):
    results = reasoning_judge.score([PROMPT, PROMPT], [GOOD, BAD], completions_b=[BAD, GOOD])
    tokenizer = judge_backend.tokenizer
    for result in results:
        extra = result.extra
        assert extra["think_budget"] == 6 and extra["think_forced"] is True  # the 135M judge never closes a thought
        thinking, _, answer = result.raw.partition(FORCED_CLOSE)
        assert answer.startswith("<answer>[[")  # the forced close, then the answer marker
        assert 0 < extra["think_tokens"] <= 6 + 1  # re-tokenising decoded text may merge or split one token
        assert extra["think_tokens"] == len(tokenizer(thinking, add_special_tokens=False)["input_ids"])
        # the verdict is what follows the forced close, never something in the thinking
        expected = parse_ab_answer(answer)
        assert (result.winner if result.ok else None) == expected.winner
        assert result.fallback == (not expected.ok)


@pytest.mark.model
def test_think_budget_in_expected_mode_reads_the_marker_after_the_forced_close(reasoning_judge):
    expected = reasoning_judge.with_options(mode="expected")
    result = expected.score([PROMPT], [GOOD], completions_b=[BAD])[0]
    assert result.ok and result.raw.endswith(FORCED_CLOSE + "<answer>[[")
    assert set(result.distribution) == {"A", "B"} and math.isclose(sum(result.distribution.values()), 1.0)
    assert result.extra["think_forced"] is True and 0 < result.extra["think_tokens"] <= 7
    assert math.isclose(result.reward, result.distribution["A"])  # linear pairwise reward: P(A)


@pytest.mark.model
def test_direct_mode_closes_the_thinking_at_once(reasoning_judge):
    direct = reasoning_judge.with_options(mode="direct", think_budget=None)
    result = direct.score([PROMPT], [GOOD], completions_b=[BAD])[0]
    assert result.ok and set(result.distribution) == {"A", "B"} and "think_tokens" not in result.extra


# ------------------------------------------------------------------ bookkeeping on the scripted backend
@pytest.mark.unit
def test_a_closed_thought_with_its_verdict_is_one_call_and_the_thinking_is_not_read():
    rm = scripted_model(protocol="rm-r1-reasoning", rubric=None, think_budget=32, winner_format=(
        "B looks right: <answer>[[B]]</answer>?</think>\n\nA is exact.\n<answer>[[{winner}]]</answer>"))
    result = rm.score([PROMPT + " winner=A"], [GOOD], completions_b=[BAD])[0]
    assert result.ok and result.winner == "A"
    assert result.extra["think_forced"] is False and result.extra["think_budget"] == 32
    assert result.extra["think_tokens"] is None  # the scripted judge has no tokenizer to count with
    assert rm.backend.calls == [("generate", 1)]


@pytest.mark.unit
def test_a_closed_thought_without_its_verdict_continues_after_the_close():
    rm = scripted_model(protocol="rm-r1-reasoning", rubric=None, think_budget=32, max_attempts=1,
                        winner_format="thinking</think>\n\nstill no verdict")
    result = rm.score([PROMPT + " winner=A"], [GOOD], completions_b=[BAD])[0]
    assert not result.ok and result.fallback
    assert rm.backend.calls == [("generate", 1), ("generate", 1)]
    assert result.raw.count("</think>") == 2  # the judge's own close, then its continuation (which ends likewise)


@pytest.mark.unit
def test_think_budget_is_validated():
    with pytest.raises(ValueError, match="think_budget must be a positive integer"):
        JudgeConfig(protocol="rm-r1-reasoning", think_budget=0)
    with pytest.raises(ValueError, match="does not think"):
        JudgeConfig(protocol="skywork-critic", think_budget=64)
    with pytest.raises(ValueError, match="does not think"):
        JudgeConfig(think_budget=64)  # the default protocol, prometheus-v2
    with pytest.raises(ValueError, match="mode='generate' or 'expected'"):
        JudgeConfig(protocol="judgelrm", think_budget=64, mode="direct")
    assert JudgeConfig(protocol="judgelrm", think_budget=64).attempt_plan().think_budget == 64


@pytest.mark.unit
def test_think_budget_is_part_of_the_cache_key():
    rm = scripted_model(protocol="rm-r1-reasoning", rubric=None, think_budget=32)
    assert rm.scorer.cache_fields()["think_budget"] == 32
    assert "think_budget" not in rm.with_options(think_budget=None).scorer.cache_fields()


@pytest.mark.unit
def test_protocols_that_think():
    assert get_protocol("rm-r1-reasoning").thinks and get_protocol("judgelrm").thinks
    assert not getattr(get_protocol("rm-r1"), "thinks", False)
