"""Group rewards with the real embedded judge: grouping, both orders, invariance, anchors, failures, cache, listwise.

Most tests use a short pairwise prompt (`tests.group_protocols.SHORT_PAIR`, ~40 tokens a pair) in the
``direct`` mode so that round robins stay fast on 2 shared CPU cores; the example and the trainer tests
use the judge's own Prometheus 2 relative protocol.
"""

from __future__ import annotations

import random

import pytest

from reward_judge import GenerativeRewardModel, JudgeCache
from reward_judge.groups.grouping import Row, form_groups
from reward_judge.groups.listwise import ListwiseJob
from reward_judge.groups.pairwise import PairwiseJob
from reward_judge.integrations.best_of_n import best_of_n
from reward_judge.metrics import trainer_metrics
from reward_judge.verdicts import Judgment, Outcome
from tests._faults import FailingBackend
from tests.group_protocols import SHORT_PAIR

pytestmark = pytest.mark.model

MATH = "What is 2+2?"
COLOUR = "Name a colour."


@pytest.fixture
def pair_rm(judge_backend):
    """A pairwise reward model on the shared embedded judge (short prompt, distribution read directly)."""

    def make(backend=None, **options):
        options.setdefault("protocol", SHORT_PAIR)
        options.setdefault("chat_format", "raw")
        options.setdefault("mode", "direct")
        options.setdefault("max_new_tokens", 2)
        return GenerativeRewardModel.from_pretrained(backend or judge_backend, **options)

    return make


def test_groups_keep_input_order_and_rewards_ignore_shuffling(pair_rm):
    prompts = [MATH, COLOUR, MATH, MATH, COLOUR, MATH]
    completions = ["4", "Blue.", "five", "4", "A dog.", "The answer is 4."]
    rm = pair_rm()
    results = rm.score(prompts, completions)
    assert rm.stats.judge_requests == 2 * 3 + 2 * 1  # math: 3 distinct -> 3 pairs; colour: 1 pair; both orders
    assert rm.stats.comparisons == 4 and rm.stats.comparisons_failed == 0
    for i, result in enumerate(results):
        assert result.ok and 0.0 <= result.reward <= 1.0
        group = result.extra["group"]
        assert group["size"] == prompts.count(prompts[i])
        opponents = {c["opponent"] for c in result.extra["comparisons"]}
        # every opponent is another completion of the same prompt, never itself or a copy of itself
        assert all(prompts[j] == prompts[i] and completions[j] != completions[i] for j in opponents)
        for comparison in result.extra["comparisons"]:
            assert [o["shown_first"] for o in comparison["orders"]] in (["self", "opponent"], ["opponent", "self"])
    assert results[0].reward == results[3].reward  # identical completions, identical rewards
    # the colour pair: the two outcomes are complementary
    assert results[1].reward + results[4].reward == pytest.approx(1.0, abs=1e-12)

    order = list(range(len(prompts)))
    random.Random(7).shuffle(order)
    shuffled = pair_rm().score([prompts[k] for k in order], [completions[k] for k in order])
    for position, k in enumerate(order):
        assert shuffled[position].reward == results[k].reward  # exactly: same requests, same batches, same sums


def test_generate_mode_disagreement_is_a_tie_and_consistency_is_logged(pair_rm):
    rm = pair_rm(mode="generate", max_attempts=1)
    completions = ["4", "five", "It is four."]
    results = rm.score([MATH] * 3, completions)
    checked = consistent = 0
    for result in results:
        for comparison in result.extra["comparisons"]:
            first, second = comparison["orders"]
            assert first["winner"] in ("A", "B") and second["winner"] in ("A", "B"), comparison
            # the completion this result belongs to, as each order's winner names it
            mine = [(o["winner"] == "A") == (o["shown_first"] == "self") for o in (first, second)]
            agree = mine[0] == mine[1]
            assert comparison["consistent"] is agree
            assert comparison["outcome"] == (float(mine[0]) if agree else 0.5)
            checked += 1
            consistent += agree
        wins = [c["outcome"] for c in result.extra["comparisons"]]
        assert result.reward == pytest.approx(sum(wins) / len(wins))
    metrics = trainer_metrics(rm.__name__, results, 1.0)
    assert metrics[f"{rm.__name__}/position_consistency"] == pytest.approx(consistent / checked)
    assert metrics[f"{rm.__name__}/judge_calls_per_group"] == 6.0
    assert rm.stats.comparisons_consistent == consistent // 2  # each pair appears in both of its results


