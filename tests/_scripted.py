"""A scripted judge backend for the bookkeeping tests (cache, dedup, retries, isolation, group accounting).

It is a real implementation of the `JudgeBackend` interface, registered under the name ``scripted``
like any other backend, whose answers are a pure function of the judge input: the judge "reads" the
last ``score=N`` (or ``winner=A``) written in the input and answers in the protocol's own format, so a
test states in its rollout what the judge will say. It runs in microseconds, so tests of what happens
*around* the judge need no model. Tests of what the model does stay on the real embedded judge.

Inputs containing ``CRASH`` make the call raise (the whole batch, as a real backend failing would),
``GENFAIL`` makes only generation raise (a read of the answer slot still answers), and ``GARBLE`` makes
the first attempt unreadable (a greedy call) while a sampled retry answers; ``BREAK``
makes every attempt unreadable (a judge-breaker that works). A listwise input (lines ``[Response k]``)
gets one JSON object with a score per response header it reads: the last ``score=N`` of that response.
``sure=P`` sets the probability of the named answer in a read distribution (0.6 otherwise), and
``rethink=M`` makes the written feedback change the judge's mind to ``M`` (so ``expected`` reads ``M`` where
``direct`` reads ``N``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from reward_judge.backends.base import (ANSWER_LOGPROBS, GENERATE, BackendContext, BackendError, BackendOptions,
                                        GenerationParams, JudgeBackend)
from reward_judge.backends.registry import get_backend, register_backend
from reward_judge.judge_input import JudgeInput
from reward_judge.options import option

SCORE = re.compile(r"score=(\d+)")
WINNER = re.compile(r"winner=(A|B|tie)")
HEADER = re.compile(r"^\[Response (\S+?)\]$", re.MULTILINE)
SURE = re.compile(r"sure=(0?\.\d+|1(?:\.0*)?)")
RETHINK = re.compile(r"rethink=(\d+)")


@dataclass
class ScriptedOptions(BackendOptions):
    """Options of the scripted backend."""

    answer_format: str = option("[RESULT] {score}", "How the scripted judge writes a score ({score}).")
    winner_format: str = option("[RESULT] {winner}", "How it writes a pairwise winner ({winner}).")
    default_score: int = option(3, "The score when the input names none.")
    logprobs: bool = option(True, "Whether it reads answer log-probabilities (the distribution modes).")

    def capabilities(self) -> frozenset[str]:
        return frozenset({GENERATE, ANSWER_LOGPROBS}) if self.logprobs else frozenset({GENERATE})


class ScriptedBackend(JudgeBackend):
    """Answers from what the input says (see the module docstring); records every call in ``calls``."""

    name = "scripted"

    def __init__(self, options: ScriptedOptions, identity: str = "scripted"):
        self.options = options
        self.identity = identity
        self.calls: list[tuple[str, int]] = []  # (method, rows) per call
        self.closed = False

    @property
    def capabilities(self) -> frozenset[str]:
        return self.options.capabilities()

    def _target(self, text: str) -> tuple[int, str]:
        scores = SCORE.findall(text)
        winners = WINNER.findall(text)
        return (int(scores[-1]) if scores else self.options.default_score), (winners[-1] if winners else "A")

    def _check(self, inputs: Sequence[JudgeInput], method: str) -> None:
        self.calls.append((method, len(inputs)))
        if any("CRASH" in i.text for i in inputs):
            raise BackendError("scripted backend failure: an input says CRASH")
        if method == "generate" and any("GENFAIL" in i.text for i in inputs):
            raise BackendError("scripted backend failure: generation of an input that says GENFAIL")

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        self._check(inputs, "generate")
        answers = []
        for judge_input in inputs:
            score, winner = self._target(judge_input.text)
            headers = list(HEADER.finditer(judge_input.text))
            if "BREAK" in judge_input.text or ("GARBLE" in judge_input.text and not params.do_sample):
                answers.append("I cannot decide.")
            elif headers:  # listwise: a score per response the judge reads a header for
                blocks = [judge_input.text[h.end(): nxt.start() if nxt else len(judge_input.text)]
                          for h, nxt in zip(headers, headers[1:] + [None])]
                answers.append(json.dumps({h.group(1): self._target(block)[0] for h, block in zip(headers, blocks)}))
            elif WINNER.search(judge_input.text):
                answers.append("Feedback. " + self.options.winner_format.format(winner=winner))
            else:
                rethink = RETHINK.findall(judge_input.text)
                if rethink:  # the feedback names a new score: a read after it finds that one
                    score = int(rethink[-1])
                    answers.append(f"On reflection score={score}. " + self.options.answer_format.format(score=score))
                else:
                    answers.append("Feedback. " + self.options.answer_format.format(score=score))
        return answers

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        if not self.options.logprobs:
            return super().answer_logprobs(contexts, candidates)
        self._check(contexts, "answer_logprobs")
        rows = []
        for context in contexts:
            score, winner = self._target(context.text)
            wanted = winner if WINNER.search(context.text) else str(score)
            sure = SURE.findall(context.text)
            top = float(sure[-1]) if sure else 0.6
            rest = (1 - top) / max(1, len(candidates) - 1)
            # most mass on the named answer, the rest spread: a soft, deterministic distribution
            rows.append([math.log(top) if c.rstrip("]") == wanted else (math.log(rest) if rest > 0 else -math.inf)
                         for c in candidates])
        return rows

    def close(self) -> None:
        self.closed = True


def load(context: BackendContext, options: ScriptedOptions) -> ScriptedBackend:
    return ScriptedBackend(options, identity=f"scripted:{context.name}")


def ensure_registered() -> None:
    """Register ``scripted`` once per process (test modules share it)."""
    try:
        get_backend("scripted")
    except ValueError:
        register_backend("scripted", ScriptedOptions, load)


def scripted_model(**options: Any) -> Any:
    """A `GenerativeRewardModel` on the scripted backend: raw chat format, a 1-5 protocol unless told otherwise."""
    from reward_judge import GenerativeRewardModel

    ensure_registered()
    options.setdefault("protocol", "prometheus-v2")
    options.setdefault("rubric", "helpfulness")
    options.setdefault("chat_format", "raw")
    options.setdefault("max_new_tokens", 8)
    return GenerativeRewardModel.from_pretrained("scripted-judge", backend="scripted", **options)

