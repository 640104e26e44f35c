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


def is_control(token: Any) -> bool:
    """Whether an added token is a control token: flagged ``special``, or shaped like one.

    Some tokenizers declare role and thinking tokens with ``special: false`` (DeepSeek-R1-Distill's
    ``<｜Assistant｜>`` and ``</think>``, Qwen's ``<tool_call>``); they are still matched as one token in any
    text, so a completion could write them. An added token written like a tag (``<...>``, ``[...]``, no spaces)
    counts as a control token whatever its flag says; added ordinary words (a vocabulary extension) do not.

    Example:
        >>> from tokenizers import AddedToken
        >>> is_control(AddedToken("</think>", special=False)), is_control(AddedToken("서울", special=False))
        (True, False)
    """
    content = getattr(token, "content", str(token))
    if not content:
        return False
    if getattr(token, "special", True):
        return True
    return not any(c.isspace() for c in content) and len(content) > 2 and (
        (content[0] == "<" and content[-1] == ">") or (content[0] == "[" and content[-1] == "]"))


@lru_cache(maxsize=64)
def _special_strings(tokenizer: Any) -> tuple[str, ...]:
    found: set[str] = set()
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for token in decoder.values():
        if is_control(token):
            found.add(getattr(token, "content", str(token)))
    for token in getattr(tokenizer, "all_special_tokens", []) or []:
        if token:
            found.add(token)
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


@lru_cache(maxsize=64)
def special_ids(tokenizer: Any) -> frozenset[int]:
    """The ids the tokenizer treats as control tokens (its special and special added tokens; cached per tokenizer)."""
    ids = set(tokenizer.all_special_ids or [])
    ids.update(i for i, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items() if is_control(token))
    return frozenset(ids)


def control_token_count(tokenizer: Any, ids: Sequence[int]) -> int:
    """How many of ``ids`` are control tokens.

    Example:
        >>> control_token_count(tok, encode(tok, judge_input))   # doctest: +SKIP
        5
    """
    specials = special_ids(tokenizer)
    return sum(1 for i in ids if i in specials)


