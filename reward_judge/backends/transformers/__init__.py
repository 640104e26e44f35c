"""The in-process transformers judge backend: `backend.py` (loading, generation), `batching.py`
(batch plans and shared-prefix KV reuse), `logprobs.py` (teacher-forced answer log-probabilities)."""

from __future__ import annotations

from typing import Any

from .options import TransformersOptions

__all__ = ["TransformersBackend", "TransformersOptions"]


def __getattr__(name: str) -> Any:
    if name == "TransformersBackend":
        from .backend import TransformersBackend

        return TransformersBackend
    raise AttributeError(name)
