"""`evaluate`: measure a judge against human or GPT-4 labels, or replay saved verdicts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .datasets import get_benchmark
from .judging import Progress, judge_items
from .leaderboard_judging import check_order
from .leaderboard_scoring import LEADERBOARDS, score_leaderboard
from .predictions import read_predictions, write_predictions
from .report import write_report
from .scoring import score_records
from .summary import EvalReport

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def spread_selection(total: int, limit: Optional[int]) -> list[int]:
    """Positions of ``limit`` items spread evenly over ``total`` (all of them without a limit).

    The benchmark files are sorted by scenario or category, so the first ``limit`` items would all come
    from one of them; an even spread keeps every group in a small run.

    Example:
        >>> spread_selection(10, 4)
        [0, 2, 5, 7]
    """
    if limit is None or limit >= total:
        return list(range(total))
    return [k * total // limit for k in range(limit)]


def _positive(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def describe_judge(rm: Any) -> dict[str, Any]:
    """What a report says about the judge: its name, protocol, scoring mode and rubric."""
    config = getattr(rm, "config", None)
    rubric = getattr(config, "rubric", None)
    return {
        "name": getattr(rm, "__name__", type(rm).__name__),
        "model": repr(rm),
        "protocol": getattr(getattr(rm, "protocol", None), "name", None),
        "mode": getattr(config, "mode", None),
        "rubric": rubric if isinstance(rubric, str) else (None if rubric is None else type(rubric).__name__),
    }


def evaluate(
    benchmark: str,
    data: PathLike,
    reward_model: Any = None,
    predictions: Optional[PathLike] = None,
    predictions_swapped: Optional[PathLike] = None,
    limit: Optional[int] = None,
    runs: int = 1,
    json_out: Optional[PathLike] = None,
    report_dir: Optional[PathLike] = None,
    *,
    label_range: Optional[Sequence[float]] = None,
    chunk_size: int = 32,
    progress: Optional[Progress] = None,
    order: Optional[str] = None,
) -> EvalReport:
    """Evaluate a judge on a benchmark: judge it with ``reward_model``, or replay ``predictions``.

    Args:
        benchmark: ``autoj-pairwise``, ``mt-bench``, ``vicuna``, ``hhh-alignment``, ``custom-absolute``,
            ``custom-pairwise``, ``rewardbench``, ``rewardbench-2``, ``judgebench`` or ``rm-bench`` (see
            `reward_judge.eval.datasets`).
        data: the benchmark file.
        reward_model: a `GenerativeRewardModel`; it judges through ``score`` (batching, cache, retries,
            every backend and mode). A pairwise protocol judges pairwise sets in both orders; a
            single-response protocol scores each response (the higher one wins).
        predictions: a prediction file to replay instead of judging (what ``report_dir`` holds after a
            judged run, or Auto-J's ``{"output": 0|1|2}`` lines); ``predictions_swapped``: the verdicts on
            the swapped pairs, for pairwise sets.
        limit: judge only this many items, spread evenly over the file.
        runs: score each item this many times (absolute sets and HHH-alignment; the mean is used).
        json_out: write the metrics as JSON here.
        report_dir: write ``report.md``, its PNG plots, ``metrics.json`` and, for a judged run, the
            prediction files here.
        label_range: ``(low, high)`` every label of ``custom-absolute`` must lie in.
        chunk_size: items per ``score`` call; a run interrupted between chunks resumes from the cache.
        progress: called as ``progress(answers_done, answers_planned)`` after each ``score`` call.
        order: how the leaderboard benchmarks show a pair: ``"random"`` (a draw per item from the judge's
            ``seed``; RewardBench's way, the default there and on RM-Bench) or ``"both"`` (both orders;
            JudgeBench's default), or ``"shown"`` (JudgeBench's single game).

    Example:
        >>> from reward_judge import GenerativeRewardModel                                  # doctest: +SKIP
        >>> rm = GenerativeRewardModel.from_pretrained("default", protocol="prometheus-v2-relative",
        ...                                            mode="direct")                       # doctest: +SKIP
        >>> report = evaluate("autoj-pairwise", "testdata_pairwise.jsonl", rm, limit=8)     # doctest: +SKIP
        >>> report.overall["agreement"], report.overall["consistency"]                      # doctest: +SKIP
    """
    spec = get_benchmark(benchmark)
    if (reward_model is None) == (predictions is None):
        raise ValueError("pass reward_model= to judge the benchmark, or predictions= to replay saved verdicts (not both)")
    if predictions_swapped is not None and predictions is None:
        raise ValueError("predictions_swapped= needs predictions= (the verdicts on the pairs as shown)")
    if predictions_swapped is not None and spec.kind != "pairwise":
        raise ValueError(f"predictions_swapped= applies to pairwise benchmarks, not to {benchmark!r}")
    _positive("limit", limit, allow_none=True)
    _positive("runs", runs)
    _positive("chunk_size", chunk_size)
    if predictions is not None and runs != 1:
        raise ValueError(f"runs={runs} applies when judging; replayed predictions bring their own runs ('scores' lists)")
    leaderboard = spec.kind in LEADERBOARDS
    if leaderboard and runs != 1:
        raise ValueError(f"runs={runs} does not apply to {benchmark!r}: its authors judge each item once")
    if leaderboard and predictions_swapped is not None:
        raise ValueError(f"predictions_swapped= does not apply to {benchmark!r}: its predictions hold both orders")
    if order is not None and not leaderboard:
        raise ValueError(f"order={order!r} applies to rewardbench, rewardbench-2, judgebench and rm-bench, "
                         f"not to {benchmark!r}")
    if order is not None:
        check_order(benchmark, order)
    every = spec.read(data, label_range)
    selected = spread_selection(len(every), limit)
    items = [every[k] for k in selected]
    judge = None
    judge_range = label_range
    seconds: Optional[float] = None
    reasons: dict[str, int] = {}
    if reward_model is not None:
        judge = describe_judge(reward_model)
        judge_range = getattr(reward_model.protocol, "score_range", None)
        logger.info("judging %d items of %s with %s", len(items), benchmark, judge["name"])
        run = judge_items(reward_model, spec.kind, items, runs=runs, chunk_size=chunk_size, progress=progress,
                          order=order)
        records, swapped, seconds = run.records, run.swapped, run.seconds
        reasons = dict(run.failure_reasons.most_common(5))
    else:
        records = read_predictions(predictions, spec.kind, len(every), selected)  # type: ignore[arg-type]
        swapped = (read_predictions(predictions_swapped, "pairwise", len(every), selected)
                   if predictions_swapped is not None else None)
    figures = (score_leaderboard(benchmark, items, records) if leaderboard
               else score_records(spec, items, records, swapped, judge_range))
    if reward_model is not None and getattr(reward_model.protocol, "uses_rubric", False) \
            and any(getattr(item, "rubric", None) is not None for item in items):
        figures.notes.append("The judge read each item's own score rubric from the data; its default rubric served "
                             "items without one.")
    judging = dict(figures.judging, judge_seconds=seconds, failure_reasons=reasons)
    report = EvalReport(
        benchmark=benchmark, kind=spec.kind, data=str(data), n=len(items), overall=figures.overall,
        groups=figures.groups, judging=judging, method=figures.method,
        source="judged" if reward_model is not None else "replayed", judge=judge, limit=limit, runs=runs,
        calibration=figures.calibration, notes=figures.notes, details=figures.details,
    )
    if predictions is not None:
        report.predictions["predictions"] = str(predictions)
        if predictions_swapped is not None:
            report.predictions["predictions_swapped"] = str(predictions_swapped)
    if report_dir is not None:
        directory = Path(report_dir)
        if reward_model is not None:
            report.predictions["predictions"] = str(write_predictions(directory / "predictions.jsonl", records))
            if swapped is not None:
                report.predictions["predictions_swapped"] = str(
                    write_predictions(directory / "predictions_swapped.jsonl", swapped))
        report.files.update(write_report(report, directory))
        report.files["metrics"] = str(directory / "metrics.json")
    if json_out is not None:
        report.files["json"] = str(json_out)
        report.write_json(json_out)
    if report_dir is not None:
        report.write_json(Path(report_dir) / "metrics.json")
    return report
