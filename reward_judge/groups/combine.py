"""Both orders of one pair -> one soft outcome that does not depend on which completion was shown first.

A pair (x, y) is judged as (x first, y second) and (y first, x second). Each judgment gives, from the
first-shown response's side, P(first wins), P(tie), P(second wins): from the answer distribution in the
score-distribution modes (``expected``, ``direct``), or 1/0 from the written verdict in ``generate`` mode.

- Distribution modes: P(x wins) = (P1(first) + P2(second)) / 2, P(tie) = (P1(tie) + P2(tie)) / 2, and the
  outcome of x is P(x wins) + P(tie) / 2. Swapping x and y gives exactly 1 - outcome.
- ``generate`` mode: each order gives x 1, 0 or 1/2; when the two orders agree that is the outcome, any
  disagreement counts as a tie (1/2).

The pair is *position-consistent* when both orders name the same winner (the most probable one in the
distribution modes). A pair with an order that has no valid verdict has no outcome: it is left out of
the aggregation and counted, never turned into a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ..verdicts import Judgment

_HARD = {"A": (1.0, 0.0, 0.0), "B": (0.0, 0.0, 1.0), "tie": (0.0, 1.0, 0.0)}


@dataclass(frozen=True)
class OrderVerdict:
    """One judged order, from the first-shown response's side.

    Example:
        >>> OrderVerdict.hard("B").outcome_first()
        0.0
    """

    p_first: float = 0.0
    p_tie: float = 0.0
    p_second: float = 0.0
    soft: bool = False
    winner: Optional[str] = None
    error: Optional[str] = None
    cached: bool = False
    attempts: int = 0
    #: The order has no verdict because the backend failed (not because of what the judge read).
    backend_error: bool = False
    #: ``mode="cascade"``: whether this order was escalated, its direct and expected winners (`CascadeScorer`).
    cascade: Optional[dict[str, Any]] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def hard(cls, winner: str, **kwargs: Any) -> "OrderVerdict":
        first, tie, second = _HARD[winner]
        return cls(first, tie, second, soft=False, winner=winner, **kwargs)

    @classmethod
    def of(cls, judgment: "Judgment", *, cached: bool = False) -> "OrderVerdict":
        """The order verdict of a pipeline judgment (soft when it carries a winner distribution)."""
        attempts = 0 if cached else judgment.attempts
        cascade = judgment.extra.get("cascade") if judgment.extra else None
        if not judgment.ok:
            return cls(error=judgment.error or "no valid verdict", cached=cached, attempts=attempts,
                       backend_error=judgment.backend_error, cascade=cascade)
        winner = judgment.verdict.winner
        if winner is None:
            return cls(error=f"pairwise verdict without a winner (score={judgment.verdict.score!r}): a group needs "
                             "a protocol whose answers name the better response", cached=cached, attempts=attempts,
                       cascade=cascade)
        by_winner = judgment.extra.get("winner_distribution") if judgment.extra else None
        if by_winner:
            return cls(float(by_winner.get("A", 0.0)), float(by_winner.get("tie", 0.0)), float(by_winner.get("B", 0.0)),
                       soft=True, winner=winner, cached=cached, attempts=attempts, cascade=cascade)
        return cls.hard(winner, cached=cached, attempts=attempts, cascade=cascade)

    def outcome_first(self) -> float:
        """Expected outcome of the first-shown response: P(first) + P(tie) / 2."""
        return self.p_first + 0.5 * self.p_tie

    def favours(self) -> str:
        """``"first"``, ``"second"`` or ``"tie"``: the most probable outcome (the written one in generate mode)."""
        best = max(self.p_first, self.p_tie, self.p_second)
        if self.p_first == best and self.p_second != best:
            return "first"
        if self.p_second == best and self.p_first != best:
            return "second"
        return "tie"

    def record(self, shown_first: str) -> dict[str, Any]:
        """A JSON-friendly record of this order for a result's ``extra``."""
        data: dict[str, Any] = {"shown_first": shown_first, "winner": self.winner, "cached": self.cached,
                                "attempts": self.attempts}
        if self.soft:
            data.update(p_first=self.p_first, p_tie=self.p_tie, p_second=self.p_second)
        if self.error is not None:
            data["error"] = self.error
        if self.cascade is not None:
            data["cascade"] = dict(self.cascade)
        return data


@dataclass(frozen=True)
class PairOutcome:
    """The combined verdict of one pair (x, y): x's expected outcome, or why there is none.

    Example:
        >>> combine(OrderVerdict.hard("A"), OrderVerdict.hard("A")).outcome   # each order favours the first shown
        0.5
        >>> combine(OrderVerdict.hard("A"), OrderVerdict.hard("B")).outcome   # x wins in both orders
        1.0
    """

    outcome: Optional[float]
    consistent: Optional[bool]
    error: Optional[str] = None
    backend_error: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is not None


def combine(forward: OrderVerdict, backward: Optional[OrderVerdict]) -> PairOutcome:
    """x's outcome from ``forward`` (x shown first) and ``backward`` (y shown first; ``None``: one order only)."""
    if not forward.ok:
        return PairOutcome(None, None, f"x-first order: {forward.error}", forward.backend_error)
    if backward is None:
        return PairOutcome(forward.outcome_first(), None)
    if not backward.ok:
        return PairOutcome(None, None, f"y-first order: {backward.error}", backward.backend_error)
    consistent = _side(forward.favours(), x_first=True) == _side(backward.favours(), x_first=False)
    if forward.soft and backward.soft:
        p_x = (forward.p_first + backward.p_second) / 2.0
        p_tie = (forward.p_tie + backward.p_tie) / 2.0
        return PairOutcome(p_x + 0.5 * p_tie, consistent)
    first = forward.outcome_first()
    second = 1.0 - backward.outcome_first()
    return PairOutcome(first if first == second else 0.5, consistent)


def _side(favours: str, *, x_first: bool) -> str:
    if favours == "tie":
        return "tie"
    return "x" if (favours == "first") == x_first else "y"
