"""Batch planning, token budgets, shared-prefix reuse and deduplication in the judge loop."""

from __future__ import annotations

from typing import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_judge import GenerativeRewardModel
from reward_judge.backends.base import GenerationParams, JudgeBackend
from reward_judge.judge_input import JudgeInput
from reward_judge.backends.continuations import common_prefix_length
from reward_judge.backends.transformers.batching import (MIN_SHARED_PREFIX, plan_batches, prefix_tree, shared_prefix_length,
                                                         tree_levels)

rows_strategy = st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=40), min_size=0, max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, max_rows=st.integers(1, 9), max_tokens=st.one_of(st.none(), st.integers(1, 200)),
       group=st.booleans(), split=st.booleans())
@pytest.mark.unit
def test_plan_batches_covers_every_row_once_within_limits(rows, max_rows, max_tokens, group, split):
    batches = plan_batches(rows, max_rows=max_rows, max_tokens=max_tokens, group_prefixes=group, split_groups=split)
    assert sorted(i for b in batches for i in b) == list(range(len(rows)))
    for b in batches:
        assert 1 <= len(b) <= max_rows
        if max_tokens is not None and len(b) > 1:
            assert len(b) * max(len(rows[i]) for i in b) <= max_tokens


@pytest.mark.unit
def test_plan_batches_keeps_prefix_groups_together():
    shared = [7] * 30
    rows = [shared + [1] * 5 + [i] for i in range(3)] + [shared + [2] * 5 + [i] for i in range(3)]
    rows = [rows[i] for i in (0, 3, 1, 4, 2, 5)]  # rollouts of two prompts, interleaved
    # a full batch is cut between the two prompts' rollouts, never inside one prompt's
    assert sorted(map(sorted, plan_batches(rows, max_rows=4))) == [[0, 2, 4], [1, 3, 5]]
    # a batch that holds both keeps both: the prefill shares each prompt's prefix within it
    assert sorted(plan_batches(rows, max_rows=32)[0]) == [0, 1, 2, 3, 4, 5]
    assert plan_batches(rows, max_rows=32, group_prefixes=False) == [[0, 1, 2, 3, 4, 5]]
    assert sorted(plan_batches(rows, max_rows=32, split_groups=False)[0]) == [0, 1, 2, 3, 4, 5]


@pytest.mark.unit
def test_plan_batches_keeps_the_rubric_variants_of_a_rollout_together():
    # rows of 2 prompts x 4 rollouts x 3 rubrics: prompt prefix, response, then the rubric
    rows = [[9] * 30 + [p] * 20 + [10 + g] * 20 + [100 + r] * 25 for p in range(2) for g in range(4) for r in range(3)]
    for max_rows in (3, 4, 7, 8, 16):
        for batch in plan_batches(rows, max_rows=max_rows):
            rollouts = {i // 3 for i in batch}
            assert sum(1 for i in range(len(rows)) if i // 3 in rollouts) == len(batch)  # whole rollouts only


def _path_tokens(rows, plan, r):
    """Row ``r`` as the prefill computes it: its leaf, then the segments on its path up the levels."""
    leaves = next(level for level in plan.leaves if r in [row for row, _, _ in level.segments])
    k = [row for row, _, _ in leaves.segments].index(r)
    _, start, end = leaves.segments[k]
    pieces, entry = [rows[r][start:end]], leaves.parents[k]
    for level in reversed(plan.levels):
        row, start, end = level.segments[entry]
        pieces.append(rows[row][start:end])
        entry = level.parents[entry]
    assert entry == -1
    return [t for piece in reversed(pieces) for t in piece]


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=60), min_size=1, max_size=12),
       min_shared=st.integers(1, 20))
@pytest.mark.unit
def test_prefix_tree_levels_rebuild_every_row(rows, min_shared):
    plan = tree_levels(prefix_tree(rows, min_shared=min_shared), len(rows))
    assert sorted(row for level in plan.leaves for row, _, _ in level.segments) == list(range(len(rows)))
    for r in range(len(rows)):
        assert _path_tokens(rows, plan, r) == rows[r]
    for level in plan.leaves:  # every row keeps a token of its own: its last position is read
        assert all(end > start for _, start, end in level.segments)
    for level in plan.levels:  # a shared segment is long enough to pay for its own pass, or empty (carried)
        assert all(end - start >= min_shared or end == start for _, start, end in level.segments)
        # each shared segment is computed once: no two entries continue the same entry with the same tokens
        keys = [(p, tuple(rows[row][s:e])) for p, (row, s, e) in zip(level.parents, level.segments)]
        assert len(set(keys)) == len(keys)
    assert plan.tokens <= min(plan.padded_tokens, sum(len(r) for r in rows))


