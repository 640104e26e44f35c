"""`JudgeInput`: exactly what a judge reads, and how it becomes token ids.

A judge input is the chat-formatted text (the protocol's prompt inside the judge's chat template or
legacy wrapper) together with the character spans of that text which came from outside: the
instruction, the completion(s), the reference answer, a per-row rubric. Those spans are untrusted:
`encode` tokenises them as plain text, so a special-token string written by a policy (``<|im_end|>``,
``<|eot_id|>``, ``</s>``...) can never become a control token of the judge. Only the judge's own chat
template and protocol contribute control tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

Message = dict[str, str]
Span = tuple[int, int]


@dataclass(frozen=True)
class JudgeInput:
    """The judge's input text, where its untrusted spans are, and the judge messages it was made from.

    ``add_special_tokens`` says whether the tokenizer must still add its own BOS (legacy wrappers) or
    not (a chat template writes its special tokens itself). ``messages`` are the judge messages before
    chat formatting, for backends that apply the chat template themselves (an HTTP chat endpoint).

    Example:
        >>> judge_input = JudgeInput("Rate: Paris.", untrusted=((6, 12),))
        >>> judge_input.extend("[RESULT] ").text
        'Rate: Paris.[RESULT] '
        >>> judge_input.untrusted_text()
        ['Paris.']
    """

    text: str
    untrusted: tuple[Span, ...] = ()
    messages: Optional[tuple[Message, ...]] = field(default=None, compare=False)
    add_special_tokens: bool = False
    #: The untrusted spans of each message's content (for backends that send messages).
    message_untrusted: tuple[tuple[Span, ...], ...] = field(default=(), compare=False)

    def extend(self, suffix: str, *, untrusted: bool = False) -> "JudgeInput":
        """This input followed by ``suffix`` (the answer marker is trusted; text the judge generated is not)."""
        spans = self.untrusted + (((len(self.text), len(self.text) + len(suffix)),) if untrusted and suffix else ())
        return JudgeInput(self.text + suffix, spans, None, self.add_special_tokens)

    def message_contents(self) -> list[tuple[Message, tuple[Span, ...]]]:
        """Each judge message with the untrusted spans of its content."""
        if self.messages is None:
            return []
        spans = self.message_untrusted or tuple(() for _ in self.messages)
        return list(zip(self.messages, spans, strict=True))

    def untrusted_text(self) -> list[str]:
        return [self.text[a:b] for a, b in self.untrusted]

    @property
    def key(self) -> str:
        """What identifies this input for caching and deduplication (the text and how it is tokenised)."""
        spans = ",".join(f"{a}-{b}" for a, b in self.untrusted)
        return f"{int(self.add_special_tokens)}|{spans}|{self.text}"


def encode(tokenizer: Any, judge_input: JudgeInput) -> list[int]:
    """The token ids of ``judge_input``, special tokens only where the judge's own template put them.

    Example:
        >>> encode(tokenizer, JudgeInput("<|im_start|>user\\nHi<|im_end|>", untrusted=((17, 19),)))  # doctest: +SKIP
        [1, 4093, 198, 17830, 2]
    """
    from .special_tokens import encode_untrusted_as_text

    return encode_untrusted_as_text(tokenizer, judge_input.text, judge_input.untrusted,
                                    add_special_tokens=judge_input.add_special_tokens)


def encode_all(tokenizer: Any, inputs: Sequence[JudgeInput]) -> list[list[int]]:
    """`encode` of every input, with one tokenizer call per ``add_special_tokens`` value (the same ids).

    Example:
        >>> encode_all(tokenizer, [JudgeInput("Hi"), JudgeInput("Hi there")])   # doctest: +SKIP
        [[17830], [17830, 665]]
    """
    from .special_tokens import encode_many_untrusted_as_text

    out: list[list[int]] = [[] for _ in inputs]
    for add in (False, True):
        members = [k for k, judge_input in enumerate(inputs) if judge_input.add_special_tokens == add]
        if members:
            encoded = encode_many_untrusted_as_text(tokenizer, [(inputs[k].text, inputs[k].untrusted) for k in members],
                                                    add_special_tokens=add)
            for k, ids in zip(members, encoded, strict=True):
                out[k] = ids
    return out
