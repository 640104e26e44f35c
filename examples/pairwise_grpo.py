"""GRPO with a pairwise judge: each completion is judged against the other completions of its prompt.

The judge compares two responses in both orders (so its position bias cancels) and each completion's
reward is its win rate in its group (or a Bradley-Terry expected win rate), which is what GRPO's
group-relative advantage needs. Runs on a CPU out of the box: a tiny random policy and the embedded
demonstration judge with its pairwise protocol (Prometheus 2 relative), two steps. On a GPU:

    python examples/pairwise_grpo.py --policy Qwen/Qwen2.5-0.5B-Instruct \\
        --judge prometheus-eval/prometheus-7b-v2.0 --num-generations 8 --pairing ring --pairing-k 4 --steps 200

Judge calls per group of G (both orders): round_robin G(G-1), ring G*k, anchor 2G (against the dataset's
``reference`` column).
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
    parser.add_argument("--policy", default="tiny", help="'tiny' (random 2-layer Llama) or a hub id / path")
    parser.add_argument("--judge", default="default", help="'default' (embedded demo judge) or a judge id / path")
    parser.add_argument("--protocol", default=None, help="pairwise protocol (default: the judge preset's)")
    parser.add_argument("--judge-mode", default=None, choices=["generate", "expected", "direct"],
                        help="scoring mode (default: 'direct' for the embedded judge, else the preset's)")
    parser.add_argument("--pairing", default="round_robin", choices=["round_robin", "ring", "anchor"])
    parser.add_argument("--pairing-k", type=int, default=2, help="opponents per completion with --pairing ring")
    parser.add_argument("--aggregation", default="auto", choices=["auto", "win_rate", "bradley_terry"])
    parser.add_argument("--judge-max-new-tokens", type=int, default=None)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=16)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args(argv)

    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from reward_judge import GenerativeRewardModel
    from reward_judge.presets import find_preset
    from tiny_policy import load_policy

    output_dir = args.output_dir or tempfile.mkdtemp(prefix="pairwise-grpo-")
    policy, tokenizer = load_policy(args.policy, os.path.join(output_dir, "policy"))
    preset = find_preset(args.judge)
    protocol = args.protocol or (preset.pairwise_protocol if preset else None)
    if protocol is None:
        raise SystemExit(f"judge {args.judge!r} has no preset pairwise protocol: pass --protocol")
    mode = args.judge_mode or ("direct" if args.judge == "default" else None)
    options = {"mode": mode, "max_new_tokens": args.judge_max_new_tokens}
    judge = GenerativeRewardModel.from_pretrained(
        args.judge, protocol=protocol, pairing=args.pairing, pairing_k=args.pairing_k, aggregation=args.aggregation,
        name="pairwise-judge", **{k: v for k, v in options.items() if v is not None})
    dataset = Dataset.from_dict({"prompt": [p for p, _ in PROMPTS], "reference": [r for _, r in PROMPTS]})
    config = GRPOConfig(output_dir=output_dir, max_steps=args.steps, logging_steps=1, report_to=[], save_strategy="no",
                        per_device_train_batch_size=args.num_generations, num_generations=args.num_generations,
                        max_completion_length=args.max_completion_length, learning_rate=1e-5,
                        use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available())
    trainer = GRPOTrainer(model=policy, processing_class=tokenizer, reward_funcs=[judge], args=config,
                          train_dataset=dataset)
    trainer.train()
    history = [h for h in trainer.state.log_history if "rewards/pairwise-judge/mean" in h]
    summary = {
        "protocol": judge.protocol.name, "mode": judge.config.mode, "pairing": args.pairing,
        "steps": trainer.state.global_step,
        "reward_mean_per_step": [h["rewards/pairwise-judge/mean"] for h in history],
        "judge_calls_per_group": [h.get("pairwise-judge/judge_calls_per_group") for h in history],
        "position_consistency": [h.get("pairwise-judge/position_consistency") for h in history],
        "judge_stats": judge.stats.as_dict(),
    }
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
