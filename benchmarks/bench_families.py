"""What one rollout costs with each judge family's prompt, in each scoring mode, on the embedded judge.

    python benchmarks/bench_families.py                      # 4 rollouts per protocol, 16 new tokens
    python benchmarks/bench_families.py --rollouts 8 --new-tokens 32 --json out.json

For every protocol of the verifier, critic and reasoning families (and Prometheus 2 for comparison) it
prints the judge-input length in tokens (the embedded judge's tokenizer and chat template: a proxy, each
judge's own tokenizer differs) and the measured seconds per rollout in every mode the protocol supports:
``direct`` (one forward pass), ``expected`` (``--new-tokens`` of feedback, then the distribution) and
``generate`` (``--new-tokens`` decoded). Reasoning protocols run ``generate`` with ``think_budget`` =
``--new-tokens`` (budget forcing: the embedded judge never closes its thinking, so each rollout costs the
budget, then a second call for the answer). Pairwise protocols count one pair as one rollout. The 135M
judge's times only compare modes and prompt lengths on this machine; the load average is printed
before and after (the machine is shared: compare rows within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

PROMPT = "What is 15% of 80?"
GOOD, BAD = "15% of 80 is 0.15 x 80 = 12.", "15% of 80 is 0.15 x 80 = 15."
REFERENCE = "12"
PROTOCOLS = [  # protocol, options
    ("prometheus-v2", {"rubric": "helpfulness"}),
    ("genrm", {}),
    ("genrm-reference", {}),
    ("general-verifier", {"chat_format": "raw"}),
    ("multisub-rm", {}),
    ("skywork-critic", {}),
    ("selene-absolute", {"rubric": "helpfulness"}),
    ("selene-pairwise", {"rubric": "helpfulness"}),
    ("rm-r1", {}),
    ("rm-r1-reasoning", {}),
    ("judgelrm", {"chat_format": "raw"}),
]


def modes_of(protocol: Any) -> list[str]:
    from reward_judge.scoring import DirectScorer

    try:
        DirectScorer.check_protocol(protocol)
    except ValueError:
        return ["generate"]
    return ["direct", "expected", "generate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--json", help="write the table as JSON here")
    args = parser.parse_args()

    from reward_judge import GenerativeRewardModel, get_protocol
    from reward_judge.judge_input import encode

    load_before = os.getloadavg()
    base = GenerativeRewardModel.from_pretrained("default")
    backend = base.backend
    rows = []
    for name, options in PROTOCOLS:
        protocol = get_protocol(name)
        kwargs: dict[str, Any] = {}
        if protocol.pairwise:
            kwargs["completions_b"] = [BAD] * args.rollouts
        if protocol.reference_slot != "none":
            kwargs["reference"] = [REFERENCE] * args.rollouts
        for mode in modes_of(protocol):
            extra = {"think_budget": args.new_tokens} if getattr(protocol, "thinks", False) and mode != "direct" else {}
            rm = GenerativeRewardModel.from_pretrained(backend, protocol=name, mode=mode, max_new_tokens=args.new_tokens,
                                                       max_attempts=1, **options, **extra)
            request = rm.request(PROMPT, GOOD, completion_b=kwargs.get("completions_b", [None])[0],
                                 reference=kwargs.get("reference", [None])[0])
            tokens = len(encode(backend.tokenizer, request.input))
            rm.score([PROMPT], [GOOD], **{k: v[:1] for k, v in kwargs.items()})  # warm-up
            started = time.perf_counter()
            results = rm.score([PROMPT] * args.rollouts, [GOOD] * args.rollouts, **kwargs)
            seconds = (time.perf_counter() - started) / args.rollouts
            think = [r.extra["think_tokens"] for r in results if "think_tokens" in r.extra]
            rows.append({"protocol": name, "mode": mode, "input_tokens": tokens, "seconds_per_rollout": seconds,
                         "valid": sum(r.ok for r in results), "rollouts": args.rollouts,
                         "think_tokens": statistics.mean(think) if think else None})
            print(f"{name:<18} {mode:<9} input {tokens:>5} tokens  {seconds:7.3f} s/rollout  "
                  f"valid {rows[-1]['valid']}/{args.rollouts}" + (f"  thinking {rows[-1]['think_tokens']:.0f} tokens"
                                                                  if think else ""), flush=True)
    load_after = os.getloadavg()
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); "
          f"{os.cpu_count()} CPUs; embedded SmolLM2-135M judge, float32")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "load_before": load_before, "load_after": load_after,
                       "rollouts": args.rollouts, "new_tokens": args.new_tokens}, handle, indent=1)


if __name__ == "__main__":
    main()
