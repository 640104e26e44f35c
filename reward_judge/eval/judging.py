"""Running a reward model over benchmark items, through its public ``score`` method only.

Everything a reward model does in training (batching, the cache, retries, fallbacks, every backend and
scoring mode) applies here unchanged. Items are judged a chunk at a time, so with a cache file
(``cache="eval.sqlite"``) an interrupted run resumes where it stopped: the verdicts it already has come
back from the cache (``mode="generate"``, the mode that pays for decoding).

- Pairwise sets with a pairwise judge: every pair is judged twice, as shown and with the responses
  exchanged (``rm.score(prompts, first, completions_b=second)`` and the reverse).
- Pairwise sets with a single-response judge: each response is scored alone; the higher score wins.
- Absolute sets: each item is scored ``runs`` times (separate calls, so identical inputs are not merged;
  a sampled judge decodes run ``run`` with seed ``seed + run``, on the same loaded weights).
- HHH-alignment: the chosen and the rejected response are each scored ``runs`` times.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

from ..result import JudgeResult
from .leaderboard_judging import ORDERS, check_order, judge_leaderboard, ties_model
from .predictions import absolute_record, pair_record, preference_record, single_pair_record

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (answers done, answers planned)


@dataclass
class JudgeRun:
    """What judging produced: the prediction records and how the judging went."""

    records: list[dict[str, Any]]
    swapped: Optional[list[dict[str, Any]]] = None
    seconds: float = 0.0
    failure_reasons: Counter = field(default_factory=Counter)


def pairwise_judge(rm: Any) -> bool:
    """Whether the reward model's protocol compares two responses."""
    return bool(getattr(rm.protocol, "pairwise", False))


def planned_answers(kind: str, n_items: int, runs: int) -> int:
    """How many judge answers a run asks for (for a progress bar's total; leaderboards count items)."""
    if kind in ORDERS:
        return n_items
    if kind == "pairwise":
        return 2 * n_items
    if kind == "preference":
        return 2 * n_items * runs
    return n_items * runs


def _columns(rm: Any, items: Sequence[Any]) -> dict[str, Any]:
    """The per-row reference and rubric, only for the slots the judge's protocol has."""
    protocol = rm.protocol
    columns: dict[str, Any] = {}
    if getattr(protocol, "reference_slot", "none") != "none":
        references = [getattr(item, "reference", None) for item in items]
        if any(r is not None for r in references):
            columns["reference"] = references
    if getattr(protocol, "uses_rubric", False):
        rubrics = [getattr(item, "rubric", None) for item in items]
        if any(r is not None for r in rubrics):
            columns["rubric"] = rubrics
    return columns


def run_models(rm: Any, runs: int) -> list[Any]:
    """One reward model per run. Sampled judging gets seed ``seed + run`` in run ``run`` (on the same loaded
    judge): with one fixed seed every run would draw the same answers."""
    config = getattr(rm, "config", None)
    if runs == 1 or not getattr(config, "do_sample", False):
        return [rm] * runs
    from ..reward_model import GenerativeRewardModel

    if not isinstance(rm, GenerativeRewardModel):
        logger.warning("runs=%d: %s is not a GenerativeRewardModel, its runs keep its own seed", runs, type(rm).__name__)
        return [rm] * runs
    return [rm] + [rm.with_options(seed=config.seed + run)
                   for run in range(1, runs)]


