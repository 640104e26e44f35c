"""`JudgeStats`: what a reward model has done since it was built (``rm.stats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JudgeStats:
    """Counters since the reward model was built; each means the same thing in every scoring mode.

    Attributes:
        calls: ``score`` calls. rollouts: rollouts received.
        judge_requests: requests sent to the judge, counted once per attempt.
        parse_failures: attempts whose answer held no valid verdict (the backend did answer).
        backend_errors: attempts where the backend failed for that input (counted per input).
        retries: repeated attempts. fallbacks: results that got the declared fallback.
        fallback_causes: those fallbacks by cause (``rollout``: the judge could not judge the rollout itself;
            ``backend``: the judge never answered; ``no_opponent``: a group had nothing to compare it with;
            ``unattributed``: a group could not tell which completion of its failed comparisons caused them).
        duplicates_skipped: rollouts judged once for an identical earlier one in the same call.
        truncated: rollouts whose response was cut to fit. cache_hits: verdicts served by the cache.
        sanitized: rollouts whose text had to change to be tokenisable (lone surrogates became U+FFFD).
        judge_seconds: time spent in judge calls. failure_reasons: why attempts failed, counted.
        comparisons: pairs a group reward compared (pairwise protocols called without ``completions_b``).
        comparisons_failed: pairs left out of the aggregation because an order got no valid verdict.
        comparisons_consistent: pairs whose two orders named the same winner (position consistency).
        rubric_calls_served: reward calls of a `for_rubrics` function answered from the batch another rubric's
            call judged (no judge call of their own). A rollout judged on k rubrics counts k ``rollouts``.
        cascade_reads: rollouts the ``cascade`` mode judged (direct read first; cached results not counted).
        escalations: of those, the ones escalated to ``expected`` (``escalation_rate`` = escalations / cascade_reads).

    Example:
        >>> JudgeStats().as_dict()["judge_requests"]
        0
    """

    calls: int = 0
    rollouts: int = 0
    judge_requests: int = 0
    parse_failures: int = 0
    retries: int = 0
    fallbacks: int = 0
    backend_errors: int = 0
    duplicates_skipped: int = 0
    truncated: int = 0
    sanitized: int = 0
    cache_hits: int = 0
    judge_seconds: float = 0.0
    comparisons: int = 0
    comparisons_failed: int = 0
    comparisons_consistent: int = 0
    rubric_calls_served: int = 0
    cascade_reads: int = 0
    escalations: int = 0
    failure_reasons: Counter = field(default_factory=Counter)
    fallback_causes: Counter = field(default_factory=Counter)

    @property
    def escalation_rate(self) -> float:
        """Share of the cascade's judged rollouts that were escalated to ``expected`` (0.0 before any).

        Example:
            >>> JudgeStats(cascade_reads=8, escalations=2).escalation_rate
            0.25
        """
        return self.escalations / self.cascade_reads if self.cascade_reads else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("failure_reasons", "fallback_causes")}
        data["escalation_rate"] = self.escalation_rate
        data["failure_reasons"] = dict(self.failure_reasons)
        data["fallback_causes"] = dict(self.fallback_causes)
        return data
