"""``reward-judge score``: judge a JSONL file of rollouts, in this process or on a Ray cluster (``--ray``).

A bad line (not a JSON object, a missing field, a value the judge cannot take) does not stop the job: it
is written in place with ``ok: false`` and the error, and counted (`reward_judge.integrations.rollout_file`).
``--strict`` checks the whole input file before the judge loads and stops at the first bad line instead.
With a group protocol (listwise) every chunk holds whole groups (`rollout_file.plan_chunks`); an input field
named like a result field is kept as ``input_<name>``. The output file appears only when the run finishes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .judge_options import add_judge_options, build_reward_model, judge_option_values
from .ray_options import add_ray_options, check_ray_options


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("score", help="judge a JSONL file of rollouts")
    parser.add_argument("--input", required=True,
                        help="JSONL with prompt, completion, optional reference, rubric (and completion_b for a "
                             "pairwise protocol)")
    parser.add_argument("--output", required=True,
                        help="JSONL to write, one line per input line in input order: each input row plus score, "
                             "reward, feedback, ok, fallback, error, attempts, cached, truncated, distribution (and "
                             "winner for pairwise protocols)")
    parser.add_argument("--chunk-size", type=int, default=64,
                        help="rollouts read and judged at a time (a group protocol, listwise: chunks of whole groups, "
                             "the file read first; a larger group is a chunk of its own)")
    parser.add_argument("--raw", action="store_true", help="also write the judge's full output (judge_output)")
    parser.add_argument("--strict", action="store_true",
                        help="check the whole input before the judge loads and stop at the first bad line (default: "
                             "a bad line is written in place with ok: false and the error, and counted)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_ray_options(parser, serve=False)
    add_judge_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_ray_options(args)
    try:
        return _score_on_ray(args) if args.ray else _score_file(args)
    except ValueError as exc:  # a bad value: the message names it
        raise SystemExit(str(exc)) from None


def _check_source(args: argparse.Namespace, spec: Any) -> int:
    """The number of rows to judge; with --strict, after checking every line (the first bad one stops the run)."""
    from reward_judge.jsonl import count_lines

    from ..rollout_file import parse_line, read_lines

    source = Path(args.input)
    if args.chunk_size < 1:
        raise SystemExit(f"--chunk-size must be a positive integer, got {args.chunk_size}")
    if not source.is_file():
        raise SystemExit(f"--input {str(source)!r} does not exist")
    if args.strict:  # every line read and checked now, as the job will read it: the first bad one stops it
        total = 0
        for number, raw in read_lines(source):
            line = parse_line(number, raw, spec)
            if not line.ok:
                raise SystemExit(f"{source}:{number}: {line.problem}")
            total += 1
    else:
        total = count_lines(source)
    if total == 0:
        raise SystemExit(f"--input {str(source)!r} holds no rows")
    return total


def _score_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from reward_judge.jsonl import atomic_output

    from ..rollout_file import (InOrder, RowSpec, ScoreTally, grouped, judge_records, line_group_key, parse_line,
                                plan_chunks, read_lines)

    source, target = Path(args.input), Path(args.output)
    rm = build_reward_model(args, lazy=True)  # options are checked now, the weights load after the input is
    spec = RowSpec(pairwise=bool(rm.protocol.pairwise))
    total = _check_source(args, spec)
    lines = (parse_line(number, raw, spec) for number, raw in read_lines(source))
    # a group protocol: the file is read whole and each chunk holds whole groups, written back in input order
    chunks = plan_chunks(lines, args.chunk_size, line_group_key if grouped(rm) else None)
    order: InOrder[Any] = InOrder()
    tally = ScoreTally()
    with atomic_output(target) as out, tqdm(total=total, unit="rollout", desc="judging", disable=args.quiet) as bar:
        for chunk in chunks:
            if args.strict and not all(line.ok for _, line in chunk):  # the file changed since it was checked
                line = next(line for _, line in chunk if not line.ok)
                raise SystemExit(f"{source}:{line.number}: {line.problem}")
            judged = judge_records(rm, [line for _, line in chunk], args.raw, args.strict)
            for (position, _), record in zip(chunk, judged, strict=True):
                for ready in order.add(position, record):
                    out.write(ready.text + "\n")
                    tally.add(ready.kind, ready.line, ready.renamed)
            bar.update(len(chunk))
    tally.warn_renamed()
    print(tally.summary(rm.protocol.name, rm.config.mode, rm.config.fallback, target), file=sys.stderr)
    return 0


def _score_on_ray(args: argparse.Namespace) -> int:
    from reward_judge.extras import MissingExtra

    from ..ray_cluster import require_ray
    from ..ray_data import score_file
    from ..rollout_file import RowSpec

    try:
        require_ray("reward-judge score --ray")
    except MissingExtra as exc:
        raise SystemExit(str(exc)) from None
    rm = build_reward_model(args, lazy=True)  # every option checked here, before a replica starts
    total = _check_source(args, RowSpec(pairwise=bool(rm.protocol.pairwise)))
    try:
        tally = score_file(args.input, args.output, args.judge, judge_option_values(args),
                           num_replicas=args.num_replicas, num_cpus_per_replica=args.num_cpus_per_replica,
                           num_gpus_per_replica=args.num_gpus_per_replica, ray_address=args.ray_address,
                           chunk_size=args.chunk_size, raw=args.raw, strict=args.strict, progress=not args.quiet,
                           total=total, quiet=args.quiet)
    except (ConnectionError, PermissionError) as exc:
        raise SystemExit(f"reward-judge: {exc}") from None
    tally.warn_renamed()
    print(tally.summary(rm.protocol.name, rm.config.mode, rm.config.fallback, Path(args.output)) +
          f" ({args.num_replicas} Ray Data replica{'s' if args.num_replicas != 1 else ''})", file=sys.stderr)
    return 0
