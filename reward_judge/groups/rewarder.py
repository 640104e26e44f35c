"""`GroupRewarder`: group rewards on the reward model's own stages, one call for a whole batch.

    rows --form_groups--> groups --PairwiseJob | ListwiseJob--> JudgeRequests (rendered by rm.renderer)
      --dedup, split across processes--> rm.runner.run (cache, retries, isolation, counters)
      --gather verdicts--> per-group aggregation --> one JudgeResult per row, in input order

So the cache (one entry per ordered pair: the rendered input differs), deduplication, retries, failure
isolation and counters work for group rewards exactly as for single rollouts: there is no second
scoring path.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..protocols.listwise import ListwiseProtocol
from ..result import JudgeResult
from ..rollout_text import completion_text, prompt_text
from ..textsafe import tokenizable
from ..verdicts import Judgment, Outcome
from .distributed import all_gather, process_group, share
from .grouping import Row, form_groups
from .listwise import ListwiseJob
from .pairing import ANCHOR, member_anchor
from .pairwise import PairwiseJob

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import JudgeProtocol
    from ..rendering import JudgeRequest, RequestRenderer
    from ..rewarding import RewardRule
    from ..runner import JudgeRunner
    from ..stats import JudgeStats
    from .options import GroupOptions

logger = logging.getLogger(__name__)


def is_groupwise(protocol: "JudgeProtocol") -> bool:
    """Whether ``protocol`` judges completions against each other (pairwise or listwise).

    Example:
        >>> from reward_judge import get_protocol
        >>> is_groupwise(get_protocol("prometheus-v2-relative")), is_groupwise(get_protocol("prometheus-v2"))
        (True, False)
    """
    return bool(protocol.pairwise) or isinstance(protocol, ListwiseProtocol)


class GroupRewarder:
    """Rewards the completions of each prompt against each other, on the given rendering and judging stages.

    ``reference_column`` is the dataset column that holds reference answers: an anchor named like it is
    the opponent, not a reference shown to the judge.

    Example:
        >>> rewarder = GroupRewarder(rm.renderer, rm.runner, GroupOptions(), RewardRule(), seed=0,  # doctest: +SKIP
        ...                          stats=rm.stats, mode="direct")
        >>> [r.reward for r in rewarder.score(["Q"] * 3, ["a", "b", "c"], references=[None] * 3,  # doctest: +SKIP
        ...                                   rubrics=[None] * 3)]
        [0.5, 0.25, 0.75]
    """

    def __init__(self, renderer: "RequestRenderer", runner: "JudgeRunner", options: "GroupOptions",
                 rule: "RewardRule", *, seed: int, stats: "JudgeStats", mode: str,
                 reference_column: Optional[str] = "reference"):
        self.renderer = renderer
        self.runner = runner
        self.options = options
        self.rule = rule
        self.seed = seed
        self.stats = stats
        self.mode = mode
        self.reference_column = reference_column

    def score(self, prompts: Sequence[Any], completions: Sequence[Any], *, references: Sequence[Optional[str]],
              rubrics: Sequence[Any], anchors: Optional[Sequence[Any]] = None,
              group_ids: Optional[Sequence[Any]] = None, gather: bool = False) -> list[JudgeResult]:
        """One result per completion, in input order (``references``/``rubrics`` have one value per row).

        With ``gather`` and ``torch.distributed`` initialised, every process's rows are gathered so that
        groups split across processes are judged whole, each request once across all processes; every
        process must then call this at the same point (as TRL calls reward functions).
        """
        n = len(prompts)
        references, anchors = self._anchors(n, references, anchors)
        for name, values in (("anchors", anchors), ("group_ids", group_ids)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one value per completion ({n}), got {len(values)}")
        rows = [Row(prompts[i], completions[i], references[i], rubrics[i], anchors[i] if anchors is not None else None,
                    group_ids[i] if group_ids is not None else None) for i in range(n)]
        sanitized = [self._check_row(row, i) for i, row in enumerate(rows)]  # bad input fails here, before any gather
        rank, world = process_group() if gather else (0, 1)
        parts = all_gather(rows, world)
        offset = sum(len(part) for part in parts[:rank])
        everyone = [row for part in parts for row in part]
        groups = form_groups(everyone)
        self.stats.calls += 1
        self.stats.rollouts += n
        # every process builds the same requests (checked below): a listwise order is seeded by rank 0's call number,
        # since a process that made one more call alone must not show the judge another order
        if isinstance(self.renderer.protocol, ListwiseProtocol):
            call = all_gather(self.stats.calls, world)[0]
            job: Any = ListwiseJob(everyone, groups, self.renderer, self.rule, seed=self.seed, call=call)
        else:
            job = PairwiseJob(everyone, groups, self.renderer, self.options, self.rule, seed=self.seed)
        if world > 1:
            digest = hashlib.sha256("\x00".join(r.dedup_key for r in job.requests).encode()).hexdigest()
            digests = all_gather(digest, world)
            if len(set(digests)) > 1:
                raise RuntimeError(f"the {world} processes built different judge requests for one gathered batch "
                                   f"(process {rank} differs from process 0): their verdicts would be matched to the "
                                   "wrong rows; every process must call with the same settings at the same point")
        outcomes = self._judge(job.requests, rank, world)
        results, summaries = job.results(outcomes, mode=self.mode)
        # a group is counted by the process that holds its first row, so sums over processes are exact
        for group in groups:
            if offset <= group.rows[0] < offset + n:
                summary = summaries[group.index]
                self.stats.comparisons += summary.get("pairs", 0)
                self.stats.comparisons_failed += summary.get("failed_pairs", 0)
                self.stats.comparisons_consistent += summary.get("consistent_pairs", 0)
        mine = results[offset: offset + n]
        for result, changed in zip(mine, sanitized, strict=True):
            if changed:
                result.extra["sanitized"] = True
        self.stats.truncated += sum(1 for r in mine if r.truncated)
        self.stats.sanitized += sum(sanitized)
        return mine

    # ------------------------------------------------------------------ pieces
    def _anchors(self, n: int, references: Sequence[Optional[str]], anchors: Optional[Sequence[Any]]
                 ) -> tuple[list[Optional[str]], Optional[list[Any]]]:
        """(references for the judge's reference slot, anchor responses) for this configuration."""
        cfg = self.options
        references = list(references)
        if cfg.pairing != ANCHOR or member_anchor(cfg.anchor) is not None or isinstance(self.renderer.protocol,
                                                                                       ListwiseProtocol):
            return references, None if anchors is None else list(anchors)
        anchor_is_reference = cfg.anchor == (self.reference_column or "reference")
        if anchors is None:
            if not anchor_is_reference or all(r is None for r in references):
                raise ValueError(f"pairing='anchor' with anchor={cfg.anchor!r} needs the anchor responses: pass "
                                 f"anchors=[...] to score(), or a dataset column {cfg.anchor!r} to the reward call "
                                 "(or anchor='member:<i>' to use the i-th completion of each group)")
            anchors = references
        if anchor_is_reference:  # the column is the opponent, not a reference answer shown to the judge
            references = [None] * n
        anchors = list(anchors)
        missing = [i for i, a in enumerate(anchors) if a is None]
        if missing:
            raise ValueError(f"pairing='anchor': anchor column {cfg.anchor!r} is None for row(s) {missing[:10]}")
        return references, anchors

    @staticmethod
    def _check_row(row: Row, i: int) -> bool:
        """Validate one row's texts (naming the argument and row); whether any had to be made tokenisable."""
        texts = [prompt_text(row.prompt, f"prompts[{i}]"), completion_text(row.completion, f"completions[{i}]")]
        if row.anchor is not None:
            texts.append(completion_text(row.anchor, f"anchors[{i}]"))
        return any(tokenizable(t) != t for t in texts)

    def _judge(self, requests: Sequence["JudgeRequest"], rank: int, world: int) -> list[Outcome]:
        """One outcome per request: each distinct request judged once, by one process, then shared."""
        outcomes: list[Optional[Outcome]] = [None] * len(requests)
        first: dict[str, int] = {}
        unique: list[int] = []
        for k, request in enumerate(requests):
            if request.error is not None:  # cannot be judged (e.g. too long): a counted failure, never a tie
                outcomes[k] = Outcome(Judgment.failure(request.error, retryable=False))
                if rank == 0:
                    self.stats.failure_reasons[request.error] += 1
            elif request.dedup_key not in first:
                first[request.dedup_key] = k
                unique.append(k)
        if rank == 0:
            self.stats.duplicates_skipped += sum(1 for r in requests if r.error is None) - len(unique)
        share_of_mine = [unique[k] for k in share(len(unique), rank, world)]
        judged = self.runner.run([requests[k] for k in share_of_mine]) if share_of_mine else []
        shared = [outcome for part in all_gather(judged, world) for outcome in part]
        by_key = dict(zip((requests[k].dedup_key for k in unique), shared, strict=True))
        for k, request in enumerate(requests):
            if outcomes[k] is None:
                outcomes[k] = by_key[request.dedup_key]
        return outcomes  # type: ignore[return-value]

