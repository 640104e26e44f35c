"""`JudgeRunner`: cache, deduplication, retries, failure isolation, timing and counters around a scorer.

This is the stage of the scoring pipeline that asks the judge. Every scoring mode goes through
`JudgeRunner.run` the same way; only the scorer (how one request becomes a verdict) differs. Results
mean the same thing in every mode: a backend error is counted per input, a cached verdict is the one
first obtained, and only valid verdicts are stored.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Optional, Sequence

from .cache import JudgeCache, cache_key
from .isolation import isolated
from .scoring.base import Scorer
from .stats import JudgeStats
from .verdicts import Judgment, Outcome

if TYPE_CHECKING:  # pragma: no cover
    from .rendering import JudgeRequest

logger = logging.getLogger(__name__)


class JudgeRunner:
    """Runs judge requests through one scorer with caching, deduplication, retries and failure isolation.

    Example:
        >>> runner = JudgeRunner(scorer, identity=backend.identity, cache=None, stats=JudgeStats())  # doctest: +SKIP
        >>> [o.judgment.verdict.score for o in runner.run(requests)]                                 # doctest: +SKIP
        [4, 2]
    """

    def __init__(self, scorer: Scorer, *, identity: str, cache: Optional[JudgeCache], stats: JudgeStats,
                 cache_sampled: bool = False):
        self.scorer = scorer
        self.identity = identity
        self.cache = cache
        self.stats = stats
        self.cache_sampled = cache_sampled

    @property
    def caching(self) -> bool:
        """Whether verdicts are looked up and stored: a sampled verdict is one draw, cached only on request."""
        return self.cache is not None and (not self.scorer.samples or self.cache_sampled)

    def key(self, request: "JudgeRequest") -> str:
        """The cache key of ``request``: the judge, the exact input, the protocol with every field, the scorer's settings.

        With ``cache_sampled`` a verdict a sampled retry gave is stored too, so the retries' temperature and seed
        are part of its key; without it only verdicts of deterministic attempts are stored, which they cannot change.
        """
        protocol = request.protocol
        fields = self.scorer.cache_fields()
        plan = self.scorer.plan
        if self.cache_sampled and plan.max_attempts > 1 and self.scorer.samples_on(1):
            fields = {**fields, "retry_temperature": plan.params(1).temperature, "retry_seed": plan.params(1).seed}
        return cache_key(self.identity, request.input.key, protocol.name, f"{protocol.version}:{protocol.fingerprint}",
                         fields)

    def run(self, requests: Sequence["JudgeRequest"]) -> list[Outcome]:
        """One `Outcome` per request, in order; identical requests are judged once."""
        first: dict[str, int] = {}
        keys = [request.dedup_key for request in requests]
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        self.stats.duplicates_skipped += len(requests) - len(first)
        unique = list(first.values())
        outcomes = dict(zip(unique, self._judge([requests[i] for i in unique]), strict=True))
        # duplicates get their own copy of the outcome, so changing one result never changes another
        return [outcomes[first[key]] if i == first[key] else copy.deepcopy(outcomes[first[key]])
                for i, key in enumerate(keys)]

    def _judge(self, requests: list["JudgeRequest"]) -> list[Outcome]:
        state: list[Outcome] = [Outcome(Judgment.failure("not judged"))] * len(requests)
        cache_keys = [self.key(r) for r in requests] if self.caching else []
        pending = []
        for k in range(len(requests)):
            record = self.cache.get(cache_keys[k]) if cache_keys else None  # type: ignore[union-attr]
            if record is None:
                pending.append(k)
            else:
                self.stats.cache_hits += 1
                state[k] = Outcome(Judgment.from_record(record), cached=True)
        for attempt in range(self.scorer.plan.max_attempts):
            if not pending:
                break
            if attempt:
                self.stats.retries += len(pending)
            started = time.perf_counter()
            judgments = isolated(lambda batch: self.scorer.attempt(batch, attempt), [requests[k] for k in pending])
            self.stats.judge_seconds += time.perf_counter() - started
            self.stats.judge_requests += len(pending)
            still = []
            for k, judgment in zip(pending, judgments, strict=True):
                judgment = dataclasses.replace(judgment, attempts=attempt + 1)
                state[k] = Outcome(judgment)
                if judgment.ok:
                    # a verdict a sampled retry drew is one draw: stored only when sampled verdicts are cached
                    if cache_keys and (self.cache_sampled or not self.scorer.samples_on(attempt)):
                        self.cache.put(cache_keys[k], judgment.to_record())  # type: ignore[union-attr]
                    continue
                if judgment.backend_error:
                    self.stats.backend_errors += 1
                else:
                    self.stats.parse_failures += 1
                self.stats.failure_reasons[judgment.error or "unknown"] += 1
                if judgment.retryable:
                    still.append(k)
            pending = still
        self.scorer.tally([outcome.judgment for outcome in state if not outcome.cached], self.stats)
        return state
