"""Rejection sampling (best-of-N): sample N completions per prompt from a policy, keep the judge's best.

CPU default: the tiny random policy and the embedded demonstration judge. On a GPU:

    python examples/rejection_sampling.py --policy Qwen/Qwen2.5-0.5B-Instruct --judge GAIR/autoj-13b -n 8

Writes one JSON line per prompt (the chosen completion plus every candidate's reward) to --output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROMPTS = ["What is 2+2?", "Name the capital of France.", "Say hello politely."]


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="tiny")
    parser.add_argument("--judge", default="default")
    parser.add_argument("--judge-mode", default=None, choices=["generate", "expected", "direct"])
    parser.add_argument("-n", "--num-candidates", type=int, default=4)
    parser.add_argument("--n-best", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    import torch

    from reward_judge import GenerativeRewardModel
    from reward_judge.integrations.best_of_n import best_of_n
    from tiny_policy import load_causal_lm, load_policy

    workdir = tempfile.mkdtemp(prefix="best-of-n-")
    policy_path, tokenizer = load_policy(args.policy, os.path.join(workdir, "policy"))
    policy = load_causal_lm(policy_path).eval()
    torch.manual_seed(0)
    candidates = []
    for prompt in PROMPTS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        out = policy.generate(**ids, do_sample=True, max_new_tokens=args.max_new_tokens,
                              num_return_sequences=args.num_candidates, pad_token_id=tokenizer.pad_token_id)
        width = ids["input_ids"].shape[1]
        candidates.append([tokenizer.decode(row[width:], skip_special_tokens=True) for row in out])
    judge = GenerativeRewardModel.from_pretrained(args.judge, **({"mode": args.judge_mode} if args.judge_mode else {}))
    picks = best_of_n(PROMPTS, candidates, judge, n_best=args.n_best)
    output = args.output or os.path.join(workdir, "best.jsonl")
    with open(output, "w", encoding="utf-8") as handle:
        for pick, cands in zip(picks, candidates):
            handle.write(json.dumps({"prompt": pick.prompt, "candidates": cands, "chosen": pick.chosen,
                                     "chosen_indices": pick.chosen_indices, "rewards": pick.rewards},
                                    ensure_ascii=False) + "\n")
    print(f"wrote {len(picks)} choices to {output}")
    return picks


if __name__ == "__main__":
    main()
