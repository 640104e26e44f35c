"""Short pairwise protocols the 135M embedded judge can answer, for fast group-reward tests.

They are real protocols (a prompt and a strict parser), not mocks: the embedded judge still chooses
the answer. Prometheus 2's relative prompt is ~330 tokens per pair; these are ~40, so a round robin
of 4 completions (12 judge calls) stays fast on 2 shared CPU cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from reward_judge import JudgeProtocol, Verdict
from reward_judge.protocols.base import split_messages

_CHOICE = re.compile(r"^\s*([AB])\b")


@dataclass(frozen=True)
class ShortPair(JudgeProtocol):
    """Question, Answer A, Answer B, then "The better answer is Answer" and the judge's letter."""

    name: ClassVar[str] = "test-short-pair"
    pairwise: ClassVar[bool] = True
    answer_prefix: ClassVar[str] = " "

    def _render(self, instruction, response, reference, rubric_text, response_b):
        return split_messages(None, f"Question: {instruction}\nAnswer A: {response}\nAnswer B: {response_b}\n"
                                    "The better answer is Answer")

    def _parse(self, text: str) -> Verdict:
        match = _CHOICE.match(text)
        if match is None:
            return Verdict(feedback=text.strip(), error=f"no A or B at the start of the answer: {text[:40]!r}")
        return Verdict(winner=match.group(1), feedback="")  # type: ignore[arg-type]

    def answer_values(self) -> list[str]:
        return ["A", "B"]


SHORT_PAIR = ShortPair()
