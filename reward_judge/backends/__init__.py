"""Judge backends: where judge inference runs."""

from .base import GenerationParams, JudgeBackend
from .transformers import TransformersBackend

__all__ = ["GenerationParams", "JudgeBackend", "TransformersBackend"]
