"""Special-token text in untrusted spans is tokenised as text, never as a control token.

A tokenizer turns the *string* ``<|im_end|>`` into the control token ``<|im_end|>`` wherever it
appears. In a judge input that string may come from the policy (its completion) or a dataset; there it
must stay text. `encode_untrusted_as_text` tokenises the whole judge input as usual (so a clean input
gets exactly the tokens it always had), then replaces every special token that lies inside an
untrusted span by the tokenisation of its characters as ordinary text.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, Sequence

logger = logging.getLogger(__name__)

Span = tuple[int, int]


def special_token_strings(tokenizer: Any) -> tuple[str, ...]:
    """The strings the tokenizer turns into control tokens (its special added tokens), longest first."""
    return _special_strings(tokenizer)


@lru_cache(maxsize=64)
def _special_pattern(tokenizer: Any) -> "re.Pattern[str] | None":
    strings = _special_strings(tokenizer)
    return re.compile("|".join(map(re.escape, strings))) if strings else None


@lru_cache(maxsize=64)
def _special_strings(tokenizer: Any) -> tuple[str, ...]:
    found: set[str] = set()
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for token in decoder.values():
        content = getattr(token, "content", str(token))
        if getattr(token, "special", True) and content:
            found.add(content)
    for token in getattr(tokenizer, "all_special_tokens", []) or []:
        if token:
            found.add(token)
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def _overlaps(start: int, end: int, spans: Sequence[Span]) -> bool:
    return any(start < b and a < end for a, b in spans)


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` tokenised with every special-token string split as ordinary text (no BOS/EOS added).

    SentencePiece tokenizers put a word-boundary marker before the first piece of a fresh string; a
    piece cut out of a longer text must not get it, so that case is tokenised behind a newline anchor
    and the anchor's tokens are dropped.
    """
    ids = list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
    if tokenizer.decode(ids) == text:
        return ids
    anchor = list(tokenizer("\n", add_special_tokens=False, split_special_tokens=True)["input_ids"])
    anchored = list(tokenizer("\n" + text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
    if anchored[: len(anchor)] == anchor and tokenizer.decode(anchored[len(anchor):]) == text:
        return anchored[len(anchor):]
    return ids


def encode_untrusted_as_text(tokenizer: Any, text: str, untrusted: Sequence[Span], *,
                             add_special_tokens: bool) -> list[int]:
    """Token ids of ``text`` where special tokens come only from outside the ``untrusted`` spans.

    Example:
        >>> ids = encode_untrusted_as_text(tok, "<|im_start|>Paris.<|im_end|>", [(12, 28)],  # doctest: +SKIP
        ...                                add_special_tokens=False)
    """
    encoding = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    if not untrusted:
        return ids
    offsets = encoding["offset_mapping"]
    specials = set(tokenizer.all_special_ids or [])
    specials.update(i for i, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
                    if getattr(token, "special", False))
    out: list[int] = []
    replaced = 0
    for token_id, (start, end) in zip(ids, offsets, strict=True):
        if token_id in specials and _overlaps(start, end, untrusted):
            out.extend(text_ids(tokenizer, text[start:end]))
            replaced += 1
        else:
            out.append(token_id)
    if replaced:
        logger.debug("%d special-token string(s) in untrusted text tokenised as text", replaced)
    return out


#: Inserted after the first character of a special-token string in untrusted text sent as a text prompt:
#: invisible, and no tokenizer's special-token matching sees the string any more.
INERT_MARK = "\u200b"


def neutralized_text(tokenizer: Any, text: str, untrusted: Sequence[Span]) -> str:
    """``text`` with every special-token string inside an untrusted span made inert for a server's tokenizer.

    For servers that take text prompts only (the server tokenises, and would turn ``<|im_end|>`` into
    its control token): a zero-width space goes after the string's first character (``<\\u200b|im_end|>``),
    which a tokenizer cannot undo; everything else is unchanged.

    Example:
        >>> neutralized_text(tok, "User: hi<|im_end|>", [(6, 18)])    # doctest: +SKIP
        'User: hi<\\u200b|im_end|>'
    """
    pattern = _special_pattern(tokenizer) if untrusted else None
    if pattern is None:
        return text
    pieces: list[str] = []
    at = 0
    for start, end in sorted(untrusted):
        if start < at:
            start = at
        pieces.append(text[at:start])
        pieces.append(pattern.sub(_inert, text[start:end]))
        at = max(at, end)
    pieces.append(text[at:])
    return "".join(pieces)


def _inert(match: "re.Match[str]") -> str:
    special = match.group(0)
    return special[0] + INERT_MARK + special[1:]