class _Clock:
    def __init__(self, total: int, progress: Optional[Progress]):
        self.total, self.done, self.seconds, self.progress = total, 0, 0.0, progress
        self.reasons: Counter = Counter()
        if progress is not None:  # the total is known before the first (slow) judge call
            progress(0, total)

    def score(self, rm: Any, *args: Any, **kwargs: Any) -> list[JudgeResult]:
        started = time.perf_counter()
        results = rm.score(*args, **kwargs)
        self.seconds += time.perf_counter() - started
        self.done += len(results)
        self.reasons.update(r.error for r in results if not r.ok and r.error)
        if self.progress is not None:
            self.progress(self.done, self.total)
        return results


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def judge_items(rm: Any, kind: str, items: Sequence[Any], *, runs: int = 1, chunk_size: int = 32,
                progress: Optional[Progress] = None, order: Optional[str] = None) -> JudgeRun:
    """Judge ``items`` of a benchmark of ``kind`` with the reward model ``rm``; records in item order.

    ``order`` applies to the leaderboard benchmarks (`reward_judge.eval.leaderboard_judging.ORDERS`).
    """
    if kind in ORDERS:
        return _judge_leaderboard(rm, kind, items, chunk_size, progress, order)
    pairwise = pairwise_judge(rm)
    if kind != "pairwise" and pairwise:
        raise ValueError(f"this benchmark scores single responses, but the judge's protocol {rm.protocol.name!r} "
                         "compares two: pass a single-response protocol (e.g. protocol='prometheus-v2')")
    if runs > 1 and kind == "pairwise":
        raise ValueError(f"runs={runs}: several runs apply to absolute and hhh-alignment benchmarks, "
                         "pairwise sets are judged once in each order")
    if runs > 1 and not getattr(rm.config, "do_sample", False):
        logger.warning("runs=%d with greedy decoding: every run repeats the same verdicts", runs)
    models = run_models(rm, runs)
    clock = _Clock(planned_answers(kind, len(items), runs), progress)
    records: list[dict[str, Any]] = []
    swapped: list[dict[str, Any]] = []
    for chunk in _chunks(items, chunk_size):
        prompts = [item.prompt for item in chunk]
        columns = _columns(rm, chunk)
        if kind == "pairwise" and pairwise:
            first = [item.response_a for item in chunk]
            second = [item.response_b for item in chunk]
            shown = clock.score(rm, prompts, first, completions_b=second, **columns)
            exchanged = clock.score(rm, prompts, second, completions_b=first, **columns)
            records += [pair_record(item.index, r) for item, r in zip(chunk, shown, strict=True)]
            swapped += [pair_record(item.index, r) for item, r in zip(chunk, exchanged, strict=True)]
        elif kind == "pairwise":
            both = {name: value + value for name, value in columns.items()}
            results = clock.score(rm, prompts + prompts, [i.response_a for i in chunk] + [i.response_b for i in chunk],
                                  **both)
            n = len(chunk)
            records += [single_pair_record(item.index, results[k], results[n + k]) for k, item in enumerate(chunk)]
        elif kind == "absolute":
            per_run = [clock.score(model, prompts, [item.response for item in chunk], **columns) for model in models]
            records += [absolute_record(item.index, [results[k] for results in per_run]) for k, item in enumerate(chunk)]
        elif kind == "preference":
            both = {name: value + value for name, value in columns.items()}
            per_run = [clock.score(model, prompts + prompts, [i.chosen for i in chunk] + [i.rejected for i in chunk], **both)
                       for model in models]
            n = len(chunk)
            records += [preference_record(item.index, [r[k] for r in per_run], [r[n + k] for r in per_run])
                        for k, item in enumerate(chunk)]
        else:
            raise ValueError(f"unknown benchmark kind {kind!r}")
    return JudgeRun(records, swapped if kind == "pairwise" and pairwise else None, clock.seconds, clock.reasons)


def _judge_leaderboard(rm: Any, kind: str, items: Sequence[Any], chunk_size: int, progress: Optional[Progress],
                       order: Optional[str]) -> JudgeRun:
    """RewardBench, RewardBench 2, JudgeBench or RM-Bench items, a chunk at a time (progress counts items)."""
    check_order(kind, order)
    clock = _Clock(len(items), None)
    ties_rm = ties_model(rm) if kind == "rewardbench-2" and any(getattr(i, "ties", False) for i in items) else None
    if progress is not None:
        progress(0, len(items))
    records: list[dict[str, Any]] = []
    for chunk in _chunks(items, chunk_size):
        records += judge_leaderboard(kind, rm, clock.score, chunk, order, ties_rm)
        if progress is not None:
            progress(len(records), len(items))
    return JudgeRun(records, None, clock.seconds, clock.reasons)
