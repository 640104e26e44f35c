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


#: What one more forward pass is worth, in padded tokens: the leaf pass is split by length only when that
#: saves more padding than this per extra pass.
PASS_COST_TOKENS = 64


@dataclass(frozen=True)
class Level:
    """One level of a tree prefill: per entry, the entry of the level above it continues (``parents``, -1 for
    none) and its tokens (``segments``: (row, start, end); empty to carry a row through). In a leaf pass, each
    entry is one row (the ``row`` of its segment).

    ``groups`` (entry indices) are the forward passes that compute a shared level when its segments differ in
    length enough that one pass would mostly compute padding; the level's cache is then stitched back into
    one, each group's segments left-padded to the level's width as one pass would have them. Empty: one pass.
    """

    parents: tuple[int, ...]
    segments: tuple[tuple[int, int, int], ...]
    groups: tuple[tuple[int, ...], ...] = ()

    @property
    def width(self) -> int:
        return max(end - start for _, start, end in self.segments)

    @property
    def passes(self) -> int:
        return max(1, sum(1 for group in self.groups if self._width(group)))

    @property
    def padded_tokens(self) -> int:
        if not self.groups:
            return len(self.segments) * self.width
        return sum(len(group) * self._width(group) for group in self.groups)

    def _width(self, group: Sequence[int]) -> int:
        return max(self.segments[k][2] - self.segments[k][1] for k in group)


@dataclass(frozen=True)
class TreePlan:
    """The passes of a tree prefill: ``levels`` (shared segments, each pass on the cache of the one before),
    then ``leaves`` (each row's own tail; several passes on the last level's cache when rows' tails differ in
    length enough that one pass would mostly compute padding)."""

    levels: tuple[Level, ...]
    leaves: tuple[Level, ...]

    @property
    def passes(self) -> int:
        return sum(level.passes for level in self.levels) + len(self.leaves)

    @property
    def tokens(self) -> int:
        return sum(end - start for level in self.levels + self.leaves for _, start, end in level.segments)

    @property
    def padded_tokens(self) -> int:
        return sum(level.padded_tokens for level in self.levels + self.leaves)


def tree_levels(tree: Sequence[TreeNode], n_rows: Optional[int] = None, *, pass_cost: int = PASS_COST_TOKENS,
                group_levels: bool = True) -> TreePlan:
    """The forward passes that compute ``tree``: shared segments level by level, then every row's leaf.

    A node's level counts from the leaves (its height), so segments of the same kind (the rollouts'
    responses, the prompts' instructions) share a level even when the tree is uneven; a row whose parent
    sits higher is carried down by an empty entry. Each level, leaves included, is cut into passes of
    similar segment lengths when that saves more than ``pass_cost`` padded tokens per extra pass (real
    rollouts differ in length: their rubric variants' shared responses would otherwise be padded to the
    longest; ``group_levels=False`` keeps each shared level one pass, for a cache that cannot be stitched).

    Example:
        >>> plan = tree_levels(prefix_tree([[1] * 20 + [2], [1] * 20 + [3]]), 2)
        >>> [level.segments for level in plan.levels], [level.segments for level in plan.leaves]
        ([((0, 0, 20),)], [((0, 20, 21), (1, 20, 21))])
    """
    def height(node: TreeNode) -> int:
        return 1 + max(height(c) for c in node.children) if node.children else 0

    top = max((height(node) for node in tree), default=0)
    parents: list[list[int]] = [[] for _ in range(top)]
    segments: list[list[tuple[int, int, int]]] = [[] for _ in range(top)]
    carried: dict[tuple[int, int], int] = {}
    leaves: dict[int, tuple[int, tuple[int, int, int]]] = {}

    def place(node: TreeNode, parent: int, parent_level: int) -> None:
        level = top - height(node) if node.children else top
        entry = parent
        for between in range(parent_level + 1, level):  # carry the prefix down to the node's level
            key = (between, entry)
            if key not in carried:
                carried[key] = len(parents[between])
                parents[between].append(entry)
                segments[between].append((node.rows[0], 0, 0))
            entry = carried[key]
        if not node.children:
            leaves[node.rows[0]] = (entry, (node.rows[0], node.start, node.end))
            return
        index = len(parents[level])
        parents[level].append(entry)
        segments[level].append((node.rows[0], node.start, node.end))
        for child in node.children:
            place(child, index, level)

    for node in tree:
        place(node, -1, -1)
    levels = tuple(Level(tuple(p), tuple(s), _level_groups(s, pass_cost) if group_levels else ())
                   for p, s in zip(parents, segments, strict=True))
    rows = sorted(leaves) if n_rows is None else list(range(n_rows))
    groups = _length_groups([leaves[r][1][2] - leaves[r][1][1] for r in rows], pass_cost)
    return TreePlan(levels, tuple(Level(tuple(leaves[rows[k]][0] for k in group), tuple(leaves[rows[k]][1] for k in group))
                                  for group in groups))


