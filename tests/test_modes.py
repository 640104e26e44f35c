"""The three scoring modes on the real embedded judge: what each returns and where they must agree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from reward_judge import GenerativeRewardModel, get_protocol
from reward_judge.config import JudgeConfig
from reward_judge.judge_input import JudgeInput
from reward_judge.scoring.answers import AnswerSpace, answer_context, answer_suffix
from reward_judge.protocols.custom import CustomProtocol


PROMPTS = ["What is 2+2?", "What is 2+2?", "What is 2+2?", "Name a primary colour.", "Name a primary colour."]
COMPLETIONS = ["4", "Four, obviously.", "It is 5.", "Blue.", "I like turtles."]


@dataclass(frozen=True)
class GradeProtocol(CustomProtocol):
    """A custom protocol whose answer slot is ``Grade: `` (the tiny judge completes it predictably)."""

    answer_prefix: ClassVar[str] = "Grade: "


# The judge input ends in sixteen lines "Grade: 3": the tiny judge copies the pattern, so both its
# greedy answer and its answer distribution are (nearly) certain, the case where the modes must agree.
CERTAIN = GradeProtocol(
    custom_name="grade-copy",
    template="Q: {instruction}\nA: {response}\n" + "Grade: 3\n" * 16,
    answer_pattern=r"Grade:\s*(\d+)",
    range=(1, 5),
)


@pytest.fixture(scope="session")
def judge() -> GenerativeRewardModel:
    return GenerativeRewardModel.from_pretrained("default", mode="direct", max_new_tokens=16, batch_size=8)


def with_config(judge: GenerativeRewardModel, **changes) -> GenerativeRewardModel:
    """Another reward model on the same loaded judge weights."""
    return GenerativeRewardModel(judge.backend, judge.config.replace(**changes), judge="default")


def scores(results) -> list[float]:
    return [r.score for r in results]


@pytest.mark.model
def test_direct_returns_a_distribution_over_valid_answers(judge):
    results = judge.score(PROMPTS, COMPLETIONS)
    for r in results:
        assert r.ok and not r.fallback and r.error is None
        assert list(r.distribution) == ["1", "2", "3", "4", "5"]
        assert math.isclose(sum(r.distribution.values()), 1.0, abs_tol=1e-9)
        assert math.isclose(r.score, sum(int(k) * p for k, p in r.distribution.items()), abs_tol=1e-9)
        assert math.isclose(r.reward, (r.score - 1) / 4, abs_tol=1e-9)
        assert 0 < r.extra["answer_mass"] <= 1
        assert r.raw == "" and r.extra["mode"] == "direct"
    # Continuous rewards: the five rollouts do not tie (what GRPO needs for a non-zero advantage).
    assert len({round(r.score, 6) for r in results}) == len(results)


@pytest.mark.model
def test_multi_token_answers_are_teacher_forced_exactly(judge):
    """mtbench-single scores 1..10: P("10]]") is the product of its tokens' probabilities."""
    import torch

    rm = with_config(judge, protocol="mtbench-single", rubric=None)
    result = rm.score(PROMPTS[:1], COMPLETIONS[:1])[0]
    protocol = get_protocol("mtbench-single")
    context = rm.render(PROMPTS[0], COMPLETIONS[0]) + protocol.answer_prefix
    space = AnswerSpace.of(protocol)
    assert space.candidates[-1] == "10]]"
    tok, model = rm.backend.tokenizer, rm.backend.model
    context_ids = tok(context, add_special_tokens=False)["input_ids"]
    brute = []
    for candidate in space.candidates:
        # Independent computation: one full forward pass over context + candidate, no cache, no batching.
        ids = tok(context + candidate, add_special_tokens=False)["input_ids"]
        start = next(i for i, (a, b) in enumerate(zip(ids, context_ids + [None])) if a != b)
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
        brute.append(sum(float(logp[t - 1, ids[t]]) for t in range(start, len(ids))))
    assert len(tok("10]]", add_special_tokens=False)["input_ids"]) > 1
    top = max(brute)
    total = sum(math.exp(b - top) for b in brute)
    expected = [math.exp(b - top) / total for b in brute]
    assert list(result.distribution) == [str(v) for v in range(1, 11)]
    for got, want in zip(result.distribution.values(), expected):
        assert got == pytest.approx(want, abs=1e-4)


@pytest.mark.model
def test_direct_argmax_is_the_greedy_answer(judge):
    """The most probable answer is the one the judge writes greedily at the same slot."""
    protocol = get_protocol("prometheus-v2")
    results = judge.score(PROMPTS, COMPLETIONS)
    inputs = [judge.request(p, c).input.extend(protocol.answer_prefix) for p, c in zip(PROMPTS, COMPLETIONS)]
    greedy = judge.backend.generate(inputs, judge.config.replace(max_new_tokens=1).attempt_plan().first)
    checked = 0
    for r, g in zip(results, greedy):
        if g.strip() in r.distribution:
            assert max(r.distribution, key=r.distribution.get) == g.strip()
            checked += 1
    assert checked >= 3, f"greedy answers {greedy} were mostly not valid scores"


