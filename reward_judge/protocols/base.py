"""What every judge protocol is: a renderer of judge messages and a parser of judge answers."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Optional, Sequence

from ..verdicts import Verdict
from ..rubric import Rubric, RubricLike, resolve_rubric

Message = dict[str, str]

NUMBER = r"[-+]?\d+(?:\.\d+)?"


def last_match(pattern: re.Pattern[str], text: str) -> Optional[re.Match[str]]:
    """The last non-overlapping match of ``pattern`` in ``text`` (the judge's final answer wins)."""
    found = None
    for found in pattern.finditer(text):
        pass
    return found


def to_number(token: str) -> float | int:
    value = float(token)
    return int(value) if value.is_integer() and "." not in token else value


def clean_feedback(text: str) -> str:
    text = text.strip()
    if text.lower().startswith("feedback:"):
        text = text[len("feedback:"):].strip()
    return text


def require_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    return value


@dataclass(frozen=True)
class JudgeProtocol(ABC):
    """Base class of judge protocols.

    A protocol knows the exact prompt a judge was trained on (`render`) and how to read its answer
    (`parse`). Subclasses are frozen dataclasses; `with_options` returns a copy with some fields
    changed, which is how presets pick a card's message split. Every field can change what is rendered
    or how an answer is read, so every field is part of the protocol's `fingerprint`, which caching and
    deduplication use beside its name and ``version`` (the revision of its templates).

    Example:
        >>> from reward_judge import get_protocol
        >>> p = get_protocol("autoj-single")
        >>> [m["role"] for m in p.render("Say hi.", "Hi!")]
        ['user']
        >>> p.parse("Friendly and short. Rating: [[7.5]]").score
        7.5
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    pairwise: ClassVar[bool] = False
    #: "none": no reference slot; "optional"; "required".
    reference_slot: ClassVar[str] = "none"
    uses_rubric: ClassVar[bool] = False
    score_range: ClassVar[Optional[tuple[float, float]]] = None
    integer_scores: ClassVar[bool] = True
    message_splits: ClassVar[tuple[str, ...]] = ("user",)
    description: ClassVar[str] = ""

    message_split: str = "user"

    def __post_init__(self) -> None:
        if self.message_split not in self.message_splits:
            raise ValueError(
                f"message_split={self.message_split!r} is not valid for protocol {self.name!r}; "
                f"choose one of {self.message_splits}"
            )

    @cached_property
    def fingerprint(self) -> str:
        """What identifies this protocol for caching and deduplication: class, name, version and every field value.

        Two protocols that differ in any field (a message split, an answer marker, the ids a listwise call
        shows) never share a cached verdict, even where they render the same judge input.

        Example:
            >>> from reward_judge import get_protocol
            >>> p = get_protocol("prometheus-v1")
            >>> p.fingerprint == get_protocol("prometheus-v1").fingerprint
            True
            >>> p.fingerprint == p.with_options(end_with_space=False).fingerprint
            False
        """
        values = tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.init)
        spec = repr((type(self).__module__, type(self).__qualname__, self.name, str(self.version), values))
        return hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def with_options(self, **options: Any) -> "JudgeProtocol":
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"protocol {self.name!r} has no option(s) {unknown}; options: {sorted(known)}")
        return dataclasses.replace(self, **options)

    # ---------------------------------------------------------------- rendering
    def render(
        self,
        instruction: str,
        response: str,
        *,
        reference: Optional[str] = None,
        rubric: RubricLike = None,
        response_b: Optional[str] = None,
    ) -> list[Message]:
        """The chat messages (``{"role", "content"}``) the judge sees, before any chat template."""
        require_text("instruction", instruction)
        require_text("response", response)
        self._check_reference(reference)
        if self.pairwise:
            if response_b is None:
                raise ValueError(f"protocol {self.name!r} compares two responses: response_b is required")
            require_text("response_b", response_b)
        elif response_b is not None:
            raise ValueError(f"protocol {self.name!r} judges one response: response_b must be None, got {response_b!r}")
        rubric_text = self._rubric_text(rubric)
        return self._render(instruction, response, reference, rubric_text, response_b)

    def response_fields(self, responses: Sequence[str]) -> tuple[str, Optional[str]]:
        """The ``response`` and ``response_b`` fields for the response text(s) of one judge input.

        One text for a single-response protocol, two for a pairwise one (`render` names a missing or
        extra one); a protocol that shows a group (listwise) joins its members here, under headers it writes.
        """
        if not 1 <= len(responses) <= 2:
            raise ValueError(f"protocol {self.name!r} takes one or two responses, got {len(responses)}")
        return responses[0], responses[1] if len(responses) == 2 else None

    def present_response(self, text: str) -> str:
        """A response text as the protocol shows it inside its prompt (default: as it is)."""
        return text

    def present_context(self, text: str) -> str:
        """An instruction or reference text as the protocol shows it (default: as it is; trained templates show
        what they were trained on)."""
        return text

    def rubric_text(self, rubric: RubricLike) -> Optional[str]:
        """The rubric block this protocol writes for ``rubric`` (``None`` when it has no rubric slot); validates it."""
        return self._rubric_text(rubric)

    def render_fields(self, instruction: str, response: str, reference: Optional[str], rubric_text: Optional[str],
                      response_b: Optional[str]) -> list[Message]:
        """The messages for already validated field texts (``rubric_text`` as `rubric_text` returns it).

        `render` validates and then calls this; the request renderer calls it again with markers in
        place of the untrusted fields to find where they land in the judge input.
        """
        return self._render(instruction, response, reference, rubric_text, response_b)

    @abstractmethod
    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        """The messages for validated inputs (``rubric_text`` already rendered)."""

    def _check_reference(self, reference: Optional[str]) -> None:
        if reference is None:
            if self.reference_slot == "required":
                raise ValueError(f"protocol {self.name!r} needs a reference answer: reference is required, got None")
            return
        require_text("reference", reference)
        if self.reference_slot == "none":
            raise ValueError(
                f"protocol {self.name!r} has no reference slot, but reference={reference[:80]!r} was given"
            )

    def _rubric_text(self, rubric: RubricLike) -> Optional[str]:
        if not self.uses_rubric:
            if rubric is not None:
                raise ValueError(f"protocol {self.name!r} has no rubric slot, but rubric={str(rubric)[:80]!r} was given")
            return None
        resolved = resolve_rubric(rubric, files=False)  # the model's own rubric was resolved (and loaded) already
        if resolved is None:
            raise ValueError(f"protocol {self.name!r} needs a rubric: rubric is required, got None")
        return self._format_rubric(resolved)

    def _format_rubric(self, rubric: Rubric | str) -> str:
        return rubric.render() if isinstance(rubric, Rubric) else rubric

    # ------------------------------------------------------------------ parsing
    def parse(self, text: str) -> Verdict:
        """Read the judge's answer. Never raises on model output; a missing answer is a failure."""
        if not isinstance(text, str):
            return Verdict(error=f"judge output is not text: {type(text).__name__}")
        try:
            return self._parse(text)
        except (ValueError, OverflowError) as exc:  # e.g. a number too large for float
            return Verdict(feedback=text.strip(), error=f"unreadable answer: {exc}")

    @abstractmethod
    def _parse(self, text: str) -> Verdict:
        """The verdict in a judge answer (only called with text)."""

    def check_score(self, value: float | int, feedback: str, token: str) -> Verdict:
        """A parsed number becomes a score only inside the protocol's range (never clamped)."""
        low, high = self.score_range  # type: ignore[misc]
        if self.integer_scores and not float(value).is_integer():
            return Verdict(feedback=feedback, error=f"score {token!r} is not an integer between {low:g} and {high:g}")
        if not (low <= value <= high):
            return Verdict(feedback=feedback, error=f"score {token!r} is outside the range {low:g}-{high:g}")
        return Verdict(score=int(value) if float(value).is_integer() else float(value), feedback=feedback)

    # ------------------------------------------------------- score-distribution
    #: The text the judge writes right before its score, for reading a score distribution.
    answer_prefix: ClassVar[str] = ""
    #: Other spellings of that marker the judge writes (and the authors' parser reads), found in its feedback too.
    answer_markers: ClassVar[tuple[str, ...]] = ()

    def answer_values(self) -> list[str]:
        """Every valid answer string at the answer slot (``"1"`` ... ``"5"``, ``"A"``/``"B"``...)."""
        if self.score_range is None:
            return []
        low, high = self.score_range
        return [str(v) for v in range(int(low), int(high) + 1)]

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pairwise": self.pairwise,
            "score_range": self.score_range,
            "reference": self.reference_slot,
            "rubric": self.uses_rubric,
            "message_split": self.message_split,
            "description": self.description,
        }


def split_messages(system: Optional[str], user: str) -> list[Message]:
    messages: list[Message] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return messages


def sequence_of_str(name: str, value: Sequence[Any]) -> list[str]:
    return [require_text(f"{name}[{i}]", v) for i, v in enumerate(value)]
