"""``reward-judge score``: judge a JSONL file of rollouts.

The whole input file is checked before the judge loads (a bad line is named at once), and the output
file appears only when the run finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from .files import check_input
from .judge_options import add_judge_options, build_reward_model


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("score", help="judge a JSONL file of rollouts")
    parser.add_argument("--input", required=True,
                        help="JSONL with prompt, completion, optional reference, rubric (and completion_b for a "
                             "pairwise protocol)")
    parser.add_argument("--output", required=True,
                        help="JSONL to write: each input row plus score, reward, feedback, ok, fallback, error, "
                             "attempts, cached, truncated, distribution (and winner for pairwise protocols)")
    parser.add_argument("--chunk-size", type=int, default=64, help="rollouts read and judged at a time")
    parser.add_argument("--raw", action="store_true", help="also write the judge's full output (judge_output)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _score_file(args)
    except ValueError as exc:  # a bad value: the message names it
        raise SystemExit(str(exc)) from None


def record_of(row: dict[str, Any], result: Any, raw: bool = False) -> dict[str, Any]:
    """The output line of one rollout: the input fields, then what the judge said and how the reward was made."""
    record = dict(row)
    record.update(score=result.score, reward=result.reward, feedback=result.feedback, ok=result.ok,
                  fallback=result.fallback, error=result.error, attempts=result.attempts, cached=result.cached,
                  truncated=result.truncated, distribution=result.distribution)
    if result.winner is not None:
        record["winner"] = result.winner
    if raw:
        record["judge_output"] = result.raw
    return record


def _score_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from reward_judge.jsonl import atomic_output, read_jsonl
    from reward_judge.rollout_text import completion_text, prompt_text

    source, target = Path(args.input), Path(args.output)
    rm = build_reward_model(args, lazy=True)  # options are checked now, the weights load after the input is
    pairwise = rm.protocol.pairwise
    required = ["prompt", "completion"] + (["completion_b"] if pairwise else [])

    def check(row: dict[str, Any], where: str) -> None:
        prompt_text(row["prompt"], "prompt")
        for key in required[1:]:
            completion_text(row[key], key)

    total = check_input(source, required, check)
    chunk_size = max(1, args.chunk_size)
    rows = read_jsonl(source)
    scored = failed = 0
    with atomic_output(target) as out, tqdm(total=total, unit="rollout", desc="judging", disable=args.quiet) as bar:
        while True:
            chunk = [row for _, row in islice(rows, chunk_size)]
            if not chunk:
                break
            results = rm.score(
                [row["prompt"] for row in chunk], [row["completion"] for row in chunk],
                reference=[row.get("reference") for row in chunk], rubric=[row.get("rubric") for row in chunk],
                completions_b=[row["completion_b"] for row in chunk] if pairwise else None,
            )
            for row, result in zip(chunk, results, strict=True):
                out.write(json.dumps(record_of(row, result, args.raw), ensure_ascii=False) + "\n")
                scored += 1
                failed += not result.ok
            bar.update(len(chunk))
    print(f"judged {scored} rollouts with {rm.protocol.name} ({rm.config.mode} mode): {scored - failed} scored, "
          f"{failed} fell back (fallback={rm.config.fallback!r}); wrote {target}", file=sys.stderr)
    return 0
