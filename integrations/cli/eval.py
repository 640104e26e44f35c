"""``reward-judge eval``: measure a judge on a benchmark, or replay saved verdicts.

    reward-judge eval autoj-pairwise --data testdata_pairwise.jsonl --judge GAIR/autoj-13b --report autoj-report
    reward-judge eval mt-bench --data mt_bench_eval.json --judge prometheus-eval/prometheus-7b-v2.0 --runs 3
    reward-judge eval autoj-pairwise --data testdata_pairwise.jsonl \\
        --predictions pairwise_example_output.jsonl --predictions-swapped pairwise_exchange_example_output.jsonl
    reward-judge eval rewardbench --data reward-bench-filtered.jsonl --judge Skywork/Skywork-Critic-Llama-3.1-8B
    reward-judge eval judgebench --data judgebench_gpt.jsonl --judge prometheus-eval/prometheus-7b-v2.0

On a pairwise benchmark (also rewardbench, judgebench, rm-bench) a judge whose preset has a pairwise protocol
(Auto-J, Prometheus 2, Selene, the embedded judge) uses it unless ``--protocol`` says otherwise, keeping the
preset's scoring mode unless ``--mode`` does; a single-response protocol scores each response alone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Optional

from .judge_options import add_judge_options, build_reward_model

logger = logging.getLogger("reward_judge.cli.eval")


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand."""
    from reward_judge.eval.datasets import BENCHMARKS

    parser = subparsers.add_parser(
        "eval", help="measure a judge against labels (Auto-J, MT-Bench, Vicuna, HHH, RewardBench 1/2, JudgeBench, "
                     "RM-Bench, your data)",
        description="Judge a benchmark with a judge and report the figures its paper prints, or replay saved "
                    "verdicts with --predictions.",
    )
    parser.add_argument("benchmark", choices=list(BENCHMARKS),
                        help="; ".join(f"{b.name}: {b.description}" for b in BENCHMARKS.values()))
    parser.add_argument("--data", required=True, help="the benchmark file (JSONL, or the Prometheus JSON arrays)")
    parser.add_argument("--limit", type=int, help="judge only N items, spread evenly over the file")
    parser.add_argument("--runs", type=int, default=1,
                        help="score each item N times and use the mean (absolute sets, hhh-alignment)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="write the metrics as JSON here")
    parser.add_argument("--report", dest="report_dir", metavar="DIR",
                        help="write report.md, PNG plots, metrics.json and the prediction files here")
    parser.add_argument("--predictions", metavar="PATH",
                        help="replay these verdicts instead of judging (a predictions.jsonl from --report, or "
                             "Auto-J's {\"output\": 0|1|2} lines)")
    parser.add_argument("--predictions-swapped", metavar="PATH",
                        help="pairwise sets: the verdicts on the pairs with the two responses exchanged")
    parser.add_argument("--label-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="custom-absolute: every label must lie in this range")
    parser.add_argument("--order", choices=("random", "both", "shown"),
                        help="rewardbench, rm-bench: 'random' (a seeded draw per item, the default) or 'both' orders; "
                             "judgebench: 'both' (the default) or 'shown' (one game); the draw uses the judge's --seed")
    parser.add_argument("--chunk-size", type=int, default=32,
                        help="items per judge call; with --cache an interrupted run resumes from the cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def _pairwise_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """On a pairwise set, the judge preset's pairwise protocol (with the preset's mode) unless told otherwise."""
    from reward_judge import get_preset

    if getattr(args, "protocol", None) is not None:
        return {}
    try:
        preset = get_preset(args.judge)
    except ValueError:  # no preset: the judge's own protocol decides (a single-response one scores each response)
        return {}
    if not preset.pairwise_protocol:
        return {}
    overrides: dict[str, Any] = {"protocol": preset.pairwise_protocol}
    if getattr(args, "mode", None) is None and preset.options.get("mode"):
        overrides["mode"] = preset.options["mode"]
    logger.info("pairwise benchmark: protocol %s, the preset's pairwise protocol", preset.pairwise_protocol)
    return overrides


def run(args: argparse.Namespace) -> int:
    from reward_judge.eval import EvalDataError, evaluate, get_benchmark
    from reward_judge.eval.datasets import PAIRWISE_KINDS
    from reward_judge.extras import MissingExtra, require_extra

    try:
        require_extra("eval", "scipy", feature="reward-judge eval")
        if args.report_dir:
            require_extra("eval", "matplotlib", feature="reward-judge eval --report (its plots)")
    except MissingExtra as exc:
        raise SystemExit(str(exc)) from None

    spec = get_benchmark(args.benchmark)
    reward_model = None
    if args.predictions is None:
        if args.predictions_swapped is not None:
            raise SystemExit("--predictions-swapped needs --predictions (the verdicts on the pairs as shown)")
        reward_model = build_reward_model(args, **(_pairwise_defaults(args) if spec.kind in PAIRWISE_KINDS else {}))
    progress, bar = _progress_bar(args.quiet or args.predictions is not None)
    try:
        report = evaluate(args.benchmark, args.data, reward_model, predictions=args.predictions,
                          predictions_swapped=args.predictions_swapped, limit=args.limit, runs=args.runs,
                          json_out=args.json_out, report_dir=args.report_dir, label_range=args.label_range,
                          chunk_size=args.chunk_size, progress=progress, order=args.order)
    except (EvalDataError, FileNotFoundError, ValueError) as exc:  # the message names the file, line and field
        raise SystemExit(f"reward-judge eval: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    how = (f"judged by {report.judge['name']} ({report.judge['protocol']}, mode {report.judge['mode']})"
           if report.judge else "replayed from " + ", ".join(report.predictions.values()))
    print(f"{report.benchmark}: {report.n} items, {how}")
    print(report.table())
    print()
    print(report.judging_table())
    for note in report.notes:
        print(f"note: {note}")
    for name, path in sorted({**report.files, **({} if args.predictions else report.predictions)}.items()):
        print(f"wrote {name}: {path}", file=sys.stderr)
    return 0


def _progress_bar(disabled: bool) -> tuple[Optional[Any], Optional[Any]]:
    if disabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(unit="answer", desc="judging", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return progress, bar