def test_one_order_halves_the_calls_and_checks_no_consistency(pair_rm):
    rm = pair_rm(both_orders=False)
    results = rm.score([MATH] * 3, ["4", "five", "It is four."])
    assert rm.stats.judge_requests == 3 and rm.stats.comparisons_consistent == 0
    for result in results:
        for comparison in result.extra["comparisons"]:
            (order,) = comparison["orders"]
            mine = order["p_first"] if order["shown_first"] == "self" else order["p_second"]
            assert comparison["consistent"] is None and comparison["outcome"] == pytest.approx(mine + 0.5 * order["p_tie"])
    metrics = trainer_metrics(rm.__name__, results, 1.0)
    assert f"{rm.__name__}/position_consistency" not in metrics  # nothing to check with one order
    assert metrics[f"{rm.__name__}/judge_calls_per_group"] == 3.0


def test_failed_comparisons_are_counted_and_left_out_never_ties(pair_rm, judge_backend):
    flaky = FailingBackend(judge_backend, poison="CRASH")
    completions = ["4", "CRASH the judge", "five", "It is four."]
    rm = pair_rm(backend=flaky, max_attempts=1)
    results = rm.score([MATH] * 4, completions)
    crashed = results[1]
    assert crashed.fallback and not crashed.ok and crashed.reward is None
    assert "no valid comparison" in crashed.error and "injected failure" in crashed.error
    for result in (results[0], results[2], results[3]):
        assert result.ok and not result.fallback
        by_opponent = {c["opponent"]: c for c in result.extra["comparisons"]}
        assert by_opponent[1]["outcome"] is None and "injected failure" in by_opponent[1]["error"]
        valid = [c["outcome"] for c in result.extra["comparisons"] if c["outcome"] is not None]
        assert len(valid) == 2 and result.reward == pytest.approx(sum(valid) / 2)  # the failed pair is not a 0.5
    assert rm.stats.comparisons == 6 and rm.stats.comparisons_failed == 3 and rm.stats.fallbacks == 1
    assert rm.stats.backend_errors == 6  # both orders of the three pairs with the poisoned completion
    assert trainer_metrics(rm.__name__, results, 1.0)[f"{rm.__name__}/failed_comparisons"] == 3.0

    declared = pair_rm(backend=flaky, max_attempts=1, fallback=0.0).score([MATH] * 2, completions[:2])
    assert [r.reward for r in declared] == [0.0, 0.0] and all(r.fallback for r in declared)


def test_anchor_against_the_reference_column_is_cached_per_ordered_pair(pair_rm, tmp_path):
    rm = pair_rm(pairing="anchor", cache=str(tmp_path / "verdicts.sqlite"))
    completions = ["4", "five", "It is four."]
    references = ["4"] * 3
    results = rm.score([MATH] * 3, completions, reference=references)
    # each completion against the anchor in both orders; "4" against the anchor "4" is the same judge input
    # both ways, so it is judged once, and the two orders cancel to an exact tie
    assert rm.stats.judge_requests == 5 and rm.stats.duplicates_skipped == 1
    assert results[0].reward == pytest.approx(0.5, abs=1e-12)
    for result in results:
        (comparison,) = result.extra["comparisons"]
        assert comparison["opponent"] == "anchor"
        assert result.reward == comparison["outcome"]
    # the forward order is exactly the per-pair request (completion first, anchor second): served by the cache
    per_pair = rm.score([MATH] * 3, completions, completions_b=references)
    assert rm.stats.judge_requests == 5 and all(r.cached for r in per_pair)
    for pair, result in zip(per_pair, results, strict=True):
        assert pair.distribution["A"] == result.extra["comparisons"][0]["orders"][0]["p_first"]
    # the TRL call reads the anchor from the dataset column, and its reference is not shown as a reference
    assert rm(prompts=[MATH] * 3, completions=completions, reference=references) == [r.reward for r in results]
    with pytest.raises(ValueError, match="the reward call has no column 'baseline'"):
        pair_rm(pairing="anchor", anchor="baseline")(prompts=[MATH], completions=["4"], reference=["4"])

    member = pair_rm(pairing="anchor", anchor="member:0").score([MATH] * 3, completions)
    assert member[0].reward == 0.5 and member[0].extra["anchor"] is True  # the anchor ties with itself
    for result in member[1:]:
        (comparison,) = result.extra["comparisons"]
        assert comparison["opponent"] == 0 and result.reward == comparison["outcome"]


def test_budgeted_ring_fits_bradley_terry_and_reuses_the_cache(pair_rm, tmp_path):
    path = tmp_path / "ring.sqlite"
    completions = ["4", "five", "It is four.", "22", "Four, since 2+2=4."]
    rm = pair_rm(pairing="ring", pairing_k=2, cache=str(path))
    results = rm.score([MATH] * 5, completions)
    assert rm.stats.judge_requests == 10  # G*k: 5 pairs in both orders (a round robin would take 20)
    assert len(JudgeCache(path)) == 10  # one verdict per ordered pair
    strengths = [r.extra["strength"] for r in results]
    for result in results:
        assert len(result.extra["comparisons"]) == 2 and result.extra["group"]["aggregation"] == "bradley_terry"
        assert 0.0 < result.reward < 1.0
    # a higher strength is a higher reward (the expected win rate against the group)
    ranked = sorted(range(5), key=strengths.__getitem__)
    assert [results[k].reward for k in ranked] == sorted(r.reward for r in results)
    again = pair_rm(pairing="ring", pairing_k=2, cache=str(path))
    repeated = again.score([MATH] * 5, list(reversed(completions)))
    assert again.stats.judge_requests == 0 and again.stats.cache_hits == 10
    assert [r.reward for r in reversed(repeated)] == [r.reward for r in results]
    assert trainer_metrics(again.__name__, repeated, 0.1)[f"{again.__name__}/judge_calls_per_group"] == 0.0


