"""The in-process vLLM judge backend: `backend.py` (the three modes on `vllm.LLM`), `engine.py` (starting the
engine inside another program) and `options.py`."""

from __future__ import annotations

from typing import Any

from .options import VLLMOptions

__all__ = ["VLLMBackend", "VLLMOptions"]


def __getattr__(name: str) -> Any:
    if name == "VLLMBackend":
        from .backend import VLLMBackend

        return VLLMBackend
    raise AttributeError(name)
