"""``cascade`` mode: a direct read of every rollout, and the judge's reasoning only where that read is unsure.

Every request is first scored as in ``direct`` (one forward pass to the answer slot). When the answer
distribution is uncertain (its top answer's probability, or one minus its normalised entropy, below the
threshold), the request is escalated: the judge writes its feedback and the score is read after it, as in
``expected``. Both go through the same backend, inside the judge runner's cache, deduplication, retries
and failure isolation. Each judgment records in ``extra["cascade"]`` whether it was escalated, the
confidence of the direct read, and both scores where both exist; the runner counts the escalations
(`JudgeStats.escalation_rate`).

Threshold 0 never escalates (every result is the direct one), threshold 1 escalates every request (every
result is the expected one, with the direct score beside it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..backends.base import ANSWER_LOGPROBS, GENERATE
from ..isolation import isolated
from ..verdicts import Judgment
from .base import AttemptPlan, Scorer
from .distribution import DirectScorer, ExpectedScorer

if TYPE_CHECKING:  # pragma: no cover
    from ..rendering import JudgeRequest
    from ..stats import JudgeStats

TOP_PROBABILITY = "top_probability"
ENTROPY = "entropy"
#: How sure a direct read is: the top answer's probability, or 1 - entropy / log(number of answers).
CASCADE_MEASURES = (TOP_PROBABILITY, ENTROPY)


@dataclass(frozen=True)
class Escalation:
    """When a direct read is escalated: its confidence (by ``measure``) is below ``threshold``.

    A direct read without a distribution (the judge put no mass on any valid answer) has confidence 0.
    ``threshold=0`` escalates nothing and ``threshold=1`` everything.

    Example:
        >>> rule = Escalation(threshold=0.6)
        >>> rule.confidence({"1": 0.1, "2": 0.5, "3": 0.4}), rule.escalates(0.5)
        (0.5, True)
        >>> round(Escalation(0.6, "entropy").confidence({"1": 0.5, "2": 0.5}), 3)
        0.0
    """

    threshold: float = 0.5
    measure: str = TOP_PROBABILITY

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0 <= self.threshold <= 1:
            raise ValueError(f"cascade_threshold must be a number in [0, 1], got {self.threshold!r}")
        if self.measure not in CASCADE_MEASURES:
            raise ValueError(f"cascade_measure={self.measure!r} is not one of {CASCADE_MEASURES}")

    def confidence(self, distribution: Optional[dict[str, float]]) -> float:
        """How sure the direct read is, in [0, 1]."""
        if not distribution:
            return 0.0
        probs = list(distribution.values())
        if self.measure == TOP_PROBABILITY:
            return max(probs)
        if len(probs) < 2:
            return 1.0
        entropy = -sum(p * math.log(p) for p in probs if p > 0)
        return min(1.0, max(0.0, 1.0 - entropy / math.log(len(probs))))

    def escalates(self, confidence: float) -> bool:
        return self.threshold >= 1 or confidence < self.threshold


class CascadeScorer(Scorer):
    """``cascade``: `DirectScorer` on every request, `ExpectedScorer` on the uncertain ones (`Escalation`).

    Example:
        >>> scorer = CascadeScorer(backend, AttemptPlan(), Escalation(threshold=0.7))   # doctest: +SKIP
        >>> [j.extra["cascade"]["escalated"] for j in scorer.attempt(requests, 0)]      # doctest: +SKIP
        [False, True, False]
    """

    mode = "cascade"
    needs = ANSWER_LOGPROBS

    def __init__(self, backend: Any, plan: AttemptPlan, escalation: Escalation = Escalation()):
        super().__init__(backend, plan)
        self.escalation = escalation
        self.direct = DirectScorer(backend, plan)
        self.expected = ExpectedScorer(backend, plan)

    @classmethod
    def _refuse_unless(cls, capabilities: frozenset[str], backend: str) -> None:
        for needed in (ANSWER_LOGPROBS, GENERATE):  # a direct read, and the expected mode's feedback
            if needed not in capabilities:
                raise ValueError(
                    f"backend {backend!r} cannot serve mode='cascade': it cannot "
                    f"{'read answer log-probabilities' if needed == ANSWER_LOGPROBS else 'generate'} "
                    f"(it can: {', '.join(sorted(capabilities))}); use mode='generate'")

    @classmethod
    def check_protocol(cls, protocol: Any) -> None:
        DirectScorer.check_protocol(protocol)

    @property
    def samples(self) -> bool:
        return self.expected.samples  # an escalated request's feedback may be sampled

    def samples_on(self, attempt: int) -> bool:
        return self.expected.samples_on(attempt)  # only escalated reads are retried

    def cache_fields(self) -> dict[str, Any]:
        # the escalation rule decides which of two verdicts a request gets: it is part of the verdict's key
        return {**self.expected.cache_fields(), "mode": self.mode, "cascade_threshold": float(self.escalation.threshold),
                "cascade_measure": self.escalation.measure}

    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        direct = self.direct.attempt(requests, attempt)  # deterministic: the same read on a retry
        confidence = [self.escalation.confidence(j.distribution if j.ok else None) for j in direct]
        escalated = [k for k, c in enumerate(confidence) if self.escalation.escalates(c)]
        # a backend failure of the escalated read fails only its own rows, each keeping its direct read in the record
        # (raised out of the whole attempt, it would lose the record and re-read every direct row of the batch)
        expected = dict(zip(escalated, isolated(lambda batch: self.expected.attempt(batch, attempt),
                                                [requests[k] for k in escalated]), strict=True))
        judgments = []
        for k, (first, sure) in enumerate(zip(direct, confidence, strict=True)):
            final = expected.get(k, first)
            field = "winner" if requests[k].protocol.pairwise else "score"
            record: dict[str, Any] = {"escalated": k in expected, "confidence": sure,
                                      "measure": self.escalation.measure, "threshold": float(self.escalation.threshold),
                                      f"direct_{field}": getattr(first.verdict, field),
                                      "direct_distribution": first.distribution}
            if k in expected:
                record[f"expected_{field}"] = getattr(final.verdict, field)
            judgments.append(Judgment(final.verdict, raw=final.raw, attempts=final.attempts,
                                      distribution=final.distribution, extra={**final.extra, "cascade": record},
                                      backend_error=final.backend_error, retryable=final.retryable))
        return judgments

    def tally(self, judgments: Sequence[Judgment], stats: "JudgeStats") -> None:
        for judgment in judgments:
            record = judgment.extra.get("cascade")
            if record is not None:
                stats.cascade_reads += 1
                stats.escalations += bool(record["escalated"])
