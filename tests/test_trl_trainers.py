"""Real TRL trainers (GRPO, RLOO, Online DPO) train with the embedded judge as their reward."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from reward_judge import CustomProtocol, GenerativeRewardModel, JudgeConfig
from reward_judge.embedded import embedded_judge_path
from reward_judge.integrations.trl import AsyncJudgeReward
from tests.conftest import GRADE_PROTOCOL

pytestmark = pytest.mark.training

PROMPTS = ["What is 2+2?", "Name a primary color.", "Say hello.", "What is the capital of France?"]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(embedded_judge_path()[0])


def tiny_policy(tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


@pytest.fixture()
def judge(default_judge) -> GenerativeRewardModel:
    """The embedded judge behind the grading prompt (it answers with numbers), fresh counters per test."""
    config = JudgeConfig(protocol=GRADE_PROTOCOL, chat_format="raw", max_new_tokens=4, max_attempts=2)
    return GenerativeRewardModel(default_judge.backend, config, judge="default", name="grade-judge")


def saved_policy(tokenizer, folder) -> str:
    """Trainers that build a reference model reload the policy from its path: save the tiny one."""
    tiny_policy(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def common_args(tmp_path) -> dict:
    return dict(output_dir=str(tmp_path), max_steps=2, logging_steps=1, use_cpu=True, bf16=False, report_to=[],
                save_strategy="no", per_device_train_batch_size=4, learning_rate=1e-4)


def judge_metrics(history: list[dict], name: str) -> list[dict]:
    return [h for h in history if f"rewards/{name}/mean" in h]


def assert_judge_reached_logs(trainer, judge):
    logged = judge_metrics(trainer.state.log_history, judge.__name__)
    assert len(logged) == 2  # one per optimisation step
    assert trainer.state.global_step == 2
    for entry in logged:
        assert not math.isnan(entry[f"rewards/{judge.__name__}/mean"])  # real judge rewards, not only NaN
        assert 0.0 <= entry[f"rewards/{judge.__name__}/mean"] <= 1.0
        for metric in ("parse_failure_rate", "fallbacks", "cache_hit_rate", "judge_seconds"):
            assert f"{judge.__name__}/{metric}" in entry
        assert entry[f"{judge.__name__}/judge_seconds"] > 0
    feedback = list(trainer._logs["extra"][f"{judge.__name__}_feedback"])
    assert len(feedback) == len(trainer._logs["prompt"]) > 0  # one feedback cell per logged completion
    assert judge.stats.rollouts == 8  # 2 steps x 4 completions, every one judged


def test_grpo_with_reference_column(tmp_path, tokenizer, default_judge):
    from trl import GRPOConfig, GRPOTrainer

    # The default (Prometheus 2) protocol has a reference slot: the dataset's `reference` column reaches it.
    judge = GenerativeRewardModel(default_judge.backend, JudgeConfig(protocol="prometheus-v2", rubric="helpfulness",
                                                                     max_new_tokens=4, max_attempts=1, fallback=0.0),
                                  judge="default", name="prometheus-judge")
    seen: list = []
    original = judge.renderer.render

    def record(prompt, completion, *, reference=None, rubric=None, completion_b=None, index=None):
        seen.append((prompt, reference))  # what the rendering stage received, per rollout
        return original(prompt, completion, reference=reference, rubric=rubric, completion_b=completion_b, index=index)

    judge.renderer.render = record
    dataset = Dataset.from_dict({"prompt": PROMPTS * 2, "reference": ["4", "red", "hello", "Paris"] * 2})
    args = GRPOConfig(num_generations=4, max_completion_length=8, **common_args(tmp_path))
    trainer = GRPOTrainer(model=tiny_policy(tokenizer), processing_class=tokenizer, reward_funcs=[judge], args=args,
                          train_dataset=dataset)
    trainer.train()
    references = dict(zip(PROMPTS, ["4", "red", "hello", "Paris"]))
    assert seen and all(references[prompt] == reference for prompt, reference in seen)
    logged = judge_metrics(trainer.state.log_history, "prometheus-judge")
    # 4 new tokens cannot hold a Prometheus answer: every sample falls back to 0.0, visibly
    assert [entry["prometheus-judge/fallbacks"] for entry in logged] == [4.0, 4.0]
    assert all(entry["rewards/prometheus-judge/mean"] == 0.0 for entry in logged)


def test_grpo_trains_on_judge_rewards(tmp_path, tokenizer, judge):
    from trl import GRPOConfig, GRPOTrainer

    dataset = Dataset.from_dict({"prompt": PROMPTS * 2})
    args = GRPOConfig(num_generations=4, max_completion_length=8, **common_args(tmp_path))
    trainer = GRPOTrainer(model=tiny_policy(tokenizer), processing_class=tokenizer, reward_funcs=[judge], args=args,
                          train_dataset=dataset)
    trainer.train()
    assert_judge_reached_logs(trainer, judge)


def test_grpo_awaits_the_async_judge_on_conversational_data(tmp_path, tokenizer, judge):
    from trl import GRPOConfig, GRPOTrainer

    async_judge = AsyncJudgeReward(judge)
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS] * 2})
    args = GRPOConfig(num_generations=4, max_completion_length=8, **common_args(tmp_path))
    trainer = GRPOTrainer(model=tiny_policy(tokenizer), processing_class=tokenizer, reward_funcs=[async_judge],
                          args=args, train_dataset=dataset)
    from trl.trainer.utils import is_async_callable

    assert is_async_callable(async_judge)  # TRL takes the asyncio.gather path for it
    trainer.train()
    assert_judge_reached_logs(trainer, judge)


def test_rloo_trains_on_judge_rewards(tmp_path, tokenizer, judge):
    from trl import RLOOConfig, RLOOTrainer

    dataset = Dataset.from_dict({"prompt": PROMPTS * 2})
    args = RLOOConfig(num_generations=4, max_completion_length=8, **common_args(tmp_path))
    trainer = RLOOTrainer(model=saved_policy(tokenizer, tmp_path / "policy"), processing_class=tokenizer, reward_funcs=[judge], args=args,
                          train_dataset=dataset)
    trainer.train()
    assert_judge_reached_logs(trainer, judge)


def test_online_dpo_trains_on_judge_rewards(tmp_path, tokenizer, judge):
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    dataset = Dataset.from_dict({"prompt": PROMPTS * 2})
    args = OnlineDPOConfig(max_new_tokens=8, max_length=256, **common_args(tmp_path))
    trainer = OnlineDPOTrainer(model=saved_policy(tokenizer, tmp_path / "policy"), processing_class=tokenizer, reward_funcs=[judge], args=args,
                               train_dataset=dataset)
    trainer.train()
    scored = [h for h in trainer.state.log_history if "objective/scores" in h]
    assert len(scored) == 2 and trainer.state.global_step == 2
    assert all(0.0 <= h["objective/scores"] <= 1.0 for h in scored)
    # Online DPO judges two completions per prompt: 4 prompts x 2 x 2 steps
    assert judge.stats.rollouts == 16


# A short rubric prompt the tiny judge reads quickly: the criterion sits after the question and answer, as in
# Prometheus, so a rollout's three rubric variants share everything before it.
RUBRIC_GRADE = CustomProtocol(
    custom_name="rubric-grade-1-9",
    template="Question: {instruction}\nAnswer: {response}\nCriterion: {rubric}\nGrade the answer on the criterion "
             "from 1 (bad) to 9 (good).\n",
    answer_pattern=r"Grade:\s*(\d+)", answer_marker="Grade: ", range=(1, 9),
)


def test_grpo_multi_objective_with_three_rubric_rewards(tmp_path, tokenizer, default_judge):
    from trl import GRPOConfig, GRPOTrainer

    judge = GenerativeRewardModel(default_judge.backend, JudgeConfig(protocol=RUBRIC_GRADE, chat_format="raw",
                                                                     mode="direct"), judge="default", name="judge")
    names = ["correct", "concise", "polite"]
    rewards = judge.for_rubrics(["Is the answer correct?", "Is the answer short and to the point?",
                                 "Is the answer polite?"], names=names)
    weights = [1.0, 0.5, 0.25]
    dataset = Dataset.from_dict({"prompt": PROMPTS * 2})
    args = GRPOConfig(num_generations=4, max_completion_length=8, reward_weights=weights, **common_args(tmp_path))
    trainer = GRPOTrainer(model=tiny_policy(tokenizer), processing_class=tokenizer, reward_funcs=rewards, args=args,
                          train_dataset=dataset)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "reward" in h and all(f"rewards/{n}/mean" in h for n in names)]
    assert len(logged) == 2 and trainer.state.global_step == 2
    for entry in logged:
        means = [entry[f"rewards/{n}/mean"] for n in names]
        assert all(0.0 <= m <= 1.0 for m in means)  # every rubric reward reached TRL, each under its own name
        assert entry["reward"] == pytest.approx(sum(w * m for w, m in zip(weights, means)), abs=1e-4)
        assert entry["correct/served_from_batch"] == 0.0  # the first reward judged the batch...
        assert entry["concise/served_from_batch"] == entry["polite/served_from_batch"] == 1.0  # ...the others read it
        assert entry["correct/judge_seconds"] > 0 and entry["polite/judge_seconds"] == 0.0
    # one judge pass per step for all three rubrics: 2 steps x 4 completions x 3 rubrics
    assert judge.stats.calls == 2 and judge.stats.rollouts == 24 and judge.stats.rubric_calls_served == 4
    assert {f"{n}_feedback" for n in names} <= set(trainer._logs["extra"])
