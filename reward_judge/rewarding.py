"""From a judge's verdict to the reward a trainer gets: normalisation, or the declared fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from .normalize import Normalization, normalize_score, normalize_winner
from .result import JudgeResult

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import JudgeProtocol
    from .scoring.base import Judgment


def to_result(judgment: "Judgment", protocol: "JudgeProtocol", *, normalize: Normalization,
              fallback: Union[None, float, str], mode: str, cached: bool = False, truncated: int = 0) -> JudgeResult:
    """The `JudgeResult` of one judgment: the verdict normalised into a reward, or the declared fallback.

    A pure function: the same judgment and settings always give the same result. With a distribution
    over winners (``extra["winner_distribution"]``), a pairwise reward is the expected reward of the
    first response (P(A) + 0.5 P(tie) when linear).
    ``fallback`` is ``None``, a number, or ``"raise"`` (the reward model raises after building results;
    here the reward is ``None``).

    Example:
        >>> from reward_judge import get_protocol
        >>> from reward_judge.scoring import Judgment
        >>> from reward_judge import Verdict
        >>> to_result(Judgment(Verdict(score=4), raw="[RESULT] 4", attempts=1), get_protocol("prometheus-v2"),
        ...           normalize="linear", fallback=None, mode="generate").reward
        0.75
    """
    verdict = judgment.verdict
    result = JudgeResult(score=verdict.score, winner=verdict.winner, feedback=verdict.feedback, raw=judgment.raw,
                         ok=verdict.ok, attempts=judgment.attempts, cached=cached, truncated=truncated,
                         error=verdict.error, distribution=dict(judgment.distribution) if judgment.distribution else None,
                         extra={"mode": mode, **dict(judgment.extra)})
    if verdict.score is not None:
        result.reward = normalize_score(verdict.score, protocol.score_range, normalize)  # type: ignore[arg-type]
    elif verdict.winner is not None:
        by_winner = judgment.extra.get("winner_distribution")
        if by_winner:
            result.reward = sum(p * normalize_winner(winner, normalize) for winner, p in by_winner.items())
        else:
            result.reward = normalize_winner(verdict.winner, normalize)
    else:
        result.fallback = True
        result.reward = None if fallback is None or fallback == "raise" else float(fallback)
    return result

