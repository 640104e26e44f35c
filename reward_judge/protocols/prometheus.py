"""Prometheus absolute (1-5) and relative (A/B) grading: seeds 000, 001, 003 and Prometheus 2."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..verdicts import Verdict
from ..rubric import Rubric
from .base import NUMBER, JudgeProtocol, Message, clean_feedback, last_match, split_messages, to_number
from .templates import PROMETHEUS_V1_ABSOLUTE, PROMETHEUS_V2_RELATIVE

PROMETHEUS_V1_SYSTEM = "You are a fair evaluator language model."
PROMETHEUS_V2_ABSOLUTE_SYSTEM = (
    "You are a fair judge assistant tasked with providing clear, objective feedback based on specific "
    "criteria, ensuring each assessment reflects the absolute standards set for performance."
)
PROMETHEUS_V2_RELATIVE_SYSTEM = (
    "You are a fair judge assistant assigned to deliver insightful feedback that compares individual "
    "performances, highlighting how each stands relative to others within the same cohort."
)

_REFERENCE_BLOCK = "###Reference Answer (Score 5):\n{reference_answer}\n\n"
_REFERENCE_SENTENCE = ", a reference answer that gets a score of 5"
_TASK_END = "\n\n###The instruction to evaluate:"
_FEEDBACK_LINE = "###Feedback: "

# A verdict that names two answers ("3 or 4", "3-4", "A or B") is no verdict.
_NOT_TWO_SCORES = r"(?![\d.]*\d)(?!\s*(?:or|to|-|–)\s*\d)"
_NOT_TWO_CHOICES = r"(?![A-Za-z])(?!\s*(?:or|and|/|,)\s*(?:Response\s+)?[AB]\b)"
# "[RESULT] 4", "[RESULT]: 4", "[RESULT] (4)", "[ RESULT ] 4점", "[RESULT] score of 1", "[Result] Score: 2",
# "[Result] Result: 4": the marker, an optional label, then the first number.
_RESULT_SCORE = re.compile(
    r"\[\s*RESULT\s*\]\s*[:：]?\s*(?:(?:score|result)\s*(?:of|[:：])?\s*)?[\(\[\"'*]*\s*(" + NUMBER + r")"
    + _NOT_TWO_SCORES, re.IGNORECASE)
_RESULT_ANY = re.compile(r"\[\s*RESULT\s*\]", re.IGNORECASE)
# The judge repeating the template's output-format line after its answer: "[RESULT] (an integer number between 1 and 5)".
_FORMAT_ECHO = re.compile(r"\s*\(an integer number between", re.IGNORECASE)
# Where a relative verdict starts: "[RESULT] A" or "[RESULT: A]".
_RESULT_OPEN = re.compile(r"\[\s*RESULT\s*[\]:：]", re.IGNORECASE)
_END = r"[\s.!。*\"']*$"
# Forms the prometheus-eval parser also accepts when the answer has no [RESULT] marker: on the last line,
# and those that could appear inside a sentence ("(Score 5)", "score of 1") only where they close the answer.
_TAIL_FORMS = [
    re.compile(r"\[\s*SCORE\s*\]\s*[:：]?\s*(" + NUMBER + r")" + _NOT_TWO_SCORES, re.IGNORECASE),
    re.compile(r"\bScore\s*[:：]\s*(" + NUMBER + r")" + _NOT_TWO_SCORES, re.IGNORECASE),
    re.compile(r"(" + NUMBER + r")\s*/\s*5\b"),
    re.compile(r"(" + NUMBER + r")\s+out\s+of\s+5\b", re.IGNORECASE),
    re.compile(r"\(\s*Score\s*[:：]?\s*(" + NUMBER + r")\s*\)" + _END, re.IGNORECASE),
    re.compile(r"\[\s*Score\s*[:：]?\s*(" + NUMBER + r")\s*\]" + _END, re.IGNORECASE),
    re.compile(r"\bscore\s+of\s+(" + NUMBER + r")" + _END, re.IGNORECASE),
]
# "[RESULT] A", "[RESULT] (B)", "[Result] Response B", "[RESULT: B]", "[Result: B]".
_RESULT_CHOICE = re.compile(
    r"\[\s*RESULT\s*\]\s*[:：]?\s*[\(\[\"'*]*\s*(?:Response\s+)?([AB])" + _NOT_TWO_CHOICES
    + r"|\[\s*RESULT\s*[:：]\s*(?:Response\s+)?([AB])\s*\]", re.IGNORECASE
)
# "[Response B]" closing a relative feedback.
_CLOSING_CHOICE = re.compile(r"\[\s*Response\s+([AB])\s*\]" + _END, re.IGNORECASE)


@dataclass(frozen=True)
class PrometheusAbsolute(JudgeProtocol):
    """Prometheus absolute grading, score 1-5 after ``[RESULT]``.

    ``message_split`` picks how the prompt is cut into chat messages, as each card does it:
    ``"system"`` (fixed system message, whole prompt as the user turn), ``"task-as-system"``
    (seed 000: the task description is the system message) or ``"user"`` (seed 001: the whole prompt
    as one user turn). ``end_with_space`` keeps the trailing space after ``###Feedback:`` that the
    Prometheus library has; seeds 000 and 001 end at ``###Feedback:``.

    Example:
        >>> from reward_judge import get_protocol
        >>> p = get_protocol("prometheus-v1")
        >>> msgs = p.render("What is 2+2?", "4", rubric="factual_correctness")
        >>> msgs[0]["content"]
        'You are a fair evaluator language model.'
        >>> p.parse("Feedback: Correct and concise. [RESULT] 5").score
        5
    """

    uses_rubric: ClassVar[bool] = True
    reference_slot: ClassVar[str] = "optional"
    score_range: ClassVar[Optional[tuple[float, float]]] = (1, 5)
    message_splits: ClassVar[tuple[str, ...]] = ("system", "task-as-system", "user")
    answer_prefix: ClassVar[str] = "[RESULT] "
    system_prompt: ClassVar[str] = PROMETHEUS_V1_SYSTEM
    #: Prometheus 2 dropped "Feedback: " from rule 3 and has a trained no-reference wording.
    v2_wording: ClassVar[bool] = False

    message_split: str = "system"
    end_with_space: bool = True

    def template(self, with_reference: bool) -> str:
        text = PROMETHEUS_V1_ABSOLUTE
        if self.v2_wording:
            text = text.replace('"Feedback: (write a feedback', '"(write a feedback', 1)
        if not with_reference:
            text = text.replace(_REFERENCE_BLOCK, "", 1)
            if self.v2_wording:
                text = text.replace(_REFERENCE_SENTENCE, "", 1)
        if not self.end_with_space:
            text = text[: -len(_FEEDBACK_LINE)] + _FEEDBACK_LINE.rstrip()
        return text

    def _format_rubric(self, rubric: Rubric | str) -> str:
        if isinstance(rubric, Rubric):
            if list(rubric.scores) != [1, 2, 3, 4, 5]:
                raise ValueError(
                    f"protocol {self.name!r} needs a rubric with score descriptions for 1 to 5, "
                    f"got scores {list(rubric.scores)} for criteria {rubric.criteria!r}"
                )
            return rubric.render()
        missing = [s for s in range(1, 6) if f"Score {s}:" not in rubric]
        if missing:
            raise ValueError(
                f"protocol {self.name!r} needs score descriptions 'Score 1:' to 'Score 5:' in the rubric; "
                f"missing {['Score %d:' % s for s in missing]} in rubric={rubric[:80]!r}. "
                "Pass Rubric(criteria, [five descriptions]) or a built-in name such as 'helpfulness'."
            )
        return rubric

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = self.template(reference is not None).format(
            instruction=instruction, response=response, reference_answer=reference, rubric=rubric_text
        )
        if self.message_split == "system":
            return split_messages(self.system_prompt, prompt)
        if self.message_split == "task-as-system":
            cut = prompt.index(_TASK_END)
            return split_messages(prompt[:cut], prompt[cut + 2:])
        return split_messages(None, prompt)

    def _parse(self, text: str) -> Verdict:
        # only the last [RESULT] is the verdict (as prometheus-eval reads it): when it holds no score, an earlier
        # one (a score the judge quoted from the response) is not read instead
        markers = [m for m in _RESULT_ANY.finditer(text) if not _FORMAT_ECHO.match(text, m.end())]
        marker = markers[-1] if markers else last_match(_RESULT_ANY, text)
        if marker is not None:
            match = _RESULT_SCORE.match(text, marker.start())
            if match is not None:
                return self.check_score(to_number(match.group(1)), clean_feedback(text[: match.start()]), match.group(1))
            answer = text[marker.end():].strip()[:40]
            return Verdict(feedback=clean_feedback(text[: marker.start()]), error=f"no score after [RESULT]: {answer!r}")
        lines = [line for line in text.strip().splitlines() if line.strip()]
        tail = lines[-1] if lines else ""
        for form in _TAIL_FORMS:
            match = last_match(form, tail)
            if match is not None:
                head = text[: text.rfind(tail)] + tail[: match.start()]
                return self.check_score(to_number(match.group(1)), clean_feedback(head), match.group(1))
        return Verdict(feedback=clean_feedback(text), error="no [RESULT] score in the judge output")


@dataclass(frozen=True)
class PrometheusV1(PrometheusAbsolute):
    name: ClassVar[str] = "prometheus-v1"
    description: ClassVar[str] = "Prometheus 1 absolute grading 1-5 (kaist-ai/prometheus-*-v1.0, Korean Prometheus)"


@dataclass(frozen=True)
class PrometheusV2(PrometheusAbsolute):
    name: ClassVar[str] = "prometheus-v2"
    description: ClassVar[str] = "Prometheus 2 absolute grading 1-5 (prometheus-eval/prometheus-*-v2.0)"
    system_prompt: ClassVar[str] = PROMETHEUS_V2_ABSOLUTE_SYSTEM
    v2_wording: ClassVar[bool] = True
    message_splits: ClassVar[tuple[str, ...]] = ("system", "user")


@dataclass(frozen=True)
class PrometheusV2Relative(JudgeProtocol):
    """Prometheus 2 relative grading: which of Response A and Response B is better.

    A `Rubric` is given to the judge as its ``[criteria]`` line, as the Prometheus 2 library does for
    relative grading; a string is passed as it is.

    Example:
        >>> from reward_judge import get_protocol
        >>> p = get_protocol("prometheus-v2-relative")
        >>> p.parse("Response A is accurate, B is not. [RESULT] A").winner
        'A'
    """

    name: ClassVar[str] = "prometheus-v2-relative"
    description: ClassVar[str] = "Prometheus 2 relative grading A/B"
    pairwise: ClassVar[bool] = True
    uses_rubric: ClassVar[bool] = True
    reference_slot: ClassVar[str] = "optional"
    message_splits: ClassVar[tuple[str, ...]] = ("system", "user")
    answer_prefix: ClassVar[str] = "[RESULT] "

    message_split: str = "system"

    def _format_rubric(self, rubric: Rubric | str) -> str:
        return rubric.render_criteria() if isinstance(rubric, Rubric) else rubric

    def template(self, with_reference: bool) -> str:
        if with_reference:
            return PROMETHEUS_V2_RELATIVE
        # the official no-reference wording drops "a reference answer," and keeps the comma before "and"
        return PROMETHEUS_V2_RELATIVE.replace(" a reference answer,", "", 1).replace(
            "###Reference Answer:\n{reference_answer}\n\n", "", 1
        )

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = self.template(reference is not None).format(
            instruction=instruction, response_A=response, response_B=response_b,
            reference_answer=reference, rubric=rubric_text,
        )
        system = PROMETHEUS_V2_RELATIVE_SYSTEM if self.message_split == "system" else None
        return split_messages(system, prompt)

    def _parse(self, text: str) -> Verdict:
        marker = last_match(_RESULT_OPEN, text)  # only the last [RESULT] is the verdict, as for absolute grading
        match = _RESULT_CHOICE.match(text, marker.start()) if marker is not None else _CLOSING_CHOICE.search(text)
        if match is None:
            return Verdict(feedback=clean_feedback(text), error='no "[RESULT] A" or "[RESULT] B" in the judge output')
        choice = next(group for group in match.groups() if group)
        return Verdict(winner=choice.upper(), feedback=clean_feedback(text[: match.start()]))  # type: ignore[arg-type]

    def answer_values(self) -> list[str]:
        return ["A", "B"]
