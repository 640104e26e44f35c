"""Input-length policy: a judge input longer than the judge can read is cut in the response only.

Only the response text is shortened: the rubric, the reference and the answer-format instructions
that tell the judge how to write its score stay whole, because a judge that never sees them cannot
give a readable answer. The response keeps its head and its tail (the opening and the conclusion
carry most of the signal) around a visible marker, so the judge knows text is missing.
"""

from __future__ import annotations

from typing import Callable, Optional

MARKER = "\n[... {n} tokens truncated ...]\n"


class InputTooLong(ValueError):
    """The judge input does not fit even with the response cut to nothing (or the policy is "fail")."""


def cut_middle(text: str, drop_tokens: int, tokenizer) -> tuple[str, int]:
    """``text`` without ``drop_tokens`` tokens from its middle, a marker in their place; (text, dropped).

    Example:
        >>> class Chars:  # a toy tokenizer: one token per character
        ...     def __call__(self, text, add_special_tokens=False): return {"input_ids": [ord(c) for c in text]}
        ...     def decode(self, ids): return "".join(map(chr, ids))
        >>> cut_middle("abcdefghij", 4, Chars())
        ('abc\\n[... 4 tokens truncated ...]\\nhij', 4)
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    drop = min(max(drop_tokens, 0), len(ids))
    if drop == 0:
        return text, 0
    keep = len(ids) - drop
    head = keep - keep // 2
    tail = keep // 2
    cut = tokenizer.decode(ids[:head]) + MARKER.format(n=drop) + (tokenizer.decode(ids[len(ids) - tail:]) if tail else "")
    return cut, drop


def fit_response(render: Callable[[str], str], response: str, limit: int, count: Callable[[str], int],
                 tokenizer) -> tuple[str, int]:
    """The judge input with ``response`` cut so the whole input holds at most ``limit`` tokens.

    ``render(response)`` builds the judge input; returns (judge input, tokens dropped). Raises
    `InputTooLong` when the input is too long even with the response removed entirely.
    """
    text = render(response)
    total = count(text)
    if total <= limit:
        return text, 0
    response_tokens = len(tokenizer(response, add_special_tokens=False)["input_ids"])
    marker_tokens = len(tokenizer(MARKER.format(n=response_tokens), add_special_tokens=False)["input_ids"])
    drop = total - limit + marker_tokens
    # Tokens at the cut seams can merge differently, so check and cut a little more when needed.
    for _ in range(4):
        if drop >= response_tokens:
            break
        cut, dropped = cut_middle(response, drop, tokenizer)
        text = render(cut)
        over = count(text) - limit
        if over <= 0:
            return text, dropped
        drop += over + 2
    raise InputTooLong(
        f"the judge input has {total} tokens and the limit is {limit} (max_input_tokens): it does not fit even "
        f"with the {response_tokens}-token response cut out; shorten the prompt, reference or rubric"
    )


def input_limit(max_input_tokens: Optional[int], context_length: Optional[int], max_new_tokens: int) -> Optional[int]:
    """The token budget of a judge input: explicit, else the context length minus the answer's room."""
    if max_input_tokens is not None:
        return max_input_tokens
    if context_length:
        return max(1, context_length - max_new_tokens)
    return None
