"""Yes/No verifiers: the judge says whether a solution is correct, and the score is P(Yes).

This is the generative-verifier approach (GenRM, arXiv:2408.15240): the judge answers "Is the answer
correct (Yes/No)?" and the reward is the probability it gives "Yes". Every protocol here has the score
range 0-1 with "No" = 0 and "Yes" = 1, so in the distribution modes the score is P(Yes) over {Yes, No}
(`mode="direct"`: one forward pass per rollout, the classic verifier reward) and in ``generate`` mode it
is 1 or 0 from the last verdict the judge wrote.

- ``genrm``: the GenRM-FT prompt of the GenRM co-authors' code (Singhi, Bansal, Hosseini,
  ``nishadsinghi/sc-genrm-scaling``, ``llmonk/verify/prompts/*/finetuned.txt``), for their fine-tuned
  verifiers. The original GenRM paper's template could not be read; this is the best sourced one.
- ``genrm-prompted``: their zero-shot GenRM-Base prompt for an instruct model (``genrm_base_zero_shot.txt``).
- ``genrm-reference``: their reference-guided grading prompt (``training_data_gpt4o.txt``, two worked
  examples, then the question, the solution and the expected solution), with which GPT-4o wrote the
  GenRM-FT training verifications.
- ``general-verifier``: TIGER-Lab's general-verifier (``TIGER-AI-Lab/General-Reasoner``, ``verifier.py``):
  question, ground truth and student answer as raw text, verdict ``Final Decision: Yes|No``.
- ``multisub-rm``: the multi-subject RLVR verifier prompt (``alibaba/ROLL``, ``roll/utils/prompt.py``): the
  judge answers strictly ``YES`` or ``NO``; the opening of the ``sarosavo/Master-RM`` card's prompt matches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import ClassVar, Optional

from ..verdicts import Verdict
from .base import JudgeProtocol, Message, split_messages

# GenRM-FT, nishadsinghi/sc-genrm-scaling@1d310ee llmonk/verify/prompts/llama3.1_8b_instruct/finetuned.txt
# (the qwen2.5_7b_instruct copy is identical); filled with str.format(question, solution).
GENRM_FINETUNED = "Problem:\n{}\n\nSolution:\n{}\n\nVerification:\n"

# GenRM-Base zero-shot, same commit, llmonk/verify/prompts/llama3.1_8b_instruct/genrm_base_zero_shot.txt.
GENRM_PROMPTED = "\n".join([
    "You are a math teacher. Grade the Solution, verifying correctness step by step. At the end of the Solution "
    "verification, when you give your final grade, write it in the form 'Verification: Is the answer correct "
    "(Yes/No)? X', where X is either Yes or No. ",
    "Make sure to reason step-by-step about deviations from the correct solution of the question.",
    "",
    "Question: {}",
    "",
    "Solution: {}",
    "",
    "Teacher Verification:",
    "",
])

# TIGER-AI-Lab/General-Reasoner@007e44c verifier.py VERIFIER_PROMPT_TEMPLATE (raw text, no chat template).
GENERAL_VERIFIER = "\n".join([
    "User: ### Question: {question}",
    "",
    "### Ground Truth Answer: {ground_truth}",
    "",
    "### Student Answer: {student_answer}",
    "",
    "For the above question, please verify if the student's answer is equivalent to the ground truth answer.",
    "Do not solve the question by yourself; just check if the student's answer is equivalent to the ground truth "
    "answer.",
    "If the student's answer is correct, output \"Final Decision: Yes\". If the student's answer is incorrect, "
    "output \"Final Decision: No\". Assistant:",
])

# alibaba/ROLL@8eb27cc roll/utils/prompt.py Qwen2_5_7B_Instruct_RLVR_Prompt (starts with a newline; most lines
# end with two spaces).
MULTISUB_RM = "\n".join([
    "",
    "Given a problem, determine whether the final answer in the provided (incomplete) solution process matches the "
    "reference answer.  ",
    "The reference answer may be one single option character (e.g., A, B, C, D), a numerical value, an expression, "
    "or a list of answers if multiple questions are involved.  ",
    "**The reference answer may be in Chinese or another language, but your evaluation should be "
    "language-agnostic.**  ",
    "",
    "Your task:  ",
    "- Compare the final output of the solution process with the reference answer.  ",
    "- If they **match exactly**, output **YES**.  ",
    "- If they **do not match**, output **NO**.  ",
    "- If the solution process is unclear, incomplete, or ambiguous, assume it is incorrect and output **NO**.  ",
    "",
    "Your output must be strictly **'YES'** or **'NO'**, with no additional words, punctuation, or explanation.  ",
    "",
    "---",
    "",
    "**Question:**  ",
    "{question}  ",
    "",
    "**Solution Process (Final Step Only):**  ",
    "{response}  ",
    "",
    "**Reference Answer:**  ",
    "{reference}  ",
    "",
    "**Output:**  ",
    "",
])

GENRM_MARKER = "Verification: Is the answer correct (Yes/No)? "

_QUOTE = "\"'“”‘’`"
# "Is the answer correct (Yes/No)? Yes" (any case, markdown around the verdict); "? X" (the format's echo) is skipped.
_GENRM_VERDICT = re.compile(r"Is the answer correct\s*\(\s*Yes\s*/\s*No\s*\)\s*\??\s*[*_]*\s*(Yes|No)\b", re.IGNORECASE)
# A labelled verdict when the judge dropped the question: "Verification: Yes", "Final answer: **No**".
# The verdict word must end its line ("Final answer: No solution exists" is no verdict).
_LABELLED = re.compile(r"\b(?:Verification|Verdict|Final\s+(?:answer|decision|verdict|grade)|Answer|Correct)\s*[:：]"
                       r"\s*[*_]*\s*(Yes|No)[\s*_.!]*$", re.IGNORECASE | re.MULTILINE)
# The whole answer is one word (markdown and a full stop around it allowed).
_BARE = re.compile(r"^[\s*_#>.\-]*(Yes|No)[\s*_.!]*$", re.IGNORECASE)
_FINAL_DECISION = re.compile(r"Final\s+Decision\s*[:：]\s*[*_]*\s*(Yes|No)\b", re.IGNORECASE)
_YES_NO_UPPER = re.compile(r"\b(YES|NO)\b")


def _unquoted(text: str, match: re.Match[str]) -> bool:
    """Whether a verdict match is the judge's own, not a quote of the format (``output "Final Decision: Yes"``)."""
    before = text[max(0, match.start() - 1):match.start()]
    return not before or before not in _QUOTE


