"""``mode="cascade"``: direct for every rollout, expected only where the direct read is unsure.

The scripted backend states each rollout's direct confidence (``sure=P``) and what the judge concludes
after writing its feedback (``rethink=M``), so the escalation rule and its bookkeeping are checked exactly;
the endpoints (threshold 0 is ``direct``, threshold 1 is ``expected``) are checked on the embedded judge too.
"""

from __future__ import annotations

import pytest

from reward_judge import GenerativeRewardModel, JudgeConfig
from reward_judge.scoring import Escalation
from tests._scripted import scripted_model

# confident and right, unsure and rethought, confident but rethought, unsure, certain (all mass on one answer)
PROMPTS = ["A. score=4 sure=0.9", "B. score=2 sure=0.3 rethink=5", "C. score=3 sure=0.8 rethink=1",
           "D. score=5 sure=0.45", "E. score=1 sure=1.0 rethink=4"]
COMPLETIONS = ["a", "b", "c", "d", "e"]


def rows(results):
    return [(r.ok, r.score, r.reward, r.distribution, r.feedback, r.raw) for r in results]


@pytest.mark.unit
def test_threshold_zero_is_direct_for_every_row():
    cascade = scripted_model(mode="cascade", cascade_threshold=0.0).score(PROMPTS, COMPLETIONS)
    direct = scripted_model(mode="direct").score(PROMPTS, COMPLETIONS)
    assert rows(cascade) == rows(direct)
    assert [r.extra["cascade"]["escalated"] for r in cascade] == [False] * 5
    assert all("expected_score" not in r.extra["cascade"] for r in cascade)


@pytest.mark.unit
def test_threshold_one_is_expected_for_every_row():
    rm = scripted_model(mode="cascade", cascade_threshold=1.0)
    cascade = rm.score(PROMPTS, COMPLETIONS)
    expected = scripted_model(mode="expected").score(PROMPTS, COMPLETIONS)
    assert rows(cascade) == rows(expected)
    # even the row whose direct read is certain (probability 1) is escalated
    assert [r.extra["cascade"]["escalated"] for r in cascade] == [True] * 5
    direct = scripted_model(mode="direct").score(PROMPTS, COMPLETIONS)
    for c, d, e in zip(cascade, direct, expected, strict=True):  # both scores where both exist
        assert c.extra["cascade"]["direct_score"] == d.score
        assert c.extra["cascade"]["expected_score"] == e.score
    assert rm.stats.escalations == rm.stats.cascade_reads == 5 and rm.stats.escalation_rate == 1.0


@pytest.mark.unit
def test_only_unsure_rollouts_are_escalated_and_counted():
    rm = scripted_model(mode="cascade", cascade_threshold=0.5)
    logged: dict = {}
    rewards = rm(prompts=PROMPTS, completions=COMPLETIONS, log_metric=logged.__setitem__)
    results = rm.score(PROMPTS, COMPLETIONS)
    assert [r.extra["cascade"]["escalated"] for r in results] == [False, True, False, True, False]
    direct = scripted_model(mode="direct").score(PROMPTS, COMPLETIONS)
    expected = scripted_model(mode="expected").score(PROMPTS, COMPLETIONS)
    assert [r.reward for r in results] == [direct[0].reward, expected[1].reward, direct[2].reward, expected[3].reward,
                                           direct[4].reward] == rewards
    assert results[1].score == expected[1].score and max(results[1].distribution, key=results[1].distribution.get) == "5"
    assert results[1].extra["cascade"]["direct_score"] == pytest.approx(direct[1].score)
    assert results[1].extra["cascade"]["confidence"] == pytest.approx(0.3)
    assert results[1].feedback.startswith("On reflection")  # the escalated result is the reasoned one
    # the judge read every rollout directly once and wrote feedback for the two unsure ones only
    calls = rm.backend.calls[:2]
    assert calls[0] == ("answer_logprobs", 5) and calls[1] == ("generate", 2)
    assert rm.stats.cascade_reads == 10 and rm.stats.escalations == 4 and rm.stats.escalation_rate == 0.4
    assert rm.stats.as_dict()["escalation_rate"] == 0.4
    assert logged["judge-prometheus-v2/escalation_rate"] == 0.4


