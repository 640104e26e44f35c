"""`reward-judge serve`: one judge, loaded once, shared by every trainer process over HTTP.

Endpoints:

- ``POST /get_reward``: OpenRLHF's remote reward convention (``query``, ``prompts``, ``labels`` ->
  ``rewards``, ``scores``, ``extra_logs``), so ``--reward.remote_url http://host:port/get_reward`` works
  unchanged. The prompts are chat-templated by the policy: the conversation is read back from them
  (`policy_prompts.PolicyPromptReader`) and the policy's trailing end-of-turn text is cut from the response,
  so the judge reads the conversation and the answer, never the policy's chat markup;
- ``POST /v1/score``: prompts (text or chat messages), completions, optional reference / rubric /
  completions_b -> the full `JudgeResult` fields. With ``rubrics`` (a list: names, rubric texts or
  ``{"criteria", "score1_description", ...}`` objects) instead of ``rubric``, every rollout is judged on
  every rubric in one judge call (its rubric variants share their prompt prefix's KV cache) and the answer
  holds ``results[i][j]`` / ``rewards[i][j]`` for rollout ``i`` and rubric ``j``, and the ``rubrics``' labels;
- ``POST /slime/reward``: slime's ``remote_rm`` request (``prompt``, ``response``, ``label``) -> the reward as a
  JSON number (``--rm-type remote_rm --rm-url http://host:port/slime/reward``); like ``/get_reward`` it
  sends ``--get-reward-fallback`` where the judge gave no valid answer (counted in ``/metrics``);
- ``GET /health`` (always open) and ``GET /metrics`` (Prometheus exposition, `server_metrics`).

Requests from all clients are micro-batched (`batcher.MicroBatcher`), so client concurrency becomes
judge batch size. Answers that are not a score:

- **503 + Retry-After** only for "busy now": the queue is full or the server is draining; the same
  request can succeed later;
- **413** for a request that can never be taken: more rows than ``max_request_rows`` or than the whole
  queue, or a body over ``max_request_bytes``; the answer names the limit;
- **401** without the API key when one is set (`server_guard`); **400 / 422** for malformed requests,
  naming the field the client sent (``labels`` of ``/get_reward``, not our internal ``reference``): a body
  that is not JSON, JSON nested deeper than `MAX_JSON_DEPTH` levels, a ``NaN``/``Infinity`` constant
  (not JSON), a ``/get_reward`` without ``prompts`` (422: without them the response cannot be told from the
  policy's own chat markup; OpenRLHF always sends them). A hostile body never gets a 500.

Reading a body (JSON decoding, the policy-prompt split of ``/get_reward``) runs in a worker thread, in
linear time, within ``parse_timeout_s`` (a body that takes longer is answered 413), so ``/health`` and the
other clients never wait for it.

No CORS headers are sent (browsers on other origins cannot call it), the interactive API docs are
off, and the command binds 127.0.0.1 unless told otherwise. On shutdown the server stops taking
requests and finishes the queued ones.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations (``Request``, imported
# lazily inside create_app) as objects.
import asyncio
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from reward_judge.rubric_rewards import rubric_label

from .batcher import MicroBatcher, QueueFull, RequestTooLarge
from .openrlhf import read_request
from .policy_prompts import PolicyPromptReader
from .server_guard import API_KEY_ENV, AUTHORIZED, DEFAULT_MAX_REQUEST_BYTES, RequestGuard
from .server_metrics import ServerMetrics
from .judge_settings import fit_columns, readable_columns
from .slime import read_remote_request, read_sample

__all__ = ["create_app", "MicroBatcher", "QueueFull", "API_KEY_ENV", "DEFAULT_MAX_REQUEST_BYTES", "MAX_JSON_DEPTH",
           "BadBody", "read_json_body"]

logger = logging.getLogger(__name__)

SCORE_FIELDS = ("prompts", "completions", "reference", "rubric", "rubrics", "completions_b", "fit_columns")
GET_REWARD_FIELDS = {"completions": "query", "reference": "labels"}
"""Our names -> the names an OpenRLHF client sent, for error messages of ``/get_reward``."""
SLIME_FIELDS = {"completions": "response", "reference": "label"}


MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a request body may have (chat messages need 4)."""
DEFAULT_PARSE_TIMEOUT_S = 10.0


class BadBody(ValueError):
    """A request body the server cannot read (answered 400, with this message)."""


def _no_constant(name: str) -> Any:
    raise BadBody(f"the request body holds {name}, which is not JSON (send numbers, or null)")


