"""Options of the in-process transformers backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ...options import check_declared_types, check_positive_int, option
from ..base import ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, BackendOptions

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _device_map(text: str) -> Any:
    return text  # "auto", "balanced", "cpu", "cuda:0"...: a JSON map is for Python callers


@dataclass
class TransformersOptions(BackendOptions):
    """How the judge runs in this process with transformers (``backend="transformers"``, the default).

    Example:
        >>> TransformersOptions(batch_size=16, dtype="bfloat16").batch_size
        16
    """

    batch_size: int = option(8, "Judge inputs per forward batch.")
    batch_tokens: Optional[int] = option(
        None, "Cap on padded tokens per batch (rows x longest row), for long or uneven inputs; None: rows only.")
    prefix_cache: bool = option(
        True, "Compute the prompt prefix shared by a batch's rows (rollouts of one prompt) once and reuse its KV cache.")
    dtype: Optional[str] = option("auto", "Weights dtype.", choices=DTYPES)
    device: Optional[str] = option(None, "Device to move the judge to (None: CUDA when available, else CPU).")
    device_map: Any = option(None, "Passed to from_pretrained (e.g. 'auto' to shard a large judge over GPUs).",
                             parse=_device_map)
    load_in_4bit: bool = option(False, "Load the judge in 4-bit with bitsandbytes (GPU only).")
    load_in_8bit: bool = option(False, "Load the judge in 8-bit with bitsandbytes (GPU only).")
    adapter: Optional[str] = option(None, "PEFT adapter id or path applied on top of the judge (or of base_model).")
    base_model: Optional[str] = option(None, "Base model an adapter is loaded onto (presets fill it in for LoRA judges).")

    def __post_init__(self) -> None:
        check_declared_types(self)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("batch_tokens", self.batch_tokens, allow_none=True)
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is not one of {DTYPES}")
        if self.load_in_4bit and self.load_in_8bit:
            raise ValueError("load_in_4bit and load_in_8bit are exclusive; got both True")

    def capabilities(self) -> frozenset[str]:
        return frozenset({GENERATE, ANSWER_LOGPROBS, GENERATE_ANSWER_LOGPROBS})
