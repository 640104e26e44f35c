"""Teacher-forced log-probabilities of candidate answers with a transformers model.

The work per batch is one forward pass over the contexts (with shared-prefix reuse, see `batching`)
reading logits at the last position only, plus, when some candidate has more than one token, one
short pass over the candidates' remaining tokens on top of the cached contexts.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from .batching import TreePrefill, plan_batches, prefill
from .compat import cache_kwargs


def continuation_logprobs(model: Any, rows: Sequence[tuple[list[int], list[list[int]]]], *, pad_id: int,
                          batch_size: int, batch_tokens: Optional[int] = None, share_prefix: bool = True,
                          on_prefill: Optional[Callable[[TreePrefill], None]] = None) -> list[list[float]]:
    """Log-probability of each continuation given its context: ``rows`` are (context ids, continuations).

    Runs under ``torch.inference_mode``; batches are planned by `plan_batches`; ``on_prefill`` sees each
    batch's `TreePrefill` (for counters).
    """
    import torch

    results: list[list[float]] = [[] for _ in rows]
    contexts = [ctx for ctx, _ in rows]
    with torch.inference_mode():
        for batch in plan_batches(contexts, max_rows=batch_size, max_tokens=batch_tokens, group_prefixes=share_prefix):
            run = prefill(model, [contexts[i] for i in batch], pad_id=pad_id, share_prefix=share_prefix)
            if on_prefill is not None:
                on_prefill(run)
            for part in run.parts:
                first = torch.log_softmax(part.last_logits.float(), dim=-1)
                conts = [rows[batch[r]][1] for r in part.rows]
                scores = [[float(first[k, ids[0]]) for ids in c] for k, c in enumerate(conts)]
                if max(len(ids) for c in conts for ids in c) > 1:
                    continue_candidates(model, part, conts, scores, pad_id=pad_id)
                for k, r in enumerate(part.rows):
                    results[batch[r]] = scores[k]
    return results


def continue_candidates(model: Any, state: Any, conts: Sequence[Sequence[Sequence[int]]], scores: list[list[float]],
                        *, pad_id: int) -> None:
    """Add the log-probabilities of the later tokens of multi-token candidates to ``scores``.

    Every (row, candidate) continues the row's cache in ``state`` (a `batching.Prefill`, whose cache is
    consumed): one forward pass over the candidates' tokens after the first.
    """
    import torch

    k = max(len(c) for c in conts)
    longest = max(len(ids) for c in conts for ids in c)
    device = state.attention_mask.device
    state.cache.batch_repeat_interleave(k)
    width = longest - 1
    ids_rows, mask_rows, pos_rows, slots = [], [], [], []
    for r, c in enumerate(conts):
        for j in range(k):
            tail = list(c[j][:-1]) if j < len(c) else []
            ids_rows.append(tail + [pad_id] * (width - len(tail)))
            mask_rows.append([1] * len(tail) + [0] * (width - len(tail)))
            pos_rows.append([state.lengths[r] + t for t in range(width)])
            slots.append((r, j))
    mask = torch.cat([state.attention_mask.repeat_interleave(k, dim=0),
                      torch.tensor(mask_rows, dtype=torch.long, device=device)], dim=1)
    out = model(input_ids=torch.tensor(ids_rows, dtype=torch.long, device=device), attention_mask=mask,
                position_ids=torch.tensor(pos_rows, dtype=torch.long, device=device),
                **cache_kwargs(model, state.cache), use_cache=False)
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    for flat, (r, j) in enumerate(slots):
        if j >= len(conts[r]):
            continue
        ids = conts[r][j]
        scores[r][j] += sum(float(logp[flat, t - 1, ids[t]]) for t in range(1, len(ids)))
