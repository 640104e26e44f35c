"""In-process judge inference on vLLM's engine (``backend="vllm"``).

Prompts are token ids built by the same untrusted-span tokenisation as the transformers backend
(`reward_judge.judge_input.encode`), so special-token strings a policy wrote stay text. The three modes:

- ``generate``: one `vllm.LLM.generate` call for every input (vLLM batches them continuously); the new
  tokens are decoded with the judge's tokenizer, as the transformers backend decodes them.
- ``direct``: the answer distribution is read from next-token log-probabilities of chosen token ids
  (``SamplingParams(logprob_token_ids=...)``: exactly the candidates' tokens, never a top-k cut-off).
  Multi-token candidates (``10]]``) walk the candidates' token trie
  (`reward_judge.backends.continuations.CandidateTrie`): one one-token request per trie node, in two engine
  calls (the contexts, then every deeper node), each deeper read extending a prompt the engine has just run,
  which its prefix cache then serves. No prompt
  log-probabilities are asked for (vLLM skips its prefix cache for those).
- ``expected``: the feedback is generated with the log-probabilities of the candidates' first tokens
  recorded at every step; where the judge wrote the answer marker itself, the answer distribution is read
  from its own generation, with no further request. The rest (later tokens of multi-token candidates, a
  marker appended after the feedback) are trie reads whose prompts the prefix cache already holds.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from array import array
from typing import Any, Optional, Sequence

from ...judge_input import JudgeInput, encode_all
from ..base import (ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, AnswerRead, AnswerSlot, BackendContext,
                    BackendError, GenerationParams, JudgeBackend, LogprobsUnsupported, config_context_length)
from ..continuations import CandidateTrie, NextTokenRead, candidate_tokens, candidate_tokens_all, walk_tries
from .engine import import_vllm, start_engine, stop_engine
from .options import VLLMOptions

logger = logging.getLogger(__name__)

#: vLLM's cap on ``logprob_token_ids`` per request (``vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS`` in 0.32).
MAX_CHOSEN_IDS = 128


class VLLMBackend(JudgeBackend):
    """Runs a judge on a `vllm.LLM` engine in this process.

    The engine starts when the backend is built (``start=False``: at its first call) and is never pickled:
    an unpickled backend starts its own engine where it is first used. Calls are serialised (one engine).

    Example:
        >>> from reward_judge.backends.base import BackendContext
        >>> backend = VLLMBackend(BackendContext("judge", "/models/judge"), VLLMOptions(max_model_len=4096))  # doctest: +SKIP
        >>> backend.generate([JudgeInput("[INST] Hi [/INST]")], GenerationParams(max_new_tokens=8))  # doctest: +SKIP
    """

    name = "vllm"

    def __init__(self, context: BackendContext, options: VLLMOptions, *, tokenizer: Any = None, start: bool = True):
        self.context = context
        self.options = options
        if tokenizer is None:
            from transformers import AutoTokenizer

            source = context.tokenizer_source
            tokenizer = AutoTokenizer.from_pretrained(source, revision=context.revision if source == context.model else None,
                                                      trust_remote_code=context.trust_remote_code)
        self.tokenizer = tokenizer
        # the dtype and a quantisation change the verdicts: they are part of the judge's cache identity
        quantization = options.engine_args.get("quantization")
        numerics = f"dtype:{options.dtype}" + (f"|quantization:{quantization}" if quantization is not None else "")
        self.identity = "vllm:" + (context.identity or "|".join(
            part for part in (context.model, context.revision and f"rev:{context.revision}",
                              _local_fingerprint(context.model)) if part)) + "|" + numerics
        self.context_length = options.max_model_len or config_context_length(context)
        self._eos_ids = _eos_token_ids(context, tokenizer)
        self._llm: Any = None
        self._lock = threading.RLock()
        #: Engine requests made to read answers (trie nodes), and ``expected`` rows whose first answer token was
        #: read from their own generation (no request) or needed a request.
        self.trie_requests = 0
        #: Prompt tokens of those requests, and how many of them the prefix cache served (vLLM's own count).
        self.trie_prompt_tokens = 0
        self.trie_cached_tokens = 0
        self.onepass_rows = 0
        self.second_pass_rows = 0
        #: Seconds spent inside the engine's ``generate`` (the rest of a call is tokenising, cutting, bookkeeping).
        self.engine_seconds = 0.0
        #: Set it to a list to record (prompt tokens, of them from the prefix cache, generated tokens) per request.
        self.request_log: Optional[list[tuple[int, int, int]]] = None
        if start:
            self.engine  # noqa: B018 - start it now, so a bad model or option fails here

    # ---------------------------------------------------------------- engine
    @property
    def engine(self) -> Any:
        """The `vllm.LLM` engine, started on first use."""
        with self._lock:
            if self._llm is None:
                if (self._local_folder() / "adapter_config.json").is_file():
                    raise ValueError(f"judge {self.context.model!r} is a LoRA adapter; backend='vllm' loads whole "
                                     "weights: merge it first with `reward-judge export JUDGE DIR` and judge with DIR")
                self._llm = start_engine(self.context.model, self.options, tokenizer=self.context.tokenizer_source,
                                         revision=self.context.revision,
                                         trust_remote_code=self.context.trust_remote_code)
                limit = getattr(getattr(self._llm, "llm_engine", None), "model_config", None)
                if getattr(limit, "max_model_len", None):
                    self.context_length = int(limit.max_model_len)
            return self._llm

    def _local_folder(self) -> Any:
        from pathlib import Path

        return Path(self.context.model)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({GENERATE, ANSWER_LOGPROBS, GENERATE_ANSWER_LOGPROBS})

    def ensure(self, capability: str, mode: str) -> None:
        if capability == ANSWER_LOGPROBS and not _reads_chosen_ids():
            vllm = import_vllm()
            raise LogprobsUnsupported(
                f"backend 'vllm' cannot serve mode={mode!r}: vLLM {getattr(vllm, '__version__', '?')} has no "
                "SamplingParams(logprob_token_ids=...) to read the answer tokens' log-probabilities (vLLM 0.32 has "
                "it); upgrade vLLM, or use mode='generate'")

    def _run(self, prompts: Sequence[Sequence[int]], params: Sequence[Any]) -> list[Any]:
        if not prompts:
            return []
        with self._lock:
            engine = self.engine
            start = time.perf_counter()
            try:
                outputs = engine.generate([{"prompt_token_ids": list(ids)} for ids in prompts], list(params),
                                          use_tqdm=False)
            except (TypeError, AttributeError):
                raise  # how we called the engine: a bug of ours, never a missing reward
            except Exception as exc:  # the engine could not answer (dead engine, a prompt it refuses, out of memory)
                raise BackendError(f"vLLM failed on a batch of {len(prompts)} prompts: {exc}") from exc
            finally:
                self.engine_seconds += time.perf_counter() - start
        if len(outputs) != len(prompts):
            raise BackendError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        if self.request_log is not None:
            self.request_log.extend((len(ids), int(getattr(out, "num_cached_tokens", 0) or 0), len(out.outputs[0].token_ids))
                                    for ids, out in zip(prompts, outputs, strict=True))
        return outputs

    def _sampling(self, params: GenerationParams, prompt: Sequence[int], logprob_ids: Optional[list[int]] = None) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = dict(max_tokens=params.max_new_tokens, repetition_penalty=params.repetition_penalty,
                                      stop_token_ids=list(self._eos_ids), detokenize=False)
        if params.do_sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or 0,
                          seed=_request_seed(params.seed, prompt))
        else:
            kwargs.update(temperature=0.0)
        if logprob_ids:
            kwargs["logprob_token_ids"] = logprob_ids
        return SamplingParams(**kwargs)

    def _decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    # ------------------------------------------------------------ generation
    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        encoded = encode_all(self.tokenizer, inputs)
        outputs = self._run(encoded, [self._sampling(params, ids) for ids in encoded])
        return [self._decode(out.outputs[0].token_ids) for out in outputs]

    # --------------------------------------------------- answer distributions
    def _read_next(self, reads: list[NextTokenRead]) -> list[dict[int, float]]:
        """One engine call for every trie read: max_tokens=1 with the read's tokens as chosen logprob ids."""
        from vllm import SamplingParams

        prompts, params, owners = [], [], []
        for k, read in enumerate(reads):
            tokens = list(read.tokens)
            for start in range(0, len(tokens), MAX_CHOSEN_IDS):
                prompts.append(read.prompt)
                params.append(SamplingParams(max_tokens=1, temperature=0.0, detokenize=False,
                                             logprob_token_ids=tokens[start:start + MAX_CHOSEN_IDS]))
                owners.append(k)
        self.trie_requests += len(prompts)
        found: list[dict[int, float]] = [{} for _ in reads]
        for k, out in zip(owners, self._run(prompts, params), strict=True):
            found[k].update(_step_logprobs(out.outputs[0].logprobs, 0))
            self.trie_prompt_tokens += len(reads[k].prompt)
            self.trie_cached_tokens += int(getattr(out, "num_cached_tokens", 0) or 0)
        return found

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        """Log-probability of each candidate after each context: a trie walk of one-token reads."""
        tries = [CandidateTrie(*row) for row in candidate_tokens_all(self.tokenizer, contexts, candidates)]
        walk_tries(tries, self._read_next)
        return [trie.totals() for trie in tries]

    def generate_answer_logprobs(self, inputs: Sequence[JudgeInput], params: GenerationParams,
                                 slots: Sequence[AnswerSlot]) -> list[AnswerRead]:
        """Generate the feedback and read the answer distribution at each slot after it (see the module notes)."""
        if len(slots) != len(inputs):
            raise ValueError(f"slots: {len(slots)} answer slots for {len(inputs)} inputs")
        encoded = encode_all(self.tokenizer, inputs)
        watched = self._first_answer_tokens(inputs, slots)
        outputs = self._run(encoded, [self._sampling(params, ids, watched[k] or None) for k, ids in enumerate(encoded)])
        generated = [list(out.outputs[0].token_ids) for out in outputs]
        raws = [self._decode(ids) for ids in generated]
        cuts = [slot.cut(judge_input, raw) for judge_input, raw, slot in zip(inputs, raws, slots, strict=True)]
        rows: list[Any] = [None] * len(inputs)
        by_candidates: dict[tuple[str, ...], list[int]] = {}
        for k, slot in enumerate(slots):
            by_candidates.setdefault(tuple(slot.candidates), []).append(k)
        for candidates, members in by_candidates.items():
            for k, row in zip(members, candidate_tokens_all(self.tokenizer, [cuts[k][0] for k in members], candidates),
                              strict=True):
                rows[k] = row
        tries: list[CandidateTrie] = []
        for k, out in enumerate(outputs):
            trie = CandidateTrie(*rows[k])
            step = _generation_step(encoded[k], generated[k], trie.context)
            root = trie.children[()]
            if step is not None and watched[k] and set(root) <= set(watched[k]):
                trie.record((), _step_logprobs(out.outputs[0].logprobs, step))
                self.onepass_rows += 1
            else:
                self.second_pass_rows += 1
            tries.append(trie)
        walk_tries(tries, self._read_next)
        return [AnswerRead(raw, kept, written, trie.totals())
                for raw, (_, kept, written), trie in zip(raws, cuts, tries, strict=True)]

    def _first_answer_tokens(self, inputs: Sequence[JudgeInput], slots: Sequence[AnswerSlot]) -> list[list[int]]:
        """Per input, the first tokens of its slot's candidates (what the generation records at every step).

        They are read where the judge writes its marker: the first input of each slot kind, cut with no
        feedback, gives the tokens (the candidates' tokenisation after the marker does not depend on the text
        before it). More than `MAX_CHOSEN_IDS` is none: those rows read their slot with a request.
        """
        by_kind: dict[int, list[int]] = {}
        out: list[list[int]] = []
        for judge_input, slot in zip(inputs, slots, strict=True):
            kind = id(slot)
            if kind not in by_kind:
                context, _, _ = slot.cut(judge_input, "")
                _, continuations = candidate_tokens(self.tokenizer, context, slot.candidates)
                first = list(dict.fromkeys(ids[0] for ids in continuations))
                by_kind[kind] = first if len(first) <= MAX_CHOSEN_IDS else []
            out.append(by_kind[kind])
        return out

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                llm, self._llm = self._llm, None
                stop_engine(llm)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_llm"] = None  # an engine never travels: the unpickled backend starts its own on first use
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def load(context: BackendContext, options: VLLMOptions) -> VLLMBackend:
    """The registry's loader: the judge's tokenizer here, its weights in a started vLLM engine."""
    import_vllm()
    return VLLMBackend(context, options)


