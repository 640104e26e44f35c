"""Judge backends: where judge inference runs (`TransformersBackend` in process, `OpenAIBackend` over HTTP)."""

from __future__ import annotations

from typing import Any

from .base import (ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, AnswerRead, AnswerSlot, GenerationParams,
                   JudgeBackend, LogprobsUnsupported)
from .registry import BACKEND_OPTIONS, backend_class

__all__ = ["ANSWER_LOGPROBS", "AnswerRead", "AnswerSlot", "BACKEND_OPTIONS", "GENERATE", "GENERATE_ANSWER_LOGPROBS",
           "GenerationParams", "JudgeBackend", "LogprobsUnsupported", "OpenAIBackend", "TransformersBackend", "backend_class"]


def __getattr__(name: str) -> Any:
    # The backend classes load on first use, so reading options or the registry imports no framework.
    if name == "TransformersBackend":
        return backend_class("transformers")
    if name == "OpenAIBackend":
        return backend_class("openai")
    raise AttributeError(name)
