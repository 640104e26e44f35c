"""Fault injection around a real judge backend, to test failure handling without an accelerator.

Example:
    >>> rm = GenerativeRewardModel.from_pretrained("default")                 # doctest: +SKIP
    >>> inject_oom(rm.backend, max_batch=2)   # batches above 2 raise torch.cuda.OutOfMemoryError  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

from .backends.base import GenerationParams, JudgeBackend


def inject_oom(backend: Any, max_batch: int) -> list[int]:
    """Make ``backend.generate_batch`` raise ``torch.cuda.OutOfMemoryError`` for batches above ``max_batch``.

    Smaller batches run the real model. Returns the list of batch sizes that were refused, which
    the caller can inspect. ``max_batch=0`` makes every batch fail, even single inputs.
    """
    import torch

    real = backend.generate_batch
    refused: list[int] = []

    def generate_batch(batch: Sequence[Sequence[int]], params: GenerationParams) -> list[str]:
        if len(batch) > max_batch:
            refused.append(len(batch))
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected: batch of {len(batch)} > {max_batch})")
        return real(batch, params)

    backend.generate_batch = generate_batch
    return refused


class FailingBackend(JudgeBackend):
    """Wraps a real backend and raises for any call whose inputs contain ``poison``.

    Example:
        >>> flaky = FailingBackend(rm.backend, poison="CRASH")   # doctest: +SKIP
    """

    def __init__(self, inner: JudgeBackend, poison: str):
        self.inner = inner
        self.poison = poison
        self.tokenizer = inner.tokenizer
        self.identity = inner.identity
        self.context_length = getattr(inner, "context_length", None)
        self.calls = 0

    def generate(self, texts: Sequence[str], params: GenerationParams, *, add_special_tokens: bool) -> list[str]:
        self.calls += 1
        if any(self.poison in t for t in texts):
            raise RuntimeError(f"injected failure: an input contains {self.poison!r}")
        return self.inner.generate(texts, params, add_special_tokens=add_special_tokens)
