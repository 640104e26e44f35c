"""A pool of HTTP endpoints: load balancing, failover, retries with backoff, and a circuit breaker.

Both the OpenAI-compatible judge backend and the remote reward client talk to one or more servers
that may die, restart or shed load. This module holds that behaviour once:

- requests go round-robin over the endpoints whose circuit is closed;
- connection errors, timeouts, 429 and 5xx are retried with exponential backoff and full jitter,
  honouring ``Retry-After``; each retry prefers another endpoint (failover);
- after ``breaker_failures`` consecutive failures an endpoint is skipped for ``breaker_cooldown``
  seconds, so one dead URL does not add a timeout to every call;
- any other 4xx is the caller's mistake and raises at once with the server's message;
- an answer that is not JSON is a failed attempt like a 5xx (retried, then `EndpointError`).

Secrets stay out of reprs and logs: header values (the ``Authorization`` bearer token) are never printed,
and a URL's user:password part is shown as ``***``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Optional, Sequence, TypeVar, Union
from urllib.parse import urlsplit, urlunsplit

from .base import BackendError

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class EndpointError(BackendError):
    """A request that failed for good: every attempt failed, or the server rejected it (4xx).

    ``status`` is the last HTTP status (``None`` for connection errors and timeouts).
    """

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0


@dataclass
class RetryPolicy:
    """How a pool retries.

    Example:
        >>> RetryPolicy(max_attempts=4, backoff_base=0.1).delay(2, None) <= 0.4
        True
    """

    max_attempts: int = 4
    """Tries per request, over all endpoints, before it fails."""
    backoff_base: float = 0.25
    """First backoff in seconds; doubles on every retry (full jitter: a random share of it is slept)."""
    backoff_max: float = 8.0
    """Cap of one backoff (also caps a server's ``Retry-After``)."""
    breaker_failures: int = 3
    """Consecutive failures that open an endpoint's circuit."""
    breaker_cooldown: float = 10.0
    """Seconds an open circuit skips its endpoint before one request probes it again."""

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {self.max_attempts!r}")
        for name in ("backoff_base", "backoff_max", "breaker_cooldown"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if not isinstance(self.breaker_failures, int) or self.breaker_failures < 1:
            raise ValueError(f"breaker_failures must be a positive integer, got {self.breaker_failures!r}")

    def delay(self, retry: int, retry_after: Optional[float]) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            # The server said when it will have room; a little jitter keeps clients from returning together.
            return min(self.backoff_max, retry_after) * (1 + 0.25 * random.random())
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (retry - 1)))


