"""``GET /metrics`` of the reward server, with `prometheus_client` (one registry per app).

Names (counters end in ``_total`` on the wire):

- ``reward_judge_requests_total{endpoint}``, ``reward_judge_request_latency_seconds{endpoint}`` (histogram);
- ``reward_judge_rejected_total``: answered 503 "busy now" (queue full, shutting down);
- ``reward_judge_refused_total{reason}``: refused before judging: ``unauthorized`` (401), ``too_large``
  (413), ``invalid`` (400/422);
- ``reward_judge_rollouts_total``, ``reward_judge_batches_total``, ``reward_judge_batch_size`` (histogram),
  ``reward_judge_batch_size_max``, ``reward_judge_queue_depth`` (gauges);
- ``reward_judge_fallbacks_total``, ``reward_judge_cache_hits_total``, ``reward_judge_batch_errors_total``;
- ``reward_judge_policy_prompts_total{template}``: ``/get_reward`` prompts by the chat template family they
  were read with (``none``: passed as they are), ``reward_judge_policy_markup_stripped_total``;
- from the judge's own counters: ``reward_judge_parse_failures_total``, ``reward_judge_retries_total``,
  ``reward_judge_backend_errors_total``, ``reward_judge_cascade_reads_total``, ``reward_judge_escalations_total``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_JUDGE_COUNTERS = (("parse_failures", "Judge outputs that did not parse."),
                   ("retries", "Judge calls retried after a parse failure."),
                   ("backend_errors", "Judge inputs whose backend call failed."),
                   ("cascade_reads", "Rollouts the cascade mode judged (direct read first)."),
                   ("escalations", "Cascade rollouts escalated from the direct read to expected scoring."))


class _JudgeStats(Collector):
    """The reward model's own counters, read at scrape time."""

    def __init__(self, stats: Callable[[], dict[str, Any]]):
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        values = self.stats()
        for name, doc in _JUDGE_COUNTERS:
            yield CounterMetricFamily(f"reward_judge_{name}", doc, value=float(values.get(name, 0)))


class ServerMetrics:
    """The counters behind ``GET /metrics``.

    Example:
        >>> m = ServerMetrics(lambda: {}, lambda: 0)
        >>> m.observe_batch(4, [])
        >>> b"reward_judge_batch_size_max 4.0" in m.render()[0]
        True
    """

    def __init__(self, judge_stats: Callable[[], dict[str, Any]], queue_depth: Callable[[], int]):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("reward_judge_requests", "Scoring requests answered, by endpoint.", ["endpoint"],
                                registry=r)
        self.latency = Histogram("reward_judge_request_latency_seconds", "Seconds from request to answer.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("reward_judge_rejected", "Requests answered 503: busy now (queue full, draining).",
                                registry=r)
        self.refused = Counter("reward_judge_refused", "Requests refused before judging, by reason.", ["reason"],
                               registry=r)
        self.rollouts = Counter("reward_judge_rollouts", "Rollouts judged.", registry=r)
        self.batches = Counter("reward_judge_batches", "Judge calls (micro-batches).", registry=r)
        self.batch_size = Histogram("reward_judge_batch_size", "Rollouts per judge call (micro-batches).",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_size_max = Gauge("reward_judge_batch_size_max", "Largest micro-batch so far.", registry=r)
        self.queue_depth = Gauge("reward_judge_queue_depth", "Rollouts queued or being judged now.", registry=r)
        self.queue_depth.set_function(lambda: float(queue_depth()))
        self.fallbacks = Counter("reward_judge_fallbacks", "Rollouts that got the fallback reward.", registry=r)
        self.cache_hits = Counter("reward_judge_cache_hits", "Rollouts answered from the reward cache.", registry=r)
        self.batch_errors = Counter("reward_judge_batch_errors", "Requests whose judging failed.", registry=r)
        self.policy_prompts = Counter("reward_judge_policy_prompts", "/get_reward prompts by the chat template "
                                      "family they were read with (none: passed as they are).", ["template"],
                                      registry=r)
        self.markup_stripped = Counter("reward_judge_policy_markup_stripped", "End-of-turn and padding tokens cut "
                                       "from the end of /get_reward responses.", registry=r)
        r.register(_JudgeStats(judge_stats))
        self._max_batch = 0

    def observe_batch(self, size: int, results: list[Any]) -> None:
        self.batches.inc()
        self.rollouts.inc(size)
        self.batch_size.observe(size)
        self._max_batch = max(self._max_batch, size)
        self.batch_size_max.set(self._max_batch)
        self.fallbacks.inc(sum(bool(getattr(r, "fallback", False)) for r in results))
        self.cache_hits.inc(sum(bool(getattr(r, "cached", False)) for r in results))

    def render(self, accept: Optional[str] = None) -> tuple[bytes, str]:
        """The exposition for a scraper's ``Accept`` header, and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
