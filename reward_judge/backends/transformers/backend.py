"""In-process judge inference with transformers: batched, length-grouped, left-padded generation."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

from ...judge_input import JudgeInput, encode_all
from ..base import (ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, AnswerRead, AnswerSlot, BackendContext,
                    GenerationParams, JudgeBackend, JudgeOutOfMemory, is_out_of_memory)
from ..continuations import candidate_tokens, candidate_tokens_all
from .batching import plan_batches, prefix_only_cache, shared_prefix_inputs, shared_prefix_length
from .logprobs import continuation_logprobs
from .onepass import Generated, cached_columns, kept_prefix, read_from_generation
from .options import TransformersOptions
from .compat import cache_kwargs, output_cache
from .attention import use_grouped_query_sdpa

logger = logging.getLogger(__name__)

Row = TypeVar("Row")


class TransformersBackend(JudgeBackend):
    """Runs a causal LM judge in this process: ``model.generate`` and teacher-forced answer log-probabilities.

    Inputs are encoded to token ids (untrusted spans as plain text, see `reward_judge.judge_input`),
    planned into batches of ``batch_size`` rows (and ``batch_tokens`` padded tokens) that keep the
    rollouts of one prompt together, left-padded behind their shared prefix, run under
    ``torch.inference_mode``, and only the new tokens are decoded. Results come back in input order.

    Example:
        >>> from transformers import AutoModelForCausalLM, AutoTokenizer   # doctest: +SKIP
        >>> backend = TransformersBackend(model, tokenizer, batch_size=8)  # doctest: +SKIP
        >>> backend.generate([JudgeInput("[INST] Hi [/INST]", add_special_tokens=True)],  # doctest: +SKIP
        ...                  GenerationParams(max_new_tokens=8))
    """

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8, identity: Optional[str] = None,
                 batch_tokens: Optional[int] = None, prefix_cache: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        #: Cap on padded tokens per batch (rows x longest row); ``None``: ``batch_size`` rows only.
        self.batch_tokens = batch_tokens
        #: Compute a batch's shared prompt prefix once and reuse its KV cache (see `prefix_cache`).
        self.prefix_cache = prefix_cache
        self.identity = identity or str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._eos_ids = _eos_token_ids(model, tokenizer)
        self.context_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.oom_splits = 0  # batches split in halves after an out-of-memory error
        #: ``expected`` reads: rows read from their generation's cache, context tokens run again for them,
        #: and rows that needed a second prefill instead (a cache that cannot be cut back, see `onepass`).
        self.onepass_rows = 0
        self.onepass_tokens = 0
        self.second_pass_rows = 0
        #: answer reads (``direct``, second passes): tokens of the contexts, tokens the prefix tree really ran
        #: (each shared segment once), the same with the padding its passes computed, and its forward passes.
        self.prefill_row_tokens = 0
        self.prefill_tokens = 0
        self.prefill_padded_tokens = 0
        self.prefill_passes = 0

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({GENERATE, ANSWER_LOGPROBS, GENERATE_ANSWER_LOGPROBS})

    # --------------------------------------------------------------- generation
    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        encoded = encode_all(self.tokenizer, inputs)
        outputs: list[str] = [""] * len(encoded)
        # Full batches (split_groups=False): decode steps cost about the same for 8 rows as for 32.
        for chunk in self._generation_batches(encoded):
            decoded = self._splitting(lambda rows: self.generate_batch(rows, params), [encoded[i] for i in chunk])
            for i, text in zip(chunk, decoded, strict=True):
                outputs[i] = text
        return outputs

    def _generation_batches(self, encoded: Sequence[Sequence[int]]) -> list[list[int]]:
        return plan_batches(encoded, max_rows=self.batch_size, max_tokens=self.batch_tokens,
                            group_prefixes=self.prefix_cache, split_groups=False)

    def _splitting(self, run: Callable[[Sequence[Row]], list[Any]], batch: Sequence[Row]) -> list[Any]:
        """``run(batch)``, split in halves on out-of-memory down to one input (which then raises `JudgeOutOfMemory`)."""
        try:
            return run(batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if len(batch) == 1:
                _free_accelerator_memory()
                raise JudgeOutOfMemory(f"{type(exc).__name__}: {exc}") from exc
        _free_accelerator_memory()
        self.oom_splits += 1
        half = len(batch) // 2
        logger.warning("judge ran out of memory on a batch of %d: retrying as %d + %d", len(batch), half, len(batch) - half)
        return self._splitting(run, batch[:half]) + self._splitting(run, batch[half:])

    def generate_batch(self, batch: Sequence[Sequence[int]], params: GenerationParams) -> list[str]:
        """Generate for one batch of token id lists (left-padded here)."""
        return self._decode(self._run_generate(batch, params, keep_cache=False).new_tokens)

    def _decode(self, new_tokens: Sequence[Sequence[int]]) -> list[str]:
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in new_tokens]

    def _run_generate(self, batch: Sequence[Sequence[int]], params: GenerationParams, *, keep_cache: bool) -> Generated:
        """``model.generate`` on one batch; with ``keep_cache`` the result holds the generation's KV cache."""
        import torch

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + list(ids) for ids in batch], dtype=torch.long)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], dtype=torch.long)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens, do_sample=params.do_sample, pad_token_id=pad,
            eos_token_id=self._eos_ids, repetition_penalty=params.repetition_penalty,
        )
        if keep_cache:
            kwargs["return_dict_in_generate"] = True
        if params.do_sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or 0)
            torch.manual_seed(params.seed)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        device = self.device
        with torch.inference_mode():
            shared = shared_prefix_length(batch) if self.prefix_cache else 0
            if shared:
                # The rows' shared prefix is computed once; generate then runs only the rows' tails
                # (left-padded behind the prefix; positions come from the attention mask).
                input_ids, attention = shared_prefix_inputs(batch, shared, pad)
                width = input_ids.shape[1]
                kwargs.update(cache_kwargs(self.model, prefix_only_cache(self.model, batch[0][:shared], len(batch))))
            out = self.model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
        sequences = out.sequences if keep_cache else out
        return Generated(prompts=[list(ids) for ids in batch], new_tokens=sequences[:, width:].tolist(),
                         cache=output_cache(out) if keep_cache else None, width=width, shared=shared)

    def generate_answer_logprobs(self, inputs: Sequence[JudgeInput], params: GenerationParams,
                                 slots: Sequence[AnswerSlot]) -> list[AnswerRead]:
        """Generate the feedback and read the answer distribution from the same generation (no second prefill).

        Batches are those of `generate` (so the feedback is the same text); each batch's answers are
        read from its generation's KV cache before the next batch runs (see `onepass`).
        """
        if len(slots) != len(inputs):
            raise ValueError(f"slots: {len(slots)} answer slots for {len(inputs)} inputs")
        encoded = encode_all(self.tokenizer, inputs)
        reads: list[Any] = [None] * len(inputs)
        for chunk in self._generation_batches(encoded):
            rows = [(i, encoded[i], inputs[i], slots[i]) for i in chunk]
            for (i, _, _, _), read in zip(rows, self._splitting(lambda b: self.generate_read_batch(b, params), rows),
                                          strict=True):
                reads[i] = read
        return reads

    def generate_read_batch(self, batch: Sequence[tuple[int, list[int], JudgeInput, AnswerSlot]],
                            params: GenerationParams) -> list[AnswerRead]:
        """One batch of `generate_answer_logprobs`: rows are (index, token ids, judge input, answer slot)."""
        import torch

        generated = self._run_generate([ids for _, ids, _, _ in batch], params, keep_cache=True)
        inputs = [judge_input for _, _, judge_input, _ in batch]
        slots = [slot for _, _, _, slot in batch]
        raws = self._decode(generated.new_tokens)
        cuts = [slot.cut(judge_input, raw) for judge_input, raw, slot in zip(inputs, raws, slots, strict=True)]
        rows = [candidate_tokens(self.tokenizer, context, slot.candidates)
                for (context, _, _), slot in zip(cuts, slots, strict=True)]
        columns = cached_columns(generated.cache)
        kept = kept_prefix(generated, [ctx for ctx, _ in rows], columns) if columns is not None else []
        if columns is None or min(kept) < 1:
            # A cache that cannot be cut back (sliding window), or a context that shares nothing with it:
            # read these rows the two-pass way.
            generated.cache = None
            self.second_pass_rows += len(batch)
            logger.debug("reading %d answers with a second prefill (cache columns %s)", len(batch), columns)
            return self.read_answers(inputs, raws, slots)
        with torch.inference_mode():
            logprobs = read_from_generation(self.model, generated, rows, pad_id=self.tokenizer.pad_token_id,
                                            kept=kept, columns=columns)
        self.onepass_rows += len(batch)
        self.onepass_tokens += sum(len(ctx) - keep for (ctx, _), keep in zip(rows, kept, strict=True))
        return [AnswerRead(raw, kept_text, written, lps)
                for raw, (_, kept_text, written), lps in zip(raws, cuts, logprobs, strict=True)]

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        """Log-probability of each candidate written after each context (see `logprobs.continuation_logprobs`)."""
        rows = candidate_tokens_all(self.tokenizer, contexts, candidates)
        return continuation_logprobs(self.model, rows, pad_id=self.tokenizer.pad_token_id, batch_size=self.batch_size,
                                     batch_tokens=self.batch_tokens, share_prefix=self.prefix_cache,
                                     on_prefill=self._count_prefill)

    def _count_prefill(self, run: Any) -> None:
        self.prefill_row_tokens += run.row_tokens
        self.prefill_tokens += run.tokens_run
        self.prefill_padded_tokens += run.padded_tokens
        self.prefill_passes += run.passes

    def close(self) -> None:
        self.model = None
        _free_accelerator_memory()


