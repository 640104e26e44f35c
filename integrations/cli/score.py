"""``reward-judge score``: judge a JSONL file of rollouts."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from .judge_options import add_judge_options, build_reward_model


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("score", help="judge a JSONL file of rollouts")
    parser.add_argument("--input", required=True, help="JSONL with prompt, completion, optional reference, rubric")
    parser.add_argument("--output", required=True, help="JSONL to write: the input fields plus score, reward, feedback, ok")
    parser.add_argument("--chunk-size", type=int, default=64, help="rollouts read and judged at a time")
    parser.add_argument("--raw", action="store_true", help="also write the judge's full output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _score_file(args)
    except ValueError as exc:  # a bad line or a bad value: the message names it
        raise SystemExit(str(exc)) from None


def _score_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from reward_judge.jsonl import count_lines, read_jsonl

    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise SystemExit(f"--input {str(source)!r} does not exist")
    rm = build_reward_model(args)
    total = count_lines(source)
    rows = read_jsonl(source)
    chunk_size = max(1, args.chunk_size)
    scored = failed = 0
    with target.open("w", encoding="utf-8") as out, tqdm(total=total, unit="rollout", desc="judging",
                                                        disable=args.quiet) as bar:
        while True:
            chunk = list(islice(rows, chunk_size))
            if not chunk:
                break
            for number, row in chunk:
                for key in ("prompt", "completion"):
                    if key not in row:
                        raise SystemExit(f"{source}:{number}: missing field {key!r} (fields: {sorted(row)})")
            results = rm.score(
                [row["prompt"] for _, row in chunk], [row["completion"] for _, row in chunk],
                reference=[row.get("reference") for _, row in chunk],
                rubric=[row.get("rubric") for _, row in chunk],
                completions_b=[row["completion_b"] for _, row in chunk] if rm.protocol.pairwise else None,
            )
            for (_, row), result in zip(chunk, results, strict=True):
                record = dict(row)
                record.update(score=result.score, reward=result.reward, feedback=result.feedback, ok=result.ok,
                              attempts=result.attempts, fallback=result.fallback, error=result.error,
                              cached=result.cached)
                if result.winner is not None:
                    record["winner"] = result.winner
                if args.raw:
                    record["judge_output"] = result.raw
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                scored += 1
                failed += not result.ok
            bar.update(len(chunk))
    print(f"judged {scored} rollouts with {rm.protocol.name} ({rm.config.mode} mode): {scored - failed} scored, "
          f"{failed} fell back (fallback={rm.config.fallback!r}); wrote {target}", file=sys.stderr)
    return 0
