"""From a judge's verdict to the reward a trainer gets: normalisation, or the declared fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

from .normalize import Normalization, normalize_score, normalize_winner
from .result import JudgeResult

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import JudgeProtocol
    from .verdicts import Judgment

#: ``fallback="raise"``: the reward model raises `JudgeFailure` when some rollouts got no valid answer.
FALLBACK_RAISE = "raise"

Fallback = Union[None, float, str]


@dataclass(frozen=True)
class RewardRule:
    """How a verdict becomes a reward: the normalisation, and the reward when there is no valid verdict.

    Example:
        >>> RewardRule("linear", fallback=0.0).fallback_reward(), RewardRule().fallback_reward()
        (0.0, None)
    """

    normalize: Normalization = "linear"
    fallback: Fallback = None

    def fallback_reward(self) -> Optional[float]:
        """The reward of a rollout without a valid verdict (``None`` for ``None`` and ``"raise"``)."""
        return None if self.fallback is None or self.fallback == FALLBACK_RAISE else float(self.fallback)


def to_result(judgment: "Judgment", protocol: "JudgeProtocol", rule: RewardRule, *, mode: str, cached: bool = False,
              truncated: int = 0) -> JudgeResult:
    """The `JudgeResult` of one judgment: the verdict normalised into a reward, or the declared fallback.

    A pure function: the same judgment and settings always give the same result. With a distribution
    over winners (``extra["winner_distribution"]``), a pairwise reward is the expected reward of the
    first response (P(A) + 0.5 P(tie) when linear).
    With ``fallback="raise"`` the reward here is ``None``; the reward model raises after building results.

    Example:
        >>> from reward_judge import Judgment, Verdict, get_protocol
        >>> to_result(Judgment(Verdict(score=4), raw="[RESULT] 4", attempts=1), get_protocol("prometheus-v2"),
        ...           RewardRule("linear"), mode="generate").reward
        0.75
    """
    verdict = judgment.verdict
    result = JudgeResult(score=verdict.score, winner=verdict.winner, feedback=verdict.feedback, raw=judgment.raw,
                         ok=verdict.ok, attempts=judgment.attempts, cached=cached, truncated=truncated,
                         error=verdict.error, distribution=dict(judgment.distribution) if judgment.distribution else None,
                         extra={"mode": mode, **dict(judgment.extra)})
    if verdict.score is not None:
        result.reward = normalize_score(verdict.score, protocol.score_range, rule.normalize)  # type: ignore[arg-type]
    elif verdict.winner is not None:
        by_winner = judgment.extra.get("winner_distribution")
        if by_winner:
            result.reward = sum(p * normalize_winner(winner, rule.normalize) for winner, p in by_winner.items())
        else:
            result.reward = normalize_winner(verdict.winner, rule.normalize)
    else:
        result.fallback = True
        result.reward = rule.fallback_reward()
    return result