def test_best_of_n_with_a_pairwise_judge_ranks_each_prompts_candidates(pair_rm):
    rm = pair_rm()
    # the same prompt twice: two separate candidate lists, so two groups (not one of five)
    picks = best_of_n([MATH, MATH], [["4", "five"], ["It is four.", "22", "4"]], rm)
    assert rm.stats.judge_requests == 2 + 6
    for pick, size in zip(picks, (2, 3), strict=True):
        assert [r.extra["group"]["size"] for r in pick.results] == [size] * size
        best = max(range(size), key=lambda k: (pick.rewards[k], -k))
        assert pick.chosen_indices == [best]
    assert picks[0].rewards[0] + picks[0].rewards[1] == pytest.approx(1.0, abs=1e-12)


def test_listwise_with_the_embedded_judge_retries_then_falls_back(judge_backend):
    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol="listwise", max_new_tokens=6, max_attempts=2)
    assert rm.config.mode == "generate" and rm.config.rubric == "helpfulness"
    results = rm.score([MATH] * 3, ["4", "five", "4"])
    # 6 new tokens cannot hold the JSON answer: the group is asked twice, then every completion falls back
    assert rm.stats.judge_requests == 2 and rm.stats.retries == 1 and rm.stats.parse_failures == 2
    assert rm.stats.fallbacks == 3
    for result in results:
        assert result.fallback and result.reward is None and result.attempts == 2
        assert result.error == "no JSON object in the judge output"
    assert results[0].extra["group"]["judge_calls"] == 2 and results[0].extra["group"]["distinct"] == 2
    with pytest.raises(ValueError, match="distribution|answer_prefix"):
        GenerativeRewardModel.from_pretrained(judge_backend, protocol="listwise", mode="direct")


def test_listwise_shows_a_seeded_shuffle_and_maps_scores_back(judge_backend):
    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol="listwise", max_new_tokens=6)
    rows = [Row(MATH, c) for c in ["4", "five", "It is four.", "22"]]
    job = ListwiseJob(rows, form_groups(rows), rm.renderer, rm.config.reward_rule(), seed=rm.config.seed, call=1)
    moved = [rows[k] for k in (2, 0, 3, 1)]
    same = ListwiseJob(moved, form_groups(moved), rm.renderer, rm.config.reward_rule(), seed=rm.config.seed, call=1)
    assert job.requests[0].input.text == same.requests[0].input.text  # the input order does not matter
    orders = {tuple(ListwiseJob(rows, form_groups(rows), rm.renderer, rm.config.reward_rule(), seed=rm.config.seed, call=c).order[0]) for c in range(1, 9)}
    assert len(orders) > 1  # the shown order changes from call to call
    shown = [rows[job.groups[0].entrants[e].rows[0]].completion for e in job.order[0]]
    text = job.requests[0].input.text
    assert [text.index(f"[Response {k + 1}]\n> {c}\n") for k, c in enumerate(shown)] == sorted(
        text.index(f"[Response {k + 1}]\n") for k in range(4))
    # an answer scoring the shown ids 1..4 as 10, 7, 4, 1 reaches the completions shown under those ids
    answer = '{"1": 10, "2": 7, "3": 4, "4": 1}'
    verdict = job.requests[0].protocol.parse(answer)
    results, _ = job.results([Outcome(Judgment(verdict, raw=answer, attempts=1))], mode="generate")
    by_completion = {row.completion: r.score for row, r in zip(rows, results, strict=True)}
    assert [by_completion[c] for c in shown] == [10, 7, 4, 1]
    assert results[0].reward == (by_completion["4"] - 1) / 9


def test_the_pair_request_is_the_single_pipeline_request(pair_rm):
    """A group's pair request is byte for byte what `rm.request` renders for that ordered pair."""
    rm = pair_rm()
    rows = [Row(MATH, "4"), Row(MATH, "five")]
    job = PairwiseJob(rows, form_groups(rows), rm.renderer, rm.config.group_options, rm.config.reward_rule(), seed=rm.config.seed)
    texts = {r.input.text for r in job.requests}
    assert texts == {rm.render(MATH, "4", completion_b="five"), rm.render(MATH, "five", completion_b="4")}
