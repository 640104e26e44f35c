"""Our OpenAI backend (``backend="openai"``) in ``generate`` / ``direct`` mode against the llama.cpp server.

Only the public API: ``GenerativeRewardModel.from_pretrained(judge, backend="openai", base_url=URL, mode=...)``.
The reward model renders the same judge texts locally (the judge's tokenizer only) and sends them to the
server's ``/v1/completions``; the server tokenises them (the same ids, checked by the benchmark's
llama.cpp rows) and runs the Q4_1 GGUF. When this version of the backend cannot read score
distributions over HTTP, the ``direct`` row says so instead of reporting failures as a speed.
"""

from __future__ import annotations

import time
from typing import Any

from .common import PeerInputs, PeerResult, PeerUnavailable, expected_score_agreement
from .llamacpp_server import LlamaCppServer


def run_openai_mode(inputs: PeerInputs, server: LlamaCppServer, mode: str) -> PeerResult:
    """Score every rollout through our OpenAI backend in ``mode`` against ``server``."""
    from reward_judge import GenerativeRewardModel

    # llama_cpp.server runs one request at a time: the last of the rollouts sent together waits for all the
    # others, so the timeout is the whole run's, not one request's (a retry would time work twice).
    options = dict(inputs.judge_options, backend="openai", base_url=server.url, mode=mode, protocol=inputs.protocol,
                   max_new_tokens=inputs.feedback_tokens, max_attempts=1, request_timeout=3600.0)
    for local_only in ("device", "dtype", "batch_size"):  # transformers-backend options
        options.pop(local_only, None)
    try:
        rm = GenerativeRewardModel.from_pretrained(inputs.judge, **options)
    except Exception as exc:  # e.g. the backend refusing a distribution mode: the row says why
        raise PeerUnavailable(f"our OpenAI backend refused mode={mode!r}: {type(exc).__name__}: {exc}") from exc
    try:
        rm.score(["Say hello."], ["Hello!"])  # warm-up (connection pool, server's first request), not a timed rollout
        server.reset_peak_memory()
        start = time.perf_counter()
        results = rm.score(inputs.prompts, inputs.completions)
        seconds = time.perf_counter() - start
        peak = server.peak_memory_mib()
    finally:
        close = getattr(rm.backend, "close", None)
        if close is not None:
            close()
    n = len(results)
    ok = sum(r.ok for r in results)
    backend_errors = [r.error for r in results if not r.ok and r.error and r.error.startswith("judge backend error")]
    if mode != "generate" and backend_errors and len(backend_errors) == n:
        raise PeerUnavailable(f"our OpenAI backend cannot read score distributions here yet: {backend_errors[0]}")
    details: dict[str, Any] = {"ok": ok, "scores": [r.score for r in results], "outputs": [r.raw for r in results]}
    note = f"our OpenAI backend, mode={mode}, llama_cpp.server (Q4_1 GGUF, {inputs.threads} threads); {ok}/{n} scored"
    if mode == "generate":
        ours = inputs.ours.get("generate")
        if ours is not None:
            same = sum((a.raw or "") == (b.raw or "") for a, b in zip(results, ours, strict=True))
            details["identical_to_generate"] = same
            note += (f"; {same}/{n} outputs identical to our in-process generate (llama_cpp.server applies its "
                     "default repeat_penalty 1.1 to requests that set none)")
        tokens = inputs.input_tokens + inputs.count_tokens([r.raw for r in results])
    else:
        tokens = sum(len(c) for c in inputs.contexts)
        ours = inputs.ours.get("direct")
        if ours is not None:
            agreement = expected_score_agreement(details["scores"], [r.score for r in ours])
            details["agreement_with_direct"] = agreement
            if agreement["compared"]:
                note += (f"; expected score vs our in-process direct: max |diff| {agreement['max_abs_diff']:.3f}, "
                         f"mean {agreement['mean_abs_diff']:.3f}")
    if backend_errors:
        details["backend_errors"] = len(backend_errors)
        note += f"; {len(backend_errors)} backend errors ({backend_errors[0][:120]})"
    return PeerResult(n, seconds, tokens, note, peak_memory_mib=peak, details=details)
