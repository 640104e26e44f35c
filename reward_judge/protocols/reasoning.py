"""Reasoning judges that think before they answer: RM-R1 and JudgeLRM, and how their thinking is set apart.

A thinking judge writes ``<think> ... </think>`` and then its answer. Only the text after the last
``</think>`` is read for a verdict: the thinking is never parsed, so a verdict the judge considers while
thinking (or a verdict a completion planted that the judge quotes while thinking) does not count. An
answer whose thinking never closed is no verdict. ``think_budget=N`` (`reward_judge.scoring.thinking`)
caps the thinking at N tokens and then forces ``</think>`` and the answer marker (budget forcing).

- ``rm-r1``: RM-R1 instruct models (``gaotang/RM-R1-Qwen2.5-Instruct-*``): the Chain-of-Rubrics system prompt
  and the single-turn user template of RM-R1's demo notebook (``RM-R1-UIUC/RM-R1`` ``demo/demo.ipynb``); they do
  not think in tags. Verdict ``<answer>[[A]]</answer>`` or ``<answer>[[B]]</answer>``.
- ``rm-r1-reasoning``: RM-R1 DeepSeek-distilled models (``gaotang/RM-R1-DeepSeek-Distilled-Qwen-*``): one user
  message; their chat template opens ``<think>`` and they think before the same verdict.
- ``judgelrm``: JudgeLRM (``nuojohnchen/JudgeLRM-7B``): a raw Qwen ChatML prompt that ends in ``<think>``
  (``NuoJohnChen/JudgeLRM`` ``src/examples/data_preprocess/judgelrm.py``, template ``qwen-instruct``); the answer is
  two scores 1-10, ``<answer>s1</answer><answer>s2</answer>``; the higher score wins, equal scores are a tie.

J1 (Meta) and Think-RM: no prompt text could be found, so there is no protocol for them.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..verdicts import Verdict
from .base import JudgeProtocol, Message, split_messages

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
#: What budget forcing writes when the judge's thinking runs out: the close of thinking, then the answer.
FORCED_CLOSE = "\n</think>\n\n"

# RM-R1-UIUC/RM-R1@d4c2542 demo/demo.ipynb cell 1: INSTRUCT_SYSTEM_PROMPT.
RM_R1_SYSTEM = "\n".join([
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI Chatbots to the Client's question displayed below.",
    "",
    "First, classify the task into one of two categories: <type>Reasoning</type> or <type>Chat</type>.",
    "- Use <type>Reasoning</type> for tasks that involve math, coding, or require domain knowledge, multi-step inference, logical deduction, or combining information to reach a conclusion.",
    "- Use <type>Chat</type> for tasks that involve open-ended or factual conversation, stylistic rewrites, safety questions, or general helpfulness requests without deep reasoning.",
    "",
    "If the task is Reasoning:",
    "1. Solve the Client's question yourself and present your final answer within <solution>...</solution> tags.",
    "2. Evaluate the two Chatbot responses based on correctness, completeness, and reasoning quality, referencing your own solution.",
    "3. Include your evaluation inside <eval>...</eval> tags, quoting or summarizing the Chatbots using the following tags:",
    "   - <quote_A>...</quote_A> for direct quotes from Chatbot A",
    "   - <summary_A>...</summary_A> for paraphrases of Chatbot A",
    "   - <quote_B>...</quote_B> for direct quotes from Chatbot B",
    "   - <summary_B>...</summary_B> for paraphrases of Chatbot B",
    "4. End with your final judgment in the format: <answer>[[A]]</answer> or <answer>[[B]]</answer>",
    "",
    "If the task is Chat:",
    "1. Generate evaluation criteria (rubric) tailored to the Client's question and context, enclosed in <rubric>...</rubric> tags.",
    "2. Assign weights to each rubric item based on their relative importance.",
    "3. Inside <rubric>, include a <justify>...</justify> section explaining why you chose those rubric criteria and weights.",
    "4. Compare both Chatbot responses according to the rubric.",
    "5. Provide your evaluation inside <eval>...</eval> tags, using <quote_A>, <summary_A>, <quote_B>, and <summary_B> as described above.",
    "6. End with your final judgment in the format: <answer>[[A]]</answer> or <answer>[[B]]</answer>",
    "",
    "Important Notes:",
    "- Be objective and base your evaluation only on the content of the responses.",
    "- Do not let response order, length, or Chatbot names affect your judgment.",
    "- Follow the response format strictly depending on the task type.",
    "",
    "Your output must follow one of the two formats below:",
    "",
    "For Reasoning:",
    "<type>Reasoning</type>",
    "",
    "<solution> your own solution for the problem </solution>",
    "",
    "<eval>",
    "  include direct comparisons supported by <quote_A>...</quote_A> or <summary_A>...</summary_A>, and <quote_B>...</quote_B>, or <summary_B>...</summary_B>",
    "</eval>",
    "",
    "<answer>[[A/B]]</answer>",
    "",
    "For Chat:",
    "<type>Chat</type>",
    "",
    "<rubric>",
    "  detailed rubric items",
    "  <justify> justification for the rubric </justify>",
    "</rubric>",
    "",
    "<eval>",
    "  include direct comparisons supported by <quote_A>...</quote_A> or <summary_A>...</summary_A>, and <quote_B>...</quote_B>, or <summary_B>...</summary_B> tags",
    "</eval>",
    "",
    "<answer>[[A/B]]</answer>",
])

# INSTRUCT_SINGLE_USER_PROMPT_TEMPLATE.
RM_R1_USER = "\n".join([
    "[Client Question]",
    "{question}",
    "",
    "[The Start of Chatbot A's Response]",
    "{answer_a}",
    "[The End of Chatbot A's Response]",
    "",
    "[The Start of Chatbot B's Response]",
    "{answer_b}",
    "[The End of Chatbot B's Response]",
])

# REASONING_SINGLE_PROMPT_TEMPLATE (DeepSeek-distilled models: user message only).
RM_R1_REASONING = "\n".join([
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI Chatbots to the Client question displayed below. ",
    "",
    "[Client Question]",
    "{question}",
    "",
    "[The Start of Chatbot A's Response]",
    "{answer_a}",
    "[The End of Chatbot A's Response]",
    "",
    "[The Start of Chatbot B's Response]",
    "{answer_b}",
    "[The End of Chatbot B's Response]",
    "",
    "Output your final verdict at last by strictly following this format: '<answer>[[A]]</answer>' if Chatbot A is better, or '<answer>[[B]]</answer>' if Chatbot B is better.",
])

# NuoJohnChen/JudgeLRM@1b20721 src/examples/data_preprocess/judgelrm.py, template_type 'qwen-instruct' (an f-string;
# it holds Qwen's ChatML tokens and ends with '<think>', so it is fed as raw text).
JUDGELRM = "\n".join([
    "<|im_start|>system",
    "You are a helpful assistant. The assistant first performs a detailed, step-by-step reasoning process in its mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and<answer> </answer> tags, respectively, i.e., <think> detailed reasoning process here, explaining each step of your evaluation for both assistants </think><answer> answer here </answer>. Now the user asks you to judge the performance of two AI assistants in response to the question. Score assistants 1-10 (higher=better). Criteria includes helpfulness, relevance, accuracy, and level of detail. Avoid order, length, style or other bias. After thinking, when you finally reach a conclusion, clearly  provide your evaluation scores within <answer> </answer> tags, i.e. for example,<answer>3</answer><answer>5</answer>",
    "<|im_end|>",
    "<|im_start|>user",
    "[Question]",
    "{question}",
    "",
    "[Assistant 1’s Answer]",
    "{answer_1}",
    "",
    "[Assistant 2’s Answer]",
    "{answer_2}",
    "<|im_end|>",
    "<|im_start|>assistant",
    "<think>",
])

# "<answer>[[A]]</answer>" (spaces tolerated); a bare "[[A]]" when the judge dropped the tags.
_TAGGED = re.compile(r"<answer>\s*\[\[\s*([AB])\s*\]\]\s*</answer>")
_BARE = re.compile(r"\[\[\s*([AB])\s*\]\]")
_SCORES = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class Thought:
    """A judge output split at its last ``</think>``: the thinking, the answer after it, or why it has none."""

    thinking: Optional[str]
    answer: str
    error: Optional[str] = None


def split_thinking(text: str, opened_by_prompt: bool, answer_tag: str = "<answer>") -> Thought:
    """The thinking and the answer of ``text``; only the answer is ever read for a verdict.

    ``opened_by_prompt``: the judge's prompt (or chat template) already opened ``<think>``, so an output
    without ``</think>`` is all thinking, unless it starts with the answer tag (the judge skipped thinking).

    Example:
        >>> split_thinking("A looks right... [[B]]? no.</think>\\n\\n<answer>[[A]]</answer>", True).answer
        '\\n\\n<answer>[[A]]</answer>'
        >>> split_thinking("Still thinking about [[A]]", True).error
        "the judge's thinking never closed (no '</think>'): its thinking is not read for a verdict"
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        thinking = text[:close]
        start = thinking.find(THINK_OPEN)
        if start >= 0 and not thinking[:start].strip():
            thinking = thinking[start + len(THINK_OPEN):]
        return Thought(thinking, text[close + len(THINK_CLOSE):])
    stripped = text.lstrip()
    if stripped.startswith(answer_tag):
        return Thought(None, text)
    if opened_by_prompt or THINK_OPEN in text:
        return Thought(text, "", f"the judge's thinking never closed (no '{THINK_CLOSE}'): its thinking is not read "
                                 "for a verdict")
    return Thought(None, text)


