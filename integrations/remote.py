"""`RemoteRewardModel`: a TRL reward function that asks a shared ``reward-judge serve`` instance."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from typing import Any, Optional, Sequence, Union

from reward_judge.backends.http_pool import EndpointError, EndpointPool, LoopThread, RetryPolicy, normalize_urls
from reward_judge.extras import require_extra

from .server_guard import API_KEY_ENV

logger = logging.getLogger(__name__)


class NoAnswer(RuntimeError):
    """No reward server answered in time (`RemoteRewardModel.apost`); the rows are counted as fallbacks."""


class RemoteRewardModel:
    """Rewards from a ``reward-judge serve`` server, so every trainer rank shares one judge.

    Calls go to ``POST /v1/score`` on one of ``url`` (a URL or a list: load-balanced, with failover,
    retries with backoff on connection errors, 429 and 5xx, and a circuit breaker). A call never
    takes longer than ``timeout`` seconds: when no server answers in time, every rollout of the call
    gets ``fallback`` (``None``: TRL leaves the sample out) and ``stats["fallbacks"]`` counts them.
    One attempt takes at most ``request_timeout`` (default: ``timeout``, or with several URLs
    ``timeout / (len(url) + 1)``, so a server that accepts and never answers is failed over in time).
    ``api_key`` (default: ``$REWARD_JUDGE_API_KEY``) is sent as ``Authorization: Bearer``; a server
    that refuses it raises ``PermissionError`` at once (no retries, no fallback: it is a set-up error).
    Picklable (connections are rebuilt in the process that uses it).

    Example:
        >>> from reward_judge.integrations.remote import RemoteRewardModel
        >>> reward = RemoteRewardModel("http://127.0.0.1:8000", timeout=120)         # doctest: +SKIP
        >>> reward(prompts=["What is 2+2?"], completions=["4"])                     # doctest: +SKIP
        [0.75]
        >>> trainer = GRPOTrainer(model, reward_funcs=[reward], ...)                # doctest: +SKIP
    """

    def __init__(
        self,
        url: Union[str, Sequence[str]],
        *,
        timeout: float = 300.0,
        request_timeout: Optional[float] = None,
        max_retries: int = 6,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        fallback: Optional[float] = None,
        name: str = "remote_judge",
        forward_columns: Sequence[str] = ("reference", "rubric"),
        api_key: Optional[str] = None,
    ):
        require_extra("serve", "httpx", feature="RemoteRewardModel")
        self.urls = normalize_urls(url, "url")
        if api_key is None:
            api_key = os.environ.get(API_KEY_ENV) or None
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValueError("api_key must be a non-empty string or None")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if fallback is not None and (isinstance(fallback, bool) or not isinstance(fallback, (int, float))):
            raise ValueError(f"fallback must be None or a number, got {fallback!r}")
        self.timeout = float(timeout)
        # with several servers one attempt may not take the whole budget: a hung server (it accepts, never answers)
        # would use it up, and the call would fall back instead of failing over to the next server
        self.request_timeout = float(request_timeout or (timeout if len(self.urls) == 1 else timeout / (len(self.urls) + 1)))
        self.policy = RetryPolicy(max_attempts=max_retries + 1, backoff_base=backoff_base, backoff_max=backoff_max)
        self.fallback = fallback
        self.forward_columns = tuple(forward_columns)
        self.api_key = api_key
        self.__name__ = name
        self.stats: Counter = Counter()
        self._pool: Optional[EndpointPool] = None
        self._runner: Optional[LoopThread] = None
        self._runner_lock = threading.Lock()

    # --------------------------------------------------------------- plumbing
    @property
    def pool(self) -> EndpointPool:
        if self._pool is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._pool = EndpointPool(self.urls, timeout=self.request_timeout, policy=self.policy, headers=headers)
        return self._pool

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = state["_runner"] = None  # sockets and threads do not travel
        del state["_runner_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._runner_lock = threading.Lock()

    def _payload(self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have the same length, got {len(prompts)} and {len(completions)}")
        payload: dict[str, Any] = {"prompts": list(prompts), "completions": list(completions)}
        for column in self.forward_columns:
            if kwargs.get(column) is not None:
                payload[column] = list(kwargs[column]) if not isinstance(kwargs[column], str) else kwargs[column]
        return payload

    # ------------------------------------------------------------------ scoring
    async def apost(self, path: str, payload: dict[str, Any], rows: int) -> Any:
        """POST ``payload`` to ``path`` on a server and return its JSON answer; `NoAnswer` when no server answered
        within ``timeout`` (counted as ``rows`` fallbacks). A refused key raises ``PermissionError``, a request
        the server judged invalid (4xx but 408/429) ``ValueError``; 5xx and connection errors are retried."""
        self.stats["calls"] += 1
        self.stats["rollouts"] += rows
        try:
            return await asyncio.wait_for(self.pool.post_json(path, payload), self.timeout)
        except (EndpointError, asyncio.TimeoutError) as exc:
            if isinstance(exc, EndpointError) and exc.status == 401:
                sent = "a wrong key was sent" if self.api_key else "no key was sent"
                raise PermissionError(f"the reward server refused this client ({sent}): pass api_key= or set "
                                      f"${API_KEY_ENV}; {exc}") from exc
            if isinstance(exc, EndpointError) and exc.status is not None and 400 <= exc.status < 500 \
                    and exc.status not in (408, 429):
                # The server judged the request itself invalid: the caller's bug, not an outage to paper over.
                raise ValueError(f"the reward server rejected the rollouts: {exc}") from exc
            reason = "timed out after %.1f s" % self.timeout if isinstance(exc, asyncio.TimeoutError) else str(exc)
            self.stats["fallbacks"] += rows
            self.stats["failed_calls"] += 1
            logger.warning("reward server gave no answer for %d rollouts (%s); reward %r applied", rows, reason,
                           self.fallback)
            raise NoAnswer(f"reward server: {reason}") from exc
        finally:
            # the pool is this client's own: its count is this client's retries (a difference taken around one
            # request counted every other request's retries in flight meanwhile too)
            self.stats["retries"] = self.pool.retries

    async def ascore(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[dict[str, Any]]:
        """Full `JudgeResult` records (as dicts) from the server; fallback records when none answers in time."""
        fit = kwargs.pop("fit_columns", False)
        payload = self._payload(prompts, completions, kwargs)
        if fit:  # the server leaves out the columns its judge has no slot for (a framework's label, rubric)
            payload["fit_columns"] = True
        try:
            answer = await self.apost("/v1/score", payload, len(prompts))
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(prompts) \
                    or not all(isinstance(r, dict) for r in results):
                self.stats["fallbacks"] += len(prompts)
                reason = (f"reward server: it returned {len(results) if isinstance(results, list) else 'no'} results "
                          f"for {len(prompts)} rollouts" if not isinstance(results, list) or len(results) != len(prompts)
                          else f"reward server: it answered without a list of result records: {str(answer)[:200]}")
                logger.warning("%s; reward %r applied", reason, self.fallback)
                raise NoAnswer(reason)
        except NoAnswer as exc:
            return [{"reward": self.fallback, "ok": False, "fallback": True, "error": str(exc)} for _ in prompts]
        return results

    async def acall(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                    **kwargs: Any) -> list[Optional[float]]:
        """Async reward function: awaitable ``list[float | None]``."""
        return [r["reward"] for r in await self.ascore(prompts, completions, **kwargs)]

    def score(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[dict[str, Any]]:
        """Sync `ascore`."""
        with self._runner_lock:  # callers in several threads (verl's executor) share one loop thread
            if self._runner is None:
                self._runner = LoopThread()
        # The pool's client belongs to the runner's loop; the extra seconds let wait_for fire first.
        return self._runner.run(self.ascore(prompts, completions, **kwargs), timeout=self.timeout + 30)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **kwargs: Any) -> list[Optional[float]]:
        """TRL reward function: ``list[float | None]`` in input order."""
        return [r["reward"] for r in self.score(prompts, completions, **kwargs)]

    def as_async(self) -> "AsyncRemoteRewardModel":
        """The same reward as a coroutine function (TRL awaits it alongside other async rewards)."""
        return AsyncRemoteRewardModel(self)

    def close(self) -> None:
        if self._runner is not None:
            if self._pool is not None:
                self._runner.run(self._pool.aclose())
            self._runner.close()
            self._runner, self._pool = None, None


class AsyncRemoteRewardModel:
    """`RemoteRewardModel` whose call is a coroutine: ``await reward(prompts, completions)``.

    Example:
        >>> reward = RemoteRewardModel("http://127.0.0.1:8000").as_async()   # doctest: +SKIP
        >>> await reward(["What is 2+2?"], ["4"])                            # doctest: +SKIP
    """

    def __init__(self, remote: RemoteRewardModel):
        self.remote = remote
        self.__name__ = remote.__name__

    @property
    def stats(self) -> Counter:
        return self.remote.stats

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                       **kwargs: Any) -> list[Optional[float]]:
        return await self.remote.acall(prompts, completions, completion_ids, **kwargs)
