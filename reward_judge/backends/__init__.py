"""Judge backends: where judge inference runs."""

from .base import GenerationParams, JudgeBackend
from .transformers import TransformersBackend
from .openai import OpenAIBackend

__all__ = ["GenerationParams", "JudgeBackend", "OpenAIBackend", "TransformersBackend"]