def redact_url(url: str) -> str:
    """``url`` with a ``user:password@`` part replaced by ``***@`` (for logs and error messages).

    Example:
        >>> redact_url("https://me:s3cret@judge.example:8000/v1"), redact_url("http://127.0.0.1:8000")
        ('https://***@judge.example:8000/v1', 'http://127.0.0.1:8000')
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def normalize_urls(urls: Union[str, Sequence[str]], argument: str = "base_url") -> list[str]:
    """One URL or a list (or a comma-separated string) -> list of URLs without trailing slash."""
    if isinstance(urls, str):
        items = [u.strip() for u in urls.split(",")]
    elif isinstance(urls, Sequence):
        items = [str(u).strip() for u in urls]
    else:
        raise ValueError(f"{argument} must be a URL or a list of URLs, got {urls!r}")
    items = [u.rstrip("/") for u in items if u]
    if not items:
        raise ValueError(f"{argument} must name at least one URL, got {urls!r}")
    for url in items:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{argument} entries must start with http:// or https://, got {url!r}")
    return items


@dataclass(repr=False)
class EndpointPool:
    """Sends JSON requests to a set of equivalent servers (async; see `LoopThread` for sync callers).

    Its repr names the endpoints and the header names, never a header's value (the bearer token).

    Example:
        >>> pool = EndpointPool(["http://127.0.0.1:8000"], headers={"Authorization": "Bearer s3cret"})
        >>> pool
        EndpointPool(urls=['http://127.0.0.1:8000'], timeout=60.0, headers={'Authorization': '***'}, max_concurrency=64)
        >>> await pool.post_json("/v1/score", {"prompts": ["Hi"], "completions": ["Hello"]})      # doctest: +SKIP
    """

    urls: list[str]
    timeout: float = 60.0
    """Seconds one HTTP attempt may take (connect + answer)."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    headers: dict[str, str] = field(default_factory=dict)
    max_concurrency: int = 64
    """Requests in flight at once from this pool."""
    transport: Any = None
    """An ``httpx.AsyncBaseTransport`` to send through instead of the network (``httpx.MockTransport`` in tests)."""

    def __post_init__(self) -> None:
        self.urls = normalize_urls(self.urls)
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {self.max_concurrency!r}")
        self._circuits = {url: _Circuit() for url in self.urls}
        self._next = 0
        self._lock = threading.Lock()
        # Clients and semaphores belong to one event loop; they are made on first use in that loop.
        self._client: Any = None
        self._semaphore: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.retries = 0
        self.failovers = 0

    def __repr__(self) -> str:
        urls = [redact_url(u) for u in self.urls]
        headers = {name: "***" for name in self.headers}
        return (f"EndpointPool(urls={urls!r}, timeout={self.timeout!r}, headers={headers!r}, "
                f"max_concurrency={self.max_concurrency!r})")

    # ------------------------------------------------------------ endpoint choice
    def _order(self) -> list[str]:
        """Endpoints to try, best first: closed circuits round-robin, then open ones by earliest reopening."""
        now = time.monotonic()
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.urls)
        rotated = self.urls[start:] + self.urls[:start]
        closed = [u for u in rotated if self._circuits[u].open_until <= now]
        opened = sorted((u for u in rotated if self._circuits[u].open_until > now), key=lambda u: self._circuits[u].open_until)
        return closed + opened

    def _record(self, url: str, ok: bool) -> None:
        with self._lock:
            circuit = self._circuits[url]
            if ok:
                circuit.failures, circuit.open_until = 0, 0.0
                return
            circuit.failures += 1
            if circuit.failures >= self.policy.breaker_failures:
                if circuit.open_until <= time.monotonic():
                    logger.warning("circuit open for %s after %d consecutive failures: skipping it for %.1f s",
                                   redact_url(url), circuit.failures, self.policy.breaker_cooldown)
                circuit.open_until = time.monotonic() + self.policy.breaker_cooldown

    def circuit_open(self, url: str) -> bool:
        """Whether ``url`` is being skipped right now."""
        return self._circuits[url].open_until > time.monotonic()

    # ------------------------------------------------------------------ sending
    async def _ensure_client(self) -> Any:
        """This loop's client (and semaphore); a client made in another loop is closed, not dropped."""
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._client is not None:
                await _retire(self._client, self._loop)
            self._loop = loop
            limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits, headers=self.headers,
                                             transport=self.transport)
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._client

    async def post_json(self, path: str, payload: dict[str, Any], *, attempts: Optional[int] = None) -> Any:
        """POST ``payload`` to ``path`` on some endpoint and return the decoded JSON answer.

        ``attempts`` overrides the policy's number of tries (1 for a probe whose failure is an answer). The
        concurrency limit counts requests on the wire: a request waiting out its backoff holds no slot.
        """
        import httpx

        max_attempts = attempts or self.policy.max_attempts

        client = await self._ensure_client()
        semaphore = self._semaphore
        assert semaphore is not None
        last_error = "no attempt made"
        last_status: Optional[int] = None
        previous: Optional[str] = None
        # One order per request: attempt k goes to its k-th endpoint, so a retry fails over to the next one (an
        # order taken again per attempt rotates with the round-robin, and with two endpoints sent every retry
        # back to the endpoint that had just failed). Past the last endpoint, each retry goes to the best one now.
        order = self._order()
        for attempt in range(max_attempts):
            url = order[attempt] if attempt < len(order) else self._order()[0]
            self.failovers += previous is not None and url != previous
            previous = url
            where = f"{redact_url(url)}{path}"
            retry_after: Optional[float] = None
            try:
                async with semaphore:
                    try:
                        response = await client.post(url + path, json=payload)
                    except asyncio.CancelledError:  # the caller's deadline ran out waiting for this endpoint
                        self._record(url, ok=False)
                        raise
            except httpx.HTTPError as exc:  # connection refused/reset, timeouts, protocol errors
                self._record(url, ok=False)
                last_error, last_status = f"{where}: {type(exc).__name__}: {exc or 'no detail'}", None
            else:
                if response.status_code < 400:
                    try:
                        answer = response.json()
                    except ValueError as exc:  # a proxy's HTML page, a truncated body: the attempt failed
                        self._record(url, ok=False)
                        last_error = f"{where}: HTTP {response.status_code} answer is not JSON ({exc}): " \
                                     f"{response.text[:200]!r}"
                        last_status = None
                    else:
                        self._record(url, ok=True)
                        return answer
                else:
                    body = response.text[:500]
                    last_error, last_status = f"{where}: HTTP {response.status_code}: {body}", response.status_code
                    if response.status_code not in RETRY_STATUS:
                        raise EndpointError(f"request rejected by {last_error}", response.status_code)
                    # 429/503 mean "busy", not "broken": they do not open the circuit.
                    self._record(url, ok=response.status_code in (429, 503))
                    retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt + 1 < max_attempts:
                self.retries += 1
                delay = self.policy.delay(attempt + 1, retry_after)
                logger.info("retry %d of %s in %.2f s after %s", attempt + 1, path, delay, last_error)
                await asyncio.sleep(delay)
        raise EndpointError(f"{path} failed after {max_attempts} attempts over {len(self.urls)} "
                            f"endpoint(s); last error: {last_error}", last_status)

    async def get(self, path: str) -> Any:
        """GET ``path`` from the first endpoint that answers (health checks, metrics); returns the response."""
        import httpx

        client = await self._ensure_client()
        errors = []
        for url in self._order():
            try:
                response = await client.get(url + path)
                return response
            except httpx.HTTPError as exc:
                errors.append(f"{redact_url(url)}: {type(exc).__name__}")
        raise EndpointError(f"GET {path} failed on every endpoint: {'; '.join(errors)}")

    async def aclose(self) -> None:
        if self._client is not None:
            client, loop = self._client, self._loop
            self._client = self._loop = None
            if loop is asyncio.get_running_loop():
                await client.aclose()
            else:
                await _retire(client, loop)


