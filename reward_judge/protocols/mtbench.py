"""MT-Bench judge prompts (FastChat llm_judge) and their Korean Ko-Bench translation (seed 002)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..verdicts import Verdict
from .base import NUMBER, JudgeProtocol, Message, last_match, split_messages, to_number
from .templates import KOBENCH_MATH, KOBENCH_SINGLE, MTBENCH_SINGLE

MTBENCH_SYSTEM = "You are a helpful assistant."

_GENERAL_SENTENCE = (
    "Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, "
    "and level of detail of the response. Begin your evaluation by providing a short explanation. "
    "Be as objective as possible."
)
_MATH_SENTENCE = (
    "Your evaluation should consider correctness and helpfulness. You will be given a reference answer and "
    "the assistant's answer. Begin your evaluation by comparing the assistant's answer with the reference answer. "
    "Identify and correct any mistakes. Be as objective as possible."
)
_REFERENCE_BLOCK = "[The Start of Reference Answer]\n{ref_answer_1}\n[The End of Reference Answer]\n\n"
_ANSWER_START = "[The Start of Assistant's Answer]"

MTBENCH_MATH = MTBENCH_SINGLE.replace(_GENERAL_SENTENCE, _MATH_SENTENCE, 1).replace(
    _ANSWER_START, _REFERENCE_BLOCK + _ANSWER_START, 1
)

MTBENCH_PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's instructions "
    "and answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of the "
    "responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
MTBENCH_PAIR = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's "
    "Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)

_RATING = re.compile(r"\[\[\s*(" + NUMBER + r")\s*\]\]")
_RATING_BACKUP = re.compile(r"\[\s*(" + NUMBER + r")\s*\]")
# "[[A]]" that is not the echo of the format instruction ('"[[A]]" if assistant A is better').
_PAIR = re.compile(r"\[\[\s*([ABC])\s*\]\](?![\"”']?\s*(?:if assistant|for a tie))")


@dataclass(frozen=True)
class MTBenchSingle(JudgeProtocol):
    """MT-Bench ``single-v1``: explanation then ``Rating: [[x]]`` on 1-10.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("mtbench-single").parse("Helpful and correct. Rating: [[8]]").score
        8
    """

    name: ClassVar[str] = "mtbench-single"
    description: ClassVar[str] = "MT-Bench single-v1 rating 1-10 (any strong instruct model as judge)"
    score_range: ClassVar[Optional[tuple[float, float]]] = (1, 10)
    integer_scores: ClassVar[bool] = False
    message_splits: ClassVar[tuple[str, ...]] = ("system", "user")
    answer_prefix: ClassVar[str] = "Rating: [["
    template: ClassVar[str] = MTBENCH_SINGLE
    system_prompt: ClassVar[Optional[str]] = MTBENCH_SYSTEM

    message_split: str = "system"

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = self.template.format(question=instruction, answer=response, ref_answer_1=reference)
        if self.message_split == "system":
            return split_messages(self.system_prompt, prompt)
        if self.message_split == "empty-system":
            return split_messages("", prompt)
        return split_messages(None, prompt)

    def _parse(self, text: str) -> Verdict:
        match = last_match(_RATING, text) or last_match(_RATING_BACKUP, text)
        if match is None:
            return Verdict(feedback=text.strip(), error="no '[[rating]]' in the judge output")
        feedback = re.sub(r"Rating\s*[:：]?\s*$", "", text[: match.start()].rstrip(), flags=re.IGNORECASE).strip()
        return self.check_score(to_number(match.group(1)), feedback, match.group(1))


@dataclass(frozen=True)
class MTBenchMath(MTBenchSingle):
    """MT-Bench ``single-math-v1``: judged against a reference answer (required)."""

    name: ClassVar[str] = "mtbench-math"
    description: ClassVar[str] = "MT-Bench single-math-v1 rating 1-10 against a reference answer"
    reference_slot: ClassVar[str] = "required"
    template: ClassVar[str] = MTBENCH_MATH


@dataclass(frozen=True)
class KoBenchSingle(MTBenchSingle):
    """Ko-Bench ``single-v1`` (keval judges, seed 002): Korean MT-Bench, 0-10, 0 = languages differ.

    The keval card sends an empty system message (``message_split="empty-system"``, what its presets
    use); by default the prompt is the only user turn.
    """

    name: ClassVar[str] = "kobench-single"
    description: ClassVar[str] = "Ko-Bench single-v1 rating 0-10 (davidkim205/keval-2-*)"
    score_range: ClassVar[Optional[tuple[float, float]]] = (0, 10)
    message_splits: ClassVar[tuple[str, ...]] = ("user", "empty-system")
    template: ClassVar[str] = KOBENCH_SINGLE
    system_prompt: ClassVar[Optional[str]] = None

    message_split: str = "user"


@dataclass(frozen=True)
class KoBenchMath(KoBenchSingle):
    """Ko-Bench ``single-math-v1``: Korean MT-Bench math prompt with a reference answer (required)."""

    name: ClassVar[str] = "kobench-math"
    description: ClassVar[str] = "Ko-Bench single-math-v1 rating 0-10 against a reference answer"
    reference_slot: ClassVar[str] = "required"
    template: ClassVar[str] = KOBENCH_MATH


@dataclass(frozen=True)
class MTBenchPair(JudgeProtocol):
    """MT-Bench ``pair-v2``: verdict ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie).

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("mtbench-pair").parse("B is more accurate. [[B]]").winner
        'B'
    """

    name: ClassVar[str] = "mtbench-pair"
    description: ClassVar[str] = "MT-Bench pair-v2 comparison A/B/tie"
    pairwise: ClassVar[bool] = True
    message_splits: ClassVar[tuple[str, ...]] = ("system",)
    answer_prefix: ClassVar[str] = "[["

    message_split: str = "system"

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = MTBENCH_PAIR.format(question=instruction, answer_a=response, answer_b=response_b)
        return split_messages(MTBENCH_PAIR_SYSTEM, prompt)

    def _parse(self, text: str) -> Verdict:
        match = last_match(_PAIR, text)
        if match is None:
            return Verdict(feedback=text.strip(), error="no '[[A]]', '[[B]]' or '[[C]]' verdict in the judge output")
        winner = {"A": "A", "B": "B", "C": "tie"}[match.group(1)]
        return Verdict(winner=winner, feedback=text[: match.start()].strip())  # type: ignore[arg-type]

    def answer_values(self) -> list[str]:
        return ["A", "B", "C"]
