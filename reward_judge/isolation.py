"""Failure isolation: a backend error on some inputs never loses the answers of the others."""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

from .verdicts import Judgment

logger = logging.getLogger(__name__)

T = TypeVar("T")


def isolated(call: Callable[[list[T]], list[Judgment]], items: Sequence[T]) -> list[Judgment]:
    """``call(items)``, or, when it raises, the same call on halves down to single items.

    An item that still fails alone gets a `Judgment` marked ``backend_error`` whose error names the
    exception. A call where nothing fails costs exactly one call. Results are in input order.

    Example:
        >>> def judge(items):
        ...     if "bad" in items:
        ...         raise RuntimeError("boom")
        ...     return [Judgment.failure("not judged") for _ in items]
        >>> [j.backend_error for j in isolated(judge, ["a", "bad", "c"])]
        [False, True, False]
    """
    items = list(items)
    if not items:
        return []
    try:
        judgments = call(items)
        if len(judgments) != len(items):
            raise RuntimeError(f"the judge returned {len(judgments)} answers for {len(items)} inputs")
        return judgments
    except Exception as exc:  # the judge failing must not lose the batch: it becomes per-input failures
        if len(items) == 1:
            logger.warning("judge backend failed on one input: %s: %s", type(exc).__name__, exc)
            return [Judgment.failure(f"judge backend error: {type(exc).__name__}: {exc}", backend_error=True)]
        logger.warning("judge backend failed on %d inputs (%s: %s): retrying in halves", len(items),
                       type(exc).__name__, exc)
        half = len(items) // 2
        return isolated(call, items[:half]) + isolated(call, items[half:])