@pytest.mark.unit
def test_tree_levels_align_like_segments_and_split_uneven_tails():
    # two prompts: one prompt's instruction is long enough to be shared, the other's is not; every rollout
    # has three rubric tails of two lengths
    system, rubric_tails = [9] * 30, [[100] * 30, [101] * 20, [102] * 20]
    rows = [system + [1] * 20 + [10 + g] * 40 + tail for g in range(2) for tail in rubric_tails]
    rows += [system + [2] * 5 + [20 + g] * 40 + tail for g in range(2) for tail in rubric_tails]
    plan = tree_levels(prefix_tree(rows), len(rows))
    responses = plan.levels[-1]
    assert sorted(e - s for _, s, e in responses.segments) == [40, 40, 45, 45]  # all four responses share a pass
    assert [len(level.segments) for level in plan.leaves] == [4, 8]  # long tails apart from the short ones
    assert plan.padded_tokens < plan.tokens * 1.1


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 2), max_size=60), min_size=1, max_size=5))
@pytest.mark.unit
def test_common_prefix_length_is_the_longest_shared_prefix(rows):
    n = 0
    while all(len(r) > n for r in rows) and len({r[n] for r in rows}) == 1:
        n += 1
    assert common_prefix_length(rows) == n
    assert common_prefix_length([tuple(r) for r in rows]) == n


@pytest.mark.unit
def test_shared_prefix_length_leaves_every_row_a_token():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    same = [5] * 40
    assert shared_prefix_length([same, same]) == 39
    assert shared_prefix_length([same]) == 0
    assert shared_prefix_length([[1] * (MIN_SHARED_PREFIX - 1) + [2], [1] * (MIN_SHARED_PREFIX - 1) + [3]]) == 0
    with pytest.raises(ValueError, match="max_tokens"):
        plan_batches([[1]], max_rows=1, max_tokens=0)


PROMPTS = ["Explain rain."] * 4 + ["Name a fruit."] * 3
COMPLETIONS = ["Water falls.", "Clouds condense water into drops that fall.", "It rains.", "I don't know.",
               "Apple.", "A banana is a fruit.", "Carrot."]


@pytest.fixture(scope="session")
def judge() -> GenerativeRewardModel:
    return GenerativeRewardModel.from_pretrained("default", mode="direct", max_new_tokens=12, batch_size=8)


def with_config(judge: GenerativeRewardModel, **changes) -> GenerativeRewardModel:
    return GenerativeRewardModel(judge.backend, judge.config.replace(**changes), judge="default")


@pytest.mark.model
def test_token_budget_and_prefix_reuse_do_not_change_scores(judge):
    backend = judge.backend
    reference = [r.score for r in judge.score(PROMPTS, COMPLETIONS)]
    width = max(len(backend.tokenizer(judge.render(p, c))["input_ids"]) for p, c in zip(PROMPTS, COMPLETIONS))
    try:
        backend.batch_tokens = 2 * width  # two rows per batch
        budget = [r.score for r in judge.score(PROMPTS, COMPLETIONS)]
        backend.batch_tokens, backend.prefix_cache = None, False
        plain = [r.score for r in judge.score(PROMPTS, COMPLETIONS)]
    finally:
        backend.batch_tokens, backend.prefix_cache = None, True
    assert budget == pytest.approx(reference, abs=1e-4)
    assert plain == pytest.approx(reference, abs=1e-4)


@pytest.mark.model
def test_generate_with_prefix_reuse_equals_plain_batches(judge):
    rm = with_config(judge, mode="generate", max_attempts=1)
    inputs = [rm.request(p, c).input for p, c in zip(PROMPTS, COMPLETIONS)]
    params = GenerationParams(max_new_tokens=12)
    reused = rm.backend.generate(inputs, params)
    rm.backend.prefix_cache = False
    try:
        plain = rm.backend.generate(inputs, params)
    finally:
        rm.backend.prefix_cache = True
    assert reused == plain


@pytest.mark.model
def test_identical_rollouts_are_judged_once(judge):
    rm = with_config(judge)
    before = rm.stats.duplicates_skipped
    results = rm.score(["Explain rain."] * 3 + ["Name a fruit."], ["Water falls."] * 3 + ["Apple."])
    assert rm.stats.duplicates_skipped - before == 2
    assert rm.stats.judge_requests == 2
    assert results[0].distribution == results[1].distribution == results[2].distribution


class OutOfMemoryAbove(JudgeBackend):
    """The real backend, failing like an out-of-memory GPU for calls with more than ``limit`` inputs."""

    def __init__(self, inner: JudgeBackend, limit: int):
        self.inner, self.limit = inner, limit
        self.tokenizer, self.identity = inner.tokenizer, inner.identity
        self.calls: list[int] = []

    @property
    def capabilities(self) -> frozenset[str]:
        return self.inner.capabilities

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        self._check(len(inputs))
        return self.inner.generate(inputs, params)

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        self._check(len(contexts))
        return self.inner.answer_logprobs(contexts, candidates)

    def _check(self, n: int) -> None:
        self.calls.append(n)
        if n > self.limit:
            raise RuntimeError(f"CUDA out of memory: tried to judge {n} inputs at once")


