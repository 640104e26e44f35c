"""Budget forcing for judges that think before they answer (``<think> ... </think>``, then the verdict).

With ``think_budget=N`` the judge may think for at most N tokens. It is asked once with
``max_new_tokens=N``; when it closed its thinking itself (``</think>``) and its verdict followed within the
same call, that verdict is read. When it closed its thinking but the verdict was cut off, it continues
after its ``</think>`` with the answer budget (``max_new_tokens``). When its thinking ran out, the scorer
writes the close of thinking and the protocol's answer marker for it (``\\n</think>\\n\\n<answer>[[``) and
the judge answers from there: ``generate`` continues the text and parses it; ``expected`` reads the answer
distribution right at the marker. This only uses `JudgeBackend.generate` and `JudgeBackend.answer_logprobs`
on judge inputs that continue the judge's own text, so it works on every backend that continues text (the
in-process one, an OpenAI-compatible ``/v1/completions`` server); a chat endpoint cannot continue an answer.

The thinking is untrusted text (it may quote the completion) and is never parsed for the verdict. Every
judgment records ``think_budget``, ``think_tokens`` (the thinking's length, counted with the judge's
tokenizer when it has one) and ``think_forced`` (whether the close had to be written for it).

In ``expected`` mode a thinking protocol always goes this way (without ``think_budget`` the whole
``max_new_tokens`` is the thinking budget), so a marker the judge writes while thinking is never taken
for its answer slot. In ``direct`` mode nothing is generated: the thinking is closed at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..backends.base import AnswerSlot, GenerationParams, JudgeBackend
from ..judge_input import JudgeInput
from ..protocols.reasoning import THINK_CLOSE
from ..verdicts import Judgment
from .answers import own_verdict

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import JudgeProtocol
    from ..rendering import JudgeRequest


def thinks(protocol: "JudgeProtocol") -> bool:
    """Whether ``protocol``'s judge thinks in ``<think>`` before its answer (`reward_judge.protocols.reasoning`)."""
    return bool(getattr(protocol, "thinks", False))


def direct_prefix(protocol: "JudgeProtocol") -> str:
    """What follows the judge prompt when the answer is read at once: the answer marker, after a closed thought.

    Example:
        >>> from reward_judge import get_protocol
        >>> direct_prefix(get_protocol("rm-r1-reasoning")), direct_prefix(get_protocol("skywork-critic"))
        ('\\n</think>\\n\\n<answer>[[', '[[')
    """
    return (protocol.forced_close + protocol.answer_prefix) if thinks(protocol) else protocol.answer_prefix  # type: ignore[attr-defined]


def check_backend(backend: JudgeBackend) -> None:
    """Refuse a backend that cannot continue the judge's own text (a chat endpoint applies the template itself)."""
    if backend.applies_chat_template:
        raise ValueError(f"think_budget needs a backend that continues the judge's own text; {backend.describe()} sends "
                         "chat messages (endpoint='chat'): use endpoint='completions'")


def count_tokens(tokenizer: Any, text: str) -> Optional[int]:
    """Tokens of ``text`` in the judge's tokenizer (``None`` without one)."""
    if tokenizer is None:
        return None
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class Thought:
    """The judge's thinking on one request, within the budget.

    ``close`` is the text that ends it as the judge reads it next: its own ``</think>``, or the forced close
    and answer marker. ``after`` is what it wrote after its own close in the same call.
    """

    request: "JudgeRequest"
    thinking: str
    closed: bool
    after: str
    close: str

    def context(self) -> JudgeInput:
        """The judge input followed by the thinking (untrusted) and the close (the judge's own format)."""
        return self.request.input.extend(self.thinking, untrusted=True).extend(self.close)

    def extra(self, budget: int, tokenizer: Any) -> dict[str, Any]:
        return {"think_budget": budget, "think_tokens": count_tokens(tokenizer, self.thinking),
                "think_forced": not self.closed}


def think(backend: JudgeBackend, requests: Sequence["JudgeRequest"], params: GenerationParams, budget: int,
          forced: Sequence[str]) -> list[Thought]:
    """Let the judge think on each request for at most ``budget`` tokens; ``forced[i]`` ends a thought that ran out."""
    texts = backend.generate([r.input for r in requests], dataclasses.replace(params, max_new_tokens=budget))
    if len(texts) != len(requests):
        raise RuntimeError(f"backend returned {len(texts)} answers for {len(requests)} inputs")
    thoughts = []
    for request, text, force in zip(requests, texts, forced, strict=True):
        at = text.rfind(THINK_CLOSE)  # the last: a </think> the judge quoted from a response comes before its own
        if at >= 0:
            thoughts.append(Thought(request, text[:at], True, text[at + len(THINK_CLOSE):], THINK_CLOSE))
        else:
            thoughts.append(Thought(request, text, False, "", force))
    return thoughts


