"""llama.cpp in this process (llama-cpp-python), on the embedded judge's own GGUF file (Q4_1 kernels).

Two measurements on the judge inputs our reward model renders, fed as the same token ids:

- `generate`: ``Llama.create_completion`` one rollout at a time, greedy, the feedback budget, as a user of the
  Python API would call it. Its ``generate`` reuses the KV of the longest common token prefix with the
  previous call, so consecutive rollouts of one prompt share the prefill of their common prefix.
- `prompt_eval`: what our ``direct`` mode needs: judge input + answer marker evaluated, the logits of the
  next token read, the probability of each answer candidate taken from them. The KV of the longest common
  token prefix with the previous rollout is kept (``Llama.eval`` continues at ``n_tokens`` and drops the
  KV behind it: the same reuse ``Llama.generate`` does), so only each rollout's own tail is evaluated.

Example:
    >>> peer = LlamaCppPeer(threads=2)          # doctest: +SKIP
    >>> peer.prompt_eval(inputs).details["agreement_with_direct"]   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Optional, Sequence

from .common import PeerInputs, PeerResult, PeerUnavailable, expected_from_logprobs, expected_score_agreement, gguf_path


def llama_cpp_status() -> Optional[str]:
    """None when llama-cpp-python is importable, else why the llama.cpp peers cannot run."""
    if importlib.util.find_spec("llama_cpp") is None:
        return ('llama-cpp-python is not installed (pip install "llama-cpp-python[server]"; it compiles llama.cpp, '
                "about 10 minutes on 2 cores the first time)")
    return None


class LlamaCppPeer:
    """The GGUF judge loaded once by llama-cpp-python (``n_threads`` for decoding and for prompt batches)."""

    def __init__(self, threads: int, n_ctx: int = 4096, model_path: Optional[str] = None):
        why = llama_cpp_status()
        if why:
            raise PeerUnavailable(why)
        import llama_cpp

        self.path = model_path or gguf_path()
        self.threads = threads
        self.llm = llama_cpp.Llama(model_path=self.path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                   logits_all=False, verbose=False)
        self.version = llama_cpp.__version__
        # Warm-up outside any timer (as the benchmark warms up our model): first decode allocates its buffers.
        self.llm.eval(self.llm.tokenize(b"Warm up the judge before timing it.", add_bos=False))
        self.llm.reset()

    # ---------------------------------------------------------------- generation
    def generate(self, inputs: PeerInputs) -> PeerResult:
        """Greedy feedback for every rollout, one ``create_completion`` call each (prefix reuse as the API does)."""
        self._check_context(inputs.token_ids, inputs.feedback_tokens)
        self.llm.reset()
        texts, new_tokens = [], 0
        start = time.perf_counter()
        for ids in inputs.token_ids:
            out = self.llm.create_completion(prompt=list(ids), max_tokens=inputs.feedback_tokens, temperature=0.0,
                                             repeat_penalty=1.0)
            texts.append(out["choices"][0]["text"])
            new_tokens += out["usage"]["completion_tokens"]
        seconds = time.perf_counter() - start
        details: dict[str, Any] = {"outputs": texts, "generated_tokens": new_tokens}
        note = (f"llama-cpp-python {self.version} Python API, Q4_1 GGUF, {self.threads} threads, one sequence at a "
                f"time, greedy, up to {inputs.feedback_tokens} tokens, prompt KV reused across calls")
        ours = inputs.ours.get("generate")
        if ours is not None:
            same = sum(a == (r.raw or "") for a, r in zip(texts, ours, strict=True))
            details["identical_to_generate"] = same
            note += f"; {same}/{len(texts)} outputs identical to our generate mode"
        return PeerResult(len(texts), seconds, inputs.input_tokens + new_tokens, note, details=details)

    # ---------------------------------------------------------------- prompt evaluation
    def prompt_eval(self, inputs: PeerInputs, limit: Optional[int] = None) -> PeerResult:
        """Answer distribution of every rollout (or the first ``limit``) from llama.cpp's next-token logits."""
        contexts = inputs.contexts[:limit]
        self._check_context(contexts, max(len(c) for conts in inputs.continuations for c in conts))
        self.llm.reset()
        scores, masses, evaluated = [], [], 0
        start = time.perf_counter()
        for ctx, conts in zip(contexts, inputs.continuations, strict=False):
            evaluated += self._eval_reusing_prefix(ctx)
            logprobs = self._candidate_logprobs(ctx, conts)
            score, mass = expected_from_logprobs(logprobs, inputs.candidate_scores)
            scores.append(score)
            masses.append(mass)
        seconds = time.perf_counter() - start
        n = len(contexts)
        details: dict[str, Any] = {"scores": scores, "answer_mass": masses, "evaluated_tokens": evaluated,
                                   "context_tokens": sum(len(c) for c in contexts)}
        note = (f"llama-cpp-python {self.version}, Q4_1 GGUF, {self.threads} threads: judge input + answer marker, "
                f"next-token logits, KV of the common prefix with the previous rollout kept "
                f"({evaluated}/{details['context_tokens']} tokens evaluated)")
        ours = inputs.ours.get("direct")
        if ours is not None:
            agreement = expected_score_agreement(scores, [r.score for r in ours[:n]])
            details["agreement_with_direct"] = agreement
            if agreement["compared"]:
                note += (f"; expected score vs our direct: max |diff| {agreement['max_abs_diff']:.3f}, "
                         f"mean {agreement['mean_abs_diff']:.3f}")
        return PeerResult(n, seconds, sum(len(c) for c in contexts), note, details=details)

    def _eval_reusing_prefix(self, ids: Sequence[int]) -> int:
        """Evaluate ``ids`` keeping the KV of the common prefix with what was evaluated last; tokens evaluated."""
        llm = self.llm
        keep = 0
        cached = llm.input_ids[:llm.n_tokens]
        while keep < min(len(cached), len(ids)) and cached[keep] == ids[keep]:
            keep += 1
        keep = min(keep, len(ids) - 1)  # at least one token runs, so the logits are this input's
        llm.n_tokens = keep  # eval() drops the KV from n_tokens on and continues there
        llm.eval(list(ids[keep:]))
        return len(ids) - keep

    def _next_logprobs(self) -> Any:
        import llama_cpp
        import numpy as np

        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(self.llm.n_vocab(),))
        logits = logits.astype(np.float64)
        top = logits.max()
        return logits - top - np.log(np.exp(logits - top).sum())

    def _candidate_logprobs(self, ctx: Sequence[int], conts: Sequence[Sequence[int]]) -> list[float]:
        """Sum of log-probabilities of each candidate's tokens after ``ctx`` (teacher-forced, exact)."""
        first = self._next_logprobs()
        out = [float(first[c[0]]) for c in conts]
        for j, cont in enumerate(conts):
            for k in range(1, len(cont)):  # later tokens of multi-token candidates (none for 1-5 scales)
                self.llm.n_tokens = len(ctx) + k - 1
                self.llm.eval([cont[k - 1]])
                out[j] += float(self._next_logprobs()[cont[k]])
        return out

    def _check_context(self, rows: Sequence[Sequence[int]], extra: int) -> None:
        longest = max(len(r) for r in rows) + extra
        if longest > self.llm.n_ctx():
            raise PeerUnavailable(f"judge inputs of {longest} tokens exceed the llama.cpp context {self.llm.n_ctx()}")

    def close(self) -> None:
        self.llm.close()
