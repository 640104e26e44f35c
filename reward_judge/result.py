"""`JudgeResult`: one judged rollout as a user or a trainer sees it (reward, score, feedback, how it was obtained)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .verdicts import Winner


@dataclass
class JudgeResult:
    """One judged rollout, with everything needed to audit the reward.

    Attributes:
        score: the judge's raw score on the protocol's scale, or ``None`` when no valid
            answer was obtained (pairwise protocols leave it ``None`` and set ``winner``).
        reward: the normalised scalar handed to the trainer, or ``None``.
        feedback: the judge's written feedback (the text before its answer marker).
        raw: the judge's full output of the last attempt.
        ok: whether a valid answer was parsed.
        attempts: how many times the judge was asked.
        cached: whether the result came from the cache.
        fallback: ``True`` when ``reward`` is the declared fallback, not the judge's verdict.
        fallback_cause: why there is no verdict: ``"rollout"`` (the judge could not judge this rollout: no
            readable answer on it, or an input that cannot be cut to fit), ``"backend"`` (the judge never
            answered), ``"no_opponent"`` (a group reward had nothing to compare it with) or ``"unattributed"``
            (its group comparisons failed, and the group cannot tell which of the two texts caused it); ``None``
            with a verdict.
        truncated: response tokens cut to fit the judge's input limit (0: the input was whole).
        error: why the answer is missing, or ``None``.
        winner: ``"A"``, ``"B"`` or ``"tie"`` for pairwise protocols.
        distribution: for score-distribution modes, probability per valid score.

    Example:
        >>> r = JudgeResult(score=4, reward=0.75, feedback="Good.", raw="Good. [RESULT] 4", ok=True)
        >>> r.to_dict()["reward"]
        0.75
    """

    score: Optional[float] = None
    reward: Optional[float] = None
    feedback: str = ""
    raw: str = ""
    ok: bool = False
    attempts: int = 0
    cached: bool = False
    fallback: bool = False
    fallback_cause: Optional[str] = None
    truncated: int = 0
    error: Optional[str] = None
    winner: Optional[Winner] = None
    distribution: Optional[dict[str, float]] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

