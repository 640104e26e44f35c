"""Judge backends: where judge inference runs (`TransformersBackend` in process, `OpenAIBackend` over HTTP).

A backend is one folder here (or in another package) plus one registration in
`reward_judge.backends.registry`: its name, its options class and its loader.
"""

from __future__ import annotations

from typing import Any

from .base import (ANSWER_LOGPROBS, GENERATE, GENERATE_ANSWER_LOGPROBS, AnswerRead, AnswerSlot, BackendContext,
                   BackendError, BackendOptions, GenerationParams, JudgeBackend, LogprobsUnsupported,
                   is_backend_failure)
from .registry import BackendSpec, backend_names, get_backend, register_backend, unregister_backend

__all__ = ["ANSWER_LOGPROBS", "AnswerRead", "AnswerSlot", "BackendContext", "BackendError", "BackendOptions",
           "BackendSpec", "GENERATE", "GENERATE_ANSWER_LOGPROBS", "GenerationParams", "JudgeBackend",
           "LogprobsUnsupported", "OpenAIBackend", "TransformersBackend", "backend_names", "get_backend",
           "is_backend_failure", "register_backend", "unregister_backend"]


def __getattr__(name: str) -> Any:
    # The backend classes load on first use, so reading options or the registry imports no framework.
    if name == "TransformersBackend":
        from .transformers.backend import TransformersBackend

        return TransformersBackend
    if name == "OpenAIBackend":
        from .openai.backend import OpenAIBackend

        return OpenAIBackend
    raise AttributeError(name)