@pytest.mark.model
def test_direct_mode_isolates_a_failing_call_like_generate(judge):
    """A call that fails is split until it succeeds: every rollout keeps its own distribution."""
    backend = OutOfMemoryAbove(judge.backend, limit=2)
    rm = GenerativeRewardModel(backend, judge.config.replace(fallback=0.0), judge="default")
    results = rm.score(PROMPTS[:3], COMPLETIONS[:3])
    assert all(r.ok and r.distribution for r in results)
    assert backend.calls == [3, 1, 2] and rm.stats.backend_errors == 0
    assert [r.score for r in results] == pytest.approx([r.score for r in judge.score(PROMPTS[:3], COMPLETIONS[:3])], abs=1e-4)


@pytest.mark.model
def test_backend_failure_is_counted_per_input_in_direct_mode(judge):
    rm = GenerativeRewardModel(OutOfMemoryAbove(judge.backend, limit=0), judge.config.replace(fallback=0.0,
                               max_attempts=1), judge="default")
    results = rm.score(PROMPTS[:3], COMPLETIONS[:3])
    assert all(r.fallback and not r.ok and r.reward == 0.0 for r in results)
    assert "out of memory" in results[0].error
    assert rm.stats.backend_errors == 3 and rm.stats.fallbacks == 3 and rm.stats.judge_requests == 3


@pytest.mark.model
def test_uneven_shared_segments_run_in_length_groups_and_score_the_same(default_judge):
    """The rubric variants of rollouts of very different lengths share each rollout's response: one pass over
    that level padded every response to the longest (a quarter of the tokens a real benchmark's batch ran were
    padding). Subtrees of similar lengths now run as branches of their own below the batch's common prefix, and
    a level's length groups run apart, stitched back into the cache one pass would leave."""
    from reward_judge.backends.continuations import candidate_tokens_all
    from reward_judge.backends.transformers.batching import prefill_plan
    from reward_judge.scoring.answers import AnswerSpace

    rm = default_judge.with_options(mode="direct")
    backend = rm.backend
    words = "The capital of France is Paris, a city on the Seine with many museums."
    completions = ["Paris.", " ".join([words] * 8)]
    prompts = ["Name the capital of France, and tell me about the city in a few words if you like.",
               "Which city is the capital of France? Describe it briefly, or just name it."]
    rubrics = ["helpfulness", "harmlessness"]
    inputs = [rm.renderer.with_rubric(r).render(p, c).input.extend(rm.protocol.answer_prefix)
              for p in prompts for c in completions for r in rubrics]
    candidates = AnswerSpace.of(rm.protocol).candidates
    rows = [context for context, _ in candidate_tokens_all(backend.tokenizer, inputs, candidates)]
    plan = prefill_plan(rows)
    assert any(level.groups for branch in plan.branches for level in branch.levels)  # responses: split by length
    assert plan.padded_tokens < plan.tokens * 1.1
    apart = prefill_plan(rows[:2] + rows[-2:])  # one prompt's short rollout, the other's long one: two branches
    assert apart.root is not None and len(apart.branches) == 2
    for batch in (inputs, inputs[:2] + inputs[-2:]):
        shared = backend.answer_logprobs(batch, candidates)
        backend.prefix_cache = False
        try:
            plain = backend.answer_logprobs(batch, candidates)
        finally:
            backend.prefix_cache = True
        for a, b in zip(shared, plain, strict=True):
            assert a == pytest.approx(b, abs=1e-4)
    # generation continues the stitched caches: greedy text identical to plain batches
    params = GenerationParams(max_new_tokens=4)
    reused = backend.generate(inputs, params)
    backend.prefix_cache = False
    try:
        assert backend.generate(inputs, params) == reused
    finally:
        backend.prefix_cache = True


@pytest.mark.model
def test_a_first_level_split_by_length_with_rows_carried_through_it_scores_the_same():
    """Without a common root, the first level's length groups start from no cache, and a group may only carry
    rows down (their shared segment sits lower): the stitched cache gives those rows empty, masked columns."""
    import torch

    from reward_judge.backends.transformers.batching import prefill, prefill_plan
    from tests.test_attention import tiny_llama

    torch.manual_seed(0)
    model = tiny_llama().eval()
    rows = [[1] * 200 + [2] * 20 + [3], [1] * 200 + [2] * 20 + [4], [1] * 200 + [9] * 20 + [3],
            [1] * 200 + [9] * 20 + [4], [5] * 30 + [6], [5] * 30 + [7], [8] * 100 + [6], [8] * 100 + [7]]
    plan = prefill_plan(rows)
    assert plan.root is None and plan.branches[0].levels[0].groups  # the first level is split
    with torch.inference_mode():
        shared, plain = prefill(model, rows, pad_id=0), prefill(model, rows, pad_id=0, share_prefix=False)
    by_row = [{r: logits for part in run.parts for r, logits in zip(part.rows, part.last_logits)}
              for run in (shared, plain)]
    for r in range(len(rows)):
        assert torch.allclose(by_row[0][r], by_row[1][r], atol=1e-5)
    assert shared.padded_tokens < plain.padded_tokens