def generate(backend: JudgeBackend, requests: Sequence["JudgeRequest"], params: GenerationParams,
             budget: int) -> list[Judgment]:
    """``generate`` mode with budget forcing: the verdict is parsed from what follows the thinking."""
    forced = [r.protocol.forced_close + r.protocol.forced_answer for r in requests]  # type: ignore[attr-defined]
    thoughts = think(backend, requests, params, budget, forced)
    judgments: list[Any] = [None] * len(requests)
    pending = []
    for k, thought in enumerate(thoughts):
        if thought.closed:  # the judge closed its thinking; its verdict may already be there
            raw = thought.thinking + thought.close + thought.after
            verdict = own_verdict(thought.request, raw)
            if verdict.ok:
                judgments[k] = Judgment(verdict, raw=raw, extra=thought.extra(budget, backend.tokenizer))
                continue
        pending.append(k)
    if pending:
        answers = backend.generate([thoughts[k].context() for k in pending], params)
        if len(answers) != len(pending):
            raise RuntimeError(f"backend returned {len(answers)} answers for {len(pending)} inputs")
        for k, answer in zip(pending, answers, strict=True):
            thought = thoughts[k]
            raw = thought.thinking + thought.close + answer
            judgments[k] = Judgment(thought.request.protocol.parse(raw), raw=raw,
                                    extra=thought.extra(budget, backend.tokenizer))
    return judgments


@dataclass(frozen=True)
class Read:
    """One answer distribution read after a thought: what the scorer turns into a judgment."""

    raw: str
    feedback: str
    marker_written: bool
    logprobs: list[float]
    extra: dict[str, Any]


def read(backend: JudgeBackend, requests: Sequence["JudgeRequest"], params: GenerationParams, budget: int,
         slots: Sequence[AnswerSlot], continue_after_close: bool) -> list[Read]:
    """``expected`` mode after the thinking: the distribution at the answer marker that follows it.

    A thought that ran out gets the close and the marker and is read there. A closed thought whose answer
    already holds the marker is read at it; otherwise, with ``continue_after_close``, the judge writes its
    answer (``params.max_new_tokens``) and is read at its marker, else the marker is appended after it.
    """
    forced = [r.protocol.forced_close + r.protocol.answer_prefix for r in requests]  # type: ignore[attr-defined]
    thoughts = think(backend, requests, params, budget, forced)
    reads: list[Any] = [None] * len(requests)
    direct: list[int] = []   # read right at the end of the context
    cut: list[int] = []      # the answer after the close is cut at its marker
    write: list[int] = []    # the judge writes its answer first
    for k, thought in enumerate(thoughts):
        if not thought.closed:
            direct.append(k)
        elif continue_after_close and thought.request.protocol.answer_prefix.rstrip() not in thought.after:
            write.append(k)
        else:
            cut.append(k)
    for k in direct:
        thought = thoughts[k]
        reads[k] = (thought.context(), thought.thinking + thought.close, "", False)
    for k in cut:
        thought = thoughts[k]
        context, kept, written = slots[k].cut(thought.context(), thought.after)
        reads[k] = (context, thought.thinking + thought.close + thought.after, kept, written)
    if write:
        answers = backend.generate([thoughts[k].context() for k in write], params)
        if len(answers) != len(write):
            raise RuntimeError(f"backend returned {len(answers)} answers for {len(write)} inputs")
        for k, answer in zip(write, answers, strict=True):
            thought = thoughts[k]
            context, kept, written = slots[k].cut(thought.context(), answer)
            reads[k] = (context, thought.thinking + thought.close + answer, kept, written)
    out: list[Any] = [None] * len(requests)
    by_candidates: dict[tuple[str, ...], list[int]] = {}
    for k, slot in enumerate(slots):
        by_candidates.setdefault(tuple(slot.candidates), []).append(k)
    for candidates, members in by_candidates.items():
        logprobs = backend.answer_logprobs([reads[k][0] for k in members], candidates)
        if len(logprobs) != len(members):
            raise RuntimeError(f"backend returned {len(logprobs)} distributions for {len(members)} inputs")
        for k, lps in zip(members, logprobs, strict=True):
            _, raw, kept, written = reads[k]
            out[k] = Read(raw, kept, written, list(lps), thoughts[k].extra(budget, backend.tokenizer))
    return out