@pytest.mark.unit
def test_entropy_measure():
    rule = Escalation(0.5, "entropy")
    assert rule.confidence({"1": 1.0, "2": 0.0}) == 1.0
    assert rule.confidence({"1": 0.25, "2": 0.25, "3": 0.25, "4": 0.25}) == pytest.approx(0.0)
    assert not rule.escalates(rule.confidence({"1": 0.97, "2": 0.01, "3": 0.01, "4": 0.01}))
    by_top = scripted_model(mode="cascade", cascade_threshold=0.6).score(PROMPTS, COMPLETIONS)
    by_entropy = scripted_model(mode="cascade", cascade_threshold=0.6, cascade_measure="entropy").score(PROMPTS,
                                                                                                       COMPLETIONS)
    # sure=0.8 with the rest spread over four answers: top probability 0.8, but 1 - H/log 5 = 0.52
    assert [r.extra["cascade"]["escalated"] for r in by_top] == [False, True, False, True, False]
    assert [r.extra["cascade"]["escalated"] for r in by_entropy] == [False, True, True, True, False]
    assert by_entropy[2].extra["cascade"]["confidence"] == pytest.approx(0.5166, abs=1e-3)
    assert all(r.extra["cascade"]["measure"] == "entropy" for r in by_entropy)


@pytest.mark.unit
def test_a_direct_read_without_valid_answers_escalates_unless_the_threshold_is_zero():
    prompt = ["F. score=9 sure=1.0 rethink=3"]  # all the direct mass on an answer the protocol does not have
    failed = scripted_model(mode="cascade", cascade_threshold=0.0).score(prompt, ["f"])[0]
    assert not failed.ok and failed.fallback and failed.extra["cascade"]["escalated"] is False
    rescued = scripted_model(mode="cascade", cascade_threshold=0.5).score(prompt, ["f"])[0]
    assert rescued.ok and rescued.score == 3
    assert rescued.extra["cascade"]["confidence"] == 0.0
    assert rescued.extra["cascade"]["direct_score"] is None and rescued.extra["cascade"]["escalated"] is True


@pytest.mark.unit
def test_a_backend_failure_of_the_escalated_read_fails_only_its_row_and_keeps_its_record():
    # B is unsure and its feedback cannot be generated; C says GENFAIL too but is sure, so it is never generated
    prompts = ["A. score=4 sure=0.9", "B. score=2 sure=0.3 GENFAIL", "C. score=5 sure=0.9 GENFAIL",
               "D. score=3 sure=0.3 rethink=5"]
    rm = scripted_model(mode="cascade", cascade_threshold=0.5, max_attempts=2)
    a, b, c, d = rm.score(prompts, ["a", "b", "c", "d"])
    assert (a.ok, c.ok, d.ok) == (True, True, True) and c.score == pytest.approx(4.75)
    assert d.score == scripted_model(mode="expected").score(prompts[3:], ["d"])[0].score  # escalated beside B
    assert not b.ok and b.fallback and b.fallback_cause == "backend" and "GENFAIL" in b.error
    # the failed row still says it was escalated, with its direct read and no expected score
    assert b.extra["cascade"]["escalated"] is True and b.extra["cascade"]["expected_score"] is None
    assert b.extra["cascade"]["direct_score"] == pytest.approx(2.875)
    assert b.extra["cascade"]["direct_distribution"]["2"] == pytest.approx(0.3)
    assert rm.stats.cascade_reads == 4 and rm.stats.escalations == 2 and rm.stats.escalation_rate == 0.5
    assert rm.stats.backend_errors == 2  # B's two attempts; the other rows are not read again
    direct_reads = [rows for method, rows in rm.backend.calls if method == "answer_logprobs"]
    assert direct_reads[0] == 4 and all(rows <= 2 for rows in direct_reads[1:])


