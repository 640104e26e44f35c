"""The KV-cache argument across transformers releases: ``cache`` (recent) or ``past_key_values`` (older).

Recent transformers (5.24 here) name the cache argument of ``forward`` and ``generate``, and the output
field, ``cache``, and warn on every call that passes the deprecated ``past_key_values``; 5.19, the
newest release vLLM's CPU build accepts, still takes ``past_key_values``. The backend passes whichever
name the model takes.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=32)
def _takes_cache(forward: Any) -> bool:
    try:
        return "cache" in inspect.signature(forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``{"cache": cache}`` or ``{"past_key_values": cache}``, as ``model.forward`` / ``model.generate`` take it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper forwards kwargs
    forward = getattr(type(base), "forward", None) or base.forward
    return {"cache" if _takes_cache(forward) else "past_key_values": cache}


def output_cache(output: Any) -> Any:
    """The KV cache a model or ``generate`` output carries, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)
