"""Micro-batching: many small scoring requests become few judge calls.

`MicroBatcher` (asyncio) takes what is queued, waits at most ``max_wait_ms`` for more, up to
``max_batch_size`` rollouts, and judges them in one ``score`` call; the reward server runs one per
process. Batching never changes a reward: each request's rows are their own groups (``group_ids``), so
a pairwise or listwise judge compares a request's completions with each other only, whatever else
arrived in the same window. `ThreadedBatcher` runs one on its own event loop for callers in plain threads (OpenRLHF calls
an in-process ``reward_func`` from a thread per sample; verl's reward loop calls ``compute_score`` from
an executor), so their concurrent single-sample calls reach the judge as batches too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from reward_judge.judge_input import encode
from reward_judge.special_tokens import control_token_count

logger = logging.getLogger(__name__)
judge_input_logger = logging.getLogger("reward_judge.integrations.judge_input")
"""At DEBUG, logs the exact text the judge reads for every rollout, one JSON string per line
(``reward-judge serve --log-judge-inputs``; or ``logging.getLogger(...).setLevel(logging.DEBUG)``)."""


class QueueFull(RuntimeError):
    """The queue cannot take the request now; it could later (the server answers 503 + Retry-After)."""


class RequestTooLarge(ValueError):
    """The request can never be taken: it has more rollouts than the whole queue (the server answers 413)."""


@dataclass
class _Job:
    prompts: list[Any]
    completions: list[Any]
    reference: list[Optional[str]]
    rubric: list[Any]
    completions_b: Optional[list[Any]]
    future: "asyncio.Future[list[Any]]"


def rows(name: str, value: Any, n: int) -> list[Any]:
    """One value for every row, or a list of exactly ``n`` values (``name`` is the caller's field name)."""
    if value is None or isinstance(value, (str, dict)):  # one text, or one rubric object, for every row
        return [value] * n
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"{name} must be one value or a list of {n} values, got {str(value)[:80]!r}")
    return value


