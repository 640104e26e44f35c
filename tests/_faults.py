"""Fault injection around a real judge backend, to test failure handling without an accelerator.

Both helpers wrap or extend a real backend (they never patch its methods), so everything they do not
inject runs the real judge.

Example:
    >>> rm = GenerativeRewardModel.from_pretrained("default")                  # doctest: +SKIP
    >>> oom = OutOfMemoryAbove(rm.backend, max_batch=2)   # batches above 2 raise OutOfMemoryError  # doctest: +SKIP
    >>> flaky = FailingBackend(rm.backend, poison="CRASH")                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

from reward_judge.backends.base import AnswerRead, AnswerSlot, BackendError, GenerationParams, JudgeBackend
from reward_judge.backends.transformers.backend import TransformersBackend
from reward_judge.judge_input import JudgeInput


class OutOfMemoryAbove(TransformersBackend):
    """A transformers backend on the same loaded weights whose batches above ``max_batch`` run out of memory.

    Smaller batches run the real model; ``refused`` lists the sizes of the batches that raised
    ``torch.cuda.OutOfMemoryError``. ``max_batch=0`` makes every batch fail, even single inputs.
    """

    def __init__(self, real: TransformersBackend, max_batch: int, *, batch_size: int | None = None):
        super().__init__(real.model, real.tokenizer, batch_size=batch_size or real.batch_size, identity=real.identity,
                         batch_tokens=real.batch_tokens, prefix_cache=real.prefix_cache)
        self.max_batch = max_batch
        self.refused: list[int] = []

    def generate_batch(self, batch: Sequence[Sequence[int]], params: GenerationParams) -> list[str]:
        self._refuse(len(batch))
        return super().generate_batch(batch, params)

    def generate_read_batch(self, batch: Sequence[Any], params: GenerationParams) -> list[AnswerRead]:
        self._refuse(len(batch))
        return super().generate_read_batch(batch, params)

    def _refuse(self, rows: int) -> None:
        import torch

        if rows > self.max_batch:
            self.refused.append(rows)
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected: batch of {rows} > {self.max_batch})")


class FailingBackend(JudgeBackend):
    """Wraps a real backend and fails (a `BackendError`, as a server error would) for any call whose inputs contain ``poison``.

    Example:
        >>> flaky = FailingBackend(rm.backend, poison="CRASH")   # doctest: +SKIP
    """

    def __init__(self, inner: JudgeBackend, poison: str):
        self.inner = inner
        self.poison = poison
        self.name = inner.name
        self.tokenizer = inner.tokenizer
        self.identity = inner.identity
        self.context_length = inner.context_length
        self.applies_chat_template = inner.applies_chat_template
        self.calls = 0

    @property
    def capabilities(self) -> frozenset[str]:
        return self.inner.capabilities

    def _check(self, inputs: Sequence[JudgeInput]) -> None:
        self.calls += 1
        if any(self.poison in i.text for i in inputs):
            raise BackendError(f"injected failure: an input contains {self.poison!r}")

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        self._check(inputs)
        return self.inner.generate(inputs, params)

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        self._check(contexts)
        return self.inner.answer_logprobs(contexts, candidates)

    def generate_answer_logprobs(self, inputs: Sequence[JudgeInput], params: GenerationParams,
                                 slots: Sequence[AnswerSlot]) -> list[AnswerRead]:
        self._check(inputs)
        return self.inner.generate_answer_logprobs(inputs, params, slots)

    def ensure(self, capability: str, mode: str) -> None:
        self.inner.ensure(capability, mode)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
