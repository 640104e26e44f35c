"""What a scorer is: judge requests in, one `Judgment` per request out, for one attempt."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence

from ..backends.base import GENERATE, GenerationParams, JudgeBackend
from ..result import Verdict

if TYPE_CHECKING:  # pragma: no cover
    from ..config import JudgeConfig
    from ..requests import JudgeRequest


@dataclass(frozen=True)
class Judgment:
    """What the judge said about one request: the verdict and how it was obtained.

    ``backend_error`` marks a judgment where the backend itself failed (no answer at all);
    ``retryable`` says whether asking again can change a failed verdict (a deterministic read of the
    same distribution cannot).

    Example:
        >>> Judgment(Verdict(score=4, feedback="Good."), raw="Good. [RESULT] 4").ok
        True
    """

    verdict: Verdict
    raw: str = ""
    attempts: int = 0
    distribution: Optional[dict[str, float]] = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    backend_error: bool = False
    retryable: bool = True

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def error(self) -> Optional[str]:
        return self.verdict.error

    @classmethod
    def failure(cls, error: str, *, raw: str = "", backend_error: bool = False, retryable: bool = True) -> "Judgment":
        return cls(Verdict(error=error), raw=raw, backend_error=backend_error, retryable=retryable)

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable record for the cache (only valid judgments are stored)."""
        return {"score": self.verdict.score, "winner": self.verdict.winner, "feedback": self.verdict.feedback,
                "raw": self.raw, "attempts": self.attempts, "distribution": self.distribution,
                "extra": json.loads(json.dumps(dict(self.extra)))}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Judgment":
        verdict = Verdict(score=record["score"], winner=record["winner"], feedback=record["feedback"])
        return cls(verdict, raw=record["raw"], attempts=record["attempts"], distribution=record.get("distribution"),
                   extra=record.get("extra") or {})


def generation_params(config: "JudgeConfig", attempt: int = 0) -> GenerationParams:
    """Decoding settings of attempt ``attempt``: the configured ones first, then sampled retries with new seeds.

    A greedy retry would repeat the same failure, so retries always sample (``retry_temperature``
    unless the first attempt already sampled) with ``seed + attempt``.
    """
    if attempt == 0:
        return GenerationParams(config.max_new_tokens, config.do_sample, config.temperature, config.top_p,
                                config.top_k, config.repetition_penalty, config.seed)
    temperature = config.temperature if config.do_sample else config.retry_temperature
    return GenerationParams(config.max_new_tokens, True, temperature, config.top_p, config.top_k,
                            config.repetition_penalty, config.seed + attempt)


class Scorer(ABC):
    """Turns judge requests into judgments, one attempt at a time (the pipeline retries and isolates).

    Subclasses name their ``mode`` and the backend capability they need; `check` refuses a backend that
    lacks it, and the protocols the scorer cannot read, with a message naming both.
    """

    mode: ClassVar[str] = ""
    needs: ClassVar[str] = GENERATE

    def __init__(self, backend: JudgeBackend, config: "JudgeConfig"):
        self.backend = backend
        self.config = config

    @classmethod
    def check_backend(cls, backend: JudgeBackend) -> None:
        """Raise ``ValueError`` naming the backend and the mode when the backend cannot serve this mode."""
        cls._refuse_unless(backend.capabilities, backend.describe())

    @classmethod
    def check_backend_class(cls, backend_class: type, options: Any) -> None:
        """The same check before the backend is loaded, from what its class declares for ``options``."""
        cls._refuse_unless(backend_class.declared_capabilities(options), backend_class.name or backend_class.__name__)

    @classmethod
    def _refuse_unless(cls, capabilities: frozenset[str], backend: str) -> None:
        if cls.needs not in capabilities:
            raise ValueError(
                f"backend {backend!r} cannot serve mode={cls.mode!r}: it cannot "
                f"{'read answer log-probabilities' if cls.needs != GENERATE else 'generate'} "
                f"(it can: {', '.join(sorted(capabilities))}); use mode='generate'")

    @classmethod
    def check_protocol(cls, protocol: Any) -> None:
        """Raise ``ValueError`` when this scorer cannot read ``protocol``'s answers (default: any protocol works)."""

    @property
    def samples(self) -> bool:
        """Whether the first attempt draws at random (then a cached answer would freeze one draw)."""
        return self.config.do_sample

    @abstractmethod
    def cache_fields(self) -> dict[str, Any]:
        """Everything besides the judge input and protocol that changes this scorer's verdict."""

    @abstractmethod
    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        """One judgment per request for attempt number ``attempt`` (0-based); raise when the backend fails."""
