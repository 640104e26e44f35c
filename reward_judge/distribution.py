"""Reading a judge's probability over its valid answers at the answer slot.

For every judge input that ends at the answer slot (``... [RESULT] ``, ``... Rating: [[``) and every
candidate answer (``"1"`` ... ``"10"``, ``"A"``/``"B"``), the log-probability of the candidate is the
sum of the judge's log-probabilities of its tokens, teacher-forced one after the other. So a
multi-token answer such as ``10`` (tokens ``1``, ``0``) or ``6.5`` is scored exactly, not by its
first token. When the protocol closes its answer (``[[7]]``), the closing mark is part of every
candidate, which is what tells ``[[1]]`` from ``[[10]]``.

The work per batch is one forward pass over the inputs (with shared-prefix reuse, see
`prefix_cache`) reading logits at the last position only, plus, when some candidate has more than one
token, one short pass over the candidates' remaining tokens on top of the cached inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .prefix_cache import common_prefix_length, plan_batches, prefill

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import JudgeProtocol

#: Closing marks of answer slots: the text that follows a complete answer.
_CLOSERS = {"[[": "]]", "[": "]", "(": ")"}


def answer_suffix(protocol: "JudgeProtocol") -> str:
    """The text that closes an answer after ``protocol.answer_prefix`` (``"]]"`` after ``"[["``), or ``""``.

    Example:
        >>> from reward_judge import get_protocol
        >>> answer_suffix(get_protocol("mtbench-single")), answer_suffix(get_protocol("prometheus-v2"))
        (']]', '')
    """
    prefix = protocol.answer_prefix.rstrip()
    for opener, closer in _CLOSERS.items():
        if prefix.endswith(opener):
            return closer
    return ""


@dataclass(frozen=True)
class AnswerSpace:
    """The candidate answers of a protocol and what each one means.

    ``candidates`` are the strings teacher-forced after the answer prefix (value plus closing mark);
    ``scores``/``winners`` give each candidate's meaning, read with the protocol's own parser.

    Example:
        >>> from reward_judge import get_protocol
        >>> space = AnswerSpace.of(get_protocol("autoj-single"))
        >>> space.candidates[-1], space.scores[-1]
        ('10]]', 10)
    """

    values: tuple[str, ...]
    candidates: tuple[str, ...]
    scores: tuple[Optional[float], ...]
    winners: tuple[Optional[str], ...]

    @classmethod
    def of(cls, protocol: "JudgeProtocol") -> "AnswerSpace":
        if not protocol.answer_prefix:
            raise ValueError(
                f"protocol {protocol.name!r} has no answer_prefix (the text the judge writes right before its "
                "score), so mode='expected'/'direct' cannot find its answer slot; use mode='generate'"
            )
        values = list(protocol.answer_values())
        if not values:
            raise ValueError(f"protocol {protocol.name!r} has no answer_values(); use mode='generate'")
        suffix = answer_suffix(protocol)
        if not suffix:
            nested = [(a, b) for a in values for b in values if a != b and b.startswith(a)]
            if nested:
                raise ValueError(
                    f"answer values {nested[0][0]!r} and {nested[0][1]!r} of protocol {protocol.name!r} are prefixes "
                    "of each other and no closing mark follows the answer, so their probabilities cannot be told "
                    "apart; use mode='generate'"
                )
        scores: list[Optional[float]] = []
        winners: list[Optional[str]] = []
        for value in values:
            verdict = protocol.parse(protocol.answer_prefix + value + suffix)
            if not verdict.ok:
                raise ValueError(f"protocol {protocol.name!r} does not read its own answer {value!r}: {verdict.error}")
            scores.append(verdict.score)
            winners.append(verdict.winner)
        return cls(tuple(values), tuple(v + suffix for v in values), tuple(scores), tuple(winners))


def candidate_tokens(tokenizer: Any, context: str, candidates: Sequence[str], *,
                     add_special_tokens: bool) -> tuple[list[int], list[list[int]]]:
    """(context ids, continuation ids per candidate), split where the candidates' tokenisations part.

    Each ``context + candidate`` is tokenised as a whole (the judge's own tokenisation of its
    answer); the shared part, cut back to no further than the context alone, is the context.
    """
    texts = [context + c for c in candidates]
    encoded = tokenizer([context, *texts], add_special_tokens=add_special_tokens)["input_ids"]
    context_ids, full = encoded[0], encoded[1:]
    shared = min(common_prefix_length([context_ids, *full]), len(context_ids))
    continuations = [ids[shared:] for ids in full]
    for candidate, ids in zip(candidates, continuations):
        if not ids:
            raise ValueError(f"candidate answer {candidate!r} adds no token to the judge input")
    return list(full[0][:shared]), continuations


def continuation_logprobs(model: Any, rows: Sequence[tuple[list[int], list[list[int]]]], *, pad_id: int,
                          batch_size: int, batch_tokens: Optional[int] = None,
                          share_prefix: bool = True) -> list[list[float]]:
    """Log-probability of each continuation given its context: ``rows`` are (context ids, continuations).

    Runs under ``torch.inference_mode``; batches are planned by `plan_batches`.
    """
    import torch

    results: list[list[float]] = [[] for _ in rows]
    contexts = [ctx for ctx, _ in rows]
    with torch.inference_mode():
        for batch in plan_batches(contexts, max_rows=batch_size, max_tokens=batch_tokens, group_prefixes=share_prefix):
            state = prefill(model, [contexts[i] for i in batch], pad_id=pad_id, share_prefix=share_prefix)
            first = torch.log_softmax(state.last_logits.float(), dim=-1)
            conts = [rows[i][1] for i in batch]
            k = max(len(c) for c in conts)
            longest = max(len(ids) for c in conts for ids in c)
            scores = [[float(first[r, ids[0]]) for ids in c] for r, c in enumerate(conts)]
            if longest > 1:
                # Later tokens of multi-token answers: every (row, candidate) continues the row's cache.
                device = state.attention_mask.device
                state.cache.batch_repeat_interleave(k)
                width = longest - 1
                ids_rows, mask_rows, pos_rows, slots = [], [], [], []
                for r, c in enumerate(conts):
                    for j in range(k):
                        tail = c[j][:-1] if j < len(c) else []
                        ids_rows.append(tail + [pad_id] * (width - len(tail)))
                        mask_rows.append([1] * len(tail) + [0] * (width - len(tail)))
                        pos_rows.append([state.lengths[r] + t for t in range(width)])
                        slots.append((r, j))
                mask = torch.cat([state.attention_mask.repeat_interleave(k, dim=0),
                                  torch.tensor(mask_rows, dtype=torch.long, device=device)], dim=1)
                out = model(input_ids=torch.tensor(ids_rows, dtype=torch.long, device=device), attention_mask=mask,
                            position_ids=torch.tensor(pos_rows, dtype=torch.long, device=device),
                            past_key_values=state.cache, use_cache=False)
                logp = torch.log_softmax(out.logits.float(), dim=-1)
                for flat, (r, j) in enumerate(slots):
                    if j >= len(conts[r]):
                        continue
                    ids = conts[r][j]
                    scores[r][j] += sum(float(logp[flat, t - 1, ids[t]]) for t in range(1, len(ids)))
            for r, i in enumerate(batch):
                results[i] = scores[r]
    return results


def normalise(logprobs: Sequence[float]) -> tuple[list[float], float]:
    """(probabilities renormalised over the valid answers, their total probability before that).

    Example:
        >>> probs, mass = normalise([math.log(0.2), math.log(0.6)])
        >>> [round(p, 3) for p in probs], round(mass, 3)
        ([0.25, 0.75], 0.8)
    """
    top = max(logprobs)
    if not math.isfinite(top):
        raise ValueError("the judge gives every valid answer zero probability")
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights], total * math.exp(top)
