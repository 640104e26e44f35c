"""Skywork-Critic (Llama-3.1 8B and 70B): pairwise preference, verdict ``[[A]]`` or ``[[B]]`` and nothing else.

The prompt is the "preference data selector" prompt of the Skywork-Critic model cards (copied verbatim by
JudgeBench, ``ScalerLab/JudgeBench`` ``utils/templates/skywork_critic_prompt.jinja2``, and by others citing the
card); it is sent as the only user message (no system message) through the Llama 3.1 chat template. Two
lines end with a space; the card's string ends with a newline, which the Llama 3.1 template trims away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..verdicts import Verdict
from .base import JudgeProtocol, Message, last_match, split_messages

SKYWORK_CRITIC = "\n".join([
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. You should choose the assistant that follows the user's instructions and "
    "answers the user's question better. ",
    "Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and "
    "level of detail of their responses. Avoid any position biases and ensure that the order in which the responses "
    "were presented does not influence your decision. Do not allow the length of the responses to influence your "
    "evaluation. Do not favor certain names of the assistants. Be as objective as possible. ",
    "Please directly output your final verdict by strictly following this format: \"[[A]]\" if assistant A is "
    "better, \"[[B]]\" if assistant B is better.",
    "",
    "[User Question]",
    "{input}",
    "",
    "[The Start of Assistant A's Answer]",
    "{response_a}",
    "[The End of Assistant A's Answer]",
    "",
    "[The Start of Assistant B's Answer]",
    "{response_b}",
    "[The End of Assistant B's Answer]",
    "",
])

# "[[A]]" that is not the echo of the format instruction ('"[[A]]" if assistant A is better').
_VERDICT = re.compile(r"\[\[\s*([AB])\s*\]\](?![\"”']?\s*if assistant)")


@dataclass(frozen=True)
class SkyworkCritic(JudgeProtocol):
    """Skywork-Critic pairwise prompt: ``[[A]]`` if the first response is better, ``[[B]]`` if the second.

    The judge's last verdict wins (an echo of the format line is skipped). There is no tie. JudgeBench
    reads this judge with ``"A" in output`` (A>B) elif ``"B" in output`` (B>A), which takes any letter A of
    a longer answer for a verdict; this parser only reads ``[[A]]`` and ``[[B]]``.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("skywork-critic").parse("[[B]]").winner
        'B'
    """

    name: ClassVar[str] = "skywork-critic"
    description: ClassVar[str] = "Skywork-Critic pairwise preference [[A]]/[[B]] (Skywork/Skywork-Critic-Llama-3.1-*)"
    pairwise: ClassVar[bool] = True
    answer_prefix: ClassVar[str] = "[["

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, SKYWORK_CRITIC.format(input=instruction, response_a=response, response_b=response_b))

    def _parse(self, text: str) -> Verdict:
        match = last_match(_VERDICT, text)
        if match is None:
            return Verdict(feedback=text.strip(), error="no '[[A]]' or '[[B]]' verdict in the judge output")
        return Verdict(winner=match.group(1), feedback=text[: match.start()].strip())  # type: ignore[arg-type]

    def answer_values(self) -> list[str]:
        return ["A", "B"]
