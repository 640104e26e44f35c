"""A judge reward pickles without its weights and works in a spawned process (trl async_grpo's path)."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import pytest

from reward_judge import GenerativeRewardModel
from reward_judge.integrations.trl import AsyncJudgeReward
from tests.conftest import GRADE_PROTOCOL

PROMPTS = ["What is 2+2?", "Name the capital of France."]
COMPLETIONS = ["4", "Paris"]


def judge_in_child(payload: bytes, queue) -> None:
    """Runs in a spawned interpreter: unpickle, call like TRL does, send the rewards and raw answers back."""
    import asyncio

    reward = pickle.loads(payload)
    loaded_before = reward.reward_model._backend is not None
    rewards = asyncio.run(reward(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=None, trainer_state=None))
    raws = [r.raw for r in reward.reward_model.score(PROMPTS, COMPLETIONS)]
    queue.put((loaded_before, rewards, raws))


@pytest.mark.process
def test_pickle_carries_no_weights_and_reloads_lazily():
    judge = GenerativeRewardModel.from_pretrained("default", protocol=GRADE_PROTOCOL, chat_format="raw",
                                                  max_new_tokens=4, lazy=True)
    assert judge._backend is None  # lazy: nothing loaded yet
    payload = pickle.dumps(judge)
    assert len(payload) < 50_000  # configuration only, no tensors
    judge.backend  # noqa: B018 - loading now must not change what pickles
    assert len(pickle.dumps(judge)) < 50_000


@pytest.mark.process
def test_spawned_process_scores_like_the_parent():
    judge = GenerativeRewardModel.from_pretrained("default", protocol=GRADE_PROTOCOL, chat_format="raw", max_new_tokens=4)
    expected = judge.score(PROMPTS, COMPLETIONS)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=judge_in_child, args=(pickle.dumps(AsyncJudgeReward(judge)), queue))
    child.start()
    loaded_before, rewards, raws = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert loaded_before is False  # the weights were loaded in the child, on first use
    assert raws == [r.raw for r in expected]  # greedy: the same judge answers in both processes
    assert rewards == [r.reward for r in expected]


@pytest.mark.model
def test_in_memory_models_refuse_to_pickle(default_judge):
    judge = GenerativeRewardModel.from_pretrained(default_judge.backend.model, tokenizer=default_judge.backend.tokenizer,
                                                  protocol=GRADE_PROTOCOL, chat_format="raw")
    with pytest.raises(TypeError, match="cannot be pickled; build it from a hub id"):
        pickle.dumps(judge)
