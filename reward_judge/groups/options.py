"""Options of group rewards: how a group's completions are paired, combined and aggregated.

They apply when a pairwise or listwise protocol is called without ``completions_b``. Like a backend's
options, they are given as flat keywords (``from_pretrained(..., pairing="ring")``) and live in
``JudgeConfig.group_options``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..options import check_choice, check_declared_types, check_positive_int, check_positive_number, option
from .aggregate import AGGREGATIONS, BRADLEY_TERRY
from .pairing import ANCHOR, PAIRINGS, member_anchor


@dataclass
class GroupOptions:
    """How group rewards are judged (pairwise and listwise protocols called without ``completions_b``).

    Example:
        >>> GroupOptions(pairing="ring", pairing_k=3).aggregation
        'auto'
        >>> GroupOptions(pairing="anchor", aggregation="bradley_terry")
        Traceback (most recent call last):
        ...
        ValueError: aggregation='bradley_terry' needs games between completions; pairing='anchor' only plays each against the anchor (its reward is the win rate against it): use aggregation='win_rate' or 'auto'
    """

    pairing: str = option(
        "round_robin", "Pairwise protocols called without completions_b compare the completions of each prompt. "
        "'round_robin': every pair, G(G-1) judge calls per group of G with both orders; 'ring': each completion "
        "meets pairing_k others on a seeded ring, G*pairing_k calls; 'anchor': each completion against the "
        "anchor, 2G calls.", choices=PAIRINGS)
    pairing_k: int = option(2, "Opponents per completion in the 'ring' design (the budget: G*k judge calls).")
    anchor: str = option(
        "reference", "pairing='anchor': the dataset column holding the anchor response (the reward call's keyword; "
        "score(anchors=...) in Python), or 'member:<i>' for the i-th completion of each group.")
    aggregation: str = option(
        "auto", "Group outcomes -> reward: 'win_rate' (ties count half), 'bradley_terry' (expected win rate under "
        "strengths fitted by maximum likelihood), 'auto' (Bradley-Terry for 'ring', win rate otherwise).",
        choices=AGGREGATIONS)
    both_orders: bool = option(
        True, "Judge every pair in both orders and combine them, so the reward does not depend on which "
        "completion was shown first (off halves the calls and lets the judge's position bias into the reward).")
    bt_prior: float = option(
        1.0, "Bradley-Terry prior: virtual tied games of each completion against a strength-0 opponent, so "
        "undefeated or winless completions get finite strengths.")
    gather_groups: bool = option(
        True, "In multi-process training (torch.distributed initialised), the reward call gathers every process's "
        "rows so groups split across processes are judged whole, each pair once across all processes.", cli=False)

    def __post_init__(self) -> None:
        check_declared_types(self)
        check_choice("pairing", self.pairing, PAIRINGS)
        check_positive_int("pairing_k", self.pairing_k)
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        check_positive_number("bt_prior", self.bt_prior)
        if not isinstance(self.anchor, str) or not self.anchor:
            raise ValueError(f"anchor must be a column name or 'member:<i>', got {self.anchor!r}")
        member_anchor(self.anchor)
        if self.pairing == ANCHOR and self.aggregation == BRADLEY_TERRY:
            raise ValueError("aggregation='bradley_terry' needs games between completions; pairing='anchor' only "
                             "plays each against the anchor (its reward is the win rate against it): use "
                             "aggregation='win_rate' or 'auto'")
