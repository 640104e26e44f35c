"""Pairwise group rewards: plan the pair requests of every group, then turn their verdicts into rewards.

For each group the pairing design (`reward_judge.groups.pairing`) picks the pairs of entrants; each pair
becomes one judge request per order, rendered by the reward model's own renderer with the pairwise
protocol (``completion_b`` is the second-shown response). After the requests ran through the scoring
pipeline, both orders are combined (`reward_judge.groups.combine`) and aggregated per group
(`reward_judge.groups.aggregate`) into one value per completion in [0, 1], normalised per ``normalize``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..result import JudgeResult
from ..rewarding import CAUSE_BACKEND, CAUSE_NO_OPPONENT, CAUSE_ROLLOUT, CAUSE_UNATTRIBUTED
from .aggregate import BRADLEY_TERRY, bradley_terry, expected_win_rates, resolve_aggregation, win_rates
from .combine import OrderVerdict, PairOutcome, combine
from .grouping import Group, Row
from .pairing import ANCHOR, RING, member_anchor, ring, ring_order, round_robin

if TYPE_CHECKING:  # pragma: no cover
    from ..rendering import JudgeRequest, RequestRenderer
    from ..rewarding import RewardRule
    from ..verdicts import Outcome
    from .options import GroupOptions

#: The opponent index of a dataset-column anchor (it is not an entrant of the group).
COLUMN_ANCHOR = -1


@dataclass(frozen=True)
class PlannedPair:
    """One pair of a group: entrants ``x`` and ``y`` (or the column anchor), and their requests' slots."""

    group: int
    x: int
    y: int
    forward: int
    backward: Optional[int]


def _charged(played: Sequence[tuple[PlannedPair, PairOutcome]]) -> set[int]:
    """The entrants charged with the failed comparisons they took part in (``fallback_cause="rollout"``).

    The judge read both texts of a failed comparison, so either may have caused it. An entrant is charged when
    the opponent of one of its failed comparisons got a valid verdict elsewhere (that clears the opponent), or
    when it is the one text common to two or more failed comparisons whose other sides have no valid
    comparison either (a member anchor that broke every comparison). When nothing singles one side out (a
    pair of two, or a ring of entrants that failed every comparison), nobody is charged. Backend failures
    charge nobody.

    Example:
        >>> a_b, b_c = PlannedPair(0, 0, 1, 0, 1), PlannedPair(0, 1, 2, 2, 3)
        >>> failed, fine = PairOutcome(None, None, "x-first order: no verdict"), PairOutcome(0.5, True)
        >>> sorted(_charged([(a_b, failed), (b_c, fine)])), sorted(_charged([(a_b, failed)]))
        ([0], [])
        >>> sorted(_charged([(a_b, failed), (b_c, failed)]))   # 1 is in both failures: the common text
        [1]
    """
    cleared = {side for pair, outcome in played if outcome.ok for side in (pair.x, pair.y)}
    failed = [frozenset((pair.x, pair.y)) for pair, outcome in played if not outcome.ok and not outcome.backend_error]
    charged = {me for sides in failed for me in sides if (sides - {me}) & cleared}  # its opponent was read elsewhere
    # the failed comparisons no charged entrant explains: the common text of two or more of them is charged
    unexplained = {sides for sides in failed if not sides & charged}
    for component in _components(unexplained):
        common = frozenset.intersection(*component)
        if len(component) >= 2 and len(common) == 1:
            charged |= common
    return charged


def _components(edges: set[frozenset[int]]) -> list[list[frozenset[int]]]:
    """``edges`` (pairs of entrants) split into connected components, each a list of its edges."""
    components: list[tuple[set[int], list[frozenset[int]]]] = []
    for edge in sorted(edges, key=sorted):
        touching = [c for c in components if c[0] & edge]
        nodes, members = set(edge), [edge]
        for c in touching:
            components.remove(c)
            nodes |= c[0]
            members += c[1]
        components.append((nodes, members))
    return [members for _, members in components]


