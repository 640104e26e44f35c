"""Auto-J (seed 004): single-response rating 1-10 and pairwise comparison, English and Chinese."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..verdicts import Verdict
from .base import NUMBER, JudgeProtocol, Message, last_match, split_messages, to_number
from .templates import AUTOJ_PAIRWISE, AUTOJ_PAIRWISE_ZH, AUTOJ_SINGLE, AUTOJ_SINGLE_ZH

_RATING = re.compile(r"Rating\s*[:：]\s*\[\[\s*(" + NUMBER + r")\s*\]\]", re.IGNORECASE)
_RATING_ZH = re.compile(r"(?:评分|打分|Rating)\s*[:：]\s*\[\[\s*(" + NUMBER + r")\s*\]\]", re.IGNORECASE)
_BRACKETED = re.compile(r"\[\[\s*(" + NUMBER + r")\s*\]\]")
_RATING_MARK = re.compile(r"Rating\s*[:：]\s*\[\[", re.IGNORECASE)
_RATING_MARK_ZH = re.compile(r"(?:评分|打分|Rating)\s*[:：]\s*\[\[", re.IGNORECASE)
# What the spec's float() reads between the last marker and "]]": "7", "6.5", "7." (not "N/A", "8/10").
_RATING_VALUE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*")
_DECISION = re.compile(r"final decision is\s*[:：]?\s*", re.IGNORECASE)
_DECISION_ZH = re.compile(r"最终决定是\s*[:：]?\s*")
_DECISION_TEXT = re.compile(r"[\s\"'*“”:：]*(response\s*1|response\s*2|tie)(?:d\b|\b)(?!\s*/)", re.IGNORECASE)
_DECISION_TEXT_ZH = re.compile(r"[\s\"'*“”:：]*(回应\s*1|回应\s*2|平局)(?!\s*/)")
# The judge repeating the instruction's format ("... is Response 1 / Response 2 / Tie"): not a decision.
_DECISION_ECHO = re.compile(r"[\s\"'*“”:：]*(?:response\s*1|回应\s*1)\s*/", re.IGNORECASE)


@dataclass(frozen=True)
class AutoJSingle(JudgeProtocol):
    """Auto-J single-response protocol: critique, then ``Rating: [[x]]`` on 1-10 (halves allowed).

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("autoj-single").parse("Accurate but terse. Rating: [[6.5]]").score
        6.5
    """

    name: ClassVar[str] = "autoj-single"
    description: ClassVar[str] = "Auto-J single-response rating 1-10 (GAIR/autoj-*)"
    score_range: ClassVar[Optional[tuple[float, float]]] = (1, 10)
    integer_scores: ClassVar[bool] = False
    answer_prefix: ClassVar[str] = "Rating: [["
    template: ClassVar[str] = AUTOJ_SINGLE
    rating: ClassVar[re.Pattern[str]] = _RATING
    rating_mark: ClassVar[re.Pattern[str]] = _RATING_MARK

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, self.template.format(prompt=instruction, response=response))

    def _parse(self, text: str) -> Verdict:
        # the last "Rating: [[" is the verdict (the spec: its content up to "]]", as a float); an earlier rating,
        # which may be one the judge quoted from the response, is never read instead
        marker = last_match(self.rating_mark, text)
        if marker is not None:
            close = text.find("]]", marker.end())
            value = _RATING_VALUE.fullmatch(text[marker.end(): close]) if close >= 0 else None
            if value is None:
                shown = text[marker.end(): marker.end() + 20]
                return Verdict(feedback=text[: marker.start()].strip(), error=f"no number in the last rating: {shown!r}")
            return self.check_score(to_number(value.group(1)), text[: marker.start()].strip(), value.group(1))
        match = last_match(_BRACKETED, text)
        if match is None:
            return Verdict(feedback=text.strip(), error="no 'Rating: [[x]]' in the judge output")
        return self.check_score(to_number(match.group(1)), text[: match.start()].strip(), match.group(1))


@dataclass(frozen=True)
class AutoJSingleZh(AutoJSingle):
    """Auto-J bilingual 6B, Chinese single-response protocol (``评分: [[x]]``)."""

    name: ClassVar[str] = "autoj-single-zh"
    description: ClassVar[str] = "Auto-J bilingual Chinese single-response rating 1-10"
    answer_prefix: ClassVar[str] = "评分: [["  # as the template's example writes it
    # GAIR's parser reads "评分:[[" (no space), and "打分:[[": the judge's own marker in any of these spellings
    answer_markers: ClassVar[tuple[str, ...]] = ("评分:[[", "评分：[[", "评分： [[", "打分: [[", "打分:[[", "打分：[[")
    template: ClassVar[str] = AUTOJ_SINGLE_ZH
    rating: ClassVar[re.Pattern[str]] = _RATING_ZH
    rating_mark: ClassVar[re.Pattern[str]] = _RATING_MARK_ZH


_WINNERS = {"response1": "A", "response2": "B", "tie": "tie", "回应1": "A", "回应2": "B", "平局": "tie"}


@dataclass(frozen=True)
class AutoJPairwise(JudgeProtocol):
    """Auto-J ``pairwise_tie`` protocol: "So, the final decision is Response 1 / Response 2 / Tie".

    Response 1 is the ``response`` argument and maps to ``"A"``; Response 2 maps to ``"B"``.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("autoj-pairwise").parse("... So, the final decision is Response 2.").winner
        'B'
    """

    name: ClassVar[str] = "autoj-pairwise"
    description: ClassVar[str] = "Auto-J pairwise comparison with ties"
    pairwise: ClassVar[bool] = True
    answer_prefix: ClassVar[str] = "So, the final decision is "
    template: ClassVar[str] = AUTOJ_PAIRWISE
    decision: ClassVar[re.Pattern[str]] = _DECISION
    decision_text: ClassVar[re.Pattern[str]] = _DECISION_TEXT

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(
            None, self.template.format(prompt=instruction, response=response, response_another=response_b)
        )

    def _parse(self, text: str) -> Verdict:
        # The last decision statement is the verdict (an echo of the instruction, "Response 1 / Response 2 / Tie",
        # is skipped); when it names no answer, an earlier statement is not read instead.
        for marker in reversed(list(self.decision.finditer(text))):
            if _DECISION_ECHO.match(text, marker.end()):
                continue
            answer = self.decision_text.match(text, marker.end())
            if answer is None:
                shown = text[marker.end(): marker.end() + 30]
                return Verdict(feedback=text[: marker.start()].strip(),
                               error=f"the last final decision names no Response 1/Response 2/Tie: {shown!r}")
            key = re.sub(r"\s+", "", answer.group(1)).lower()
            return Verdict(winner=_WINNERS[key], feedback=text[: marker.start()].strip())  # type: ignore[arg-type]
        return Verdict(feedback=text.strip(), error="no 'final decision is Response 1/Response 2/Tie' in the judge output")

    def answer_values(self) -> list[str]:
        return ["Response 1", "Response 2", "Tie"]


@dataclass(frozen=True)
class AutoJPairwiseZh(AutoJPairwise):
    """Auto-J bilingual 6B, Chinese pairwise protocol (``最终决定是回应1/回应2/平局``)."""

    name: ClassVar[str] = "autoj-pairwise-zh"
    description: ClassVar[str] = "Auto-J bilingual Chinese pairwise comparison with ties"
    answer_prefix: ClassVar[str] = "所以，最终决定是"
    template: ClassVar[str] = AUTOJ_PAIRWISE_ZH
    decision: ClassVar[re.Pattern[str]] = _DECISION_ZH
    decision_text: ClassVar[re.Pattern[str]] = _DECISION_TEXT_ZH

    def answer_values(self) -> list[str]:
        return ["回应1", "回应2", "平局"]
