"""Normalisation: from a judge's score on its own scale to the scalar reward a trainer gets."""

from __future__ import annotations

from typing import Callable, Optional, Union

Normalization = Union[str, Callable[[float], float]]
NORMALIZATIONS = ("linear", "centered", "none")

_PAIRWISE = {"A": 1.0, "B": 0.0, "tie": 0.5}


def normalize_score(
    score: float, score_range: tuple[float, float], normalization: Normalization = "linear"
) -> float:
    """Map ``score`` to a reward.

    ``"linear"`` maps the protocol's range onto [0, 1], ``"centered"`` onto [-1, 1], ``"none"``
    returns the raw score, and a callable gets the raw score and returns the reward.

    Example:
        >>> normalize_score(4, (1, 5)), normalize_score(4, (1, 5), "centered")
        (0.75, 0.5)
    """
    if callable(normalization):
        return float(normalization(score))
    low, high = score_range
    if normalization == "linear":
        return (float(score) - low) / (high - low)
    if normalization == "centered":
        return 2.0 * (float(score) - low) / (high - low) - 1.0
    if normalization == "none":
        return float(score)
    raise ValueError(f"normalize={normalization!r} is not one of {NORMALIZATIONS} or a callable")


def normalize_winner(winner: str, normalization: Normalization = "linear") -> float:
    """Reward of the first response (A) in a pairwise verdict: 1 win, 0 loss, 0.5 tie (linear).

    ``"centered"`` gives 1 / -1 / 0; a callable receives the linear value.
    """
    value = _PAIRWISE[winner]
    if callable(normalization):
        return float(normalization(value))
    if normalization == "centered":
        return 2.0 * value - 1.0
    if normalization in ("linear", "none"):
        return value
    raise ValueError(f"normalize={normalization!r} is not one of {NORMALIZATIONS} or a callable")


def check_normalization(normalization: Optional[Normalization]) -> Normalization:
    if normalization is None:
        return "linear"
    if callable(normalization) or normalization in NORMALIZATIONS:
        return normalization
    raise ValueError(f"normalize={normalization!r} is not one of {NORMALIZATIONS} or a callable")
