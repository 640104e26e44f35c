"""Failure isolation: a backend failure on some inputs never loses the answers of the others.

Only a failure of the judge backend is isolated: `reward_judge.backends.base.is_backend_failure` (a
`BackendError` such as an HTTP endpoint that failed for good, out of memory, a timeout or a lost
connection). Anything else raised inside a judge call (a ``TypeError``, a ``KeyError``...) is a bug
and raises: turned into per-row failures it would become ``None`` rewards, which TRL drops as NaN
without a word.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

from .backends.base import BackendError, is_backend_failure
from .verdicts import Judgment

logger = logging.getLogger(__name__)

T = TypeVar("T")


def isolated(call: Callable[[list[T]], list[Judgment]], items: Sequence[T]) -> list[Judgment]:
    """``call(items)``, or, when the backend fails, the same call on halves down to single items.

    An item that still fails alone gets a `Judgment` marked ``backend_error`` whose error names the
    exception. A call where nothing fails costs exactly one call. Results are in input order. An
    exception that is not a backend failure propagates at once.

    Example:
        >>> def judge(items):
        ...     if "bad" in items:
        ...         raise BackendError("HTTP 500 from the judge server")
        ...     return [Judgment.failure("not judged") for _ in items]
        >>> [j.backend_error for j in isolated(judge, ["a", "bad", "c"])]
        [False, True, False]
        >>> isolated(lambda items: [][0], ["a"])
        Traceback (most recent call last):
        ...
        IndexError: list index out of range
    """
    items = list(items)
    if not items:
        return []
    try:
        judgments = call(items)
        if len(judgments) != len(items):
            raise BackendError(f"the judge returned {len(judgments)} answers for {len(items)} inputs")
        return judgments
    except Exception as exc:
        if not is_backend_failure(exc):
            raise
        if len(items) == 1:
            logger.warning("judge backend failed on one input: %s: %s", type(exc).__name__, exc)
            return [Judgment.failure(f"judge backend error: {type(exc).__name__}: {exc}", backend_error=True)]
        logger.warning("judge backend failed on %d inputs (%s: %s): retrying in halves", len(items),
                       type(exc).__name__, exc)
        half = len(items) // 2
        return isolated(call, items[:half]) + isolated(call, items[half:])
