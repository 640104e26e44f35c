"""Batch planning and shared-prefix KV reuse for judge inputs.

Rollouts of one prompt render to judge inputs that share a long prefix (system message, task
description, the instruction); the rubric variants of one rollout (`GenerativeRewardModel.for_rubrics`)
share even more (everything up to the rubric). `plan_batches` keeps such rows together and cuts batches
by a row cap and a token budget. `prefill` runs one batch through the model as a prefix tree: the
batch's common prefix is computed once, then each shared segment below it once for the rows that share
it (a prompt's instruction, a rollout's response), then each row's own tail, every level in one forward
pass over the KV cache of the level above (`prefix_tree`). Segments are left-padded within their level
(padding in the middle, masked out), so every row's last real token sits in the last column and only
that column's logits are computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    rollouts of one prompt, the rubric variants of one rollout) are neighbours. With ``split_groups``
    (prefill, which shares every level of the prefix tree) a full batch is cut at its shallowest
    boundary in its second half, so a prefix group that fits in a batch is never split across two;
    with ``split_groups=False`` (generation: decoding is cheaper in few full batches, which share the
    prefix they have in common) batches are simply filled in that order. Without ``group_prefixes``:
    longest first, so the first batch shows an out-of-memory early and rows of similar length pad
    little. A row longer than the token budget still gets a batch of its own (it cannot be split).

    Example:
        >>> plan_batches([[1] * 10, [2] * 3, [1] * 9], max_rows=8, max_tokens=20, group_prefixes=False)
        [[0, 2], [1]]
        >>> rubric_variants = [[7] * 20 + [r] * 20 + [v] for r in (1, 2, 3) for v in (4, 5)]
        >>> plan_batches(rubric_variants, max_rows=5)     # a rollout's two variants stay together
        [[0, 1, 2, 3], [4, 5]]
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")
    if group_prefixes:
        order = sorted(range(len(rows)), key=lambda i: list(rows[i]))
    else:
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    tree_cuts = group_prefixes and split_groups

    def over(batch: list[int], extra: int) -> bool:
        width = max(len(rows[j]) for j in batch + [extra])
        return len(batch) >= max_rows or (max_tokens is not None and width * (len(batch) + 1) > max_tokens)

    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        while current and over(current, i):
            cut = _shallowest_cut(rows, current, i) if tree_cuts else len(current)
            batches.append(current[:cut])
            current = current[cut:]
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _shallowest_cut(rows: Sequence[Sequence[int]], batch: list[int], following: int) -> int:
    """Where to end a full ``batch`` (rows in token order, ``following`` comes next): the boundary in its second
    half whose neighbours share the fewest tokens, the latest of equals; the rows after it start the next batch."""
    best, best_shared = len(batch), common_prefix_length([rows[batch[-1]], rows[following]])
    for b in range(len(batch) - 1, (len(batch) + 1) // 2 - 1, -1):
        if b < 1:
            break
        shared = common_prefix_length([rows[batch[b - 1]], rows[batch[b]]])
        if shared < best_shared:
            best, best_shared = b, shared
    return best


@dataclass(frozen=True)
class TreeNode:
    """A segment ``[start, end)`` of the token rows ``rows`` (batch positions) share, and the nodes below it.

    A leaf (no children) is one row's own tail; an internal node is a prefix shared by all its rows.
    """

    start: int
    end: int
    rows: tuple[int, ...]
    children: tuple["TreeNode", ...] = ()

    def starting_at(self, start: int) -> "TreeNode":
        return TreeNode(start, self.end, self.rows, self.children)


def prefix_tree(rows: Sequence[Sequence[int]], *, min_shared: int = MIN_SHARED_PREFIX) -> list[TreeNode]:
    """The rows as a prefix tree: top-level nodes whose segments, computed once each, make up every row.

    Every row keeps at least one token of its own (its leaf), so each row has a last position to read;
    a shared segment shorter than ``min_shared`` tokens is not worth its own forward pass and is
    computed as part of each node below it instead.

    Example:
        >>> tree = prefix_tree([[1] * 20 + [2] * 20 + [3], [1] * 20 + [2] * 20 + [4], [1] * 20 + [5] * 20])
        >>> [(n.start, n.end, n.rows) for n in tree]
        [(0, 20, (0, 1, 2))]
        >>> [(n.start, n.end, n.rows) for n in tree[0].children]
        [(20, 40, (0, 1)), (20, 40, (2,))]
    """
    lists = [list(r) for r in rows]
    return _subtree(lists, list(range(len(lists))), 0, min_shared) if lists else []


def _subtree(rows: list[list[int]], members: list[int], start: int, min_shared: int) -> list[TreeNode]:
    if len(members) == 1:
        return [TreeNode(start, len(rows[members[0]]), (members[0],))]
    group = [rows[m] for m in members]
    shortest = min(len(r) for r in group)
    shared = common_prefix_length(group)
    if shared >= shortest:  # one row is a prefix of another: every row keeps its last token as its own leaf
        end = shortest - 1
        children = [TreeNode(end, len(rows[m]), (m,)) for m in members]
    else:
        end = shared
        parts: dict[int, list[int]] = {}
        for m in members:
            parts.setdefault(rows[m][end], []).append(m)
        children = [node for part in parts.values() for node in _subtree(rows, part, end, min_shared)]
    if end - start < min_shared:  # too short to compute on its own: each child computes it
        return [child.starting_at(start) for child in children]
    return [TreeNode(start, end, tuple(members), tuple(children))]


@dataclass(frozen=True)
class Level:
    """One forward pass of a tree prefill: per entry, the entry of the level above it continues
    (``parents``, -1 for none) and its tokens (``segments``: (row, start, end); empty to carry a row through)."""

    parents: tuple[int, ...]
    segments: tuple[tuple[int, int, int], ...]


def tree_levels(tree: Sequence[TreeNode], n_rows: int) -> list[Level]:
    """The forward passes that compute ``tree``: internal nodes by depth, then every row's leaf (in row order).

    Example:
        >>> levels = tree_levels(prefix_tree([[1] * 20 + [2], [1] * 20 + [3]]), 2)
        >>> [level.segments for level in levels]
        [((0, 0, 20),), ((0, 20, 21), (1, 20, 21))]
    """
    def deepest(node: TreeNode, d: int) -> int:
        return max([d + 1] + [deepest(c, d + 1) for c in node.children]) if node.children else d

    depth = max((deepest(node, 0) for node in tree), default=0)
    parents: list[list[int]] = [[] for _ in range(depth)]
    segments: list[list[tuple[int, int, int]]] = [[] for _ in range(depth)]
    carried: dict[tuple[int, int], int] = {}
    leaves: dict[int, tuple[int, tuple[int, int, int]]] = {}

    def place(node: TreeNode, d: int, parent: int) -> None:
        if not node.children:
            entry = parent
            for level in range(d, depth):  # carry the row's prefix down to the leaf level
                key = (level, entry)
                if key not in carried:
                    carried[key] = len(parents[level])
                    parents[level].append(entry)
                    segments[level].append((node.rows[0], 0, 0))
                entry = carried[key]
            leaves[node.rows[0]] = (entry, (node.rows[0], node.start, node.end))
            return
        index = len(parents[d])
        parents[d].append(parent)
        segments[d].append((node.rows[0], node.start, node.end))
        for child in node.children:
            place(child, d + 1, index)

    for node in tree:
        place(node, 0, -1)
    levels = [Level(tuple(p), tuple(s)) for p, s in zip(parents, segments, strict=True)]
    levels.append(Level(tuple(leaves[r][0] for r in range(n_rows)), tuple(leaves[r][1] for r in range(n_rows))))
    return levels


@dataclass
class Prefill:
    """What `prefill` leaves behind for one batch.

    Attributes:
        cache: the KV cache of every row (each shared segment repeated for its rows, then the row's tail).
        attention_mask: ``[rows, cached length]``, 0 on the padding between segments.
        lengths: real tokens per row (so the next token's position is ``lengths[i]``).
        last_logits: logits of each row's last real token, ``[rows, vocab]``.
        shared: how many tokens of the rows were not run for them because a shared segment covered them.
        tokens_run: real tokens the forward passes ran (each shared segment once, padding not counted).
        passes: forward passes (levels of the prefix tree).
    """

    cache: Any
    attention_mask: Any
    lengths: list[int]
    last_logits: Any
    shared: int = 0
    tokens_run: int = 0
    passes: int = 1


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

    With ``share_prefix`` the rows are computed as their prefix tree (`prefix_tree`, `tree_levels`): one
    forward pass per level, each entry's segment left-padded behind the cache of the entry above it, with
    explicit position ids, which is exactly what one row alone would see. Only the last column's logits
    are computed. Without it, one pass over the left-padded rows.
    """
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    lists = [list(r) for r in rows]
    tree = prefix_tree(lists) if share_prefix else [TreeNode(0, len(r), (i,)) for i, r in enumerate(lists)]
    levels = tree_levels(tree, len(lists))
    cache = DynamicCache(config=model.config)
    mask: Any = None
    out: Any = None
    tokens_run = 0
    for level in levels:
        if mask is not None:
            select = torch.tensor(level.parents, dtype=torch.long, device=device)
            cache.batch_select_indices(select)
            mask = mask.index_select(0, select)
        pieces = [lists[r][start:end] for r, start, end in level.segments]
        tokens_run += sum(len(p) for p in pieces)
        width = max(len(p) for p in pieces)
        ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in pieces], dtype=torch.long, device=device)
        new = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in pieces], dtype=torch.long, device=device)
        mask = new if mask is None else torch.cat([mask, new], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -width:]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **cache_kwargs(model, cache),
                    use_cache=True, logits_to_keep=1)
    lengths = [len(r) for r in lists]
    return Prefill(cache=cache, attention_mask=mask, lengths=lengths, last_logits=out.logits[:, -1, :],
                   shared=sum(lengths) - tokens_run, tokens_run=tokens_run, passes=len(levels))
