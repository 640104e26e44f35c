"""PPO with a generative judge as the reward model.

TRL's PPO reads rewards from an ``nn.Module`` through ``get_reward`` (last real token of each
query+response). `JudgeRewardModule` is that module for a judge. trl 1.16 ships no PPO trainer any
more (``trl.experimental.ppo`` is gone), so by default this example runs the PPO rollout-and-reward
step itself: the policy answers the queries, the sequences are built as PPO builds them (queries
left-padded to one context length, responses after), and ``get_reward`` returns the judge's rewards.
With a TRL release that still has ``PPOTrainer``, pass the same module as ``reward_model=``.

    python examples/ppo_with_judge.py                       # CPU: tiny policy, embedded judge
    python examples/ppo_with_judge.py --policy <id> --judge prometheus-eval/prometheus-7b-v2.0
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROMPTS = ["What is 2+2?", "Name the capital of France.", "Say hello politely."]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="tiny")
    parser.add_argument("--judge", default="default")
    parser.add_argument("--judge-mode", default=None, choices=["generate", "expected", "direct"])
    parser.add_argument("--fallback-reward", type=float, default=0.0,
                        help="reward for sequences the judge cannot score (PPO cannot drop a sample)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args(argv)

    import torch
    from trl.experimental.utils import get_reward

    from reward_judge import GenerativeRewardModel
    from reward_judge.integrations.ppo import JudgeRewardModule
    from tiny_policy import load_causal_lm, load_policy

    workdir = tempfile.mkdtemp(prefix="ppo-judge-")
    policy_path, tokenizer = load_policy(args.policy, os.path.join(workdir, "policy"))
    judge = GenerativeRewardModel.from_pretrained(args.judge, **({"mode": args.judge_mode} if args.judge_mode else {}))
    conversations = [[{"role": "user", "content": p}] for p in PROMPTS]
    reward_model = JudgeRewardModule(judge, tokenizer, prompts=conversations, fallback_reward=args.fallback_reward)

    policy = load_causal_lm(policy_path).eval()
    pad = tokenizer.pad_token_id
    queries = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True)["input_ids"] for c in conversations]
    context = max(map(len, queries))
    batch = torch.tensor([[pad] * (context - len(q)) + q for q in queries])
    torch.manual_seed(0)
    with torch.no_grad():
        query_responses = policy.generate(input_ids=batch, attention_mask=batch != pad, do_sample=True,
                                          max_new_tokens=args.max_new_tokens, pad_token_id=pad)
    _, rewards, _ = get_reward(reward_model, query_responses, pad, context)
    for prompt, row, reward in zip(PROMPTS, query_responses, rewards.tolist()):
        response = tokenizer.decode(row[context:], skip_special_tokens=True)
        print(f"{reward:.3f}  {prompt!r} -> {response!r}")
    print(f"split: {reward_model.stats}")
    return rewards


if __name__ == "__main__":
    main()
