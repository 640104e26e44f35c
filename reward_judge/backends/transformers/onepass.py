"""Reading the answer distribution from a generation's own KV cache (``expected`` without a second prefill).

After ``model.generate`` the cache holds every row's prompt and generated tokens (all but the last
generated one). The answer slot is placed in the generated *text* (the judge's own last marker, or
the marker appended), and the context up to the slot is tokenised exactly as a second pass would
tokenise it (`reward_judge.backends.continuations.candidate_tokens`). Per row, the longest prefix of
that context which the cache already holds is kept; the attention mask hides the rest of the row's
cache (later generated tokens, tokens after an end-of-sequence, a token the re-tokenisation merged
differently), and only the context's remaining tokens are run on top of the cache: at least its last
token (whose logits give the first candidate token), plus the marker when the judge did not write
it, plus whatever the re-tokenised text does not share with the generated tokens. Multi-token
candidates then continue from there (`logprobs.continue_candidates`). The log-probabilities are
those of the teacher-forced context, the same numbers as a second prefill up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..continuations import common_prefix_length
from .batching import Prefill
from .logprobs import continue_candidates
from .compat import cache_kwargs


@dataclass
class Generated:
    """What `TransformersBackend` keeps of one generated batch for reading answers from it.

    Attributes:
        prompts: each row's prompt token ids (unpadded).
        new_tokens: each row's generated token ids (``width`` onwards of the output, padding included).
        cache: the generation's KV cache (columns: the padded prompt layout, then one per decode step).
        width: columns of the padded prompt (where the first generated token sits in the cache).
        shared: prompt prefix columns every row shares (0 when the prompt was simply left-padded).
    """

    prompts: list[list[int]]
    new_tokens: list[list[int]]
    cache: Any
    width: int
    shared: int


def cached_columns(cache: Any) -> Optional[int]:
    """Columns every layer of ``cache`` holds, or None when the cache cannot be read column by column.

    Sliding-window and linear-attention layers drop or fold old columns, so their rows cannot be cut
    back to an arbitrary prefix; neither can a cache whose layers disagree in length.
    """
    if any(getattr(cache, "is_sliding", [])) or any(getattr(cache, "is_linear", [])):
        return None
    lengths = {layer.keys.shape[-2] for layer in getattr(cache, "layers", []) if getattr(layer, "keys", None) is not None}
    return lengths.pop() if len(lengths) == 1 else None


def row_tokens(generated: Generated, r: int, columns: int) -> list[int]:
    """Row ``r``'s real tokens in cache order: its prompt, then the generated tokens the cache holds."""
    return generated.prompts[r] + generated.new_tokens[r][: max(0, columns - generated.width)]


def kept_prefix(generated: Generated, contexts: Sequence[Sequence[int]], columns: int) -> list[int]:
    """Per row, how many context tokens are reused from the cache (at most all but the context's last)."""
    return [min(common_prefix_length([row_tokens(generated, r, columns), ctx]), len(ctx) - 1)
            for r, ctx in enumerate(contexts)]


def read_from_generation(model: Any, generated: Generated, rows: Sequence[tuple[list[int], list[list[int]]]], *,
                         pad_id: int, kept: Sequence[int], columns: int) -> list[list[float]]:
    """Log-probability of each row's continuations after its context, continuing the generation's cache.

    ``rows`` are (context ids, continuation ids per candidate) as `candidate_tokens` splits them;
    ``kept[r]`` context tokens of row ``r`` are read from the cache (each at least 1, see `kept_prefix`).
    Call under ``torch.inference_mode``; the cache is consumed.
    """
    import torch

    device = next(model.parameters()).device
    n = len(rows)
    mask = torch.zeros(n, columns, dtype=torch.long)
    for r, keep in enumerate(kept):
        prompt = len(generated.prompts[r])
        in_prompt = min(keep, prompt)
        shared = min(in_prompt, generated.shared)
        mask[r, :shared] = 1  # the batch's shared prefix
        start = generated.width - prompt  # column of the row's prompt token 0 (its own part starts at `shared`)
        mask[r, start + shared:start + in_prompt] = 1
        mask[r, generated.width:generated.width + max(0, keep - prompt)] = 1  # generated tokens kept
    tails = [ctx[keep:] for (ctx, _), keep in zip(rows, kept, strict=True)]
    width = max(len(t) for t in tails)
    ids = torch.tensor([[pad_id] * (width - len(t)) + t for t in tails], dtype=torch.long)
    tail_mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails], dtype=torch.long)
    positions = torch.tensor([[max(keep + j - (width - len(t)), 0) for j in range(width)]
                              for t, keep in zip(tails, kept, strict=True)], dtype=torch.long)
    mask = torch.cat([mask, tail_mask], dim=1).to(device)
    out = model(input_ids=ids.to(device), attention_mask=mask, position_ids=positions.to(device),
                **cache_kwargs(model, generated.cache), use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
    conts = [c for _, c in rows]
    scores = [[float(first[r, ids_[0]]) for ids_ in c] for r, c in enumerate(conts)]
    if max(len(ids_) for c in conts for ids_ in c) > 1:
        state = Prefill(cache=generated.cache, attention_mask=mask, lengths=[len(ctx) for ctx, _ in rows],
                        last_logits=None)
        continue_candidates(model, state, conts, scores, pad_id=pad_id)
    return scores
