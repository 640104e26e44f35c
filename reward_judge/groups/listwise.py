"""Listwise group rewards: one judge call per group shows all its completions and gets one score each.

Each group's distinct completions are shown in an order shuffled per call from ``seed``, the call
number and the group's texts (never from input positions, so shuffling the rows changes nothing within
a call, while position effects average out over calls), with ids 1..G in shown order. The request is
rendered by the reward model's renderer with the `ListwiseProtocol` of this call's ids; its strict
parser refuses an answer with a missing, duplicated or unknown id, which the pipeline retries, and a
group without a valid answer gets the declared fallback for every completion. Each completion is its own
untrusted field under a header the protocol writes; an input over the judge's limit has every member cut
to a shared per-member budget (never an id dropped), and the results say how many tokens were cut.
"""

from __future__ import annotations

import copy
import hashlib
import random
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..rollout_text import completion_text
from ..normalize import normalize_score
from ..protocols.listwise import ListwiseAnswerError, ListwiseProtocol
from ..result import JudgeResult
from ..rewarding import CAUSE_BACKEND, CAUSE_ROLLOUT, CAUSE_UNATTRIBUTED
from .grouping import Group, Row

if TYPE_CHECKING:  # pragma: no cover
    from ..rendering import JudgeRequest, RequestRenderer
    from ..rewarding import RewardRule
    from ..verdicts import Outcome


def shown_order(group: Group, seed: int, call: int) -> list[int]:
    """The entrants of ``group`` in the order the judge sees them in call number ``call``."""
    material = "\x00".join([str(seed), str(call)] + [e.text for e in group.entrants])
    rng = random.Random(hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest())
    order = list(range(len(group.entrants)))
    rng.shuffle(order)
    return order


class ListwiseJob:
    """One listwise request per group and, once judged, the per-completion results.

    Example:
        >>> job = ListwiseJob(rows, groups, rm.renderer, RewardRule(), seed=0, call=1)   # doctest: +SKIP
    """

    def __init__(self, rows: Sequence[Row], groups: Sequence[Group], renderer: "RequestRenderer", rule: "RewardRule",
                 *, seed: int, call: int):
        if not isinstance(renderer.protocol, ListwiseProtocol):
            raise TypeError(f"listwise judging needs the listwise protocol, got {renderer.protocol.name!r}")
        self.rows = rows
        self.groups = groups
        self.rule = rule
        self.requests: list["JudgeRequest"] = []
        self.slot: dict[int, int] = {}
        self.order: dict[int, list[int]] = {}
        self.protocols: dict[int, ListwiseProtocol] = {}
        for group in sorted(groups, key=lambda g: g.key):  # canonical: independent of input order
            order = self.order[group.index] = shown_order(group, seed, call)
            ids = tuple(str(k + 1) for k in range(len(order)))
            protocol = self.protocols[group.index] = renderer.protocol.with_options(ids=ids)  # type: ignore[assignment]
            texts = [completion_text(rows[group.entrants[e].rows[0]].completion, f"completions[{group.entrants[e].rows[0]}]")
                     for e in order]
            call_renderer = copy.copy(renderer)
            call_renderer.protocol = protocol
            first = rows[group.rows[0]]
            request = call_renderer.render(first.prompt, None, members=texts, reference=first.reference,
                                           rubric=first.rubric, index=group.rows[0])
            self.slot[group.index] = len(self.requests)
            self.requests.append(request)

    def results(self, outcomes: Sequence["Outcome"], *, mode: str) -> tuple[list[JudgeResult], dict[int, dict[str, Any]]]:
        """One result per row of the (gathered) batch, and each group's summary (``extra["group"]``)."""
        results: list[Optional[JudgeResult]] = [None] * len(self.rows)
        summaries: dict[int, dict[str, Any]] = {}
        for group in self.groups:
            outcome = outcomes[self.slot[group.index]]
            judgment = outcome.judgment
            protocol = self.protocols[group.index]
            order = self.order[group.index]
            scores: Optional[dict[str, float]] = None
            error = judgment.error
            if judgment.ok:
                try:
                    scores = protocol.scores(judgment.raw)
                except ListwiseAnswerError as exc:  # cannot happen for an answer the same parser accepted
                    error = str(exc)
            summary = {"index": group.index, "size": len(group.rows), "distinct": len(group.entrants),
                       "pairing": "listwise", "shown": [group.entrants[e].rows[0] for e in order],
                       "judge_calls": 0 if outcome.cached else judgment.attempts, "failed": scores is None}
            summaries[group.index] = summary
            for position, e in enumerate(order):
                shown_id = str(position + 1)
                extra = {"mode": mode, "group": copy.deepcopy(summary), "listwise": {"id": shown_id, "position": position}}
                result = JudgeResult(raw=judgment.raw, attempts=judgment.attempts, cached=outcome.cached,
                                     truncated=self.requests[self.slot[group.index]].truncated, extra=extra)
                if scores is None:
                    result.error = error or "no valid listwise answer"
                    result.fallback = True
                    # one answer for the whole group: a failure cannot be laid on one member, every member gets it
                    # (a group of one distinct text caused it; of several, any of them may have)
                    result.fallback_cause = (CAUSE_BACKEND if judgment.backend_error else
                                             CAUSE_ROLLOUT if len(group.entrants) == 1 else CAUSE_UNATTRIBUTED)
                    result.feedback = judgment.verdict.feedback
                    result.reward = self.rule.fallback_reward(result.fallback_cause,
                                                              lowest=self.rule.lowest_reward(protocol))
                else:
                    result.ok = True
                    result.score = scores[shown_id]
                    result.reward = normalize_score(result.score, protocol.score_range, self.rule.normalize)  # type: ignore[arg-type]
                    result.feedback = judgment.verdict.feedback
                for row in group.entrants[e].rows:
                    results[row] = copy.deepcopy(result) if row != group.entrants[e].rows[0] else result
        return results, summaries  # type: ignore[return-value]
