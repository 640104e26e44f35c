"""The reward server's front door: API key, request size limit, and the key kept out of every log.

`RequestGuard` is plain ASGI middleware in front of the app:

- **API key.** With a key set, every path but ``/health`` needs it, as ``Authorization: Bearer <key>``
  or, for clients that cannot send headers (OpenRLHF's ``--reward.remote_url`` takes only a URL), as
  the query parameter ``?api_key=<key>``. Keys are compared in constant time
  (`hmac.compare_digest`). A request without the right key gets 401 with ``WWW-Authenticate: Bearer``.
- **The key never reaches a log.** The ``api_key`` parameter is removed from the request's query
  string before anything else sees it; uvicorn's access log reads the same request scope, so it
  prints the path without the key.
- **Body size.** A body over ``max_body_bytes`` is refused with 413 naming the limit (by its
  ``Content-Length`` before reading, or while reading a chunked body).
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qsl, urlencode

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

API_KEY_ENV = "REWARD_JUDGE_API_KEY"
"""Environment variable holding the key, read by the server and by its clients."""
API_KEY_PARAM = "api_key"
DEFAULT_MAX_REQUEST_BYTES = 32 << 20
AUTHORIZED = "reward_judge.authorized"
"""Scope key: whether the request carried the right key (or no key is required)."""


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Optional[list[tuple[bytes, bytes]]] = None) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


def pop_query_key(scope: Scope) -> Optional[str]:
    """Remove ``api_key`` from the scope's query string (in place) and return its value."""
    raw = scope.get("query_string") or b""
    if API_KEY_PARAM.encode() not in raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    keys = [value for name, value in pairs if name == API_KEY_PARAM]
    scope["query_string"] = urlencode([(n, v) for n, v in pairs if n != API_KEY_PARAM]).encode("latin-1")
    return keys[-1] if keys else None


def bearer(scope: Scope) -> Optional[str]:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class RequestGuard:
    """ASGI middleware: API key check, body size limit, key scrubbed from the query string.

    ``on_refused(reason)`` is called for every refusal (``"unauthorized"``, ``"too_large"``).

    Example:
        >>> app = RequestGuard(fastapi_app, api_key="s3cret", max_body_bytes=32 << 20)   # doctest: +SKIP
    """

    def __init__(self, app: Any, *, api_key: Optional[str] = None, max_body_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 open_paths: tuple[str, ...] = ("/health",), on_refused: Optional[Callable[[str], None]] = None):
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValueError("api_key must be a non-empty string or None")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive integer, got {max_body_bytes!r}")
        self.app = app
        self._key = api_key.encode("utf-8") if api_key else None
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths
        self.on_refused = on_refused

    def _refused(self, reason: str) -> None:
        if self.on_refused is not None:
            self.on_refused(reason)

    def authorized(self, supplied: Optional[str]) -> bool:
        if self._key is None:
            return True
        # compare_digest on bytes of any length: the time does not depend on where they differ
        return supplied is not None and hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query_key = pop_query_key(scope)  # removed whether or not a header also carries a key
        supplied = bearer(scope) or query_key
        scope[AUTHORIZED] = self.authorized(supplied)
        if not scope[AUTHORIZED] and scope["path"] not in self.open_paths:
            self._refused("unauthorized")
            detail = ("missing API key: send 'Authorization: Bearer <key>' or add '?api_key=<key>' to the URL"
                      if supplied is None else "wrong API key")
            await send_json(send, 401, {"detail": detail}, [(b"www-authenticate", b'Bearer realm="reward-judge"')])
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await self._too_large(send, receive, f"the request body has {length} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, receive, f"the request body has more than {self.max_body_bytes} bytes",
                                      more=bool(message.get("more_body", False)))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, receive: Receive, what: str, more: bool = True) -> None:
        self._refused("too_large")
        # Read (and drop) what the client is still sending, so it reads our answer instead of a reset
        # connection; a body far past the limit is cut off.
        drained = 0
        while more and drained < 4 * self.max_body_bytes:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send_json(send, 413, {"detail": f"request too large: {what}; this server takes at most "
                                              f"{self.max_body_bytes} bytes per request (--max-request-bytes)"})


def _content_length(scope: Scope) -> Optional[int]:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