def _last(pattern: re.Pattern[str], text: str) -> Optional[re.Match[str]]:
    found = None
    for match in pattern.finditer(text):
        if _unquoted(text, match):
            found = match
    return found


def _verdict(word: str, feedback: str) -> Verdict:
    return Verdict(score=1 if word.lower() == "yes" else 0, feedback=feedback.strip())


@dataclass(frozen=True)
class YesNoVerifier(JudgeProtocol):
    """Base of the Yes/No verifiers: score 1 for "Yes", 0 for "No"; the judge's last verdict wins.

    The answer slot is ``answer_prefix`` followed by ``Yes`` or ``No``, so the distribution modes give
    P(Yes) renormalised over {Yes, No}, and the linear reward equals it.

    Example:
        >>> from reward_judge import get_protocol
        >>> p = get_protocol("genrm")
        >>> p.parse("Step 1 is right.\\nVerification: Is the answer correct (Yes/No)? Yes").score
        1
        >>> p.answer_values()
        ['No', 'Yes']
    """

    score_range: ClassVar[Optional[tuple[float, float]]] = (0, 1)
    verdict_words: ClassVar[tuple[str, str]] = ("No", "Yes")

    def answer_values(self) -> list[str]:
        return list(self.verdict_words)


@dataclass(frozen=True)
class GenRM(YesNoVerifier):
    """GenRM-FT: ``Problem/Solution/Verification`` as one user turn; the rationale ends with the Yes/No verdict.

    Parsing takes the last ``Is the answer correct (Yes/No)? Yes|No`` (case and markdown tolerated; the
    format's own ``? X`` is no verdict); failing that the last labelled verdict (``Verification: No``,
    ``Final answer: Yes``); failing that an answer that is only the word Yes or No. A Yes or No inside a
    sentence is never read as the verdict.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("genrm").render("What is 2+2?", "4")[0]["content"]
        'Problem:\\nWhat is 2+2?\\n\\nSolution:\\n4\\n\\nVerification:\\n'
    """

    name: ClassVar[str] = "genrm"
    description: ClassVar[str] = ("GenRM Yes/No verifier (GenRM-FT prompt of sc-genrm-scaling); score = P(Yes) in the "
                                  "distribution modes")
    answer_prefix: ClassVar[str] = GENRM_MARKER
    template: ClassVar[str] = GENRM_FINETUNED

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, _fill_slots(self.template, instruction, response, reference))

    def _parse(self, text: str) -> Verdict:
        match = _last(_GENRM_VERDICT, text) or _last(_LABELLED, text)
        if match is not None:
            return _verdict(match.group(1), _before_line(text, match.start()))
        bare = _BARE.match(text)
        if bare is not None:
            return _verdict(bare.group(1), "")
        return Verdict(feedback=text.strip(), error="no 'Is the answer correct (Yes/No)? Yes|No' verdict in the judge output")