@dataclass(frozen=True)
class PrefillPlan:
    """How `prefill` runs a batch: the prefix every row shares (``root``: its tokens, computed once; ``None`` when
    there is none worth it), then ``branches``, each a `TreePlan` of some of the subtrees below it, of similar
    lengths, on its own copy of the root's cache. Apart, a branch of short rollouts is neither padded to the
    longest one's length nor made to attend over that padding in every pass below (rubric variants share a
    rollout's response, which real rollouts hold in very different lengths)."""

    root: Optional[TreeNode]
    branches: tuple[TreePlan, ...]

    @property
    def tokens(self) -> int:
        return self._root_tokens + sum(b.tokens for b in self.branches)

    @property
    def padded_tokens(self) -> int:
        return self._root_tokens + sum(b.padded_tokens for b in self.branches)

    @property
    def passes(self) -> int:
        return (self.root is not None) + sum(b.passes for b in self.branches)

    @property
    def _root_tokens(self) -> int:
        return 0 if self.root is None else self.root.end - self.root.start


def prefill_plan(rows: Sequence[Sequence[int]], *, share_prefix: bool = True, pass_cost: int = PASS_COST_TOKENS,
                 group_levels: bool = True) -> PrefillPlan:
    """The passes `prefill` runs for ``rows``: their prefix tree (`prefix_tree`) under its root, in branches of
    similar lengths (`PrefillPlan`) when that saves more padding than the extra passes cost.

    Example:
        >>> head = [7] * 30
        >>> rows = [head + [1] * 20 + [2], head + [1] * 20 + [3], head + [4] * 300 + [5], head + [4] * 300 + [6]]
        >>> plan = prefill_plan(rows)
        >>> plan.root.end, [sorted({r for level in b.leaves for r, _, _ in level.segments}) for b in plan.branches]
        (30, [[2, 3], [0, 1]])
    """
    lists = [list(r) for r in rows]
    if not share_prefix:
        return PrefillPlan(None, (tree_levels([TreeNode(0, len(r), (i,)) for i, r in enumerate(lists)], len(lists),
                                              pass_cost=pass_cost),))
    tree = prefix_tree(lists)
    if len(tree) == 1 and len(tree[0].children) > 1:
        root = tree[0]
        children = root.children
        # each subtree padded to its branch's longest row: one extra branch pays its passes (about one per level)
        longest = [max(len(lists[r]) for r in child.rows) - child.start for child in children]
        groups = _length_groups(longest, 2 * pass_cost, weights=[len(child.rows) for child in children])
        if len(groups) > 1:
            return PrefillPlan(root, tuple(tree_levels([children[i] for i in group], pass_cost=pass_cost,
                                                       group_levels=group_levels) for group in groups))
    return PrefillPlan(None, (tree_levels(tree, len(lists), pass_cost=pass_cost, group_levels=group_levels),))


def _level_groups(segments: Sequence[tuple[int, int, int]], pass_cost: int) -> tuple[tuple[int, ...], ...]:
    """A shared level's passes by segment length (`_length_groups`); ``()`` when one pass is cheapest."""
    groups = _length_groups([end - start for _, start, end in segments], pass_cost)
    return () if len(groups) == 1 else tuple(tuple(group) for group in groups)


