"""Pairwise group rewards in real TRL training: one process, two processes (gloo), the async wrapper, pickling."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset

from reward_judge import GenerativeRewardModel
from reward_judge.integrations.trl import AsyncJudgeReward
from tests.group_protocols import SHORT_PAIR
from tests.test_trl_trainers import common_args, tiny_policy

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["What is 2+2?", "Name a primary color.", "Say hello."]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from reward_judge.embedded import embedded_judge_path

    return AutoTokenizer.from_pretrained(embedded_judge_path()[0])


def pair_judge(backend, **options) -> GenerativeRewardModel:
    options = {"protocol": SHORT_PAIR, "chat_format": "raw", "mode": "direct", "max_new_tokens": 2, **options}
    return GenerativeRewardModel.from_pretrained(backend, name="pair-judge", **options)


def test_grpo_trains_on_pairwise_rewards_through_the_async_wrapper(tmp_path, tokenizer, judge_backend):
    from trl import GRPOConfig, GRPOTrainer

    judge = pair_judge(judge_backend)
    args = GRPOConfig(num_generations=3, max_completion_length=6, **dict(common_args(tmp_path),
                                                                       per_device_train_batch_size=3))
    trainer = GRPOTrainer(model=tiny_policy(tokenizer), processing_class=tokenizer, reward_funcs=[AsyncJudgeReward(judge)],
                          args=args, train_dataset=Dataset.from_dict({"prompt": PROMPTS}))
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/pair-judge/mean" in h]
    assert len(logged) == 2 and judge.stats.rollouts == 6
    for entry in logged:
        # a round robin's win rates sum to G/2: the group mean is exactly one half (distinct completions)
        assert entry["rewards/pair-judge/mean"] == pytest.approx(0.5, abs=1e-6)
        assert entry["pair-judge/judge_calls_per_group"] == 6.0  # G(G-1) for G=3
        assert 0.0 <= entry["pair-judge/position_consistency"] <= 1.0
        assert entry["pair-judge/failed_comparisons"] == 0.0
    feedback = list(trainer._logs["extra"]["pair-judge_feedback"])
    assert len(feedback) == len(trainer._logs["prompt"]) > 0 and all("win rate" in f and "position-consistent" in f for f in feedback)
    assert judge.stats.judge_requests == 12 and judge.stats.comparisons == 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_grpo_judges_each_pair_once_and_matches_one_process(tmp_path, judge_backend):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               str(ROOT / "tests" / "distributed_grpo.py"), "--out", str(tmp_path)]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [len(r["calls"]) for r in ranks] == [2, 2]
    single = pair_judge(judge_backend)
    for step in range(2):
        calls = [r["calls"][step] for r in ranks]
        assert set(calls[0]["prompts"]) == set(calls[1]["prompts"])  # the group is split across the processes
        prompts = calls[0]["prompts"] + calls[1]["prompts"]
        completions = calls[0]["completions"] + calls[1]["completions"]
        before = single.stats.judge_requests
        expected = single.score(prompts, completions)
        unique_requests = single.stats.judge_requests - before
        # each process judged its share of the unique requests, none judged twice, none left out
        assert sorted(c["judge_requests"] for c in calls) == [unique_requests // 2, unique_requests - unique_requests // 2]
        rewards = calls[0]["rewards"] + calls[1]["rewards"]
        # equal up to float32 rounding: each process batches its share of the requests (other batch shapes,
        # one thread each), so the judge's probabilities can differ in the 7th digit (1.1e-6 measured)
        assert rewards == pytest.approx([r.reward for r in expected], abs=1e-5)
    assert sum(r["stats"]["judge_requests"] for r in ranks) == single.stats.judge_requests
    assert sum(r["stats"]["comparisons"] for r in ranks) == single.stats.comparisons  # each group counted once
    metrics = [h for h in ranks[0]["log_history"] if "pair-judge/judge_calls_per_group" in h]
    assert [m["pair-judge/judge_calls_per_group"] for m in metrics] == [12.0, 12.0]  # the whole group of 4


def score_in_child(payload: bytes, prompts, completions, queue) -> None:
    """Runs in a spawned interpreter: unpickle the async reward, call it like TRL, send the rewards back."""
    import asyncio

    reward = pickle.loads(payload)
    loaded = reward.reward_model._backend is not None
    rewards = asyncio.run(reward(prompts=prompts, completions=completions, completion_ids=None, trainer_state=None))
    queue.put((loaded, rewards, reward.reward_model.stats.comparisons))


def test_a_pairwise_reward_pickles_into_a_spawned_worker(judge_backend):
    prompts, completions = ["What is 2+2?"] * 4, ["4", "five", "It is four.", "22"]
    lazy = GenerativeRewardModel.from_pretrained("default", protocol=SHORT_PAIR, chat_format="raw", mode="direct",
                                                 max_new_tokens=2, lazy=True, pairing="ring", pairing_k=1)
    payload = pickle.dumps(AsyncJudgeReward(lazy))
    assert len(payload) < 50_000  # configuration only
    expected = pair_judge(judge_backend, pairing="ring", pairing_k=1).score(prompts, completions)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=score_in_child, args=(payload, prompts, completions, queue))
    child.start()
    loaded, rewards, comparisons = queue.get(timeout=600)
    child.join(timeout=60)
    assert child.exitcode == 0 and loaded is False
    assert comparisons == 2  # the options travelled: a ring with k=1 on 4 completions is 2 pairs (round robin: 6)
    assert rewards == pytest.approx([r.reward for r in expected], abs=1e-6)
    assert not any(math.isnan(r) for r in rewards)
