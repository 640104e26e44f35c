"""Several rubrics in one pass: `for_rubrics` rewards share one judge call per batch and equal separate models.

The bookkeeping (which call judges, which is served, what a new batch is, counters, pickling, concurrency)
runs on the scripted backend; equality with one reward model per rubric runs on the embedded judge.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from types import SimpleNamespace

import pytest

from reward_judge import GenerativeRewardModel, Rubric
from tests._scripted import scripted_model

RUBRICS = ["helpfulness", "harmlessness", "honesty"]
PROMPTS = ["Rate this. score=4", "Rate this. score=2", "Rate that. score=5"]
COMPLETIONS = ["An answer.", "Another answer.", "A third."]


def trl_call(function, prompts=PROMPTS, completions=COMPLETIONS, step=0, **columns):
    """A reward call as TRL's GRPO makes it: the lists, the dataset columns, the trainer state and its hooks."""
    logged: dict = {}
    extra: dict = {}
    rewards = function(prompts=prompts, completions=completions, completion_ids=None,
                       trainer_state=SimpleNamespace(global_step=step), log_metric=logged.__setitem__,
                       log_extra=extra.__setitem__, **columns)
    return rewards, logged, extra


def judge_calls(rm) -> int:
    return len(rm.backend.calls)


@pytest.mark.unit
def test_each_rubric_reward_has_its_own_name_and_the_first_call_judges_them_all():
    rm = scripted_model(mode="direct")
    rewards = rm.for_rubrics(RUBRICS)
    assert [f.__name__ for f in rewards] == [f"judge-prometheus-v2-{r}" for r in RUBRICS]
    assert [f.__name__ for f in rm.for_rubrics(RUBRICS, names=["a", "b", "c"])] == ["a", "b", "c"]
    first, logged, extra = trl_call(rewards[0])
    assert judge_calls(rm) == 1 and rm.backend.calls[0] == ("answer_logprobs", 9)  # 3 rollouts x 3 rubrics at once
    assert logged[f"{rewards[0].__name__}/served_from_batch"] == 0.0
    assert logged[f"{rewards[0].__name__}/judge_seconds"] > 0
    assert list(extra) == [f"{rewards[0].__name__}_feedback"]
    for function in rewards[1:]:
        served, logged, _ = trl_call(function)
        assert logged[f"{function.__name__}/served_from_batch"] == 1.0
        assert logged[f"{function.__name__}/judge_seconds"] == 0.0
    assert judge_calls(rm) == 1  # the other rubrics were served, never recomputed
    assert rm.stats.rubric_calls_served == 2
    assert rm.stats.rollouts == 9 and rm.stats.calls == 1


@pytest.mark.unit
def test_results_equal_one_reward_model_per_rubric_in_every_mode():
    rubrics = RUBRICS + [Rubric("Is it short?", ["Long.", "Longish.", "Medium.", "Short.", "Very short."])]
    for mode in ("generate", "expected", "direct"):
        rm = scripted_model(mode=mode)
        together = rm.score_rubrics(PROMPTS, COMPLETIONS, rubrics)
        for rubric, results in zip(rubrics, together, strict=True):
            alone = scripted_model(mode=mode, rubric=rubric).score(PROMPTS, COMPLETIONS)
            assert [r.to_dict() for r in results] == [r.to_dict() for r in alone], (mode, rubric)
            # each request was the rubric's own: its judge input holds that rubric's text
        assert rm.stats.rollouts == len(PROMPTS) * len(rubrics)


