"""`reward-judge serve`: one judge, loaded once, shared by every trainer process over HTTP.

Endpoints:

- ``POST /get_reward``: OpenRLHF's remote reward convention (``query``, ``prompts``, ``labels`` ->
  ``rewards``), so ``--remote_rm_url`` works unchanged;
- ``POST /v1/score``: prompts, completions, optional reference / rubric / completions_b -> the full
  `JudgeResult` fields;
- ``GET /health`` and ``GET /metrics`` (Prometheus text format).

Requests from all clients are micro-batched: the batcher takes what is queued, waits at most
``max_wait_ms`` for more, up to ``max_batch_size`` rollouts, and judges them in one call, so client
concurrency becomes judge batch size. The queue holds at most ``max_queue`` rollouts; beyond that
the server answers 503 with ``Retry-After``. On shutdown it stops taking requests and finishes the
queued ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional

logger = logging.getLogger(__name__)

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class QueueFull(RuntimeError):
    """The server's queue cannot take the request now (answered as 503)."""


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.n += 1
        self.total += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.total:.6f}", f"{name}_count{suffix} {self.n}"]
        return out


@dataclass
class ServerMetrics:
    """Counters behind ``GET /metrics``."""

    requests: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rollouts: int = 0
    batches: int = 0
    max_batch: int = 0
    fallbacks: int = 0
    cache_hits: int = 0
    errors: int = 0
    batch_size: _Histogram = field(default_factory=lambda: _Histogram(_BATCH_BUCKETS))
    latency: dict[str, _Histogram] = field(default_factory=dict)

    def render(self, queue_depth: int, judge_stats: dict[str, Any]) -> str:
        m = "reward_judge"
        lines = [f"# HELP {m}_requests_total HTTP scoring requests answered, by endpoint.",
                 f"# TYPE {m}_requests_total counter"]
        lines += [f'{m}_requests_total{{endpoint="{e}"}} {n}' for e, n in sorted(self.requests.items())]
        lines += [f"# TYPE {m}_rejected_total counter", f"{m}_rejected_total {self.rejected}",
                  f"# TYPE {m}_rollouts_total counter", f"{m}_rollouts_total {self.rollouts}",
                  f"# TYPE {m}_batches_total counter", f"{m}_batches_total {self.batches}",
                  f"# TYPE {m}_batch_size_max gauge", f"{m}_batch_size_max {self.max_batch}",
                  f"# HELP {m}_batch_size Rollouts per judge call (micro-batches).",
                  f"# TYPE {m}_batch_size histogram"]
        lines += self.batch_size.lines(f"{m}_batch_size")
        lines += [f"# TYPE {m}_queue_depth gauge", f"{m}_queue_depth {queue_depth}",
                  f"# TYPE {m}_request_latency_seconds histogram"]
        for endpoint, hist in sorted(self.latency.items()):
            lines += hist.lines(f"{m}_request_latency_seconds", f'endpoint="{endpoint}"')
        lines += [f"# TYPE {m}_parse_failures_total counter",
                  f"{m}_parse_failures_total {judge_stats.get('parse_failures', 0)}",
                  f"# TYPE {m}_retries_total counter", f"{m}_retries_total {judge_stats.get('retries', 0)}",
                  f"# TYPE {m}_backend_errors_total counter",
                  f"{m}_backend_errors_total {judge_stats.get('backend_errors', 0)}",
                  f"# TYPE {m}_fallbacks_total counter", f"{m}_fallbacks_total {self.fallbacks}",
                  f"# TYPE {m}_cache_hits_total counter", f"{m}_cache_hits_total {self.cache_hits}",
                  f"# TYPE {m}_batch_errors_total counter", f"{m}_batch_errors_total {self.errors}"]
        return "\n".join(lines) + "\n"


@dataclass
class _Job:
    prompts: list[Any]
    completions: list[Any]
    reference: list[Optional[str]]
    rubric: list[Any]
    completions_b: Optional[list[Any]]
    future: "asyncio.Future[list[Any]]"