@dataclass(frozen=True)
class ThinkingProtocol(JudgeProtocol):
    """A protocol whose judge thinks in ``<think>...</think>`` before answering; its verdict is read after.

    ``forced_answer`` is what budget forcing writes after the forced close of thinking (the answer marker);
    ``think_opened_by_prompt`` says whether the prompt or chat template opens ``<think>`` itself.
    """

    thinks: ClassVar[bool] = True
    think_opened_by_prompt: ClassVar[bool] = True
    forced_close: ClassVar[str] = FORCED_CLOSE
    forced_answer: ClassVar[str] = "<answer>"

    def _parse(self, text: str) -> Verdict:
        thought = split_thinking(text, self.think_opened_by_prompt)
        if thought.error is not None:
            return Verdict(feedback="", error=thought.error)
        return self._parse_answer(thought.answer)

    @abstractmethod
    def _parse_answer(self, answer: str) -> Verdict:
        """The verdict in the answer after the thinking (only called when the thinking closed)."""


def parse_ab_answer(answer: str) -> Verdict:
    """RM-R1's verdict: ``<answer>[[A]]</answer>`` or ``[[B]]``; both letters named is no verdict.

    As RM-R1's own evaluation reads it (``process_judgement``: both ``[[A]]`` and ``[[B]]`` present is an
    error, "Prevent Hacking"): every tagged verdict must name the same letter; without tags, the bare
    ``[[A]]``/``[[B]]`` marks decide by the same rule.
    """
    tagged = _TAGGED.findall(answer)
    letters = set(tagged) if tagged else set(_BARE.findall(answer))
    if not letters:
        return Verdict(feedback=answer.strip(), error="no '<answer>[[A]]</answer>' or '<answer>[[B]]</answer>' verdict")
    if len(letters) > 1:
        return Verdict(feedback=answer.strip(), error="the answer names both [[A]] and [[B]]")
    cut = answer.find("<answer>") if tagged else answer.find("[[")
    return Verdict(winner=letters.pop(), feedback=answer[:cut].strip())  # type: ignore[arg-type]


