"""Scorers: how a judge request becomes a verdict, one per scoring mode (``generate``, ``expected``, ``direct``,
``cascade``).

Everything around a scorer (cache, deduplication, failure isolation, retries, counters) is the same
for every mode and lives in `reward_judge.runner`.
"""

from __future__ import annotations

from .base import AttemptPlan, Scorer
from .cascade import CASCADE_MEASURES, CascadeScorer, Escalation
from .distribution import DirectScorer, DistributionScorer, ExpectedScorer
from .generate import GenerateScorer

SCORERS: dict[str, type[Scorer]] = {cls.mode: cls
                                    for cls in (GenerateScorer, ExpectedScorer, DirectScorer, CascadeScorer)}
#: The scoring modes, in the order the documentation lists them.
MODES: tuple[str, ...] = tuple(SCORERS)


def scorer_for(mode: str) -> type[Scorer]:
    """The scorer class of ``mode``; ``ValueError`` naming the modes otherwise."""
    if mode not in SCORERS:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    return SCORERS[mode]


__all__ = ["AttemptPlan", "CASCADE_MEASURES", "CascadeScorer", "DirectScorer", "DistributionScorer", "Escalation",
           "ExpectedScorer", "GenerateScorer", "MODES", "SCORERS", "Scorer", "scorer_for"]
