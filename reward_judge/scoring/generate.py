"""``generate`` mode: the judge writes its feedback and the protocol parses the score out of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..backends.base import GENERATE, BackendError
from ..verdicts import Judgment
from .answers import ANSWER_READING, own_verdict
from .base import AttemptPlan, Scorer
from .thinking import check_backend as check_budget_backend
from .thinking import generate as budget_forced_generate

if TYPE_CHECKING:  # pragma: no cover
    from ..rendering import JudgeRequest


class GenerateScorer(Scorer):
    """Decode, then parse with the request's protocol; an unreadable answer is a retryable failure.

    Example:
        >>> scorer = GenerateScorer(backend, AttemptPlan())                        # doctest: +SKIP
        >>> scorer.attempt(requests, attempt=0)[0].verdict.score             # doctest: +SKIP
        4
    """

    mode = "generate"
    needs = GENERATE

    def __init__(self, backend: Any, plan: AttemptPlan):
        super().__init__(backend, plan)
        if plan.think_budget is not None:
            check_budget_backend(backend)

    def cache_fields(self) -> dict[str, Any]:
        fields = self.plan.first.cache_fields()
        # retries can turn a failure into a verdict, so a verdict depends on how many were allowed
        return {"mode": self.mode, **fields, "max_attempts": self.plan.max_attempts, "answer_reading": ANSWER_READING,
                **({"think_budget": self.plan.think_budget} if self.plan.think_budget is not None else {})}

    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        if self.plan.think_budget is not None:  # budget forcing (only thinking protocols get a budget)
            return budget_forced_generate(self.backend, requests, self.plan.params(attempt), self.plan.think_budget)
        raws = self.backend.generate([r.input for r in requests], self.plan.params(attempt))
        if len(raws) != len(requests):
            raise BackendError(f"backend returned {len(raws)} answers for {len(requests)} inputs")
        return [Judgment(own_verdict(r, raw), raw=raw) for r, raw in zip(requests, raws, strict=True)]