@pytest.mark.unit
def test_a_new_batch_is_judged_anew_and_the_same_batch_is_not():
    rm = scripted_model(mode="direct")
    a, b, c = rm.for_rubrics(RUBRICS)
    trl_call(a)
    trl_call(b)
    trl_call(b)  # the same function twice on one batch: its second call is a new batch
    assert judge_calls(rm) == 2
    trl_call(c)  # the batch judged last is served to a function not yet served from it
    assert judge_calls(rm) == 2
    # equal lists at another trainer step are another batch (TRL passes new lists each step anyway)
    trl_call(a, prompts=list(PROMPTS), completions=list(COMPLETIONS), step=1)
    trl_call(b, prompts=list(PROMPTS), completions=list(COMPLETIONS), step=1)  # equal values, same step: served
    assert judge_calls(rm) == 3
    other = ["Rate it. score=1"] * 3
    rewards, _, _ = trl_call(c, prompts=other, step=1)  # other prompts: judged, not served stale rewards
    assert judge_calls(rm) == 4
    assert rewards == [r.reward for r in scripted_model(mode="direct", rubric=RUBRICS[2]).score(other, COMPLETIONS)]
    assert rm.stats.rubric_calls_served == 3


@pytest.mark.unit
def test_lists_refilled_in_place_are_a_new_batch():
    """A loop that reuses its buffers passes the same list objects with new rollouts: the rubric not yet served
    must judge them, not get the previous batch's rewards."""
    rm = scripted_model(mode="direct")
    a, b, _ = rm.for_rubrics(RUBRICS)
    prompts, completions = list(PROMPTS), list(COMPLETIONS)
    trl_call(a, prompts=prompts, completions=completions)
    prompts[:] = ["Rate it. score=1"] * 3
    rewards, _, _ = trl_call(b, prompts=prompts, completions=completions)
    assert judge_calls(rm) == 2 and rm.stats.rubric_calls_served == 0
    assert rewards == [r.reward for r in scripted_model(mode="direct", rubric=RUBRICS[1]).score(prompts, completions)]


@pytest.mark.unit
def test_reference_column_reaches_every_rubric_and_a_rubric_column_is_not_taken():
    rm = scripted_model(mode="generate")
    a, b = rm.for_rubrics(RUBRICS[:2])
    seen = []
    original = rm.renderer.with_rubric

    def spy(rubric):
        renderer = original(rubric)
        render = renderer.render

        def record(prompt, completion, **kw):
            seen.append((rubric.criteria, kw.get("reference"), kw.get("rubric")))
            return render(prompt, completion, **kw)

        renderer.render = record
        return renderer

    rm.renderer.with_rubric = spy
    trl_call(a, reference=["r1", "r2", "r3"], rubric=["a per-row rubric"] * 3)
    trl_call(b, reference=["r1", "r2", "r3"], rubric=["a per-row rubric"] * 3)
    assert len(seen) == 6 and {ref for _, ref, _ in seen} == {"r1", "r2", "r3"}
    assert {row_rubric for _, _, row_rubric in seen} == {None}  # each function judges its own rubric only


@pytest.mark.unit
def test_a_rubric_column_still_works_on_a_single_reward_model():
    rm = scripted_model(mode="direct", rubric=None)
    rewards = rm(prompts=PROMPTS, completions=COMPLETIONS, rubric=RUBRICS)
    assert rewards == [r.reward for r in scripted_model(mode="direct").score(PROMPTS, COMPLETIONS, rubric=RUBRICS)]
    assert "Score 5" in rm.render(PROMPTS[0], COMPLETIONS[0], rubric=RUBRICS[2])


