"""``reward-judge best-of-n``: rejection sampling over a JSONL file of candidate lists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .files import check_input
from .judge_options import add_judge_options, build_reward_model


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("best-of-n", help="rejection sampling: keep the best candidates of each prompt")
    parser.add_argument("--input", required=True, help="JSONL: prompt, candidates (list), optional reference, rubric")
    parser.add_argument("--output", required=True, help="JSONL: input fields + chosen, chosen_indices, rewards, scores, ok")
    parser.add_argument("--n-best", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=16, help="prompts read and judged at a time")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def _check_row(row: dict, where: str) -> None:
    from reward_judge.rollout_text import completion_text, prompt_text

    prompt_text(row["prompt"], "prompt")
    candidates = row["candidates"]
    if not isinstance(candidates, list) or not candidates:
        raise ValueError(f"'candidates' must be a non-empty list of completions, got {candidates!r:.80}")
    for k, candidate in enumerate(candidates):
        completion_text(candidate, f"candidates[{k}]")


def run(args: argparse.Namespace) -> int:
    from ..best_of_n import best_of_n_file

    source = Path(args.input)
    judge = build_reward_model(args, lazy=True)  # options are checked now, the weights load after the input is
    check_input(source, ["prompt", "candidates"], _check_row)
    try:
        counts = best_of_n_file(source, Path(args.output), judge, args.n_best, args.chunk_size, not args.quiet)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"chose {args.n_best} of each candidate list for {counts['prompts']} prompts "
          f"({counts['candidates']} candidates judged, {counts['unscored']} without a valid judge answer); "
          f"wrote {args.output}", file=sys.stderr)
    return 0
