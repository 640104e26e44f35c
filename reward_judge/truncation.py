"""Input-length policy: a judge input longer than the judge can read is cut in its responses only.

Only response text is shortened: the rubric, the reference and the answer-format instructions that
tell the judge how to write its score stay whole, because a judge that never sees them cannot give a
readable answer. A response keeps its head and its tail (the opening and the conclusion carry most of
the signal) around a visible marker, so the judge knows text is missing.

One count plans a cut and checks it: the backend's own count of the tokens its model reads
(`JudgeBackend.count_input_tokens`: untrusted special-token text counted as the text it is sent as).
Responses are cut on their own untrusted-text tokens, so ``"<|im_end|>" * 1300`` is cut like any other
text of its length. With several responses (a pairwise pair, a listwise group) each gets a share of
the room left by the fixed text: a response shorter than the share stays whole, the longer ones are
cut to it, so one over-long response never costs another its text.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from .judge_input import JudgeInput
from .special_tokens import text_ids

MARKER = "\n[... {n} tokens truncated ...]\n"

Count = Callable[[JudgeInput], int]


class InputTooLong(ValueError):
    """The judge input does not fit even with every response cut to nothing (or the policy is "fail")."""


def cut_middle(text: str, drop_tokens: int, tokenizer: Any) -> tuple[str, int]:
    """``text`` without ``drop_tokens`` of its tokens (as untrusted text) from its middle, a marker in their place.

    Returns (text, tokens dropped).

    Example:
        >>> class Chars:  # a toy tokenizer: one token per character
        ...     def __call__(self, text, **kwargs): return {"input_ids": [ord(c) for c in text]}
        ...     def decode(self, ids): return "".join(map(chr, ids))
        >>> cut_middle("abcdefghij", 4, Chars())
        ('abc\\n[... 4 tokens truncated ...]\\nhij', 4)
    """
    return _cut(text, text_ids(tokenizer, text), drop_tokens, tokenizer)


def _cut(text: str, ids: Sequence[int], drop_tokens: int, tokenizer: Any) -> tuple[str, int]:
    drop = min(max(drop_tokens, 0), len(ids))
    if drop == 0:
        return text, 0
    keep = len(ids) - drop
    head, head_text = _whole_characters(ids, keep - keep // 2, tokenizer, text.startswith, from_start=True)
    tail, tail_text = _whole_characters(ids, keep // 2, tokenizer, text.endswith, from_start=False)
    drop = len(ids) - head - tail
    return head_text + MARKER.format(n=drop) + tail_text, drop


def _whole_characters(ids: Sequence[int], count: int, tokenizer: Any, in_text: Callable[[str], bool], *,
                      from_start: bool) -> tuple[int, str]:
    """(tokens kept, their text): ``count`` tokens from one end of ``ids``, fewer where the last of them ends
    inside a character (byte-level tokens split an emoji or a Hangul syllable over several). Part of one decodes
    as a U+FFFD the response never had; one it wrote itself is kept (the text is then a prefix or suffix of it)."""
    def text_of(k: int) -> str:
        return tokenizer.decode(ids[:k] if from_start else ids[len(ids) - k:]) if k else ""

    for _ in range(4):
        shown = text_of(count)
        split = shown.endswith("\ufffd") if from_start else shown.startswith("\ufffd")
        if not split or in_text(shown):
            return count, shown
        count -= 1
    return count, text_of(count)


def fit_response(render: Callable[[str], JudgeInput], response: str, limit: int, count: Count,
                 tokenizer: Any) -> tuple[JudgeInput, int]:
    """The judge input with ``response`` cut so the whole input holds at most ``limit`` tokens by ``count``.

    ``render(response)`` builds the judge input; returns (judge input, tokens dropped). Raises
    `InputTooLong` when the input is too long even with the response cut out.
    """
    judge_input, dropped = fit_responses(lambda texts: render(texts[0]), [response], limit, count, tokenizer)
    return judge_input, dropped[0]


def fit_responses(render: Callable[[list[str]], JudgeInput], responses: Sequence[str], limit: int, count: Count,
                  tokenizer: Any, present: Optional[Callable[[str], str]] = None) -> tuple[JudgeInput, list[int]]:
    """The judge input with ``responses`` cut to one shared per-response budget so it holds at most ``limit`` tokens.

    ``render(texts)`` builds the judge input from one text per response; ``count`` is the backend's token
    count. Returns (judge input, tokens dropped from each response). A response within the budget is
    whole; each longer one keeps its head and tail. Raises `InputTooLong` when even responses cut to
    their markers do not fit (the prompt, reference or rubric alone is too long). ``present`` is how the
    protocol shows a response (listwise quotes every line): budgets are planned on what the judge reads.

    Example:
        >>> class Chars:  # a toy tokenizer: one token per character
        ...     def __call__(self, text, **kwargs): return {"input_ids": [ord(c) for c in text]}
        ...     def decode(self, ids): return "".join(map(chr, ids))
        >>> build = lambda texts: JudgeInput("A: " + texts[0] + " B: " + texts[1])
        >>> fitted, dropped = fit_responses(build, ["short", "x" * 200], 100, lambda j: len(j.text), Chars())
        >>> dropped[0], len(fitted.text) <= 100, fitted.text.startswith("A: short B: xxx")
        (0, True, True)
    """
    responses = list(responses)
    judge_input = render(responses)
    total = count(judge_input)
    if total <= limit:
        return judge_input, [0] * len(responses)
    ids = [text_ids(tokenizer, r) for r in responses]
    shown = [present(r) for r in responses] if present is not None else responses
    costs = [count(JudgeInput(r, ((0, len(r)),) if r else ())) for r in shown]
    fixed = count(render([""] * len(responses)))
    marker = count(JudgeInput(MARKER.format(n=max(len(i) for i in ids))))

    def build(budget: int) -> tuple[JudgeInput, list[int]]:
        texts, dropped = [], []
        for text, own, cost in zip(responses, ids, costs, strict=True):
            if cost <= budget or not own:
                texts.append(text)
                dropped.append(0)
                continue
            # keep as many of its tokens as the budget holds after the marker, in its own count's units
            keep = max(0, (budget - marker) * len(own) // max(cost, 1))
            cut, drop = _cut(text, own, len(own) - keep, tokenizer)
            texts.append(cut)
            dropped.append(drop)
        return render(texts), dropped

    budget = _shared_budget(costs, limit - fixed)
    over_budget = None  # the smallest budget seen that does not fit
    for _ in range(24):
        if budget < 0:
            if over_budget == 0 or fixed > limit:
                break
            budget = 0  # a step past every response's marker: the markers alone are the last thing to try
        candidate, dropped = build(budget)
        over = count(candidate) - limit
        if over <= 0:
            if over_budget is None or over_budget - budget <= 1:
                return candidate, dropped
            # it fits: try halfway to the smallest budget known not to fit (a few steps find the largest that fits)
            best = (candidate, dropped)
            low, high = budget, over_budget
            while high - low > 1:
                middle = (low + high) // 2
                trial, trial_dropped = build(middle)
                if count(trial) <= limit:
                    low, best = middle, (trial, trial_dropped)
                else:
                    high = middle
            return best
        over_budget = budget if over_budget is None else min(over_budget, budget)
        # tokens at the cut seams merge differently, and a text server counts its own way: take what is over off
        # the responses being cut, shared between them
        cut = max(1, sum(cost > budget for cost in costs))
        budget -= -(-over // cut) + 1
    raise InputTooLong(
        f"the judge input has {total} tokens and the limit is {limit} (max_input_tokens): it does not fit even "
        f"with the {len(responses)} response(s) cut to their markers ({fixed} tokens without them); shorten the "
        "prompt, reference or rubric"
    )


def _shared_budget(costs: Sequence[int], room: int) -> int:
    """The largest per-response budget ``b`` with ``sum(min(cost, b)) <= room`` (``-1`` when even 0 is too much)."""
    if room < 0:
        return -1
    if sum(costs) <= room:
        return max(costs, default=0)
    ordered = sorted(costs)
    used = 0
    for k, cost in enumerate(ordered):
        left = len(ordered) - k  # responses not yet whole share what remains
        if used + cost * left > room:
            return (room - used) // left
        used += cost
    return ordered[-1]


def input_limit(max_input_tokens: Optional[int], context_length: Optional[int], max_new_tokens: int) -> Optional[int]:
    """The token budget of a judge input: explicit, else the context length minus the answer's room."""
    if max_input_tokens is not None:
        return max_input_tokens
    if context_length:
        return max(1, context_length - max_new_tokens)
    return None
