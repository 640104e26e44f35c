"""From a judge's verdict to the reward a trainer gets: normalisation, or the declared fallback.

A result without a valid verdict says why (``JudgeResult.fallback_cause``):

- ``"rollout"``: the judge could not judge this rollout because of the rollout itself: it wrote no readable
  answer on it after every attempt (a judge-breaker), or the input cannot be cut to fit;
- ``"backend"``: the judge never answered (the backend failed: out of memory, an HTTP error, an outage);
- ``"no_opponent"``: a group reward had nothing to compare the completion with;
- ``"unattributed"``: a group reward's comparisons of the completion all failed on what the judge read, but
  the group cannot tell whether this completion or its opponent caused it (a pair of two, or a completion
  compared only with others that failed every comparison too).

``fallback="min"`` gives a ``"rollout"`` failure the protocol's lowest reward (after normalisation; for group
rewards the group's lowest value), so text that breaks the judge is never better off than the worst
answer. An ``"unattributed"`` one gets it too: one of the texts broke the judge and the group cannot tell
which, so each of them may have. ``"backend"`` and ``"no_opponent"`` are not the rollout's doing and get
``None`` (left out of TRL's baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

from .normalize import Normalization, normalize_score, normalize_winner
from .result import JudgeResult

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import JudgeProtocol
    from .verdicts import Judgment

#: ``fallback="raise"``: the reward model raises `JudgeFailure` when some rollouts got no valid answer.
FALLBACK_RAISE = "raise"
#: ``fallback="min"``: a rollout the judge could not judge because of the rollout itself gets the lowest reward.
FALLBACK_MIN = "min"

#: Why a result has no verdict (``JudgeResult.fallback_cause``).
CAUSE_ROLLOUT = "rollout"
CAUSE_BACKEND = "backend"
CAUSE_NO_OPPONENT = "no_opponent"
CAUSE_UNATTRIBUTED = "unattributed"
#: The causes where the judge read the rollout and gave no verdict: ``fallback="min"`` gives them the minimum.
JUDGE_READ_CAUSES = (CAUSE_ROLLOUT, CAUSE_UNATTRIBUTED)

Fallback = Union[None, float, str]


@dataclass(frozen=True)
class RewardRule:
    """How a verdict becomes a reward: the normalisation, and the reward when there is no valid verdict.

    Example:
        >>> RewardRule("linear", fallback=0.0).fallback_reward(), RewardRule().fallback_reward()
        (0.0, None)
        >>> RewardRule("centered", fallback="min").fallback_reward(CAUSE_ROLLOUT, lowest=-1.0)
        -1.0
        >>> RewardRule("centered", fallback="min").fallback_reward(CAUSE_BACKEND, lowest=-1.0) is None
        True
    """

    normalize: Normalization = "linear"
    fallback: Fallback = None

    def fallback_reward(self, cause: str = CAUSE_ROLLOUT, *, lowest: Optional[float] = None) -> Optional[float]:
        """The reward of a rollout without a valid verdict, for a failure of ``cause``.

        ``None`` for ``fallback=None`` and ``"raise"``; the number for a number; for ``"min"``, ``lowest`` (the
        lowest reward the protocol or group gives) when the rollout caused it, or may have (``"unattributed"``),
        else ``None``.
        """
        if self.fallback is None or self.fallback == FALLBACK_RAISE:
            return None
        if self.fallback == FALLBACK_MIN:
            if cause not in JUDGE_READ_CAUSES:
                return None
            if lowest is None:
                raise ValueError("fallback='min' needs the lowest reward of the protocol or group")
            return float(lowest)
        return float(self.fallback)

    def lowest_reward(self, protocol: "JudgeProtocol") -> float:
        """The lowest reward ``protocol`` gives under this normalisation (its worst score, or a lost comparison).

        Example:
            >>> from reward_judge import get_protocol
            >>> linear, centered = RewardRule("linear"), RewardRule("centered")
            >>> linear.lowest_reward(get_protocol("prometheus-v2")), centered.lowest_reward(get_protocol("mtbench-pair"))
            (0.0, -1.0)
        """
        if protocol.score_range is None:  # a pairwise verdict: the first response lost, or tied
            return min(normalize_winner(w, self.normalize) for w in ("A", "B", "tie"))
        low, high = protocol.score_range
        scores = {float(low), float(high)}
        if float(high) - float(low) <= 1000:  # a callable normalisation need not be monotone: try each whole score
            scores.update(float(v) for v in range(math.ceil(low), math.floor(high) + 1))
        return min(normalize_score(v, (low, high), self.normalize) for v in scores)


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
    cause = CAUSE_BACKEND if judgment.backend_error else CAUSE_ROLLOUT
    try:
        if verdict.score is not None:
            result.reward = normalize_score(verdict.score, protocol.score_range, rule.normalize)  # type: ignore[arg-type]
        elif verdict.winner is not None:
            by_winner = judgment.extra.get("winner_distribution")
            if by_winner:
                result.reward = sum(p * normalize_winner(winner, rule.normalize) for winner, p in by_winner.items())
            else:
                result.reward = normalize_winner(verdict.winner, rule.normalize)
    except Exception as exc:  # a user's normalize callable: name it rather than fail somewhere inside a trainer
        raise ValueError(f"normalize={rule.normalize!r} raised {type(exc).__name__} on the verdict "
                         f"score={verdict.score!r} winner={verdict.winner!r}: {exc}") from exc
    if result.reward is not None and not math.isfinite(result.reward):
        # never hand a trainer a NaN or an infinity as if it were a verdict: it is a failure, counted as one
        result.error = (f"the reward is not a finite number: {result.reward!r} (score={verdict.score!r}, "
                        f"winner={verdict.winner!r}, normalize={rule.normalize!r})")
        result.ok, result.reward, cause = False, None, CAUSE_BACKEND
    if result.reward is None:
        result.fallback = True
        result.fallback_cause = cause
        lowest = rule.lowest_reward(protocol) if rule.fallback == FALLBACK_MIN else None
        result.reward = rule.fallback_reward(result.fallback_cause, lowest=lowest)
    return result

