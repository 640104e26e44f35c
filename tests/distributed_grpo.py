"""One process of a 2-process GRPO run with a pairwise judge reward (started by tests/test_group_trl.py).

    python -m torch.distributed.run --nproc_per_node 2 tests/distributed_grpo.py --out DIR

TRL (accelerate) initialises the gloo process group on CPU. With 2 rollouts per process and 4 per
prompt, every group is split across the two processes. Each process writes DIR/rank<r>.json: what its
reward function received and returned at each step, and its judge's counters.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Recorder:
    """A TRL reward function that calls the judge and keeps what it was given and what it returned."""

    def __init__(self, judge):
        self.judge = judge
        self.__name__ = judge.__name__
        self.calls: list[dict] = []

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        before = self.judge.stats.judge_requests
        rewards = self.judge(prompts, completions, completion_ids, **kwargs)
        self.calls.append({"prompts": list(prompts), "completions": list(completions), "rewards": rewards,
                           "judge_requests": self.judge.stats.judge_requests - before})
        return rewards


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from reward_judge import GenerativeRewardModel
    from reward_judge.embedded import embedded_judge_path
    from tests.group_protocols import SHORT_PAIR

    tokenizer = AutoTokenizer.from_pretrained(embedded_judge_path()[0])
    torch.manual_seed(0)
    policy = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id))
    judge = GenerativeRewardModel.from_pretrained("default", protocol=SHORT_PAIR, chat_format="raw", mode="direct",
                                                  max_new_tokens=2, name="pair-judge")
    reward = Recorder(judge)
    dataset = Dataset.from_dict({"prompt": ["What is 2+2?", "Name a primary color."] * 2})
    config = GRPOConfig(output_dir=args.out, max_steps=2, logging_steps=1, use_cpu=True, bf16=False, report_to=[],
                        save_strategy="no", per_device_train_batch_size=2, num_generations=4, max_completion_length=6,
                        learning_rate=1e-4, seed=0)
    trainer = GRPOTrainer(model=policy, processing_class=tokenizer, reward_funcs=[reward], args=config,
                          train_dataset=dataset)
    trainer.train()
    rank = torch.distributed.get_rank()
    with open(os.path.join(args.out, f"rank{rank}.json"), "w", encoding="utf-8") as out:
        json.dump({"rank": rank, "world": torch.distributed.get_world_size(), "calls": reward.calls,
                   "stats": judge.stats.as_dict(), "log_history": trainer.state.log_history}, out)


if __name__ == "__main__":
    main()