class MicroBatcher:
    """Collects scoring jobs from many requests and judges them together.

    ``on_batch(size, results)`` is called after every judge call, ``on_error()`` for every request
    that failed (metrics hooks).

    Example:
        >>> batcher = MicroBatcher(rm, max_batch_size=64, max_wait_ms=20, max_queue=1024)   # doctest: +SKIP
        >>> results = await batcher.submit(["2+2?"], ["4"])                               # doctest: +SKIP
    """

    def __init__(self, reward_model: Any, *, max_batch_size: int = 64, max_wait_ms: float = 10.0,
                 max_queue: int = 1024, on_batch: Optional[Callable[[int, list[Any]], None]] = None,
                 on_error: Optional[Callable[[], None]] = None):
        for name, value in (("max_batch_size", max_batch_size), ("max_queue", max_queue)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be a non-negative number, got {max_wait_ms!r}")
        self.rm = reward_model
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.on_error = on_error
        self.queued = 0  # rollouts waiting, not yet in a judge call
        self.in_flight = 0  # rollouts inside the judge call now
        self.closing = False
        self._jobs: "Optional[asyncio.Queue[_Job]]" = None
        self._worker: Optional[asyncio.Task[None]] = None
        self._carry: Optional[_Job] = None

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._jobs = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, prompts: list[Any], completions: list[Any], *, reference: Any = None,
                     rubric: Any = None, completions_b: Optional[list[Any]] = None) -> list[Any]:
        """Queue one request's rollouts; returns their `JudgeResult` records in order."""
        n = len(prompts)
        if len(completions) != n:
            raise ValueError(f"prompts and completions must have the same length, got {n} and {len(completions)}")
        if completions_b is not None:  # one text (the same opponent for every row) or one per row
            completions_b = rows("completions_b", completions_b, n)
        if n > self.max_queue:
            raise RequestTooLarge(f"the request has {n} rollouts and the queue holds at most {self.max_queue}")
        if self.closing:
            raise QueueFull("server is shutting down")
        if self.queued + n > self.max_queue:
            raise QueueFull(f"queue holds {self.queued} of {self.max_queue} rollouts; request has {n}")
        if self._jobs is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        job = _Job(list(prompts), list(completions), rows("reference", reference, n), rows("rubric", rubric, n),
                   None if completions_b is None else list(completions_b), asyncio.get_running_loop().create_future())
        self.queued += n
        await self._jobs.put(job)
        return await job.future

    async def _next_batch(self) -> list[_Job]:
        assert self._jobs is not None
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
            for job, outcome in zip(batch, outcomes, strict=True):
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
                if isinstance(exc, (ValueError, TypeError)):  # the request's own data: answered 422 (counted as
                    logger.warning("rejected a request: %s", exc)  # refused, not as a failed judging), not retried
                    return [ValueError(str(exc))]
                if self.on_error is not None:
                    self.on_error()
                logger.exception("scoring a request failed")
                return [RuntimeError("the judge failed on this request; see the server log")]
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

        pairwise = batch[0].completions_b is not None
        if judge_input_logger.isEnabledFor(logging.DEBUG):
            self._log_inputs(batch)
        try:
            results = self.rm.score(
                [p for j in batch for p in j.prompts], [c for j in batch for c in j.completions],
                reference=[r for j in batch for r in j.reference], rubric=[r for j in batch for r in j.rubric],
                completions_b=[c for j in batch for c in j.completions_b] if pairwise else None,  # type: ignore[union-attr]
                # one group id per request: another client's rows never join this request's groups
                group_ids=[k for k, j in enumerate(batch) for _ in j.prompts],
            )
        except JudgeFailure as failure:  # fallback="raise" on the server: clients still get the failed records
            results = failure.results
        if self.on_batch is not None:
            self.on_batch(sum(len(j.prompts) for j in batch), results)
        return results

    def _log_inputs(self, batch: list[_Job]) -> None:
        for j, job in enumerate(batch):
            rows_b = job.completions_b or [None] * len(job.prompts)
            for i, (prompt, completion, reference, rubric, completion_b) in enumerate(
                    zip(job.prompts, job.completions, job.reference, job.rubric, rows_b, strict=True)):
                try:
                    request = self.rm.request(prompt, completion, reference=reference, rubric=rubric,
                                              completion_b=completion_b)
                except (ValueError, TypeError) as exc:  # the scoring call reports it to the caller
                    judge_input_logger.debug("judge input (request %d, row %d): %s", j, i,
                                             json.dumps(f"<not rendered: {exc}>"))
                    continue
                judge_input_logger.debug("judge input (request %d, row %d): %s", j, i, json.dumps(request.input.text))
                tokenizer = getattr(self.rm.backend, "tokenizer", None)
                if tokenizer is not None:  # what the judge's tokens hold: its own control tokens only
                    ids = encode(tokenizer, request.input)
                    judge_input_logger.debug("judge input tokens (request %d, row %d): %d tokens, %d control", j, i,
                                             len(ids), control_token_count(tokenizer, ids))

    async def drain(self, timeout: float = 60.0) -> None:
        """Stop taking requests and wait (up to ``timeout`` s) until every queued rollout is judged."""
        self.closing = True
        deadline = time.monotonic() + timeout
        while (self.queued or self.in_flight) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass


class ThreadedBatcher:
    """A `MicroBatcher` on its own event loop thread, for callers in plain threads.

    Concurrent ``score`` calls from different threads are judged together (up to
    ``max_batch_size`` rollouts, waiting at most ``max_wait_ms`` for company).

    Example:
        >>> shared = ThreadedBatcher(rm, max_batch_size=32, max_wait_ms=20)     # doctest: +SKIP
        >>> shared.score(["2+2?"], ["4"])[0].reward                            # doctest: +SKIP
        0.75
    """

    def __init__(self, reward_model: Any, *, max_batch_size: int = 64, max_wait_ms: float = 20.0):
        from reward_judge.backends.http_pool import LoopThread

        self.rm = reward_model
        self._batcher = MicroBatcher(reward_model, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                                     max_queue=1 << 30)
        self._runner = LoopThread()

        async def start() -> None:
            self._batcher.start()

        self._runner.run(start())

    def score(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[Any]:
        """`JudgeResult` records for these rollouts (``reference``, ``rubric``: one value or one per row)."""
        return self._runner.run(self._batcher.submit(list(prompts), list(completions), **columns))

    async def ascore(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[Any]:
        """`score` for a caller on its own event loop (verl's reward loop, slime's rollout): awaits the batch
        without blocking that loop."""
        return await asyncio.wrap_future(self._runner.submit(self._batcher.submit(list(prompts), list(completions),
                                                                                  **columns)))

    def close(self) -> None:
        self._runner.run(self._batcher.drain(timeout=60))
        self._runner.close()