async def _retire(client: Any, loop: Optional[asyncio.AbstractEventLoop]) -> None:
    """Close an ``httpx.AsyncClient`` made in ``loop`` from another loop (its connections belong to ``loop``)."""
    if loop is not None and loop.is_running() and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(client.aclose(), loop)  # its own loop closes it; nothing to wait for here
        return
    try:  # its loop is gone: close what can be closed from here, the sockets go with the loop's transports
        await client.aclose()
    except Exception as exc:  # noqa: BLE001 - closing a dead loop's connections may fail in many ways
        logger.debug("closing an HTTP client of a finished event loop: %s: %s", type(exc).__name__, exc)


def _retry_after(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from reward servers, fall back to our own backoff


class LoopThread:
    """An event loop in a daemon thread, so sync code (and code already inside a loop) can run coroutines.

    Example:
        >>> runner = LoopThread()
        >>> async def two(): return 2
        >>> runner.run(two())
        2
        >>> runner.close()
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="reward-judge-http", daemon=True)
        self._thread.start()

    def submit(self, coroutine: Awaitable[T]) -> "concurrent.futures.Future[T]":
        """Start ``coroutine`` on this loop; its future (``await asyncio.wrap_future(f)`` from another loop)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]

    def run(self, coroutine: Awaitable[T], timeout: Optional[float] = None) -> T:
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop, wait for its thread, and close the loop (its selector and file descriptors)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)  # handled as soon as the loop runs, if it has not started yet
        self._thread.join(timeout=5)
        if self._thread.is_alive():  # a coroutine blocks the loop: closing it now would raise in that thread
            logger.warning("the HTTP loop thread did not stop within 5 s; its loop is left open")
            return
        self._loop.close()