def load(context: BackendContext, options: TransformersOptions) -> TransformersBackend:
    """Load a judge from a hub id or local folder, applying a PEFT adapter when there is one (the registry's loader)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id, adapter = _resolve_adapter(context.model, options)
    tokenizer_id = context.tokenizer or model_id
    kwargs: dict[str, Any] = {"revision": context.revision, "trust_remote_code": context.trust_remote_code}
    if options.dtype and options.dtype != "auto":
        kwargs["dtype"] = getattr(torch, options.dtype)
    elif options.dtype == "auto":
        kwargs["dtype"] = "auto"
    if options.device_map is not None:
        kwargs["device_map"] = options.device_map
    if options.load_in_4bit or options.load_in_8bit:
        if not torch.cuda.is_available():
            raise ValueError(
                f"load_in_4bit={options.load_in_4bit}, load_in_8bit={options.load_in_8bit}: bitsandbytes "
                "quantisation needs a CUDA GPU, none is available"
            )
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=options.load_in_4bit, load_in_8bit=options.load_in_8bit,
            bnb_4bit_compute_dtype=torch.bfloat16 if options.load_in_4bit else None,
        )
        kwargs.setdefault("device_map", "auto")
    logger.info("loading judge %s%s", model_id, f" + adapter {adapter}" if adapter else "")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_id, revision=context.revision if tokenizer_id == model_id else None,
                                              trust_remote_code=context.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    if "device_map" not in kwargs:
        device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
    model.eval()
    use_grouped_query_sdpa(model)
    identity = "|".join([context.identity or "|".join(
        part for part in (f"hf:{model_id}", context.revision and f"rev:{context.revision}",
                          adapter and f"adapter:{adapter}", _local_fingerprint(model_id)) if part
    ), numerics_identity(model)])
    return TransformersBackend(model, tokenizer, batch_size=options.batch_size, identity=identity,
                               batch_tokens=options.batch_tokens, prefix_cache=options.prefix_cache)


def from_model(model: Any, tokenizer: Any, options: TransformersOptions) -> TransformersBackend:
    """A backend on an already loaded model and tokenizer, with the batching options of ``options``.

    Its cache identity is the model's name and a fingerprint of its weights (`weights_fingerprint`): a model
    passed in may be a fine-tuned copy still carrying its hub id, or a fresh one with no name at all.
    """
    name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)
    identity = f"model:{name}|weights:{weights_fingerprint(model)}|{numerics_identity(model)}"
    return TransformersBackend(model, tokenizer, batch_size=options.batch_size, batch_tokens=options.batch_tokens,
                               prefix_cache=options.prefix_cache, identity=identity)


def numerics_identity(model: Any) -> str:
    """The dtype the judge computes in and its quantisation: a bfloat16 or 4-bit judge gives other verdicts.

    Example:
        >>> import torch
        >>> numerics_identity(torch.nn.Linear(2, 2))
        'dtype:float32'
    """
    dtype = getattr(model, "dtype", None)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters()), None)
    parts = [f"dtype:{str(dtype).replace('torch.', '')}"]
    quantization = getattr(getattr(model, "config", None), "quantization_config", None)
    if quantization is not None:
        config = quantization.to_dict() if hasattr(quantization, "to_dict") else dict(quantization)
        described = {k: config[k] for k in sorted(config) if k in ("quant_method", "bits", "load_in_4bit", "load_in_8bit",
                                                                    "bnb_4bit_quant_type", "group_size")}
        parts.append("quant:" + ",".join(f"{k}={v}" for k, v in described.items()))
    return "|".join(parts)


def weights_fingerprint(model: Any, samples: int = 64) -> str:
    """A hash of every parameter's name, shape, dtype and ``samples`` evenly spaced values (adapters included).

    Training or merging changes nearly every value of a weight, so a few per tensor tell two models apart; it
    reads a few hundred values, not the whole model.

    Example:
        >>> import torch
        >>> torch.manual_seed(0); a = torch.nn.Linear(4, 4); b = torch.nn.Linear(4, 4)   # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> weights_fingerprint(a) == weights_fingerprint(a), weights_fingerprint(a) == weights_fingerprint(b)
        (True, False)
    """
    import hashlib

    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            digest.update(f"{name}:{tuple(parameter.shape)}:{parameter.dtype}".encode())
            flat = parameter.detach().reshape(-1)
            if flat.numel() == 0 or flat.device.type == "meta":
                continue
            count = min(samples, flat.numel())  # evenly spaced, in integers (float spacing overshoots large tensors)
            index = torch.arange(count, dtype=torch.int64, device=flat.device) * (flat.numel() - 1) // max(count - 1, 1)
            digest.update(flat[index].to(torch.float64).cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif gen_eos:
        ids.update(int(i) for i in gen_eos)
    return sorted(ids)


def _resolve_adapter(judge: str, options: TransformersOptions) -> tuple[str, Optional[str]]:
    """(model to load, adapter to apply). A local adapter folder names its own base model."""
    adapter = options.adapter
    if adapter is None:
        adapter_config = Path(judge) / "adapter_config.json"
        if adapter_config.is_file():
            adapter = judge
            base = options.base_model or json.loads(adapter_config.read_text())["base_model_name_or_path"]
            return base, adapter
        return judge, None
    if adapter == judge:
        if options.base_model is None:
            adapter_config = Path(judge) / "adapter_config.json"
            if not adapter_config.is_file():
                raise ValueError(f"adapter={adapter!r} needs base_model: the base model the adapter is loaded onto")
            return json.loads(adapter_config.read_text())["base_model_name_or_path"], adapter
        return options.base_model, adapter
    return options.base_model or judge, adapter


def _local_fingerprint(model_id: str) -> Optional[str]:
    """For a local folder, the sizes and mtimes of its weight files, so a changed checkpoint is a new judge."""
    folder = Path(model_id)
    if not folder.is_dir():
        return None
    parts = sorted(
        f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}"
        for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf")
    )
    import hashlib

    return "files:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16] if parts else None