def _length_groups(lengths: Sequence[int], pass_cost: int, weights: Optional[Sequence[int]] = None) -> list[list[int]]:
    """Rows cut into groups of similar length, minimising padded tokens plus ``pass_cost`` per group.

    ``weights``: rows each item stands for (a subtree's rows), so an item costs its weight times its group's
    longest length.

    Example:
        >>> _length_groups([150, 120, 150, 118, 121], pass_cost=64)
        [[0, 2], [1, 3, 4]]
        >>> _length_groups([150, 148, 149], pass_cost=64)
        [[0, 1, 2]]
    """
    order = sorted(range(len(lengths)), key=lambda r: (-lengths[r], r))
    n = len(order)
    weight = [0] + [1 if weights is None else weights[r] for r in order]
    for i in range(1, n + 1):
        weight[i] += weight[i - 1]  # weight[i]: the weight of the first i items
    # best[i]: the cheapest cost of the first i rows (longest first); a group order[j:i] costs its weight x its longest
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for i in range(1, n + 1):
        for j in range(i):
            cost = best[j] + (weight[i] - weight[j]) * lengths[order[j]] + (pass_cost if j else 0)
            if cost < best[i]:
                best[i], cut[i] = cost, j
    groups: list[list[int]] = []
    i = n
    while i > 0:
        groups.append(sorted(order[cut[i]:i]))
        i = cut[i]
    return [g for g in reversed(groups)]


@dataclass
class Prefill:
    """What `prefill` leaves behind for some rows of a batch (one leaf pass).

    Attributes:
        cache: the KV cache of these rows (each shared segment repeated for its rows, then the row's tail).
        attention_mask: ``[rows, cached length]``, 0 on the padding between segments.
        lengths: real tokens per row (so the next token's position is ``lengths[i]``).
        last_logits: logits of each row's last real token, ``[rows, vocab]``.
        rows: the batch positions of these rows, in the order of the other fields.
    """

    cache: Any
    attention_mask: Any
    lengths: list[int]
    last_logits: Any
    rows: list[int] = field(default_factory=list)


@dataclass
class TreePrefill:
    """A batch's `prefill`: its leaf passes' `Prefill` parts (every row in exactly one) and what was run.

    Attributes:
        parts: one `Prefill` per leaf pass.
        tokens_run: real tokens the forward passes ran (each shared segment once).
        padded_tokens: tokens the passes computed, padding included.
        row_tokens: tokens of the rows themselves (what no sharing would run).
        passes: forward passes.
    """

    parts: list[Prefill]
    tokens_run: int
    padded_tokens: int
    row_tokens: int
    passes: int


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


