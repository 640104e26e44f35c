"""Failures: retries then the declared fallback, injected OOM split down to one sample, backend
exceptions isolated per sample, over-long inputs truncated by the declared policy."""

from __future__ import annotations

import pytest

from reward_judge import GenerativeRewardModel
from tests._faults import FailingBackend, OutOfMemoryAbove
from reward_judge.protocols import CustomProtocol
from reward_judge.reward_model import JudgeFailure
from reward_judge.truncation import MARKER

from tests.conftest import DIGIT

pytestmark = pytest.mark.model

PROMPTS = ["What is 2+2?", "Name a colour.", "Say hi.", "What is 3+3?"]
COMPLETIONS = ["4", "Blue.", "Hi!", "6"]
NEVER = CustomProtocol(custom_name="never", template=DIGIT.template, answer_pattern=r"(ZZZ\d)", range=(1, 9))


def on_backend(rm, backend):
    """The same reward model on another backend (the real judge weights, wrapped for fault injection)."""
    return GenerativeRewardModel(backend, rm.config, judge="default")


def test_oom_splits_batches_down_to_single_samples(judge_backend, make_rm):
    backend = OutOfMemoryAbove(judge_backend, max_batch=1, batch_size=4)
    rm = on_backend(make_rm(max_attempts=1), backend)
    results = rm.score(PROMPTS, COMPLETIONS)
    assert backend.refused == [4, 2, 2] and backend.oom_splits == 3
    assert len(results) == 4 and all(r.ok for r in results), [r.error for r in results]
    assert rm.stats.backend_errors == 0


def test_oom_on_a_single_sample_fails_only_that_call_gracefully(judge_backend, make_rm):
    backend = OutOfMemoryAbove(judge_backend, max_batch=0, batch_size=2)  # even one sample does not fit
    rm = on_backend(make_rm(max_attempts=1, fallback=0.0), backend)
    results = rm.score(PROMPTS[:2], COMPLETIONS[:2])
    assert len(results) == 2
    for r in results:
        assert not r.ok and r.fallback and r.reward == 0.0
        assert "OutOfMemoryError" in r.error and "out of memory" in r.error
    assert rm.stats.backend_errors == 2


def test_backend_exception_never_loses_other_results(judge_backend, make_rm):
    flaky = FailingBackend(judge_backend, poison="CRASH")
    rm = on_backend(make_rm(max_attempts=1), flaky)
    completions = ["4", "CRASH here", "Hi!", "6"]
    results = rm.score(PROMPTS, completions)
    assert len(results) == 4
    assert [r.ok for r in results] == [True, False, True, True], [r.error for r in results]
    assert results[1].fallback and results[1].reward is None
    assert results[1].error.startswith("judge backend error: BackendError: injected failure")
    # in input order: the healthy answers are the same as without the poisoned row
    assert results[0].raw == make_rm(max_attempts=1).score(PROMPTS[:1], completions[:1])[0].raw
    assert rm.stats.backend_errors == 1 and rm.stats.fallbacks == 1


def test_unparseable_answers_are_retried_then_fall_back(make_rm):
    rm = make_rm(protocol=NEVER, max_attempts=3, fallback=0.25)
    result = rm.score(PROMPTS[:1], COMPLETIONS[:1])[0]
    assert (result.ok, result.fallback, result.reward, result.attempts) == (False, True, 0.25, 3)
    assert "ZZZ" in result.error  # the error names the pattern that was not found
    assert rm.stats.retries == 2 and rm.stats.parse_failures == 3 and rm.stats.fallbacks == 1
    # the retries sample with new seeds, so they are real second chances
    assert rm.config.attempt_plan().params(1).do_sample and rm.config.attempt_plan().params(2).seed != rm.config.attempt_plan().params(1).seed

    strict = make_rm(protocol=NEVER, max_attempts=1, fallback="raise")
    with pytest.raises(JudgeFailure, match=r"1 of 1 rollouts got no valid judge answer") as info:
        strict.score(PROMPTS[:1], COMPLETIONS[:1])
    assert len(info.value.results) == 1 and info.value.results[0].attempts == 1


def test_long_response_is_truncated_head_and_tail(make_rm):
    rm = make_rm(max_input_tokens=60, max_attempts=1)
    tok = rm.backend.tokenizer
    long = "START " + "blah " * 300 + " END"
    text = rm.render("What is it?", long)
    assert len(tok(text, add_special_tokens=False)["input_ids"]) <= 60
    assert "START" in text and "END" in text and "tokens truncated ..." in text
    assert text.rstrip().endswith("On a scale of 1 to 9, the answer's score is")  # instructions never cut
    results = rm.score(["What is it?", "Short?"], [long, "yes"])
    assert results[0].truncated > 250 and results[1].truncated == 0
    assert rm.stats.truncated == 1


def test_truncation_fail_policy_and_impossible_fit(make_rm):
    rm = make_rm(max_input_tokens=60, truncation="fail")
    results = rm.score(["What is it?", "Short?"], ["blah " * 300, "yes"])
    assert not results[0].ok and results[0].fallback and "over max_input_tokens=60" in results[0].error
    assert results[1].ok and rm.stats.judge_requests == 1  # the over-long row never reached the judge

    tiny = make_rm(max_input_tokens=10)
    result = tiny.score(["A prompt that alone is longer than ten tokens, surely"], ["x"])[0]
    assert not result.ok and "does not fit even with the" in result.error


def test_default_limit_comes_from_the_judge_context(make_rm):
    rm = make_rm(max_new_tokens=4)
    assert rm.backend.context_length == 8192
    text = rm.render("Q", "word " * 9000)
    assert MARKER.format(n=0).split("0")[0] in text
    assert len(rm.backend.tokenizer(text, add_special_tokens=False)["input_ids"]) <= 8192 - 4