@dataclass(frozen=True)
class RMR1(JudgeProtocol):
    """RM-R1 instruct models: Chain-of-Rubrics system prompt, the pair as the user turn, ``<answer>[[A]]</answer>``.

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("rm-r1").parse("<type>Chat</type> ... <answer>[[B]]</answer>").winner
        'B'
    """

    name: ClassVar[str] = "rm-r1"
    description: ClassVar[str] = "RM-R1 instruct judges, Chain-of-Rubrics, <answer>[[A]]</answer> (gaotang/RM-R1-Qwen2.5-Instruct-*)"
    pairwise: ClassVar[bool] = True
    answer_prefix: ClassVar[str] = "<answer>[["

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(RM_R1_SYSTEM, RM_R1_USER.format(question=instruction, answer_a=response, answer_b=response_b))

    def _parse(self, text: str) -> Verdict:
        return parse_ab_answer(text)

    def answer_values(self) -> list[str]:
        return ["A", "B"]


@dataclass(frozen=True)
class RMR1Reasoning(ThinkingProtocol):
    """RM-R1 DeepSeek-distilled models: one user message; they think, then answer ``<answer>[[A]]</answer>``.

    Their chat template opens ``<think>`` at the start of the answer, so the output's ``</think>`` ends
    the thinking; the verdict is read only after it.

    Example:
        >>> from reward_judge import get_protocol
        >>> p = get_protocol("rm-r1-reasoning")
        >>> p.parse("B has the right total, so [[B]]... no, A.\\n</think>\\n\\nA is better. <answer>[[A]]</answer>").winner
        'A'
    """

    name: ClassVar[str] = "rm-r1-reasoning"
    description: ClassVar[str] = ("RM-R1 DeepSeek-distilled reasoning judges: <think> then <answer>[[A]]</answer> "
                                  "(gaotang/RM-R1-DeepSeek-Distilled-Qwen-*)")
    pairwise: ClassVar[bool] = True
    answer_prefix: ClassVar[str] = "<answer>[["
    forced_answer: ClassVar[str] = "<answer>[["

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, RM_R1_REASONING.format(question=instruction, answer_a=response, answer_b=response_b))

    def _parse_answer(self, answer: str) -> Verdict:
        return parse_ab_answer(answer)

    def answer_values(self) -> list[str]:
        return ["A", "B"]


