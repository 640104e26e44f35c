"""What a judge said: a protocol's `Verdict`, the scorer's `Judgment` around it, and the runner's `Outcome`.

These three are the currency of the scoring stages (scorers, the judge runner, failure isolation, group
rewards, rewarding), so they sit below all of them and import nothing of the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

Winner = Literal["A", "B", "tie"]


@dataclass(frozen=True)
class Verdict:
    """What a protocol read out of one judge answer.

    ``score`` is set for single-response protocols, ``winner`` for pairwise ones; both are
    ``None`` when the answer holds no valid verdict, and ``error`` then says why.

    Example:
        >>> from reward_judge import get_protocol
        >>> v = get_protocol("prometheus-v2").parse("Clear and correct. [RESULT] 4")
        >>> v.score, v.feedback
        (4, 'Clear and correct.')
    """

    score: Optional[float] = None
    winner: Optional[Winner] = None
    feedback: str = ""
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.score is not None or self.winner is not None


@dataclass(frozen=True)
class Judgment:
    """What the judge said about one request: the verdict and how it was obtained.

    ``backend_error`` marks a judgment where the backend itself failed (no answer at all);
    ``retryable`` says whether asking again can change a failed verdict (a deterministic read of the
    same distribution cannot).

    Example:
        >>> Judgment(Verdict(score=4, feedback="Good."), raw="Good. [RESULT] 4").ok
        True
        >>> Judgment.failure("no answer marker").error
        'no answer marker'
    """

    verdict: Verdict
    raw: str = ""
    attempts: int = 0
    distribution: Optional[dict[str, float]] = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    backend_error: bool = False
    retryable: bool = True

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def error(self) -> Optional[str]:
        return self.verdict.error

    @classmethod
    def failure(cls, error: str, *, raw: str = "", backend_error: bool = False, retryable: bool = True) -> "Judgment":
        return cls(Verdict(error=error), raw=raw, backend_error=backend_error, retryable=retryable)

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable record for the cache (only valid judgments are stored)."""
        return {"score": self.verdict.score, "winner": self.verdict.winner, "feedback": self.verdict.feedback,
                "raw": self.raw, "attempts": self.attempts, "distribution": self.distribution,
                "extra": json.loads(json.dumps(dict(self.extra)))}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Judgment":
        verdict = Verdict(score=record["score"], winner=record["winner"], feedback=record["feedback"])
        return cls(verdict, raw=record["raw"], attempts=record["attempts"], distribution=record.get("distribution"),
                   extra=record.get("extra") or {})


@dataclass(frozen=True)
class Outcome:
    """A request's judgment and whether the cache served it.

    Example:
        >>> Outcome(Judgment(Verdict(score=3)), cached=True).cached
        True
    """

    judgment: Judgment
    cached: bool = False