def prefill(model: Any, rows: Sequence[Sequence[int]], *, pad_id: int, share_prefix: bool = True) -> TreePrefill:
    """Run a batch of token rows through ``model`` and keep the caches (call under ``torch.inference_mode``).

    With ``share_prefix`` the rows are computed as their prefix tree (`prefix_tree`, `tree_levels`): one
    forward pass per level, each entry's segment left-padded behind the cache of the entry above it, with
    explicit position ids, which is exactly what one row alone would see; then the rows' own tails, in one
    pass or a few of similar lengths, each on a copy of the rows it continues. Only the last column's
    logits are computed. Without it, one pass over the left-padded rows.
    """
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    lists = [list(r) for r in rows]
    # a sliding-window layer keeps only its window: such a cache is not stitched, each level is one pass
    stitchable = all(type(layer).__name__ == "DynamicLayer" for layer in DynamicCache(config=model.config).layers)
    plan = prefill_plan(lists, share_prefix=share_prefix, group_levels=stitchable)

    def run(level: Level, cache: Any, mask: Any) -> tuple[Any, Any, Any]:
        pieces = [lists[r][start:end] for r, start, end in level.segments]
        width = level.width
        ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in pieces], dtype=torch.long, device=device)
        new = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in pieces], dtype=torch.long, device=device)
        mask = new if mask is None else torch.cat([mask, new], dim=1)
        if width == 0:  # only rows carried through: nothing to compute
            return cache, mask, None
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -width:]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **cache_kwargs(model, cache),
                    use_cache=True, logits_to_keep=1)
        return cache, mask, out.logits[:, -1, :]

    def run_grouped(level: Level, cache: Any, mask: Any) -> tuple[Any, Any]:
        """A shared level in its length groups' passes, stitched into the cache one padded pass would leave."""
        prior = 0 if mask is None else mask.shape[1]
        width = level.width
        runs = []
        for k, group in enumerate(level.groups):
            part = Level(tuple(level.parents[e] for e in group), tuple(level.segments[e] for e in group))
            # the cache holds this level's entries (selected): each group continues its own rows of it
            sub_cache, sub_mask = select(cache, mask, list(group), copy=k < len(level.groups) - 1)
            sub_cache, sub_mask, _ = run(part, sub_cache, sub_mask)
            runs.append((group, part.width, sub_cache, sub_mask))
        order = [e for group, _, _, _ in runs for e in group]
        back = torch.tensor(sorted(range(len(order)), key=order.__getitem__), dtype=torch.long, device=device)
        computed = next(sub_cache for _, own, sub_cache, _ in runs if own)

        def stored(sub_cache: Any, layer: int, name: str, rows: int) -> Any:
            tensor = getattr(sub_cache.layers[layer], name)
            if tensor is None:  # rows only carried through a first level: no cache yet, nothing to keep
                like = getattr(computed.layers[layer], name)
                tensor = like.new_zeros((rows, like.shape[1], 0, like.shape[3]))
            return tensor

        stitched = DynamicCache(config=model.config)
        for layer in range(len(computed.layers)):
            keys, values = ([torch.cat([_pad_new_columns(stored(c, layer, name, len(g)), prior, width - own)
                                        for g, own, c, _ in runs], dim=0).index_select(0, back)
                             for name in ("keys", "values")])
            stitched.update(keys, values, layer)
        masks = [torch.cat([sub_mask[:, :prior], sub_mask.new_zeros((len(group), width - own)), sub_mask[:, prior:]],
                           dim=1) for group, own, _, sub_mask in runs]
        return stitched, torch.cat(masks, dim=0).index_select(0, back)

    def select(cache: Any, mask: Any, parents: Sequence[int], copy: bool) -> tuple[Any, Any]:
        if mask is None:
            return DynamicCache(config=model.config), None
        # a branch's top entries continue the root (entry 0 of its one-row cache)
        index = torch.tensor([max(p, 0) for p in parents], dtype=torch.long, device=device)
        if copy:  # several leaf passes continue the same cache: each works on its own rows
            cache = copy_cache(cache)
        cache.batch_select_indices(index)
        return cache, mask.index_select(0, index)

    root_cache, root_mask = DynamicCache(config=model.config), None
    if plan.root is not None:
        root = Level((-1,), ((plan.root.rows[0], plan.root.start, plan.root.end),))
        root_cache, root_mask, _ = run(root, root_cache, None)
    parts = []
    for b, branch in enumerate(plan.branches):
        cache, mask = root_cache, root_mask
        if mask is not None and b < len(plan.branches) - 1:
            cache = copy_cache(root_cache)  # each branch continues its own copy of the root
        for level in branch.levels:
            cache, mask = select(cache, mask, level.parents, copy=False)
            if level.groups:
                cache, mask = run_grouped(level, cache, mask)
            else:
                cache, mask, _ = run(level, cache, mask)
        for k, leaves in enumerate(branch.leaves):
            leaf_cache, leaf_mask = select(cache, mask, leaves.parents, copy=k < len(branch.leaves) - 1)
            leaf_cache, leaf_mask, logits = run(leaves, leaf_cache, leaf_mask)
            members = [r for r, _, _ in leaves.segments]
            parts.append(Prefill(cache=leaf_cache, attention_mask=leaf_mask, lengths=[len(lists[r]) for r in members],
                                 last_logits=logits, rows=members))
    return TreePrefill(parts, tokens_run=plan.tokens, padded_tokens=plan.padded_tokens,
                       row_tokens=sum(len(r) for r in lists), passes=plan.passes)


def _pad_new_columns(tensor: Any, prior: int, pad: int) -> Any:
    """KV ``tensor`` ``[rows, heads, prior + new, dim]`` with ``pad`` zero columns between the prior and the new ones
    (masked padding, where one pass over the whole level would have computed its left padding)."""
    if pad == 0:
        return tensor
    import torch

    zeros = tensor.new_zeros((tensor.shape[0], tensor.shape[1], pad, tensor.shape[3]))
    return torch.cat([tensor[:, :, :prior], zeros, tensor[:, :, prior:]], dim=2)


def copy_cache(cache: Any) -> Any:
    """An independent copy of a KV cache (its tensors are not shared), for a second continuation of it."""
    import copy

    return copy.deepcopy(cache)
