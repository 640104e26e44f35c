"""``expected`` and ``direct`` modes: the score is read from the judge's probability over its valid answers.

``direct`` places the protocol's answer marker right after the judge prompt and reads the judge's
probability over the valid answers; ``expected`` first lets the judge write its feedback (greedy or
sampled, as configured), cuts it where the judge wrote the marker (or appends the marker), then reads
the distribution there. The score is the probability-weighted mean of the valid scores; pairwise
protocols get a distribution over A/B(/tie) and the most probable winner.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, Any, Sequence

from ..backends.base import ANSWER_LOGPROBS, AnswerSlot, BackendError
from ..verdicts import Judgment, Verdict
from .answers import ANSWER_READING, AnswerSpace, answer_context, normalise
from .base import AttemptPlan, Scorer
from .thinking import check_backend as check_budget_backend
from .thinking import direct_prefix, thinks
from .thinking import read as budget_forced_read

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import JudgeProtocol
    from ..rendering import JudgeRequest


class DistributionScorer(Scorer):
    """Reads the answer distribution at the protocol's answer slot (``direct``) or after the feedback (``expected``).

    Example:
        >>> scorer = DirectScorer(backend, AttemptPlan())                              # doctest: +SKIP
        >>> scorer.attempt(requests, attempt=0)[0].distribution                    # doctest: +SKIP
        {'1': 0.06, '2': 0.09, '3': 0.04, '4': 0.79, '5': 0.02}
    """

    needs = ANSWER_LOGPROBS
    writes_feedback = False

    def __init__(self, backend: Any, plan: AttemptPlan):
        super().__init__(backend, plan)
        self._spaces: dict[str, AnswerSpace] = {}  # by protocol fingerprint: an answer marker is a field

    def space(self, protocol: "JudgeProtocol") -> AnswerSpace:
        key = protocol.fingerprint
        if key not in self._spaces:
            self._spaces[key] = AnswerSpace.of(protocol)
        return self._spaces[key]

    @classmethod
    def check_protocol(cls, protocol: "JudgeProtocol") -> None:
        AnswerSpace.of(protocol)

    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        judgments: list[Any] = [None] * len(requests)
        by_protocol: dict[str, list[int]] = {}
        for k, request in enumerate(requests):
            by_protocol.setdefault(request.protocol.fingerprint, []).append(k)
        for members in by_protocol.values():
            protocol = requests[members[0]].protocol
            space = self.space(protocol)
            contexts = [requests[k].input.extend(direct_prefix(protocol)) for k in members]
            logprobs = self.backend.answer_logprobs(contexts, space.candidates)
            if len(logprobs) != len(members):
                raise BackendError(f"backend returned {len(logprobs)} distributions for {len(members)} inputs")
            for k, lps in zip(members, logprobs, strict=True):
                judgments[k] = self._judgment(space, protocol, lps, "", "", False)
        return judgments

    def _judgment(self, space: AnswerSpace, protocol: "JudgeProtocol", logprobs: Sequence[float], raw: str,
                  feedback: str, marker_written: bool) -> Judgment:
        try:
            probs, mass = normalise(logprobs)
        except ValueError as exc:
            # a deterministic read gives the same answer again; a newly sampled feedback may not
            return Judgment.failure(str(exc), raw=raw, retryable=self.writes_feedback and self.plan.max_attempts > 1)
        distribution = dict(zip(space.values, probs, strict=True))
        extra: dict[str, Any] = {"answer_mass": mass, "marker_written": marker_written}
        if protocol.pairwise:
            best = max(range(len(probs)), key=probs.__getitem__)
            verdict = Verdict(winner=space.winners[best], feedback=feedback.strip())  # type: ignore[arg-type]
            by_winner: dict[str, float] = {}
            for winner, p in zip(space.winners, probs, strict=True):
                by_winner[winner] = by_winner.get(winner, 0.0) + p  # type: ignore[index]
            extra["winner_distribution"] = by_winner
        else:
            score = sum(p * s for p, s in zip(probs, space.scores, strict=True))  # type: ignore[misc]
            verdict = Verdict(score=score, feedback=feedback.strip())
        return Judgment(verdict, raw=raw, distribution=distribution, extra=extra)


class DirectScorer(DistributionScorer):
    """``direct``: no feedback; one forward pass to the answer slot after the prompt."""

    mode = "direct"

    @property
    def samples(self) -> bool:
        return False  # nothing is generated: the read is deterministic

    def samples_on(self, attempt: int) -> bool:
        return False

    def cache_fields(self) -> dict[str, Any]:
        return {"mode": self.mode}


class ExpectedScorer(DistributionScorer):
    """``expected``: the judge writes its feedback, then the distribution is read at its answer slot.

    One backend call does both (`JudgeBackend.generate_answer_logprobs`): backends that declare
    `GENERATE_ANSWER_LOGPROBS` read the distribution from the generation itself, the others generate
    and then read it in a second pass; the slot and the scores are the same either way.
    """

    mode = "expected"
    writes_feedback = True

    def __init__(self, backend: Any, plan: AttemptPlan):
        super().__init__(backend, plan)
        if plan.think_budget is not None:
            check_budget_backend(backend)

    def slot(self, protocol: "JudgeProtocol") -> AnswerSlot:
        """Where ``protocol``'s answer is read after the feedback (`answer_context`) and its candidate answers."""
        return AnswerSlot(partial(answer_context, protocol=protocol), self.space(protocol).candidates)

    def attempt(self, requests: Sequence["JudgeRequest"], attempt: int) -> list[Judgment]:
        slots: dict[str, AnswerSlot] = {}
        for r in requests:
            key = r.protocol.fingerprint
            if key not in slots:
                slots[key] = self.slot(r.protocol)
        params = self.plan.params(attempt)
        judgments: list[Any] = [None] * len(requests)
        # a judge that thinks first is read at the marker after its thinking (`reward_judge.scoring.thinking`)
        thinkers = [k for k, r in enumerate(requests) if thinks(r.protocol)]
        plain = [k for k, r in enumerate(requests) if not thinks(r.protocol)]
        if plain:
            reads = self.backend.generate_answer_logprobs(
                [requests[k].input for k in plain], params,
                [slots[requests[k].protocol.fingerprint] for k in plain])
            if len(reads) != len(plain):
                raise BackendError(f"backend returned {len(reads)} answers for {len(plain)} inputs")
            for k, read in zip(plain, reads, strict=True):
                r = requests[k]
                judgments[k] = self._judgment(self.space(r.protocol), r.protocol, read.logprobs, read.raw,
                                              read.feedback, read.marker_written)
        if thinkers:
            budget = self.plan.think_budget if self.plan.think_budget is not None else params.max_new_tokens
            thinker_slots = [slots[requests[k].protocol.fingerprint] for k in thinkers]
            reads = budget_forced_read(self.backend, [requests[k] for k in thinkers], params, budget, thinker_slots,
                                       continue_after_close=self.plan.think_budget is not None)
            for k, read in zip(thinkers, reads, strict=True):
                r = requests[k]
                judgment = self._judgment(self.space(r.protocol), r.protocol, read.logprobs, read.raw, read.feedback,
                                          read.marker_written)
                judgments[k] = dataclasses.replace(judgment, extra={**judgment.extra, **read.extra})
        return judgments

    def cache_fields(self) -> dict[str, Any]:
        fields = self.plan.first.cache_fields()
        return {"mode": self.mode, **fields, "max_attempts": self.plan.max_attempts, "answer_reading": ANSWER_READING,
                **({"think_budget": self.plan.think_budget} if self.plan.think_budget is not None else {})}