@dataclass(frozen=True)
class JudgeLRM(ThinkingProtocol):
    """JudgeLRM: raw ChatML prompt ending in ``<think>``; answer ``<answer>s1</answer><answer>s2</answer>``.

    As JudgeLRM's reward code reads it: the first two ``<answer>`` tags after the thinking, integers 0-10;
    the higher score wins, equal scores are a tie. Two scores are no single slot, so only ``generate`` mode
    reads it (``think_budget`` forces ``</think>`` and ``<answer>``).

    Example:
        >>> from reward_judge import get_protocol
        >>> get_protocol("judgelrm").parse("Assistant 1 is vague.</think><answer>4</answer><answer>8</answer>").winner
        'B'
    """

    name: ClassVar[str] = "judgelrm"
    description: ClassVar[str] = "JudgeLRM reasoning judge: <think> then two scores 1-10 (nuojohnchen/JudgeLRM-*)"
    pairwise: ClassVar[bool] = True
    forced_answer: ClassVar[str] = "<answer>"

    def _render(self, instruction, response, reference, rubric_text, response_b) -> list[Message]:
        return split_messages(None, JUDGELRM.format(question=instruction, answer_1=response, answer_2=response_b))

    def scores(self, answer: str) -> Optional[tuple[int, int]]:
        """The two scores of an answer (after the thinking), or ``None`` when it has no two integers 0-10."""
        found = _SCORES.findall(answer)[:2]
        if len(found) < 2:
            return None
        try:
            first, second = int(found[0].strip()), int(found[1].strip())
        except ValueError:
            return None
        return (first, second) if 0 <= first <= 10 and 0 <= second <= 10 else None

    def _parse_answer(self, answer: str) -> Verdict:
        pair = self.scores(answer)
        if pair is None:
            return Verdict(feedback=answer.strip(), error="no two scores 0-10 in '<answer>s1</answer><answer>s2</answer>'")
        first, second = pair
        winner = "A" if first > second else "B" if second > first else "tie"
        return Verdict(winner=winner, feedback=answer[: answer.find("<answer>")].strip())  # type: ignore[arg-type]