@pytest.mark.unit
def test_each_judged_order_of_a_group_reward_carries_its_cascade_record():
    rm = scripted_model(protocol="prometheus-v2-relative", mode="cascade", cascade_threshold=0.7)
    completions = ["one winner=B sure=0.9", "two winner=A sure=0.5"]
    results = rm.score(["Q"] * 2, completions)
    orders = [o for r in results for c in r.extra["comparisons"] for o in c["orders"]]
    assert len(orders) == 4 and all("cascade" in o for o in orders)
    # the judge reads the last winner=/sure= in its input: the second-shown completion's
    by_first = {o["shown_first"]: o["cascade"] for o in results[0].extra["comparisons"][0]["orders"]}
    assert by_first["self"]["escalated"] is True and by_first["self"]["confidence"] == pytest.approx(0.5)
    assert by_first["opponent"]["escalated"] is False and by_first["opponent"]["confidence"] == pytest.approx(0.9)
    assert by_first["self"]["direct_winner"] == "A" and by_first["self"]["expected_winner"] == "A"
    assert "expected_winner" not in by_first["opponent"]
    assert rm.stats.cascade_reads == 2 and rm.stats.escalations == 1


@pytest.mark.unit
def test_a_cascade_verdict_is_cached_apart_from_direct_and_expected(tmp_path):
    cache = str(tmp_path / "cascade.sqlite")
    scripted_model(mode="direct", cache=cache).score(PROMPTS, COMPLETIONS)
    scripted_model(mode="expected", cache=cache).score(PROMPTS, COMPLETIONS)
    rm = scripted_model(mode="cascade", cascade_threshold=0.5, cache=cache)
    first = rm.score(PROMPTS, COMPLETIONS)
    assert rm.stats.cache_hits == 0  # neither a direct nor an expected verdict answers for a cascade one
    other = scripted_model(mode="cascade", cascade_threshold=0.7, cache=cache)
    other.score(PROMPTS, COMPLETIONS)
    assert other.stats.cache_hits == 0  # another threshold can choose another verdict: another key
    again = rm.score(PROMPTS, COMPLETIONS)
    assert rm.stats.cache_hits == 5 and all(r.cached for r in again)
    assert [r.extra["cascade"] for r in again] == [r.extra["cascade"] for r in first]  # the record survives the cache
    assert rm.stats.cascade_reads == 5 and rm.stats.escalations == 2  # cached results are not judged again


@pytest.mark.unit
def test_cascade_options_are_validated_and_need_both_capabilities():
    for bad in (1.5, -0.1, "0.5", True, None):
        with pytest.raises(ValueError, match="cascade_threshold must be a number in"):
            JudgeConfig(mode="cascade", cascade_threshold=bad)
    with pytest.raises(ValueError, match="cascade_measure='variance' is not one of"):
        JudgeConfig(mode="cascade", cascade_measure="variance")
    with pytest.raises(ValueError, match="cannot serve mode='cascade': it cannot read answer log-probabilities"):
        scripted_model(mode="cascade", logprobs=False)
    with pytest.raises(ValueError, match="has no answer_prefix|answer_values"):
        scripted_model(mode="cascade", protocol=__import__("reward_judge").CustomProtocol(
            custom_name="no-slot", template="{instruction} {response}", answer_pattern=r"(\d)", range=(1, 5)), rubric=None)


@pytest.mark.model
def test_cascade_endpoints_on_the_embedded_judge(judge_backend):
    prompts = ["What is 2+2?", "Name a primary colour.", "What is the capital of France?"]
    completions = ["4", "Green is not one; red is.", "Lyon."]
    base = GenerativeRewardModel.from_pretrained(judge_backend, protocol="prometheus-v2", rubric="helpfulness",
                                                 max_new_tokens=6, max_attempts=1)
    direct = base.with_options(mode="direct").score(prompts, completions)
    expected = base.with_options(mode="expected").score(prompts, completions)
    low = base.with_options(mode="cascade", cascade_threshold=0.0).score(prompts, completions)
    high = base.with_options(mode="cascade", cascade_threshold=1.0).score(prompts, completions)
    assert [r.ok for r in direct] == [r.ok for r in expected] == [True] * 3
    assert [r.score for r in low] == pytest.approx([r.score for r in direct], abs=1e-5)
    assert [r.score for r in high] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert [r.feedback for r in high] == [r.feedback for r in expected]
    assert not any(r.extra["cascade"]["escalated"] for r in low) and all(r.extra["cascade"]["escalated"] for r in high)
    for h, d in zip(high, direct, strict=True):
        assert h.extra["cascade"]["direct_score"] == pytest.approx(d.score, abs=1e-5)
