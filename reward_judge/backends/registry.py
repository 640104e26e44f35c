"""Which backends exist: their names, their option classes and (loaded on demand) their classes."""

from __future__ import annotations

import importlib
from typing import Any

from .openai.options import OpenAIOptions
from .transformers.options import TransformersOptions

#: Backend name -> its options class (pure dataclasses: importing them loads no framework).
BACKEND_OPTIONS: dict[str, type] = {"transformers": TransformersOptions, "openai": OpenAIOptions}
_CLASSES = {"transformers": "reward_judge.backends.transformers.backend:TransformersBackend",
            "openai": "reward_judge.backends.openai.backend:OpenAIBackend"}


def backend_class(name: str) -> Any:
    """The backend class registered under ``name``."""
    if name not in _CLASSES:
        raise ValueError(f"backend={name!r} is not one of {tuple(_CLASSES)}")
    module, _, attr = _CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
