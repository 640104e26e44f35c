"""What a scorer is: judge requests in, one `Judgment` per request out, for one attempt."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence

from ..backends.base import GENERATE, GenerationParams, JudgeBackend
from ..verdicts import Judgment

if TYPE_CHECKING:  # pragma: no cover
    from ..rendering import JudgeRequest
    from ..stats import JudgeStats


@dataclass(frozen=True)
class AttemptPlan:
    """How a request is asked: the decoding of the first attempt, how many attempts, and the retries' temperature.

    A greedy retry would repeat the same failure, so retries always sample (``retry_temperature``
    unless the first attempt already sampled) with ``seed + attempt``.

    Example:
        >>> plan = AttemptPlan(GenerationParams(max_new_tokens=64), max_attempts=2, retry_temperature=0.7)
        >>> plan.params(0).do_sample, plan.params(1).do_sample, plan.params(1).seed
        (False, True, 1)
    """

    first: GenerationParams = field(default_factory=GenerationParams)
    max_attempts: int = 2
    retry_temperature: float = 0.7
    #: Tokens a judge that thinks first may think before its answer is forced (`reward_judge.scoring.thinking`).
    think_budget: Optional[int] = None

    def params(self, attempt: int = 0) -> GenerationParams:
        """Decoding settings of attempt ``attempt`` (0-based)."""
        if attempt == 0:
            return self.first
        temperature = self.first.temperature if self.first.do_sample else self.retry_temperature
        return dataclasses.replace(self.first, do_sample=True, temperature=temperature, seed=self.first.seed + attempt)


class Scorer(ABC):
    """Turns judge requests into judgments, one attempt at a time (the judge runner retries and isolates).

    Subclasses name their ``mode`` and the backend capability they need; `check` refuses a backend that
    lacks it, and the protocols the scorer cannot read, with a message naming both.
    """

    mode: ClassVar[str] = ""
    needs: ClassVar[str] = GENERATE

    def __init__(self, backend: JudgeBackend, plan: AttemptPlan):
        self.backend = backend
        self.plan = plan

    @classmethod
    def check_backend(cls, backend: JudgeBackend) -> None:
        """Raise ``ValueError`` naming the backend and the mode when the backend cannot serve this mode."""
        cls._refuse_unless(backend.capabilities, backend.describe())

    @classmethod
    def check_capabilities(cls, capabilities: frozenset[str], backend: str) -> None:
        """The same check before the backend is loaded, from what its options declare (`BackendOptions.capabilities`)."""
        cls._refuse_unless(capabilities, backend)

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
        return self.plan.first.do_sample

    def samples_on(self, attempt: int) -> bool:
        """Whether attempt ``attempt`` (0-based) draws at random: retries sample even after a greedy first attempt."""
        return self.samples if attempt == 0 else self.plan.params(attempt).do_sample

    @abstractmethod
    def cache_fields(self) -> dict[str, Any]:
        """Everything besides the judge input and protocol that changes this scorer's verdict."""

    @abstractmethod
    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        """One judgment per request for attempt number ``attempt`` (0-based); raise when the backend fails."""

    def tally(self, judgments: Sequence[Judgment], stats: "JudgeStats") -> None:
        """Count what this mode reports about the final judgments the judge gave (not the cached ones)."""