@pytest.mark.unit
def test_cache_dedup_retries_and_isolation_apply_per_rubric(tmp_path):
    cache = str(tmp_path / "rubrics.sqlite")
    rm = scripted_model(mode="generate", cache=cache)
    rm.score_rubrics(PROMPTS[:2], COMPLETIONS[:2], RUBRICS[:2])
    assert rm.stats.cache_hits == 0 and rm.stats.judge_requests == 4
    # another rubric set: the rubric already judged comes from the cache, the new one is judged
    rm.score_rubrics(PROMPTS[:2], COMPLETIONS[:2], [RUBRICS[1], RUBRICS[2]])
    assert rm.stats.cache_hits == 2 and rm.stats.judge_requests == 6
    # a separate reward model with one of the rubrics finds its verdicts in the same cache
    alone = scripted_model(mode="generate", cache=cache, rubric=RUBRICS[2])
    assert all(r.cached for r in alone.score(PROMPTS[:2], COMPLETIONS[:2]))
    # duplicates are judged once per rubric
    rm = scripted_model(mode="generate")
    rm.score_rubrics([PROMPTS[0]] * 3, [COMPLETIONS[0]] * 3, RUBRICS[:2])
    assert rm.stats.duplicates_skipped == 4 and rm.stats.judge_requests == 2
    # an unreadable first answer is retried for each rubric; a crashing rollout fails alone, on every rubric
    rm = scripted_model(mode="generate", max_attempts=2)
    results = rm.score_rubrics(["GARBLE score=4", "CRASH", "fine score=5"], ["x", "y", "z"], RUBRICS[:2])
    assert rm.stats.retries == 2 + 2  # the garbled row on both rubrics, and the crashing one on both
    for per_rubric in results:
        assert per_rubric[0].ok and per_rubric[0].attempts == 2
        assert not per_rubric[1].ok and "backend error" in per_rubric[1].error
        assert per_rubric[2].ok and per_rubric[2].score == 5


@pytest.mark.unit
def test_concurrent_async_calls_share_one_judge_call():
    from reward_judge.integrations.trl import AsyncJudgeReward

    rm = scripted_model(mode="direct")
    rewards = [AsyncJudgeReward(f) for f in rm.for_rubrics(RUBRICS)]
    assert [r.__name__ for r in rewards] == [f"judge-prometheus-v2-{r}" for r in RUBRICS]
    state = SimpleNamespace(global_step=3)

    async def step():  # what TRL does with async reward functions: asyncio.gather on the same arguments
        return await asyncio.gather(*(r(prompts=PROMPTS, completions=COMPLETIONS, trainer_state=state)
                                      for r in rewards))

    outputs = asyncio.run(step())
    assert judge_calls(rm) == 1 and rm.stats.rubric_calls_served == 2
    assert outputs == [[r.reward for r in per_rubric] for per_rubric in rm.score_rubrics(PROMPTS, COMPLETIONS, RUBRICS)]


@pytest.mark.unit
def test_threads_calling_at_once_are_served_from_one_batch():
    rm = scripted_model(mode="direct")
    functions = rm.for_rubrics(RUBRICS)
    barrier = threading.Barrier(len(functions))
    outputs: dict = {}

    def call(f):
        barrier.wait()
        outputs[f.__name__] = trl_call(f)[0]

    threads = [threading.Thread(target=call, args=(f,)) for f in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outputs) == 3 and judge_calls(rm) == 1


@pytest.mark.unit
def test_functions_pickle_and_rebuild_one_shared_state():
    rm = scripted_model(mode="direct")
    functions = rm.for_rubrics(RUBRICS)
    together = pickle.loads(pickle.dumps(functions))
    assert [f.__name__ for f in together] == [f.__name__ for f in functions]
    assert len({id(f.shared) for f in together}) == 1
    # pickled one by one (as a process pool may send them), they still find one shared state
    apart = [pickle.loads(pickle.dumps(f)) for f in functions]
    assert len({id(f.shared) for f in apart}) == 1
    state = pickle.dumps(functions[0].shared)
    assert b"_batch" not in state and b"_lock" not in state  # neither the last batch nor the lock travel


