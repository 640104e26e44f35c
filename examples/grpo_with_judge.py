"""Train a policy with GRPO (or RLOO) using a generative judge as the reward.

Runs on a CPU out of the box: a tiny random policy and the embedded demonstration judge, two steps.
On a GPU, point it at real models:

    python examples/grpo_with_judge.py --policy Qwen/Qwen2.5-0.5B-Instruct \\
        --judge prometheus-eval/prometheus-7b-v2.0 --rubric helpfulness --judge-mode generate --steps 200

The dataset's ``reference`` column reaches the judge row by row (Prometheus has a reference slot).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROMPTS = [
    ("What is 2+2?", "4"),
    ("Name the capital of France.", "Paris"),
    ("Give one tip for staying focused while studying.", "Put the phone in another room."),
    ("What colour is a clear daytime sky?", "Blue"),
]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainer", choices=["grpo", "rloo"], default="grpo")
    parser.add_argument("--policy", default="tiny", help="'tiny' (random 2-layer Llama) or a hub id / path")
    parser.add_argument("--judge", default="default", help="'default' (embedded demo judge) or a judge id / path")
    parser.add_argument("--rubric", default=None)
    parser.add_argument("--judge-mode", default=None, choices=["generate", "expected", "direct"],
                        help="scoring mode (default: the judge preset's)")
    parser.add_argument("--judge-max-new-tokens", type=int, default=None)
    parser.add_argument("--async-judge", action="store_true", help="use the coroutine reward (AsyncJudgeReward)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=16)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args(argv)

    import torch
    from datasets import Dataset

    from reward_judge import GenerativeRewardModel
    from reward_judge.integrations.trl import AsyncJudgeReward
    from tiny_policy import load_policy

    output_dir = args.output_dir or tempfile.mkdtemp(prefix=f"{args.trainer}-judge-")
    policy, tokenizer = load_policy(args.policy, os.path.join(output_dir, "policy"))
    options = {k: v for k, v in {"mode": args.judge_mode, "max_new_tokens": args.judge_max_new_tokens}.items() if v}
    judge = GenerativeRewardModel.from_pretrained(args.judge, rubric=args.rubric, **options)
    reward = AsyncJudgeReward(judge) if args.async_judge else judge
    dataset = Dataset.from_dict({"prompt": [p for p, _ in PROMPTS], "reference": [r for _, r in PROMPTS]})
    common = dict(output_dir=output_dir, max_steps=args.steps, logging_steps=1, report_to=[], save_strategy="no",
                  per_device_train_batch_size=args.num_generations, num_generations=args.num_generations,
                  max_completion_length=args.max_completion_length, learning_rate=1e-5,
                  use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available())
    if args.trainer == "grpo":
        from trl import GRPOConfig as Config, GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config, RLOOTrainer as Trainer
    trainer = Trainer(model=policy, processing_class=tokenizer, reward_funcs=[reward], args=Config(**common),
                      train_dataset=dataset)
    trainer.train()
    key = f"rewards/{judge.__name__}/mean"
    summary = {"trainer": args.trainer, "steps": trainer.state.global_step,
               "judge_reward_mean_per_step": [h[key] for h in trainer.state.log_history if key in h],
               "judge_stats": judge.stats.as_dict()}
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