def _shown_second(seed: int, x_text: str, y_text: str) -> bool:
    """Whether ``x`` goes second in a one-order comparison with ``y``: a fair coin per (seed, pair), either way round."""
    first, second = sorted((x_text, y_text))
    digest = hashlib.sha256("\x00".join([str(seed), first, second]).encode()).digest()
    return bool(digest[0] & 1) == (x_text == first)


def group_value_reward(value: float, normalize: Any, strength: Optional[float] = None) -> float:
    """The reward of a group value in [0, 1]: ``linear`` as it is, ``centered`` 2v-1, ``none`` the raw value
    (the Bradley-Terry strength when there is one), a callable gets the value.

    Example:
        >>> group_value_reward(0.75, "linear"), group_value_reward(0.75, "centered"), group_value_reward(0.75, "none", 1.2)
        (0.75, 0.5, 1.2)
    """
    if callable(normalize):
        return float(normalize(value))
    if normalize == "centered":
        return 2.0 * value - 1.0
    if normalize == "none" and strength is not None:
        return strength
    return value


class PairwiseJob:
    """The pair requests of a batch's groups and, once judged, their per-completion results.

    Example:
        >>> job = PairwiseJob(rows, groups, rm.renderer, GroupOptions(), RewardRule(), seed=0)  # doctest: +SKIP
        >>> results, summaries = job.results(rm.runner.run(job.requests), mode="direct")     # doctest: +SKIP
    """

    def __init__(self, rows: Sequence[Row], groups: Sequence[Group], renderer: "RequestRenderer",
                 options: "GroupOptions", rule: "RewardRule", *, seed: int):
        self.rows = rows
        self.groups = groups
        self.options = options
        self.rule = rule
        self.seed = seed
        self.aggregation = resolve_aggregation(options.aggregation, options.pairing)
        self.requests: list["JudgeRequest"] = []
        self.pairs: list[PlannedPair] = []
        self.anchor_of: dict[int, int] = {}  # group index -> anchor entrant (member anchors)
        for group in sorted(groups, key=lambda g: g.key):  # canonical: independent of input order
            for x, y in self._design(group):
                self._plan(renderer, group, x, y)

    # ------------------------------------------------------------------ planning
    def _design(self, group: Group) -> list[tuple[int, int]]:
        n = len(group.entrants)
        cfg = self.options
        if cfg.pairing == ANCHOR:
            member = member_anchor(cfg.anchor)
            if member is None:
                return [(e, COLUMN_ANCHOR) for e in range(n)]
            if member >= len(group.rows):
                raise ValueError(f"anchor={cfg.anchor!r}, but the group of prompt row {group.rows[0]} has only "
                                 f"{len(group.rows)} completion(s)")
            anchor = self.anchor_of[group.index] = group.entrant_of(group.rows[member])
            return [(e, anchor) for e in range(n) if e != anchor]
        pairs = (ring(n, cfg.pairing_k, ring_order([e.text for e in group.entrants], self.seed))
                 if cfg.pairing == RING else round_robin(n))
        if cfg.both_orders:
            return pairs
        # one order only: who is shown first is drawn per pair from the seed and both texts, not their sort order
        # (which a completion's first characters would choose, with a judge that favours the first response)
        texts = [e.text for e in group.entrants]
        return [(y, x) if _shown_second(self.seed, texts[x], texts[y]) else (x, y) for x, y in pairs]

    def _plan(self, renderer: "RequestRenderer", group: Group, x: int, y: int) -> None:
        first = self.rows[group.rows[0]]
        a = self.rows[group.entrants[x].rows[0]]
        b_value = first.anchor if y == COLUMN_ANCHOR else self.rows[group.entrants[y].rows[0]].completion

        def render(one: Any, two: Any, index: int) -> int:
            self.requests.append(renderer.render(first.prompt, one, reference=first.reference, rubric=first.rubric,
                                                 completion_b=two, index=index))
            return len(self.requests) - 1

        forward = render(a.completion, b_value, group.entrants[x].rows[0])
        backward = render(b_value, a.completion, group.entrants[x].rows[0]) if self.options.both_orders else None
        self.pairs.append(PlannedPair(group.index, x, y, forward, backward))

    # ------------------------------------------------------------------ results
    def results(self, outcomes: Sequence["Outcome"], *, mode: str) -> tuple[list[JudgeResult], dict[int, dict[str, Any]]]:
        """One result per row of the (gathered) batch, and each group's summary (``extra["group"]``)."""
        verdicts = [OrderVerdict.of(o.judgment, cached=o.cached) for o in outcomes]
        by_group: dict[int, list[tuple[PlannedPair, PairOutcome]]] = {g.index: [] for g in self.groups}
        for pair in self.pairs:
            backward = verdicts[pair.backward] if pair.backward is not None else None
            by_group[pair.group].append((pair, combine(verdicts[pair.forward], backward)))
        results: list[Optional[JudgeResult]] = [None] * len(self.rows)
        summaries: dict[int, dict[str, Any]] = {}
        for group in self.groups:
            played = by_group[group.index]
            summary = self._summary(group, played, verdicts)
            summaries[group.index] = summary
            values, strengths, why = self._values(group, played)
            # the group's lowest value: the bottom of the scale, or below it where a strength is (normalize="none")
            lowest = min([group_value_reward(0.0, self.rule.normalize)]
                         + [group_value_reward(v, self.rule.normalize, s) for v, s in zip(values, strengths, strict=True)
                            if v is not None])
            charged = _charged(played)
            for e, entrant in enumerate(group.entrants):
                comparisons = [self._record(group, pair, outcome, verdicts, e) for pair, outcome in played
                               if e in (pair.x, pair.y)]
                is_anchor = self.anchor_of.get(group.index) == e
                for row in entrant.rows:
                    results[row] = self._result(values[e], strengths[e], why, comparisons, summary, mode, is_anchor,
                                                lowest, charged=e in charged)
        return results, summaries  # type: ignore[return-value]

    def _values(self, group: Group, played: list[tuple[PlannedPair, PairOutcome]]
                ) -> tuple[list[Optional[float]], list[Optional[float]], Optional[str]]:
        n = len(group.entrants)
        copies = [e.copies for e in group.entrants]
        none: list[Optional[float]] = [None] * n
        if self.options.pairing == ANCHOR:
            values: list[Optional[float]] = list(none)
            for pair, outcome in played:
                values[pair.x] = outcome.outcome
            anchor = self.anchor_of.get(group.index)
            if anchor is not None:
                # the anchor against itself ties, but only where it was judged against someone: an anchor (a policy
                # completion) that broke every comparison, or met no one, gets no verdict, as the members do
                judged = any(v is not None for k, v in enumerate(values) if k != anchor)
                values[anchor] = 0.5 if judged else None
                if n == 1:
                    return values, none, "no opponent: the group has a single completion"
            return values, none, None
        if n == 1:
            if copies[0] > 1:  # every completion is the same text: they tie, no judge needed
                return [0.5], none, None
            return none, none, "no opponent: the group has a single completion"
        games = [(pair.x, pair.y, outcome.outcome) for pair, outcome in played if outcome.ok]
        if self.aggregation == BRADLEY_TERRY:
            strengths = bradley_terry(copies, games, self.options.bt_prior)  # type: ignore[arg-type]
            return expected_win_rates(copies, strengths), strengths, None
        return win_rates(copies, games), none, None  # type: ignore[arg-type]

    def _record(self, group: Group, pair: PlannedPair, outcome: PairOutcome, verdicts: Sequence[OrderVerdict],
                e: int) -> dict[str, Any]:
        me_x = e == pair.x
        other = pair.y if me_x else pair.x
        record: dict[str, Any] = {
            "opponent": "anchor" if other == COLUMN_ANCHOR else group.entrants[other].rows[0],
            "outcome": None if outcome.outcome is None else (outcome.outcome if me_x else 1.0 - outcome.outcome),
            "consistent": outcome.consistent,
        }
        if other != COLUMN_ANCHOR and group.entrants[other].copies > 1:
            record["opponent_copies"] = list(group.entrants[other].rows)
        orders = [verdicts[pair.forward].record("self" if me_x else "opponent")]
        if pair.backward is not None:
            orders.append(verdicts[pair.backward].record("opponent" if me_x else "self"))
        for order, slot in zip(orders, (pair.forward, pair.backward), strict=False):
            if slot is not None and self.requests[slot].truncated:
                order["truncated"] = self.requests[slot].truncated
        record["orders"] = orders
        if outcome.error is not None:
            record["error"] = outcome.error
            if outcome.backend_error:
                record["backend_error"] = True
        return record

    def _summary(self, group: Group, played: list[tuple[PlannedPair, PairOutcome]],
                 verdicts: Sequence[OrderVerdict]) -> dict[str, Any]:
        slots = {s for pair, _ in played for s in (pair.forward, pair.backward) if s is not None}
        unique: dict[str, int] = {}
        for s in sorted(slots):  # an identical request is one judge call
            unique.setdefault(self.requests[s].dedup_key, s)
        calls = sum(verdicts[s].attempts for s in unique.values())
        return {"index": group.index, "size": len(group.rows), "distinct": len(group.entrants),
                "pairing": self.options.pairing, "aggregation": self.aggregation if self.options.pairing != ANCHOR
                else "win_rate", "both_orders": self.options.both_orders, "pairs": len(played),
                "failed_pairs": sum(not o.ok for _, o in played),
                "consistent_pairs": sum(bool(o.consistent) for _, o in played),
                "checked_pairs": sum(o.consistent is not None for _, o in played),
                "judge_calls": calls}

    def _result(self, value: Optional[float], strength: Optional[float], why: Optional[str],
                comparisons: list[dict[str, Any]], summary: dict[str, Any], mode: str, is_anchor: bool,
                lowest: float, *, charged: bool) -> JudgeResult:
        orders = [o for c in comparisons for o in c["orders"]]
        # each result owns its records: changing one never changes another's
        comparisons = copy.deepcopy(comparisons)
        extra: dict[str, Any] = {"mode": mode, "group": dict(summary), "comparisons": comparisons}
        valid = [c for c in comparisons if c["outcome"] is not None]
        result = JudgeResult(attempts=sum(o["attempts"] for o in orders),
                             cached=bool(orders) and all(o["cached"] for o in orders),
                             truncated=sum(o.get("truncated", 0) for o in orders), extra=extra)
        if value is None:
            errors = [c["error"] for c in comparisons if "error" in c]
            result.error = why or (f"no valid comparison ({len(comparisons)} failed): {errors[0]}" if errors
                                   else "no valid comparison")
            result.fallback = True
            if why is not None or not comparisons:
                result.fallback_cause = CAUSE_NO_OPPONENT
            elif all(c.get("backend_error") for c in comparisons if "error" in c):
                result.fallback_cause = CAUSE_BACKEND
            elif charged:  # the judge gave no verdict on it beside an opponent it judged elsewhere
                result.fallback_cause = CAUSE_ROLLOUT
            else:  # no verdict on its comparisons, but nothing tells whether it or its opponents caused that:
                # under fallback="min" it still gets the minimum, since it may be the judge-breaker
                result.fallback_cause = CAUSE_UNATTRIBUTED
            result.reward = self.rule.fallback_reward(result.fallback_cause, lowest=lowest)
            result.feedback = ""
            return result
        result.ok = True
        result.score = value
        result.reward = group_value_reward(value, self.rule.normalize, strength)
        if strength is not None:
            extra["strength"] = strength
        checked = [c for c in valid if c["consistent"] is not None]
        failed = len(comparisons) - len(valid)
        parts = [f"expected win rate {value:.3f}" if strength is not None else f"win rate {value:.3f}",
                 f"over {len(valid)} comparison(s)"]
        if strength is not None:
            parts.append(f"(Bradley-Terry strength {strength:+.3f})")
        if checked:
            parts.append(f"; {sum(bool(c['consistent']) for c in checked)} of {len(checked)} position-consistent")
        if failed:
            parts.append(f"; {failed} failed and left out")
        if is_anchor:
            extra["anchor"] = True
            parts = [f"the group's anchor ({self.options.anchor}): it ties with itself"]
        elif not comparisons:
            parts = ["all completions of the group are identical: they tie"]
        result.feedback = " ".join(parts).replace(" ;", ";")
        return result
