"""``reward-judge redteam``: how far known reward-hacking attacks move a judge, before anyone trains with it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .judge_options import add_judge_options, build_reward_model


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redteam", help="run the fixed reward-hacking attacks (forged turns, master keys, bias probes) against a "
                        "judge and report how much each moves its reward")
    parser.add_argument("--prompts", help="JSONL of prompt, completion (a clean answer), optional reference, rubric "
                                          "(default: a built-in set of 8; with reference answers for verifiers "
                                          "that need one)")
    parser.add_argument("--attacks", help="comma-separated attack names (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    parser.add_argument("--json", help="write the full report (per-prompt rewards and deltas) as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from reward_judge.redteam import ATTACKS, PAIRWISE_PROBES, read_prompts, run_redteam

    if args.list:
        for attack in [*ATTACKS.values(), *PAIRWISE_PROBES.values()]:
            print(f"{attack.name:<28} {attack.kind:<10} {attack.description}")
        return 0
    try:
        prompts = read_prompts(args.prompts) if args.prompts else None
        attacks = [a.strip() for a in args.attacks.split(",") if a.strip()] if args.attacks else None
        rm = build_reward_model(args)
        with tqdm(unit="rollout", desc="judging attacks", disable=args.quiet, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = run_redteam(rm, prompts, attacks, progress=progress)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"reward-judge redteam: {exc}") from None
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0
