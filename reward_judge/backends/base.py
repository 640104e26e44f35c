"""The one interface every judge backend implements, so the reward model never asks which it has."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Optional, Sequence


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings of one judge call.

    Example:
        >>> GenerationParams(max_new_tokens=64).do_sample
        False
    """

    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: Optional[int] = None
    repetition_penalty: float = 1.0
    seed: int = 0

    def cache_fields(self) -> dict[str, Any]:
        """The settings that change a judge's answer (sampling knobs only matter when sampling)."""
        fields: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                                  "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            fields.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, seed=self.seed)
        return fields


class JudgeBackend(ABC):
    """Runs a judge model on fully formatted judge inputs.

    ``generate`` returns one decoded answer per input text, in input order. It raises when the
    whole call fails; the reward model turns that into per-sample failures.
    """

    #: A string that identifies the judge weights (model id or path, revision, adapter...).
    identity: str = ""
    #: The judge's tokenizer when the backend has one (for chat templates and lengths).
    tokenizer: Any = None
    #: Tokens the judge can attend to (input plus answer), when known; the input-length policy uses it.
    context_length: Optional[int] = None

    @abstractmethod
    def generate(self, texts: Sequence[str], params: GenerationParams, *, add_special_tokens: bool) -> list[str]:
        """Decode the judge's answer to each text."""

    def answer_logprobs(self, contexts: Sequence[str], candidates: Sequence[str], *,
                        add_special_tokens: bool) -> list[list[float]]:
        """Log-probability of each candidate answer written right after each context (teacher-forced).

        Backends that can read token probabilities override this; the others refuse clearly, since
        the score-distribution modes cannot run on them.
        """
        raise TypeError(
            f"{type(self).__name__} cannot read token probabilities, so mode='expected'/'direct' cannot run "
            "on it; use mode='generate'"
        )

    def close(self) -> None:
        """Release resources (models, connections)."""