class MicroBatcher:
    """Collects scoring jobs from many requests and judges them together.

    Example:
        >>> batcher = MicroBatcher(rm, max_batch_size=64, max_wait_ms=20, max_queue=1024)   # doctest: +SKIP
        >>> results = await batcher.submit(["2+2?"], ["4"])                               # doctest: +SKIP
    """

    def __init__(self, reward_model: Any, *, max_batch_size: int = 64, max_wait_ms: float = 10.0,
                 max_queue: int = 1024, metrics: Optional[ServerMetrics] = None):
        for name, value in (("max_batch_size", max_batch_size), ("max_queue", max_queue)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(max_wait_ms, (int, float)) or max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be a non-negative number, got {max_wait_ms!r}")
        self.rm = reward_model
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics or ServerMetrics()
        self.queued = 0  # rollouts waiting, not yet in a judge call
        self.in_flight = 0  # rollouts inside the judge call now
        self.closing = False
        self._jobs: "asyncio.Queue[_Job]" = asyncio.Queue()
        self._worker: Optional[asyncio.Task[None]] = None
        self._carry: Optional[_Job] = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, prompts: list[Any], completions: list[Any], *, reference: Any = None,
                     rubric: Any = None, completions_b: Optional[list[Any]] = None) -> list[Any]:
        """Queue one request's rollouts; returns their `JudgeResult` records in order."""
        n = len(prompts)
        if len(completions) != n:
            raise ValueError(f"prompts and completions must have the same length, got {n} and {len(completions)}")
        if completions_b is not None and len(completions_b) != n:
            raise ValueError(f"completions_b must have {n} items, got {len(completions_b)}")
        if self.closing:
            raise QueueFull("server is shutting down")
        if n > self.max_queue or self.queued + n > self.max_queue:
            raise QueueFull(f"queue holds {self.queued} of {self.max_queue} rollouts; request has {n}")
        job = _Job(list(prompts), list(completions), _rows("reference", reference, n), _rows("rubric", rubric, n),
                   None if completions_b is None else list(completions_b), asyncio.get_running_loop().create_future())
        self.queued += n
        await self._jobs.put(job)
        return await job.future

    async def _next_batch(self) -> list[_Job]:
        first = self._carry or await self._jobs.get()
        self._carry = None
        batch, size = [first], len(first.prompts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch_size:
            timeout = deadline - time.monotonic()
            try:
                job = self._jobs.get_nowait() if timeout <= 0 else await asyncio.wait_for(self._jobs.get(), timeout)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            # Pairwise and single jobs cannot share one score() call; a job that would overfill waits.
            if size + len(job.prompts) > self.max_batch_size or (job.completions_b is None) != (first.completions_b is None):
                self._carry = job
                break
            batch.append(job)
            size += len(job.prompts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            size = sum(len(j.prompts) for j in batch)
            self.queued -= size
            self.in_flight = size
            try:
                # The model is not thread-safe and one call at a time keeps the GPU batch whole: one executor call.
                outcomes = await loop.run_in_executor(None, self._score_jobs, batch)
            finally:
                self.in_flight = 0
            for job, outcome in zip(batch, outcomes):
                if job.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _score_jobs(self, batch: list[_Job]) -> list[Any]:
        try:
            results = self._score(batch)
        except Exception as exc:  # one bad request must not fail its neighbours: judge each job alone
            if len(batch) == 1:
                self.metrics.errors += 1
                if isinstance(exc, (ValueError, TypeError)):  # the request's own data: answered 422, not retried
                    logger.warning("rejected a request: %s", exc)
                    return [ValueError(str(exc))]
                logger.exception("scoring a request failed")
                return [_error()]
            logger.warning("a batch of %d requests failed; judging them one by one", len(batch))
            outcomes: list[Any] = []
            for job in batch:
                outcomes += self._score_jobs([job])
            return outcomes
        outcomes, start = [], 0
        for job in batch:
            outcomes.append(results[start: start + len(job.prompts)])
            start += len(job.prompts)
        return outcomes

    def _score(self, batch: list[_Job]) -> list[Any]:
        from reward_judge.reward_model import JudgeFailure

        size = sum(len(j.prompts) for j in batch)
        pairwise = batch[0].completions_b is not None
        try:
            results = self.rm.score(
                [p for j in batch for p in j.prompts], [c for j in batch for c in j.completions],
                reference=[r for j in batch for r in j.reference], rubric=[r for j in batch for r in j.rubric],
                completions_b=[c for j in batch for c in j.completions_b] if pairwise else None,  # type: ignore[union-attr]
            )
        except JudgeFailure as failure:  # fallback="raise" on the server: clients still get the failed records
            results = failure.results
        self.metrics.batches += 1
        self.metrics.rollouts += size
        self.metrics.max_batch = max(self.metrics.max_batch, size)
        self.metrics.batch_size.observe(size)
        self.metrics.fallbacks += sum(r.fallback for r in results)
        self.metrics.cache_hits += sum(r.cached for r in results)
        return results

    async def drain(self, timeout: float = 60.0) -> None:
        """Stop taking requests and wait (up to ``timeout`` s) until every queued rollout is judged."""
        self.closing = True
        deadline = time.monotonic() + timeout
        while (self.queued or self.in_flight) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._worker is not None:
            self._worker.cancel()


def _error() -> RuntimeError:
    return RuntimeError("the judge failed on this request; see the server log")


def _rows(name: str, value: Any, n: int) -> list[Any]:
    if value is None or isinstance(value, str):
        return [value] * n
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"{name} must be one value or a list of {n} values, got {str(value)[:80]!r}")
    return value


def completion_from_query(query: str, prompt: Optional[str]) -> str:
    """OpenRLHF sends ``query`` = prompt + response; the judge wants the response alone."""
    if prompt is not None and query.startswith(prompt):
        return query[len(prompt):]
    return query


def create_app(reward_model: Any, *, max_batch_size: int = 64, max_wait_ms: float = 10.0, max_queue: int = 1024,
               retry_after_s: int = 1, get_reward_fallback: float = 0.0, drain_timeout_s: float = 60.0) -> Any:
    """The FastAPI app serving ``reward_model``.

    ``get_reward_fallback`` is the number ``/get_reward`` sends where the judge gave no valid answer
    (OpenRLHF needs a number for every sample); each such row is flagged in ``extra_logs`` and counted
    in ``/metrics``.

    Example:
        >>> import uvicorn                                                     # doctest: +SKIP
        >>> rm = GenerativeRewardModel.from_pretrained("default")              # doctest: +SKIP
        >>> uvicorn.run(create_app(rm, max_batch_size=32), port=8000)          # doctest: +SKIP
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse, PlainTextResponse

    metrics = ServerMetrics()
    state: dict[str, MicroBatcher] = {}

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        batcher = MicroBatcher(reward_model, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                               max_queue=max_queue, metrics=metrics)
        batcher.start()
        state["batcher"] = batcher
        yield
        logger.info("draining %d queued rollouts before shutdown", batcher.queued + batcher.in_flight)
        await batcher.drain(drain_timeout_s)

    app = FastAPI(title="reward-judge", lifespan=lifespan)

    async def run(endpoint: str, prompts: Any, completions: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        for name, value in (("prompts", prompts), ("completions", completions)):
            if not isinstance(value, list):
                raise HTTPException(422, f"{name} must be a list, got {type(value).__name__}")
        try:
            results = await state["batcher"].submit(prompts, completions, **kwargs)
        except QueueFull as exc:
            metrics.rejected += 1
            return JSONResponse({"detail": f"server busy: {exc}"}, status_code=503,
                                headers={"Retry-After": str(retry_after_s)})
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        except RuntimeError as exc:
            raise HTTPException(500, str(exc)) from exc
        metrics.requests[endpoint] = metrics.requests.get(endpoint, 0) + 1
        metrics.latency.setdefault(endpoint, _Histogram(_LATENCY_BUCKETS)).observe(time.perf_counter() - started)
        return results

    @app.post("/v1/score")
    async def score(body: dict[str, Any]) -> Any:
        results = await run("score", body.get("prompts"), body.get("completions"), reference=body.get("reference"),
                            rubric=body.get("rubric"), completions_b=body.get("completions_b"))
        if isinstance(results, JSONResponse):
            return results
        return {"results": [r.to_dict() for r in results], "rewards": [r.reward for r in results]}

    @app.post("/get_reward")
    async def get_reward(body: dict[str, Any]) -> Any:
        queries = body.get("query")
        if not isinstance(queries, list):
            raise HTTPException(422, f"query must be a list of texts, got {type(queries).__name__}")
        prompts = body.get("prompts") or [None] * len(queries)
        if not isinstance(prompts, list) or len(prompts) != len(queries):
            raise HTTPException(422, f"prompts must be a list of {len(queries)} texts")
        labels = body.get("labels")
        completions = [completion_from_query(q, p) for q, p in zip(queries, prompts)]
        # Without a prompt the whole query is the judged text and the instruction is left empty.
        instructions = [p if p is not None else "" for p in prompts]
        reference = labels if isinstance(labels, list) and any(x not in (None, "") for x in labels) else None
        results = await run("get_reward", instructions, completions, reference=reference)
        if isinstance(results, JSONResponse):
            return results
        rewards = [get_reward_fallback if r.reward is None else r.reward for r in results]
        return {"rewards": rewards, "scores": rewards,
                "extra_logs": {"judge_fallback": [float(r.fallback) for r in results]}}

    @app.get("/health")
    async def health() -> Any:
        batcher = state.get("batcher")
        if batcher is None or batcher.closing:
            return JSONResponse({"status": "draining"}, status_code=503)
        return {"status": "ok", "judge": getattr(reward_model.backend, "identity", ""),
                "protocol": reward_model.protocol.name, "queued": batcher.queued}

    @app.get("/metrics")
    async def metrics_text() -> Any:
        batcher = state.get("batcher")
        depth = (batcher.queued + batcher.in_flight) if batcher else 0
        return PlainTextResponse(metrics.render(depth, reward_model.stats.as_dict()),
                                 media_type="text/plain; version=0.0.4")

    return app