@dataclass(frozen=True)
class GenRMPrompted(GenRM):
    """GenRM-Base zero-shot: the "You are a math teacher" grading prompt for an instruct model (no reference)."""

    name: ClassVar[str] = "genrm-prompted"
    description: ClassVar[str] = "GenRM-Base zero-shot Yes/No grading prompt (sc-genrm-scaling) for instruct models"
    template: ClassVar[str] = GENRM_PROMPTED


@lru_cache(maxsize=1)
def genrm_reference_template() -> str:
    """The reference-guided grading prompt (package data: it is 119 lines with two worked examples)."""
    return resources.files("reward_judge").joinpath("data/prompts/genrm_reference_guided.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class GenRMReference(GenRM):
    """GenRM reference-guided grading: two worked examples, then question, solution and expected solution.

    The file has three ``{}`` slots (question, solution, expected solution); they are filled in that order
    and nothing else changes (``str.format`` cannot fill it: its first example doubles braces, its second
    does not), so the examples reach the judge exactly as the file has them.
    """

    name: ClassVar[str] = "genrm-reference"
    description: ClassVar[str] = "GenRM reference-guided Yes/No grading (sc-genrm-scaling training prompt); needs a reference"
    reference_slot: ClassVar[str] = "required"

    @property
    def template(self) -> str:  # type: ignore[override]
        return genrm_reference_template()


def _fill_slots(template: str, *values: Optional[str]) -> str:
    """``template`` with its ``{}`` slots replaced by ``values`` in order (the others left as they are)."""
    pieces = template.split("{}")
    wanted = [v for v in values if v is not None]
    if len(pieces) - 1 != len(wanted):
        raise ValueError(f"template has {len(pieces) - 1} slots for {len(wanted)} values")
    out = [pieces[0]]
    for value, piece in zip(wanted, pieces[1:], strict=True):
        out += [value, piece]
    return "".join(out)


def _before_line(text: str, at: int) -> str:
    """The judge's text before the line holding its verdict (the rationale)."""
    return text[: text.rfind("\n", 0, at) + 1] if "\n" in text[:at] else ""


@dataclass(frozen=True)
class GeneralVerifier(YesNoVerifier):
    """TIGER-Lab general-verifier: question, ground truth and student answer; ``Final Decision: Yes|No``.

    Its prompt already holds ``User: ... Assistant:`` and is fed as raw text (its preset:
    ``chat_format="raw"``). TIGER's own reward passes when ``Final Decision: Yes`` appears anywhere; here the
    last unquoted decision wins (a quoted ``"Final Decision: Yes"`` is the format's echo).

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("general-verifier").parse('Both equal 4.\\nFinal Decision: Yes').score
        1
    """

    name: ClassVar[str] = "general-verifier"
    description: ClassVar[str] = "TIGER-Lab general-verifier, Final Decision: Yes/No against a ground truth"
    reference_slot: ClassVar[str] = "required"
    answer_prefix: ClassVar[str] = "Final Decision: "

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        prompt = GENERAL_VERIFIER.format(question=instruction, ground_truth=reference, student_answer=response)
        return split_messages(None, prompt)

    def _parse(self, text: str) -> Verdict:
        match = _last(_FINAL_DECISION, text)
        if match is None:
            return Verdict(feedback=text.strip(), error="no 'Final Decision: Yes|No' in the judge output")
        return _verdict(match.group(1), text[: match.start()])


@dataclass(frozen=True)
class MultiSubRM(YesNoVerifier):
    """The multi-subject RLVR verifier prompt: the judge answers ``YES`` or ``NO`` and nothing else.

    Parsing takes the last unquoted upper-case ``YES``/``NO`` word, or an answer that is only yes/no in
    any case. The prompt ends where the answer starts (no marker), so only ``generate`` mode reads it.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("multisub-rm").parse("**NO**").score
        0
    """

    name: ClassVar[str] = "multisub-rm"
    description: ClassVar[str] = "multi-subject RLVR verifier (ROLL's prompt; Master-RM), YES/NO against a reference"
    reference_slot: ClassVar[str] = "required"
    verdict_words: ClassVar[tuple[str, str]] = ("NO", "YES")

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, MULTISUB_RM.format(question=instruction, response=response, reference=reference))

    def _parse(self, text: str) -> Verdict:
        match = _last(_YES_NO_UPPER, text)
        if match is not None:
            return _verdict(match.group(1), text[: match.start()])
        bare = _BARE.match(text)
        if bare is not None:
            return _verdict(bare.group(1), "")
        return Verdict(feedback=text.strip(), error="no YES or NO in the judge output")
