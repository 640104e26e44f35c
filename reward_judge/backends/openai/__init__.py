"""The OpenAI-compatible HTTP judge backend: `backend.py` (requests, answer log-probabilities over HTTP)
and `options.py`; endpoint pools with retries live in `reward_judge.backends.http_pool`."""

from __future__ import annotations

from typing import Any

from .options import OpenAIOptions

__all__ = ["LogprobsUnsupported", "OpenAIBackend", "OpenAIOptions"]


def __getattr__(name: str) -> Any:
    if name in ("OpenAIBackend", "LogprobsUnsupported"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(name)
