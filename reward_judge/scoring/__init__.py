"""Scorers: how a judge request becomes a verdict, one per scoring mode (``generate``, ``expected``, ``direct``).

Everything around a scorer (cache, deduplication, failure isolation, retries, counters) is the same
for every mode and lives in `reward_judge.pipeline`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Judgment, Scorer, generation_params
from .distribution import DirectScorer, DistributionScorer, ExpectedScorer
from .generate import GenerateScorer

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import JudgeBackend
    from ..config import JudgeConfig

SCORERS: dict[str, type[Scorer]] = {cls.mode: cls for cls in (GenerateScorer, ExpectedScorer, DirectScorer)}


def scorer_for(mode: str) -> type[Scorer]:
    if mode not in SCORERS:
        raise ValueError(f"mode={mode!r} is not one of {tuple(SCORERS)}")
    return SCORERS[mode]


def make_scorer(backend: "JudgeBackend", config: "JudgeConfig") -> Scorer:
    """The scorer of ``config.mode`` on ``backend``; refuses a backend that cannot serve that mode."""
    cls = scorer_for(config.mode)
    cls.check_backend(backend)
    return cls(backend, config)


__all__ = ["DirectScorer", "DistributionScorer", "ExpectedScorer", "GenerateScorer", "Judgment", "SCORERS", "Scorer",
           "generation_params", "make_scorer", "scorer_for"]
