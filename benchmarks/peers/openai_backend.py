"""Our OpenAI backend (``backend="openai"``) in each mode against an OpenAI-compatible server: llama.cpp's or vLLM's.

Only the public API: ``GenerativeRewardModel.from_pretrained(judge, backend="openai", base_url=URL, mode=...)``.
The reward model renders the same judge texts locally (the judge's tokenizer only) and sends them to the
server's ``/v1/completions`` (token ids where the server takes them: vLLM; text otherwise: llama.cpp). Answer
distributions are read by a trie walk of one-token reads. A server with ``counters()`` (vLLM's ``/metrics``)
reports what its engine computed: prompt tokens, the part its prefix cache served, generated tokens, requests; one
with ``reset_prefix_cache()`` (vLLM's) starts each timed run with an empty prefix cache.
When this version of the backend cannot read score distributions over HTTP, the row says so instead of
reporting failures as a speed.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from .common import PeerInputs, PeerResult, PeerUnavailable, expected_score_agreement


def run_openai_mode(inputs: PeerInputs, server: Any, mode: str, *, protocol: Optional[str] = None,
                    server_note: str = "llama_cpp.server (Q4_1 GGUF)") -> PeerResult:
    """Score every rollout through our OpenAI backend in ``mode`` against ``server`` (``protocol``: another one)."""
    from reward_judge import GenerativeRewardModel

    # llama_cpp.server runs one request at a time: the last of the rollouts sent together waits for all the
    # others, so the timeout is the whole run's, not one request's (a retry would time work twice).
    options = dict(inputs.judge_options, backend="openai", base_url=server.url, mode=mode,
                   protocol=protocol or inputs.protocol, max_new_tokens=inputs.feedback_tokens, max_attempts=1,
                   request_timeout=3600.0)
    if getattr(server, "model", None):
        options["model"] = server.model
    for local_only in ("device", "dtype", "batch_size"):  # transformers-backend options
        options.pop(local_only, None)
    try:
        rm = GenerativeRewardModel.from_pretrained(inputs.judge, **options)
    except Exception as exc:  # e.g. the backend refusing a distribution mode: the row says why
        raise PeerUnavailable(f"our OpenAI backend refused mode={mode!r}: {type(exc).__name__}: {exc}") from exc
    counters = getattr(server, "counters", None)
    try:
        rm.score(["Say hello."], ["Hello!"])  # warm-up (connection pool, server's first request), not a timed rollout
        reset = getattr(server, "reset_prefix_cache", None)
        if reset is not None:  # fresh rollouts, as in training: nothing an earlier method computed is reused
            reset()
        backend = rm.backend
        asked_before = (getattr(backend, "trie_requests", 0), getattr(backend, "echo_requests", 0),
                        getattr(backend, "trie_http_requests", 0))
        engine_before = counters() if counters else None
        server.reset_peak_memory()
        start = time.perf_counter()
        results = rm.score(inputs.prompts, inputs.completions)
        seconds = time.perf_counter() - start
        peak = server.peak_memory_mib()
        engine = {k: v - engine_before[k] for k, v in counters().items()} if counters else None
        trie = getattr(backend, "trie_requests", 0) - asked_before[0]
        echo = getattr(backend, "echo_requests", 0) - asked_before[1]
        chosen = bool(getattr(backend, "_chosen_ids", False))
    finally:
        close = getattr(rm.backend, "close", None)
        if close is not None:
            close()
    n = len(results)
    ok = sum(r.ok for r in results)
    backend_errors = [r.error for r in results if not r.ok and r.error and r.error.startswith("judge backend error")]
    if mode != "generate" and backend_errors and len(backend_errors) == n:
        raise PeerUnavailable(f"our OpenAI backend cannot read score distributions here yet: {backend_errors[0]}")
    details: dict[str, Any] = {"ok": ok, "scores": [r.score for r in results], "outputs": [r.raw for r in results],
                               "trie_requests": trie, "echo_requests": echo, "chosen_token_ids": chosen}
    note = f"our OpenAI backend, mode={mode}, {rm.protocol.name}, {server_note}; {ok}/{n} scored"
    if mode != "generate":
        posts = getattr(backend, "trie_http_requests", 0) - asked_before[2]
        details["trie_http_requests"] = posts
        note += (f"; {trie} one-token reads ({trie / n:.1f}/rollout, "
                 f"{'chosen token ids' if chosen else 'top-k'}) in {posts} HTTP requests, {echo} echoed")
    if engine is not None:
        details["engine"] = engine
        computed = engine["prompt_tokens"] - engine["cached_tokens"]
        note += (f"; engine: {engine['requests']:.0f} requests, {engine['prompt_tokens']:.0f} prompt tokens of which "
                 f"{engine['cached_tokens']:.0f} from its prefix cache ({computed / n:.0f} computed/rollout), "
                 f"{engine['generated_tokens']:.0f} generated")
    if mode == "generate":
        ours = inputs.ours.get("generate")
        if ours is not None:
            same = sum((a.raw or "") == (b.raw or "") for a, b in zip(results, ours, strict=True))
            details["identical_to_generate"] = same
            note += f"; {same}/{n} outputs identical to our in-process generate"
        tokens = inputs.input_tokens + inputs.count_tokens([r.raw for r in results])
    else:
        tokens = sum(len(c) for c in inputs.contexts) if protocol is None else None
        ours = inputs.ours.get(mode) if protocol is None else None
        if ours is not None:
            agreement = expected_score_agreement(details["scores"], [r.score for r in ours])
            details[f"agreement_with_{mode}"] = agreement
            if agreement["compared"]:
                note += (f"; expected score vs our in-process {mode}: max |diff| {agreement['max_abs_diff']:.2g}, "
                         f"mean {agreement['mean_abs_diff']:.2g}")
    if backend_errors:
        details["backend_errors"] = len(backend_errors)
        note += f"; {len(backend_errors)} backend errors ({backend_errors[0][:120]})"
    return PeerResult(n, seconds, tokens, note, peak_memory_mib=peak, details=details)
