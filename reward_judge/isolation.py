"""Failure isolation: a backend error on some inputs never loses the answers of the others."""

from __future__ import annotations

import logging
from typing import Optional, Sequence

from .backends.base import GenerationParams, JudgeBackend

logger = logging.getLogger(__name__)


def generate_isolated(backend: JudgeBackend, texts: Sequence[str], params: GenerationParams, *,
                      add_special_tokens: bool) -> tuple[list[str], list[Optional[str]]]:
    """(outputs, errors), one each per text, in input order; ``errors[i]`` is ``None`` on success.

    When ``backend.generate`` raises, the inputs are split in halves and each half is tried again,
    down to single inputs; an input that still fails alone gets an error message and an empty
    output. A call where nothing fails costs exactly one ``generate``.

    Example:
        >>> generate_isolated(backend, ["a", "b"], GenerationParams(8), add_special_tokens=False)  # doctest: +SKIP
        (['...', '...'], [None, None])
    """
    outputs: list[str] = [""] * len(texts)
    errors: list[Optional[str]] = [None] * len(texts)
    _run(backend, list(texts), list(range(len(texts))), params, add_special_tokens, outputs, errors)
    return outputs, errors


def _run(backend, texts, index, params, add_special_tokens, outputs, errors) -> None:
    if not index:
        return
    try:
        answers = backend.generate([texts[i] for i in index], params, add_special_tokens=add_special_tokens)
        if len(answers) != len(index):
            raise RuntimeError(f"backend returned {len(answers)} answers for {len(index)} inputs")
    except Exception as exc:  # the judge failing must not lose the batch: it becomes per-sample failures
        if len(index) == 1:
            logger.warning("judge backend failed on input %d: %s: %s", index[0], type(exc).__name__, exc)
            errors[index[0]] = f"judge backend error: {type(exc).__name__}: {exc}"
            return
        logger.warning("judge backend failed on %d inputs (%s: %s): retrying in halves", len(index),
                       type(exc).__name__, exc)
        half = len(index) // 2
        _run(backend, texts, index[:half], params, add_special_tokens, outputs, errors)
        _run(backend, texts, index[half:], params, add_special_tokens, outputs, errors)
        return
    for i, answer in zip(index, answers):
        outputs[i] = answer