@pytest.mark.unit
def test_bad_rubric_lists_are_refused_naming_the_entry():
    rm = scripted_model(mode="direct")
    with pytest.raises(ValueError, match="at least one rubric"):
        rm.for_rubrics([])
    with pytest.raises(TypeError, match="list of rubrics"):
        rm.for_rubrics("helpfulness")
    with pytest.raises(ValueError, match=r"rubrics\[1\] is None"):
        rm.for_rubrics(["helpfulness", None])
    with pytest.raises(ValueError, match=r"rubrics\[1\].*Score 1:"):
        rm.for_rubrics(["helpfulness", "Is it kind? Yes or no."])  # Prometheus needs five score descriptions
    with pytest.raises(ValueError, match="distinct"):
        rm.for_rubrics(RUBRICS[:2], names=["same", "same"])
    with pytest.raises(ValueError, match="2 non-empty strings"):
        rm.for_rubrics(RUBRICS[:2], names=["only-one"])
    no_slot = scripted_model(mode="generate", protocol="mtbench-single", rubric=None)
    with pytest.raises(ValueError, match="no rubric slot"):
        no_slot.for_rubrics(RUBRICS)


@pytest.mark.unit
def test_pairwise_protocols_judge_each_rubrics_groups_apart():
    rm = scripted_model(mode="direct", protocol="prometheus-v2-relative")
    prompts = ["Compare. winner=A"] * 3
    completions = ["first", "second", "third"]
    together = rm.score_rubrics(prompts, completions, RUBRICS[:2])
    for rubric, results in zip(RUBRICS[:2], together, strict=True):
        alone = scripted_model(mode="direct", protocol="prometheus-v2-relative", rubric=rubric)
        assert [r.reward for r in results] == pytest.approx([r.reward for r in alone.score(prompts, completions)])
        assert all(r.extra["group"]["judge_calls"] == 6 for r in results)  # 3 pairs x 2 orders, per rubric


# ---------------------------------------------------------------- the real judge
@pytest.fixture(scope="module")
def prometheus(judge_backend) -> GenerativeRewardModel:
    return GenerativeRewardModel.from_pretrained(judge_backend, protocol="prometheus-v2", rubric="helpfulness",
                                                 max_new_tokens=6, max_attempts=1)


@pytest.mark.model
def test_one_pass_equals_separate_models_on_the_embedded_judge(prometheus):
    prompts = ["What is 2+2?", "What is 2+2?", "Name a primary colour."]
    completions = ["4", "It is 5.", "Red is one."]
    rubrics = RUBRICS[:2]
    for mode in ("direct", "expected", "generate"):
        rm = prometheus.with_options(mode=mode)
        together = rm.score_rubrics(prompts, completions, rubrics)
        for rubric, results in zip(rubrics, together, strict=True):
            alone = rm.with_options(rubric=rubric).score(prompts, completions)
            if mode == "generate":  # the same text, the same parse
                assert [(r.raw, r.score, r.reward) for r in results] == [(r.raw, r.score, r.reward) for r in alone]
            else:
                assert [r.ok for r in results] == [r.ok for r in alone] == [True] * 3
                assert [r.score for r in results] == pytest.approx([r.score for r in alone], abs=1e-4)
                for r, a in zip(results, alone, strict=True):
                    assert r.distribution == pytest.approx(a.distribution, abs=1e-4)
    # the prefix tree's reuse (a rollout's rubric variants share all but their rubric) changes no number
    direct = prometheus.with_options(mode="direct")
    reused = direct.score_rubrics(prompts, completions, rubrics)
    direct.backend.prefix_cache = False
    try:
        plain = direct.score_rubrics(prompts, completions, rubrics)
    finally:
        direct.backend.prefix_cache = True
    for a, b in zip(reused, plain, strict=True):
        assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-4)


# ------------------------------------------------------------- other processes
def rubric_rewards_in_child(payloads: list, queue) -> None:
    """Runs in a spawned interpreter: unpickle the rewards one by one and call them as TRL does."""
    from tests._scripted import ensure_registered

    ensure_registered()
    functions = [pickle.loads(p) for p in payloads]
    rewards = [trl_call(f)[0] for f in functions]
    rm = functions[0].reward_model
    queue.put((len({id(f.shared) for f in functions}), rewards, list(rm.backend.calls), rm.stats.rubric_calls_served))


