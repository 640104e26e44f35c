"""Group rewards in GRPO: judge calls per group and wall time per step, absolute vs pairwise vs listwise.

One run, one judge (the embedded one unless --judge), one tiny random policy, the same GRPO settings
for every method:

    python benchmarks/bench_groups.py                          # group of 8, 2 steps per method
    python benchmarks/bench_groups.py --group 16 --steps 3 --json out.json

Methods: ``absolute`` (the judge's preset: one call per completion), ``round_robin`` (pairwise protocol,
every pair in both orders: G(G-1) calls), ``ring`` (pairwise, each completion meets --ring-k others:
G*k calls, Bradley-Terry), ``listwise`` (our listwise prompt, one generated JSON answer per group, retried
once). Pairwise methods read the winner distribution (``direct``) with the embedded judge, as its preset
does for absolute scores. Wall time per step covers the whole GRPO step (generation, judging, update);
the judge's share is reported beside it. The machine's load average is printed before and after: on a
shared machine, compare methods within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))

PROMPTS = ["What is 2+2?", "Name the capital of France.", "Give one tip for staying focused while studying.",
           "What colour is a clear daytime sky?"]


def method_options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    pairwise = {"protocol": "prometheus-v2-relative", "mode": "direct", "rubric": "helpfulness"}
    return {
        "absolute": {},
        "round_robin": dict(pairwise, pairing="round_robin"),
        "ring": dict(pairwise, pairing="ring", pairing_k=args.ring_k),
        "listwise": {"protocol": "listwise", "rubric": "helpfulness", "max_new_tokens": args.listwise_tokens,
                     "max_attempts": 2},
    }[name]


def formula(name: str, g: int, k: int) -> str:
    return {"absolute": f"G = {g}", "round_robin": f"G(G-1) = {g * (g - 1)}", "ring": f"G*k = {g * k}",
            "listwise": "1 (+1 per retry)"}[name]


def run_method(name: str, base: Any, tokenizer_policy: tuple[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from reward_judge import GenerativeRewardModel

    options = method_options(name, args)
    judge = base if not options else GenerativeRewardModel.from_pretrained(base.backend, **options)
    judge.__name__ = "judge"
    durations: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            durations.append(time.perf_counter() - self.started)

    policy_path, tokenizer = tokenizer_policy
    config = GRPOConfig(output_dir=os.path.join(args.output_dir, name), max_steps=args.steps, logging_steps=1,
                        report_to=[], save_strategy="no", per_device_train_batch_size=args.group,
                        num_generations=args.group, max_completion_length=args.max_completion_length,
                        learning_rate=1e-5, use_cpu=not torch.cuda.is_available(), bf16=False, seed=0)
    trainer = GRPOTrainer(model=policy_path, processing_class=tokenizer, reward_funcs=[judge], args=config,
                          train_dataset=Dataset.from_dict({"prompt": PROMPTS}), callbacks=[StepTimer()])
    stats_before = judge.stats.as_dict()
    trainer.train()
    stats = judge.stats.as_dict()
    logged = [h for h in trainer.state.log_history if "judge/judge_seconds" in h]
    calls = stats["judge_requests"] - stats_before["judge_requests"]
    rewards = stats["rollouts"] - stats_before["rollouts"]
    return {
        "method": name, "options": options, "steps": len(durations), "seconds_per_step": durations,
        "judge_seconds_per_step": [h["judge/judge_seconds"] for h in logged],
        "judge_calls_per_group": calls / max(len(durations), 1),
        "logged_judge_calls_per_group": [h.get("judge/judge_calls_per_group") for h in logged],
        "position_consistency": [h.get("judge/position_consistency") for h in logged],
        "fallbacks": stats["fallbacks"] - stats_before["fallbacks"], "rollouts": rewards,
        "retries": stats["retries"] - stats_before["retries"],
    }


def main(argv=None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", default="default")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO num_generations)")
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps per method (one group per step)")
    parser.add_argument("--ring-k", type=int, default=2)
    parser.add_argument("--listwise-tokens", type=int, default=64, help="max_new_tokens of the listwise answer")
    parser.add_argument("--max-completion-length", type=int, default=16)
    parser.add_argument("--methods", default="absolute,round_robin,ring,listwise")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    import tempfile

    from reward_judge import GenerativeRewardModel
    from tiny_policy import load_policy

    args.output_dir = args.output_dir or tempfile.mkdtemp(prefix="bench-groups-")
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    base = GenerativeRewardModel.from_pretrained(args.judge)
    policy = load_policy("tiny", os.path.join(args.output_dir, "policy"))
    rows = [run_method(name, base, policy, args) for name in args.methods.split(",")]
    load_after = os.getloadavg()
    print(f"\nGRPO, group of {args.group}, {args.steps} steps per method, judge {args.judge!r}, started {started}; "
          f"{os.cpu_count()} CPUs, load average before {load_before[0]:.1f} / after {load_after[0]:.1f}")
    print(f"{'method':<12} {'calls/group':>11} {'formula':>18} {'s/step':>16} {'judge s/step':>16} {'fallbacks':>9}")
    for row in rows:
        steps = " ".join(f"{s:.1f}" for s in row["seconds_per_step"])
        judge = " ".join(f"{s:.1f}" for s in row["judge_seconds_per_step"])
        print(f"{row['method']:<12} {row['judge_calls_per_group']:>11.1f} {formula(row['method'], args.group, args.ring_k):>18} "
              f"{steps:>16} {judge:>16} {row['fallbacks']:>4}/{row['rollouts']:<4}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"started": started, "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
                       "group": args.group, "rows": rows}, out, indent=2)
    return rows


if __name__ == "__main__":
    main()
