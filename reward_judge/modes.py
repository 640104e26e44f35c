"""The score-distribution modes ``expected`` and ``direct``: judge inputs in, `JudgeResult`s out.

``direct`` places the protocol's answer marker right after the judge prompt and reads the judge's
probability over the valid answers; ``expected`` first lets the judge write its feedback (greedy or
sampled, as configured), cuts it where the judge wrote the marker (or appends the marker), then reads
the distribution there. The score is the probability-weighted mean of the valid scores; pairwise
protocols get a distribution over A/B(/tie) and the expected reward of response A.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Optional, Sequence

from .distribution import AnswerSpace, normalise
from .normalize import normalize_score, normalize_winner
from .result import JudgeResult

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import JudgeProtocol
    from .reward_model import GenerativeRewardModel

logger = logging.getLogger(__name__)


def answer_context(text: str, feedback: str, protocol: "JudgeProtocol") -> tuple[str, str, bool]:
    """(judge input ending at the answer slot, feedback kept, whether the judge wrote the marker itself).

    The judge's own last marker is kept when present; otherwise the marker is appended after the
    feedback (on the same line for ``[RESULT]``, as Prometheus writes it, else on a new line).

    Example:
        >>> from reward_judge import get_protocol
        >>> answer_context("PROMPT ", "Good. [RESULT] 4", get_protocol("prometheus-v2"))
        ('PROMPT Good. [RESULT] ', 'Good. ', True)
    """
    marker = protocol.answer_prefix.rstrip()
    at = feedback.rfind(marker) if marker else -1
    if at >= 0:
        kept = feedback[:at]
        return text + kept + protocol.answer_prefix, kept, True
    kept = feedback.rstrip()
    separator = "" if not kept else (" " if marker.startswith("[RESULT]") else "\n")
    return text + kept + separator + protocol.answer_prefix, kept, False


def judge_by_distribution(rm: "GenerativeRewardModel", texts: Sequence[str],
                          protocols: Sequence["JudgeProtocol"]) -> list[JudgeResult]:
    """Judge distinct ``texts`` (rendered judge inputs; ``score`` dedups) in ``rm.config.mode``, in order."""
    results: list[Optional[JudgeResult]] = [None] * len(texts)
    for protocol in {p.name: p for p in protocols}.values():
        members = [k for k, p in enumerate(protocols) if p.name == protocol.name]
        for k, result in zip(members, _judge_group(rm, [texts[k] for k in members], protocol, rm.config.mode)):
            results[k] = result
    return results  # type: ignore[return-value]


def _judge_group(rm: "GenerativeRewardModel", texts: list[str], protocol: "JudgeProtocol", mode: str) -> list[JudgeResult]:
    space = AnswerSpace.of(protocol)
    add_special = rm.formatter.add_special_tokens
    started = time.perf_counter()
    raws = [""] * len(texts)
    try:
        if mode == "expected":
            raws = rm.backend.generate(texts, rm.generation_params(0), add_special_tokens=add_special)
        contexts = [answer_context(t, raw, protocol) if mode == "expected" else (t + protocol.answer_prefix, "", False)
                    for t, raw in zip(texts, raws)]
        logprobs = rm.backend.answer_logprobs([c for c, _, _ in contexts], space.candidates,
                                              add_special_tokens=add_special)
    except Exception as exc:  # the judge failing must not lose the batch: it becomes a counted failure
        logger.exception("judge backend failed on %d inputs", len(texts))
        rm.stats.backend_errors += 1
        rm.stats.judge_seconds += time.perf_counter() - started
        rm.stats.judge_requests += len(texts)
        error = f"judge backend error: {type(exc).__name__}: {exc}"
        rm.stats.failure_reasons[error] += len(texts)
        return [_failure(rm, protocol, error, raw) for raw in raws]
    rm.stats.judge_seconds += time.perf_counter() - started
    rm.stats.judge_requests += len(texts)
    results = []
    for raw, (_, feedback, marker_written), lps in zip(raws, contexts, logprobs):
        try:
            probs, mass = normalise(lps)
        except ValueError as exc:
            rm.stats.failure_reasons[str(exc)] += 1
            results.append(_failure(rm, protocol, str(exc), raw))
            continue
        result = JudgeResult(feedback=feedback.strip(), raw=raw, ok=True, attempts=1,
                             distribution=dict(zip(space.values, probs)),
                             extra={"mode": mode, "answer_mass": mass, "marker_written": marker_written})
        if protocol.pairwise:
            winners = space.winners
            best = max(range(len(probs)), key=probs.__getitem__)
            result.winner = winners[best]  # type: ignore[assignment]
            result.reward = sum(p * normalize_winner(w, rm.config.normalize) for p, w in zip(probs, winners))  # type: ignore[arg-type]
        else:
            result.score = sum(p * s for p, s in zip(probs, space.scores))  # type: ignore[operator]
            result.reward = normalize_score(result.score, protocol.score_range, rm.config.normalize)  # type: ignore[arg-type]
        results.append(result)
    return results


def _failure(rm: "GenerativeRewardModel", protocol: "JudgeProtocol", error: str, raw: str) -> JudgeResult:
    """A counted failure with the model's declared fallback (the same path as generate mode's failures)."""
    from .result import Verdict

    return rm._to_result(protocol, Verdict(error=error), raw, 1, error)