def read_json_body(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The decoded body, or `BadBody` naming what is wrong: not JSON, NaN/Infinity, nested deeper than ``max_depth``.

    Example:
        >>> read_json_body(b'{"prompts": ["Hi"]}')
        {'prompts': ['Hi']}
        >>> try:
        ...     read_json_body(b"[" * 100 + b"]" * 100)
        ... except BadBody as exc:
        ...     print(exc)
        the request body nests arrays and objects more than 32 levels deep; this server reads at most 32
    """
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:  # deeper than the decoder's own recursion limit
        raise BadBody(f"the request body nests arrays and objects too deeply; this server reads at most "
                      f"{max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadBody(f"the request body is not JSON: {exc}") from None
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise BadBody(f"the request body holds a number this server does not read: {exc}") from None
    if _deeper_than(body, max_depth):
        raise BadBody(f"the request body nests arrays and objects more than {max_depth} levels deep; this server "
                      f"reads at most {max_depth}")
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests more than ``limit`` arrays/objects (iterative: linear time, no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            if level > limit:
                return True
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def rendered_text_size(prompts: list[Any], completions: list[Any], columns: dict[str, Any]) -> int:
    """Characters of text the rows of a request hold once each row has its own copy of every value.

    Example:
        >>> rendered_text_size(["ab", "cd"], ["x", "y"], {"reference": "1234", "rubric": None})
        14
    """
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return len(value)
        key = id(value)  # a value repeated per rubric is measured once
        if key not in sizes:
            sizes[key] = len(json.dumps(value, ensure_ascii=False, default=str))
        return sizes[key]

    n = len(prompts)
    total = sum(map(size, prompts)) + sum(map(size, completions))
    for value in columns.values():
        total += sum(map(size, value)) if isinstance(value, list) else n * size(value)
    return total


def _client_names(message: str, names: dict[str, str]) -> str:
    if not names:
        return message
    # only where the word names the field: "completions[3] ...", "reference must ...", "reference is required"
    pattern = r"\b(" + "|".join(map(re.escape, names)) + r")(?=\[| must | is required)"
    return re.sub(pattern, lambda m: names[m.group(1)], message)


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def create_app(reward_model: Any, *, max_batch_size: int = 64, max_wait_ms: float = 10.0, max_queue: int = 1024,
               retry_after_s: int = 1, get_reward_fallback: float = 0.0, drain_timeout_s: float = 60.0,
               api_key: Optional[str] = None, max_request_rows: Optional[int] = None,
               max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, policy_reader: Optional[PolicyPromptReader] = None,
               parse_timeout_s: float = DEFAULT_PARSE_TIMEOUT_S) -> Any:
    """The ASGI app serving ``reward_model`` (FastAPI behind `server_guard.RequestGuard`).

    ``get_reward_fallback`` is the number ``/get_reward`` sends where the judge gave no valid answer
    (OpenRLHF needs a number for every sample); each such row is flagged in ``extra_logs`` and counted
    in ``/metrics``. ``api_key``: required on every path but ``/health`` when set.
    ``max_request_rows`` (default: ``max_queue``) and ``max_request_bytes`` bound one request;
    ``parse_timeout_s`` bounds the time reading one body may take (in a worker thread, off the event loop).
    ``policy_reader`` reads ``/get_reward`` prompts (default: detect the common template families).

    Example:
        >>> import uvicorn                                                     # doctest: +SKIP
        >>> rm = GenerativeRewardModel.from_pretrained("default")              # doctest: +SKIP
        >>> uvicorn.run(create_app(rm, api_key="s3cret"), port=8000)           # doctest: +SKIP
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response

    _positive("max_queue", max_queue)
    if isinstance(parse_timeout_s, bool) or not isinstance(parse_timeout_s, (int, float)) or parse_timeout_s <= 0:
        raise ValueError(f"parse_timeout_s must be a positive number of seconds, got {parse_timeout_s!r}")
    if max_request_rows is not None:
        _positive("max_request_rows", max_request_rows)
    # A request larger than the whole queue could never be taken: the queue bounds it too.
    row_limit = max_queue if max_request_rows is None else min(max_request_rows, max_queue)
    limit_flag = "--max-request-rows" if max_request_rows is not None and max_request_rows <= max_queue else "--max-queue"
    policy = policy_reader or PolicyPromptReader("auto")
    state: dict[str, MicroBatcher] = {}

    def depth() -> int:
        batcher = state.get("batcher")
        return (batcher.queued + batcher.in_flight) if batcher else 0

    metrics = ServerMetrics(lambda: reward_model.stats.as_dict(), depth)
    # Bodies are read here, never on the event loop; two readers at most, so a flood of huge bodies waits its turn.
    readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reward-judge-read")

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        batcher = MicroBatcher(reward_model, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                               max_queue=max_queue, on_batch=metrics.observe_batch, on_error=metrics.batch_errors.inc)
        batcher.start()
        state["batcher"] = batcher
        yield
        logger.info("draining %d queued rollouts before shutdown", batcher.queued + batcher.in_flight)
        await batcher.drain(drain_timeout_s)
        readers.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="reward-judge", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(status: int, detail: str) -> HTTPException:
        metrics.refused.labels("too_large" if status == 413 else "invalid").inc()
        return HTTPException(status, detail)

    def check_rows(n: int, field: str) -> None:
        if n > row_limit:
            raise refuse(413, f"request too large: {field} has {n} rows; this server takes at most {row_limit} "
                              f"rows per request ({limit_flag}); send smaller requests")

    async def off_loop(work: Callable[[], Any]) -> Any:
        """``work()`` in a reader thread within the time budget; 413 when it takes longer."""
        future = asyncio.get_running_loop().run_in_executor(readers, work)
        try:
            return await asyncio.wait_for(future, parse_timeout_s)
        except asyncio.TimeoutError:
            raise refuse(413, f"request too large: reading it took more than {parse_timeout_s:g} s; send smaller "
                              "requests") from None

    async def json_object(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = await off_loop(lambda: read_json_body(raw))
        except BadBody as exc:
            raise refuse(400, str(exc)) from None
        if not isinstance(body, dict):
            raise refuse(422, f"the request body must be a JSON object, got {type(body).__name__}")
        return body

    async def run(endpoint: str, prompts: list[Any], completions: list[Any], names: dict[str, str],
                  **columns: Any) -> Any:
        started = time.perf_counter()
        # one value for every row is repeated per row (and every row per rubric) when the rows are rendered: a
        # small body could otherwise hold gigabytes of judge inputs on a server every trainer shares
        size = await off_loop(lambda: rendered_text_size(prompts, completions, columns))
        if size > max_request_bytes:
            raise refuse(413, f"request too large: its rows render {size} characters of text (a value given once for "
                              "every row counts once per row, and each rubric's rows count apart); this server "
                              f"renders at most {max_request_bytes} per request (--max-request-bytes); send "
                              "smaller requests")
        try:
            results = await state["batcher"].submit(prompts, completions, **columns)
        except QueueFull as exc:
            metrics.rejected.inc()
            return JSONResponse({"detail": f"server busy: {exc}"}, status_code=503,
                                headers={"Retry-After": str(retry_after_s)})
        except RequestTooLarge as exc:
            raise refuse(413, f"request too large: {exc} (--max-queue)") from exc
        except ValueError as exc:
            raise refuse(422, _client_names(str(exc), names)) from exc
        except RuntimeError as exc:
            raise HTTPException(500, str(exc)) from exc
        metrics.requests.labels(endpoint).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return results

    @app.post("/v1/score")
    async def score(request: Request) -> Any:
        body = await json_object(request)
        unknown = sorted(set(body) - set(SCORE_FIELDS))
        if unknown:
            raise refuse(422, f"unknown field(s) {unknown}; /v1/score takes {', '.join(SCORE_FIELDS)}")
        for name in ("prompts", "completions"):
            if not isinstance(body.get(name), list):
                raise refuse(422, f"{name} must be a list, got {type(body.get(name)).__name__}")
        fit = body.get("fit_columns", False)
        if not isinstance(fit, bool):
            raise refuse(422, f"fit_columns must be true or false, got {fit!r}")
        # fit_columns: a framework's dataset columns (a label, a rubric) this judge has no slot for are left out
        reads_reference, reads_rubric = readable_columns(reward_model) if fit else (True, True)
        reference = body.get("reference") if reads_reference else None
        rubrics = body.get("rubrics")
        if rubrics is not None:
            return await score_rubrics(body, rubrics, reference)
        check_rows(len(body["prompts"]), "prompts")
        if not body["prompts"] and not body["completions"]:
            return {"results": [], "rewards": []}
        rubric = body.get("rubric") if reads_rubric else None
        results = await run("score", body["prompts"], body["completions"], {}, reference=reference,
                            rubric=rubric, completions_b=body.get("completions_b"))
        if isinstance(results, JSONResponse):
            return results
        return {"results": [r.to_dict() for r in results], "rewards": [r.reward for r in results]}

    async def score_rubrics(body: dict[str, Any], rubrics: Any, reference: Any) -> Any:
        """Every rollout on every rubric: one job of rows x rubrics, so one judge call judges them all."""
        if not isinstance(rubrics, list) or not rubrics or not all(isinstance(r, (str, dict)) and r for r in rubrics):
            raise refuse(422, f"rubrics must be a non-empty list of rubrics (names, texts or objects), got "
                              f"{str(rubrics)[:80]!r}")
        if body.get("rubric") is not None:
            raise refuse(422, "give rubric (one rubric, or one per row) or rubrics (every row on each), not both")
        n, k = len(body["prompts"]), len(rubrics)
        check_rows(n * k, f"prompts x rubrics ({n} x {k})")
        labels = [rubric_label(r, j) if isinstance(r, str) else f"rubric{j}" for j, r in enumerate(rubrics)]
        if not n and not body["completions"]:
            return {"rubrics": labels, "results": [], "rewards": []}
        if len(body["completions"]) != n:
            raise refuse(422, f"prompts and completions must have the same length, got {n} and "
                              f"{len(body['completions'])}")
        columns: dict[str, Any] = {}
        for name, value in (("reference", reference), ("completions_b", body.get("completions_b"))):
            if isinstance(value, list):
                if len(value) != n:
                    raise refuse(422, f"{name} must be one value or a list of {n} values, got {len(value)}")
                value = value * k
            columns[name] = value
        results = await run("score", body["prompts"] * k, body["completions"] * k, {},
                            rubric=[r for r in rubrics for _ in range(n)], **columns)
        if isinstance(results, JSONResponse):
            return results
        rows = [[results[j * n + i] for j in range(k)] for i in range(n)]
        return {"rubrics": labels, "results": [[r.to_dict() for r in row] for row in rows],
                "rewards": [[r.reward for r in row] for row in rows]}

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Any:
        body = await json_object(request)
        try:
            queries, prompts, labels = read_request(body.get("query"), body.get("prompts"), body.get("labels"))
        except ValueError as exc:
            raise refuse(422, str(exc)) from None
        check_rows(len(queries), "query")
        if not queries:
            return {"rewards": [], "scores": [], "extra_logs": {"judge_fallback": []}}
        turns = await off_loop(lambda: [policy.split(q, p) for q, p in zip(queries, prompts, strict=True)])
        for turn in turns:
            metrics.policy_prompts.labels(turn.family or "none").inc()
            metrics.markup_stripped.inc(turn.stripped)
        # OpenRLHF sends its dataset's labels whatever the judge: left out where the judge has no reference slot
        reference = labels if readable_columns(reward_model)[0] else None
        results = await run("get_reward", [t.prompt for t in turns], [t.completion for t in turns],
                            GET_REWARD_FIELDS, reference=reference)
        if isinstance(results, JSONResponse):
            return results
        rewards = [get_reward_fallback if r.reward is None else r.reward for r in results]
        return {"rewards": rewards, "scores": rewards,
                "extra_logs": {"judge_fallback": [float(r.fallback or r.reward is None) for r in results]}}

    @app.post("/slime/reward")
    async def slime_reward(request: Request) -> Any:
        # slime's --rm-type remote_rm: {"prompt", "response", "label"} -> the reward, a JSON number
        body = await json_object(request)
        try:
            prompt, response, label = read_remote_request(body)
            rows = fit_columns(reward_model, [read_sample(prompt, response, label, None, policy)])
        except ValueError as exc:
            raise refuse(422, str(exc)) from None
        judge_prompt, completion, reference, _ = rows[0]
        results = await run("slime", [judge_prompt], [completion], SLIME_FIELDS, reference=[reference])
        if isinstance(results, JSONResponse):
            return results
        return get_reward_fallback if results[0].reward is None else results[0].reward

    @app.get("/health")
    async def health(request: Request) -> Any:
        batcher = state.get("batcher")
        if batcher is None or batcher.closing:
            return JSONResponse({"status": "draining"}, status_code=503)
        answer: dict[str, Any] = {"status": "ok", "queued": batcher.queued}
        if request.scope.get(AUTHORIZED):  # which judge runs here is for clients holding the key
            answer.update(judge=getattr(reward_model.backend, "identity", ""), protocol=reward_model.protocol.name)
        return answer

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Any:
        payload, content_type = metrics.render(request.headers.get("accept"))
        return Response(payload, media_type=content_type)

    return RequestGuard(app, api_key=api_key, max_body_bytes=max_request_bytes,
                        on_refused=lambda reason: metrics.refused.labels(reason).inc())

