"""Candidate answers as token continuations of a judge input (shared by every backend that reads log-probs)."""

from __future__ import annotations

from typing import Any, Sequence

from ..judge_input import JudgeInput, encode_all


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix that every row starts with.

    Example:
        >>> common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]])
        2
    """
    if not rows:
        return 0
    first = list(rows[0])
    n = min(len(r) for r in rows)
    for row in rows[1:]:
        other = row if isinstance(row, list) else list(row)
        if first[:n] == other[:n]:
            continue
        # first[:lo] == other[:lo] and first[:hi] != other[:hi]: halve the gap with slice
        # comparisons (run in C), about n element comparisons in all instead of a Python loop
        lo, hi = 0, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if first[lo:mid] == other[lo:mid]:
                lo = mid
            else:
                hi = mid
        n = lo
        if n == 0:
            break
    return n


def candidate_tokens(tokenizer: Any, context: JudgeInput, candidates: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """(context ids, continuation ids per candidate), split where the candidates' tokenisations part.

    Each ``context + candidate`` is tokenised as a whole (the judge's own tokenisation of its
    answer); the shared part, cut back to no further than the context alone, is the context.

    Example:
        >>> candidate_tokens(tokenizer, JudgeInput("Rating: [["), ["9]]", "10]]"])   # doctest: +SKIP
        ([49, 1236, 42, 5176], [[39, 4047], [33, 32, 4047]])
    """
    context_ids, *full = encode_all(tokenizer, [context, *(context.extend(c) for c in candidates)])
    shared = min(common_prefix_length([context_ids, *full]), len(context_ids))
    continuations = [ids[shared:] for ids in full]
    for candidate, ids in zip(candidates, continuations, strict=True):
        if not ids:
            raise ValueError(f"candidate answer {candidate!r} adds no token to the judge input")
    return list(full[0][:shared]), continuations