def _reads_chosen_ids() -> bool:
    """Whether the installed vLLM returns log-probabilities of chosen token ids (``logprob_token_ids``)."""
    from vllm import SamplingParams

    return "logprob_token_ids" in getattr(SamplingParams, "__struct_fields__", ())


def _step_logprobs(logprobs: Any, step: int) -> dict[int, float]:
    """``{token id: log-probability}`` at generation step ``step`` of a vLLM completion's logprobs."""
    if logprobs is None or step >= len(logprobs) or logprobs[step] is None:
        raise BackendError(f"vLLM returned no log-probabilities at generation step {step}")
    return {int(t): float(v.logprob) for t, v in logprobs[step].items()}


def _generation_step(prompt: Sequence[int], generated: Sequence[int], context: Sequence[int]) -> Optional[int]:
    """The generation step whose next-token distribution follows exactly ``context`` (None when no step does)."""
    n = len(prompt)
    if len(context) < n or list(context[:n]) != list(prompt):
        return None
    step = len(context) - n
    if step >= len(generated) or list(context[n:]) != list(generated[:step]):
        return None
    return step


def _request_seed(seed: int, prompt: Sequence[int]) -> int:
    """A sampling seed per request: the run's seed mixed with the prompt, so draws do not depend on batching."""
    return (seed * 1_000_003 + zlib.crc32(array("q", [int(t) for t in prompt]).tobytes())) & 0x7FFFFFFF


def _eos_token_ids(context: BackendContext, tokenizer: Any) -> list[int]:
    """The tokenizer's end-of-sequence id and the generation config's (as the transformers backend stops)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    try:
        from transformers import GenerationConfig

        eos = GenerationConfig.from_pretrained(context.model, revision=context.revision).eos_token_id
    except Exception:  # no generation config: the tokenizer's id (vLLM adds the model's own as well)
        eos = None
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(i) for i in eos)
    return sorted(ids)


def _local_fingerprint(model: str) -> Optional[str]:
    from ..transformers.backend import _local_fingerprint as fingerprint

    return fingerprint(model)
