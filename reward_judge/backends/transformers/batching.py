"""Batch planning and shared-prefix KV reuse for judge inputs.

Rollouts of one prompt render to judge inputs that share a long prefix (system message, task
description, the instruction). `plan_batches` keeps such rows together and cuts batches by a row cap
and a token budget; `prefill` runs one batch through the model, computing the batch's common prefix
once and reusing its KV cache for every row. Rows are left-padded *after* the shared prefix (padding
in the middle, masked out), so every row's last real token sits in the last column and only that
column's logits are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..continuations import common_prefix_length
from .compat import cache_kwargs

#: Below this many shared tokens, reusing a prefix costs more (an extra forward call) than it saves.
MIN_SHARED_PREFIX = 16


def plan_batches(
    rows: Sequence[Sequence[int]],
    *,
    max_rows: int,
    max_tokens: Optional[int] = None,
    group_prefixes: bool = True,
    split_groups: bool = True,
) -> list[list[int]]:
    """Indices of ``rows`` cut into batches of at most ``max_rows`` rows and ``max_tokens`` padded tokens.

    With ``group_prefixes`` rows are ordered by their token ids, so rows sharing a prefix (the
    rollouts of one prompt) land in the same batch, and a batch never mixes prefix groups: the first
    two rows of a batch fix the prefix it shares, and a row that would shorten it starts the next
    batch (unless ``split_groups=False``: decoding is cheaper in few large batches than in one batch
    per prompt, so generation keeps full batches and shares whatever prefix the batch has). Otherwise
    longest first, so the first batch
    shows an out-of-memory early and rows of similar length pad little. A row longer than the token
    budget still gets a batch of its own (it cannot be split).

    Example:
        >>> plan_batches([[1] * 10, [2] * 3, [1] * 9], max_rows=8, max_tokens=20, group_prefixes=False)
        [[0, 2], [1]]
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")
    if group_prefixes:
        order = sorted(range(len(rows)), key=lambda i: list(rows[i]))
    else:
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    shared = 0  # the prefix the current batch's rows have in common (set by its first two rows)
    for i in order:
        new_width = max(width, len(rows[i]))
        too_many = len(current) >= max_rows
        too_big = max_tokens is not None and current and new_width * (len(current) + 1) > max_tokens
        # A batch holds one prefix group: a row that would shorten the shared prefix starts a new batch.
        new_group = group_prefixes and split_groups and len(current) >= 2 and common_prefix_length([rows[current[0]], rows[i]]) < shared
        if current and (too_many or too_big or new_group):
            batches.append(current)
            current, new_width = [], len(rows[i])
        current.append(i)
        width = new_width
        if group_prefixes and len(current) == 2:
            shared = common_prefix_length([rows[current[0]], rows[current[1]]])
    if current:
        batches.append(current)
    return batches


@dataclass
class Prefill:
    """What `prefill` leaves behind for one batch.

    Attributes:
        cache: the KV cache of every row (shared prefix repeated per row, then the row's tail).
        attention_mask: ``[rows, cached length]``, 0 on the padding between prefix and tail.
        lengths: real tokens per row (so the next token's position is ``lengths[i]``).
        last_logits: logits of each row's last real token, ``[rows, vocab]``.
        shared: how many prefix tokens were computed once for the whole batch.
    """

    cache: Any
    attention_mask: Any
    lengths: list[int]
    last_logits: Any
    shared: int


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens of the batch's common prefix worth computing once (0 when too short to pay off).

    Every row keeps at least one token of its own, so each row still has a last position to read.
    """
    if len(rows) < 2:
        return 0
    shared = min(common_prefix_length(rows), min(len(r) for r in rows) - 1)
    return shared if shared >= MIN_SHARED_PREFIX else 0


def shared_prefix_inputs(rows: Sequence[Sequence[int]], shared: int, pad_id: int) -> tuple[Any, Any]:
    """(input ids, attention mask) of the full rows with each tail left-padded behind the shared prefix."""
    import torch

    tails = [list(r[shared:]) for r in rows]
    width = max(len(t) for t in tails)
    prefix = list(rows[0][:shared])
    ids = torch.tensor([prefix + [pad_id] * (width - len(t)) + t for t in tails], dtype=torch.long)
    mask = torch.tensor([[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails], dtype=torch.long)
    return ids, mask


def prefix_only_cache(model: Any, prefix: Sequence[int], rows: int) -> Any:
    """A KV cache holding ``prefix`` once per row, computed with a single one-row forward pass."""
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    cache = DynamicCache(config=model.config)
    model(input_ids=torch.tensor([list(prefix)], dtype=torch.long, device=device), **cache_kwargs(model, cache),
          use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(rows)
    return cache


def prefill(model: Any, rows: Sequence[Sequence[int]], *, pad_id: int, share_prefix: bool = True) -> Prefill:
    """Run a batch of token rows through ``model`` and keep the cache (call under ``torch.inference_mode``).

    The batch's common prefix (when at least `MIN_SHARED_PREFIX` tokens) is computed once, its cache
    repeated for every row, then the rows' tails are run left-padded behind it with explicit position
    ids, which is exactly what one row alone would see. Only the last column's logits are computed.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    shared = shared_prefix_length(rows) if share_prefix else 0
    cache = prefix_only_cache(model, rows[0][:shared], len(rows)) if shared else DynamicCache(config=model.config)
    ids, mask = shared_prefix_inputs(rows, shared, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
    out = model(input_ids=ids[:, shared:], attention_mask=mask, position_ids=positions, **cache_kwargs(model, cache),
                use_cache=True, logits_to_keep=1)
    return Prefill(cache=cache, attention_mask=mask, lengths=[len(r) for r in rows],
                   last_logits=out.logits[:, -1, :], shared=shared)