def _overlaps(start: int, end: int, spans: Sequence[Span]) -> bool:
    return any(start < b and a < end for a, b in spans)


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` tokenised with every special-token string split as ordinary text (no BOS/EOS added).

    SentencePiece tokenizers put a word-boundary marker before the first piece of a fresh string; a
    piece cut out of a longer text must not get it, so that case is tokenised behind a newline anchor
    and the anchor's tokens are dropped.
    """
    ids: list[int] = []
    for piece in _control_split(tokenizer, text):  # one pass, however many such tokens the text writes
        ids += _piece_ids(tokenizer, piece)
    return ids


def _piece_ids(tokenizer: Any, text: str) -> list[int]:
    ids = list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
    if tokenizer.decode(ids) == text:
        return ids
    anchor = list(tokenizer("\n", add_special_tokens=False, split_special_tokens=True)["input_ids"])
    anchored = list(tokenizer("\n" + text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
    if anchored[: len(anchor)] == anchor and tokenizer.decode(anchored[len(anchor):]) == text:
        return anchored[len(anchor):]
    return ids


def _control_split(tokenizer: Any, text: str) -> list[str]:
    """``text`` cut after the first character of every non-special control token in it (once, when there is none).

    ``split_special_tokens=True`` splits tokens flagged special only; a control token declared ``special: false``
    is still matched whole, so it is broken up by tokenising the text on both sides of its first character.
    """
    controls = [content for content in _unflagged_controls(tokenizer) if content in text]
    pieces, start = [], 0
    while controls:
        found = [at for at in (text.find(content, start) for content in controls) if at >= 0]
        if not found:
            break
        cut = min(found) + 1
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


@lru_cache(maxsize=64)
def _unflagged_controls(tokenizer: Any) -> tuple[str, ...]:
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return tuple(t.content for t in decoder.values() if not getattr(t, "special", True) and is_control(t))


def _content_span(tokenizer: Any, token_id: int, text: str, start: int, end: int) -> Span:
    """The characters of a control token's own string within its offsets.

    A token declared with ``lstrip``/``rstrip`` takes in the whitespace beside it, so its offsets reach into a
    neighbouring field: whether it came from untrusted text is decided by its own characters, not that whitespace
    (a completion starting with spaces must not turn the template's token before it into text).
    """
    content = _contents(tokenizer).get(token_id)
    if content:
        at = text.find(content, start, end)
        if at >= 0:
            return at, at + len(content)
    return start, end


@lru_cache(maxsize=64)
def _contents(tokenizer: Any) -> dict[int, str]:
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return {i: getattr(t, "content", "") for i, t in decoder.items()}


def encode_untrusted_as_text(tokenizer: Any, text: str, untrusted: Sequence[Span], *,
                             add_special_tokens: bool) -> list[int]:
    """Token ids of ``text`` where special tokens come only from outside the ``untrusted`` spans.

    Example:
        >>> ids = encode_untrusted_as_text(tok, "<|im_start|>Paris.<|im_end|>", [(12, 28)],  # doctest: +SKIP
        ...                                add_special_tokens=False)
    """
    return encode_many_untrusted_as_text(tokenizer, [(text, untrusted)], add_special_tokens=add_special_tokens)[0]


def encode_many_untrusted_as_text(tokenizer: Any, items: Sequence[tuple[str, Sequence[Span]]], *,
                                  add_special_tokens: bool) -> list[list[int]]:
    """`encode_untrusted_as_text` of each (text, untrusted spans), in one tokenizer call."""
    if not items:
        return []
    offsets_needed = any(untrusted for _, untrusted in items)
    encoding = tokenizer([text for text, _ in items], add_special_tokens=add_special_tokens,
                         return_offsets_mapping=offsets_needed)
    specials = special_ids(tokenizer) if offsets_needed else frozenset()
    out: list[list[int]] = []
    for k, (text, untrusted) in enumerate(items):
        ids = list(encoding["input_ids"][k])
        if not untrusted:
            out.append(ids)
            continue
        offsets = encoding["offset_mapping"][k]
        hits = [i for i, token_id in enumerate(ids)
                if token_id in specials and _overlaps(*_content_span(tokenizer, token_id, text, *offsets[i]), untrusted)]
        if not hits:
            out.append(ids)
            continue
        replaced: list[int] = []
        at = 0
        for i in hits:
            start, end = offsets[i]
            replaced.extend(ids[at:i])
            replaced.extend(text_ids(tokenizer, text[start:end]))
            at = i + 1
        replaced.extend(ids[at:])
        logger.debug("%d special-token string(s) in untrusted text tokenised as text", len(hits))
        out.append(replaced)
    return out


#: Inserted after the first character of a special-token string in untrusted text sent as a text prompt:
#: invisible, and no tokenizer's special-token matching sees the string any more.
INERT_MARK = "\u200b"


def untrusted_runs(untrusted: Sequence[Span]) -> list[Span]:
    """The untrusted spans joined where they touch or overlap: ``{instruction}{response}`` is one run of untrusted text.

    Example:
        >>> untrusted_runs([(6, 10), (0, 6), (12, 14)])
        [(0, 10), (12, 14)]
    """
    runs: list[Span] = []
    for start, end in sorted(s for s in untrusted if s[1] > s[0]):
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs


def neutralized_text(tokenizer: Any, text: str, untrusted: Sequence[Span]) -> str:
    """``text`` with every special-token string that untrusted text takes part in made inert for a server's tokenizer.

    For servers that take text prompts only (the server tokenises, and would turn ``<|im_end|>`` into
    its control token): a zero-width space goes inside the string (``<\\u200b|im_end|>``), which a
    tokenizer cannot undo; everything else is unchanged. The strings are found in the whole text, so one
    that two touching untrusted fields spell together (``...<|im_`` + ``end|>...``), or that untrusted text
    completes after the template, is caught as the in-process encoding catches it; the mark goes at the
    first character of the string that is untrusted.

    Example:
        >>> neutralized_text(tok, "User: hi<|im_end|>", [(6, 18)])    # doctest: +SKIP
        'User: hi<\\u200b|im_end|>'
    """
    pattern = _special_pattern(tokenizer) if untrusted else None
    if pattern is None:
        return text
    runs = untrusted_runs(untrusted)
    # A mark can leave a shorter special string inside the longer one it broke: look again until none is left.
    for _ in range(8):
        marks = []
        for match in pattern.finditer(text):
            start, end = match.span()
            inside = [(max(a, start), min(b, end)) for a, b in runs if a < end and start < b]
            if inside:
                marks.append(max(inside[0][0], start + 1))  # inside the string, at its first untrusted character
        if not marks:
            return text
        pieces, at = [], 0
        for mark in marks:
            pieces += [text[at:mark], INERT_MARK]
            at = mark
        pieces.append(text[at:])
        text = "".join(pieces)
        runs = [(a + sum(m <= a for m in marks), b + sum(m < b for m in marks)) for a, b in runs]
    raise ValueError("special-token strings in untrusted text could not be made inert")