@pytest.mark.model
def test_expected_equals_parsed_score_when_the_judge_is_certain(judge):
    gen = with_config(judge, protocol=CERTAIN, rubric=None, chat_format="raw", mode="generate", max_new_tokens=6)
    exp = with_config(judge, protocol=CERTAIN, rubric=None, chat_format="raw", mode="expected", max_new_tokens=6)
    prompts, completions = ["Is water wet?", "Say hi."], ["Yes.", "Hi!"]
    parsed = gen.score(prompts, completions)
    expected = exp.score(prompts, completions)
    for p, e in zip(parsed, expected):
        assert p.ok, p.raw
        assert e.extra["marker_written"], e.raw  # the judge wrote "Grade:" itself: its own slot is read
        assert e.raw == p.raw  # same greedy feedback in both modes
        top = max(e.distribution, key=e.distribution.get)
        assert int(top) == p.score
        assert e.distribution[top] > 0.9
        assert e.score == pytest.approx(p.score, abs=0.25)
        # The expected score differs from the parsed one only by the probability left elsewhere.
        assert abs(e.score - p.score) <= (1 - e.distribution[top]) * 4 + 1e-9
        assert e.reward == pytest.approx((e.score - 1) / 4)


@pytest.mark.parametrize("mode", ["direct", "expected"])
@pytest.mark.model
def test_batched_equals_one_by_one(judge, mode):
    rm = with_config(judge, mode=mode)
    batched = rm.score(PROMPTS, COMPLETIONS)
    single = [rm.score([p], [c])[0] for p, c in zip(PROMPTS, COMPLETIONS)]
    for b, s in zip(batched, single):
        assert b.raw == s.raw
        assert b.score == pytest.approx(s.score, abs=1e-4)
        for k in b.distribution:
            assert b.distribution[k] == pytest.approx(s.distribution[k], abs=1e-4)


@pytest.mark.model
def test_generate_mode_batched_equals_one_by_one(judge):
    rm = with_config(judge, mode="generate", max_attempts=1)
    inputs = [rm.request(p, c).input for p, c in zip(PROMPTS, COMPLETIONS)]
    params = rm.config.attempt_plan().first
    batched = rm.backend.generate(inputs, params)
    single = [rm.backend.generate([i], params)[0] for i in inputs]
    assert batched == single
    results = rm.score(PROMPTS, COMPLETIONS)
    assert [r.raw for r in results] == batched


@pytest.mark.model
def test_pairwise_direct_gives_winner_distribution(judge):
    rm = with_config(judge, protocol="prometheus-v2-relative", rubric="helpfulness")
    results = rm.score(PROMPTS[:2], COMPLETIONS[:2], completions_b=COMPLETIONS[2:4])
    for r in results:
        assert r.ok and r.score is None
        assert set(r.distribution) == {"A", "B"}
        assert sum(r.distribution.values()) == pytest.approx(1.0)
        assert r.reward == pytest.approx(r.distribution["A"])  # linear: win 1, loss 0
        assert r.winner == max(r.distribution, key=r.distribution.get)


@pytest.mark.unit
def test_answer_context_cuts_at_the_judges_marker_or_appends_it():
    p = get_protocol("prometheus-v2")
    context, kept, written = answer_context(JudgeInput("IN"), "Fine. [RESULT] 5 and more", p)
    assert (context.text, kept, written) == ("INFine. [RESULT] ", "Fine. ", True)
    assert context.untrusted_text() == ["Fine. "]  # the judge's feedback may quote the completion: untrusted
    context, kept, written = answer_context(JudgeInput("IN"), "Fine.  ", p)
    assert (context.text, kept, written) == ("INFine. [RESULT] ", "Fine.", False)
    context, kept, written = answer_context(JudgeInput("IN"), "", p)
    assert (context.text, kept, written, context.untrusted) == ("IN[RESULT] ", "", False, ())
    m = get_protocol("mtbench-single")
    assert answer_context(JudgeInput("IN"), "Short.", m)[0].text == "INShort.\nRating: [["
    assert answer_suffix(m) == "]]"


@pytest.mark.model
def test_bad_mode_and_unusable_protocols_fail_clearly(judge):
    with pytest.raises(ValueError, match="mode='fast'"):
        JudgeConfig(mode="fast")
    no_slot = CustomProtocol(custom_name="noslot", template="{instruction} {response}", answer_pattern=r"(\d)", range=(1, 5))
    with pytest.raises(ValueError, match="answer_prefix"):
        with_config(judge, protocol=no_slot, rubric=None, chat_format="raw").score(["q"], ["a"])
    nested = GradeProtocol(custom_name="nested", template="{instruction} {response}", answer_pattern=r"(\d+)", range=(1, 10))
    with pytest.raises(ValueError, match="'1' and '10'"):
        with_config(judge, protocol=nested, rubric=None, chat_format="raw").score(["q"], ["a"])