@pytest.mark.process
def test_rewards_pickled_one_by_one_share_one_pass_in_a_spawned_process():
    import multiprocessing as mp

    rm = scripted_model(mode="direct")
    functions = rm.for_rubrics(RUBRICS)
    expected = [[r.reward for r in per_rubric] for per_rubric in rm.score_rubrics(PROMPTS, COMPLETIONS, RUBRICS)]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=rubric_rewards_in_child, args=([pickle.dumps(f) for f in functions], queue))
    child.start()
    shared, rewards, calls, served = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert shared == 1 and calls == [("answer_logprobs", 9)] and served == 2  # one state, one judge call
    assert rewards == expected


@pytest.mark.unit
def test_rubric_rewards_read_an_anchor_column_as_the_reward_model_does():
    """pairing='anchor' on a dataset column was refused, asking for the column the call had."""
    rm = scripted_model(mode="direct", protocol="prometheus-v2-relative", pairing="anchor", anchor="gold")
    prompts, completions = ["Compare. winner=A"] * 2, ["first", "second"]
    gold = ["the anchor answer"] * 2
    helpful, _ = rm.for_rubrics(["helpfulness", "harmlessness"])
    assert trl_call(helpful, prompts, completions, gold=gold)[0] == trl_call(rm, prompts, completions, gold=gold)[0]
    with pytest.raises(ValueError, match="the reward call has no column 'gold'"):
        trl_call(helpful, prompts, completions, step=1)


@pytest.mark.unit
def test_score_rubrics_loads_the_callers_rubric_files(tmp_path):
    """A rubric file given to score_rubrics reached the judge as its path (for_rubrics loaded it)."""
    import json

    path = tmp_path / "concise.json"
    path.write_text(json.dumps({"criteria": "Is the answer concise?",
                                "descriptions": ["Rambling.", "Long.", "Fair.", "Tight.", "Concise. score=2"]}))
    rm = scripted_model(mode="generate")
    # the scripted judge reads the last score= of its input: the rubric's when the file was loaded, else the row's
    (results,) = rm.score_rubrics(["What is 2+2? score=4"], ["4"], [str(path)])
    assert results[0].ok and results[0].score == 2
    (from_functions,) = rm.for_rubrics([str(path)])
    assert trl_call(from_functions, ["What is 2+2? score=4"], ["4"])[0] == [results[0].reward]


@pytest.mark.unit
def test_a_failing_batch_is_judged_once_and_named_by_rubric_and_row():
    """fallback='raise': the error named flat indices ('rows [2, 5]' for 3 rollouts), and each waiting rubric
    function judged the whole batch again after TRL already had the exception."""
    from reward_judge.integrations.trl import AsyncJudgeReward
    from reward_judge.reward_model import JudgeFailure

    rm = scripted_model(mode="generate", fallback="raise", max_attempts=1)
    with pytest.raises(JudgeFailure, match=r"2 of 6 \(rubric, rollout\) judgments.*\(rubric, row\) \[\(0, 2\), \(1, 2\)\]") \
            as failure:
        rm.score_rubrics(["a score=4", "b score=3", "c"], ["x", "y", "BREAK"], RUBRICS[:2])
    assert [len(part) for part in failure.value.results] == [3, 3]  # results[j][i], as score_rubrics returns them
    functions = [AsyncJudgeReward(f) for f in rm.for_rubrics(RUBRICS)]
    state = SimpleNamespace(global_step=0)

    async def step():
        return await asyncio.gather(*(f(prompts=["q score=4", "BREAK"], completions=["a", "b"], trainer_state=state)
                                      for f in functions), return_exceptions=True)

    before = rm.stats.calls
    outcomes = asyncio.run(step())
    assert [type(o).__name__ for o in outcomes] == ["JudgeFailure"] * 3
    assert rm.stats.calls - before == 1  # one judging pass; the other rubrics raise its failure
