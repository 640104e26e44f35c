"""Protocols for judges we do not ship: a user template, an answer pattern and a score range."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import string
from dataclasses import dataclass, field
from typing import Optional

from ..verdicts import Verdict
from .base import JudgeProtocol, Message, last_match, split_messages, to_number

_FIELDS = {"instruction", "response", "reference", "rubric", "response_b"}


@dataclass(frozen=True)
class CustomProtocol(JudgeProtocol):
    """A judge protocol built from your own prompt template.

    ``template`` uses the fields ``{instruction}``, ``{response}`` and optionally ``{reference}``,
    ``{rubric}``, ``{response_b}``; ``answer_pattern`` is a regular expression whose first group is
    the score (the last match in the judge's output wins); scores outside ``score_range`` are failures.

    Example:
        >>> p = CustomProtocol(
        ...     custom_name="yesno-10",
        ...     template="Question: {instruction}\\nAnswer: {response}\\nGrade it 1-10 as 'Grade: N'.",
        ...     answer_pattern=r"Grade:\\s*(\\d+)",
        ...     range=(1, 10),
        ... )
        >>> p.render("2+2?", "4")[-1]["content"].splitlines()[1]
        'Answer: 4'
        >>> p.parse("Fine. Grade: 9").score
        9
    """

    custom_name: str = "custom"
    template: str = "{instruction}\n{response}"
    answer_pattern: str = r"\[\[(\d+(?:\.\d+)?)\]\]"
    range: tuple[float, float] = (1, 10)
    system_prompt: Optional[str] = None
    integer: bool = True
    answer_marker: str = ""
    """What the judge writes right before its score (e.g. ``"Grade: "``); needed by the distribution modes."""
    message_split: str = "user"
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = {name for _, name, _, _ in string.Formatter().parse(self.template) if name}
        unknown = fields - _FIELDS
        if unknown:
            raise ValueError(f"template has unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
        for needed in ("instruction", "response"):
            if needed not in fields:
                raise ValueError(f"template must contain {{{needed}}}, got template={self.template[:80]!r}")
        try:
            pattern = re.compile(self.answer_pattern)
        except re.error as exc:
            raise ValueError(f"answer_pattern={self.answer_pattern!r} is not a valid regular expression: {exc}") from exc
        if pattern.groups < 1:
            raise ValueError(f"answer_pattern={self.answer_pattern!r} needs a group capturing the score")
        low, high = self.range
        if not low < high:
            raise ValueError(f"range must be (low, high) with low < high, got {self.range!r}")
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_fields", fields)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.custom_name

    @property
    def score_range(self) -> tuple[float, float]:  # type: ignore[override]
        return (self.range[0], self.range[1])

    @property
    def integer_scores(self) -> bool:  # type: ignore[override]
        return self.integer

    @property
    def answer_prefix(self) -> str:  # type: ignore[override]
        return self.answer_marker

    @property
    def reference_slot(self) -> str:  # type: ignore[override]
        return "optional" if "reference" in self._fields else "none"

    @property
    def uses_rubric(self) -> bool:  # type: ignore[override]
        return "rubric" in self._fields

    @property
    def pairwise(self) -> bool:  # type: ignore[override]
        return "response_b" in self._fields

    @property
    def version(self) -> str:  # type: ignore[override]
        """A digest of every field that changes what is rendered or how an answer is read (all but the name)."""
        spec = repr(tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                          if f.init and f.name != "custom_name"))
        return "custom:" + hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = self.template.format(
            instruction=instruction, response=response, reference=reference or "",
            rubric=rubric_text or "", response_b=response_b or "",
        )
        return split_messages(self.system_prompt, prompt)

    def _parse(self, text: str) -> Verdict:
        match = last_match(self._pattern, text)
        if match is None:
            return Verdict(feedback=text.strip(), error=f"answer_pattern {self.answer_pattern!r} not found in the judge output")
        try:
            value = to_number(match.group(1).strip())
        except ValueError:
            return Verdict(feedback=text[: match.start()].strip(), error=f"answer {match.group(1)!r} is not a number")
        return self.check_score(value, text[: match.start()].strip(), match.group(1))
