"""Taking a rendered Prometheus absolute-grading prompt apart into the fields a protocol renders.

The Prometheus evaluation sets (MT-Bench, Vicuna-bench, HHH-alignment) ship each item as one rendered
Prometheus 1 prompt, not as fields. Feeding that string to a judge as its "instruction" would wrap a
whole prompt inside another. Instead we cut it back into instruction, response, reference answer and
rubric, and let the judge's own protocol render them: Prometheus 1 gets back exactly the string that was
shipped (tests check this byte for byte on the MT-Bench and Vicuna items), Prometheus 2 gets its own
wording, and judges with other prompts (Auto-J, MT-Bench judges) get the same content in their format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

_INSTRUCTION = "###The instruction to evaluate:\n"
_RESPONSE = "\n\n###Response to evaluate:\n"
_REFERENCE = "\n\n###Reference Answer (Score 5):\n"
_RUBRIC = "\n\n###Score Rubrics:\n"
_FEEDBACK = "\n\n###Feedback:"


@dataclass(frozen=True)
class PrometheusFields:
    """The parts of one rendered Prometheus absolute prompt.

    Example:
        >>> from reward_judge import get_protocol
        >>> prompt = get_protocol("prometheus-v1", message_split="user").render(
        ...     "What is 2+2?", "4", reference="4", rubric="factual_correctness")[0]["content"]
        >>> f = split_prometheus_prompt(prompt)
        >>> f.instruction, f.response, f.reference, f.rubric.splitlines()[1][:8]
        ('What is 2+2?', '4', '4', 'Score 1:')
    """

    instruction: str
    response: str
    reference: Optional[str]
    rubric: str


def split_prometheus_prompt(text: str) -> PrometheusFields:
    """Cut a rendered Prometheus absolute prompt into its fields; ``ValueError`` names the missing section.

    The instruction ends at the first ``###Response to evaluate:`` after it; the rubric starts at the
    last ``###Score Rubrics:`` and the reference answer at the last ``###Reference Answer (Score 5):``
    before it, so headings written inside a response do not move the cuts.
    """
    if not isinstance(text, str):
        raise ValueError(f"a rendered Prometheus prompt must be a string, got {type(text).__name__}")
    start = text.find(_INSTRUCTION)
    if start < 0:
        raise ValueError("has no '###The instruction to evaluate:' section: not a rendered Prometheus prompt")
    start += len(_INSTRUCTION)
    cut = text.find(_RESPONSE, start)
    if cut < 0:
        raise ValueError("has no '###Response to evaluate:' section after the instruction")
    feedback = text.rfind(_FEEDBACK)
    if feedback < 0 or text[feedback + len(_FEEDBACK):].strip():
        raise ValueError("does not end with '###Feedback:'")
    rubric_at = text.rfind(_RUBRIC, cut, feedback)
    if rubric_at < 0:
        raise ValueError("has no '###Score Rubrics:' section before '###Feedback:'")
    body = text[cut + len(_RESPONSE): rubric_at]
    reference_at = body.rfind(_REFERENCE)
    response, reference = (body, None) if reference_at < 0 else (body[:reference_at], body[reference_at + len(_REFERENCE):])
    rubric = text[rubric_at + len(_RUBRIC): feedback]
    missing = [f"Score {s}:" for s in range(1, 6) if f"Score {s}:" not in rubric]
    if missing:
        raise ValueError(f"its score rubric lacks {missing}")
    return PrometheusFields(text[start:cut], response, reference, rubric)
