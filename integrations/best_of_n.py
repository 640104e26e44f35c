"""Rejection sampling / best-of-N: judge every candidate completion of a prompt, keep the best ones.

Ties are broken by candidate order (the earlier candidate wins), so the choice is deterministic;
candidates without a valid judge answer (``ok`` false, or a ``fallback`` reward, even a numeric one) rank
after every judged one and are chosen only when nothing else is left. A pairwise judge (or the listwise
protocol) compares each prompt's candidates with each other, by the reward model's pairing and aggregation,
and the best of N is the best-ranked of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from reward_judge import GenerativeRewardModel, JudgeResult
from reward_judge.jsonl import atomic_output, count_lines, read_jsonl

logger = logging.getLogger(__name__)


@dataclass
class BestOfN:
    """The choice for one prompt.

    Attributes:
        prompt: the prompt.
        chosen: the ``n_best`` best candidates, best first.
        chosen_indices: their positions in the candidate list.
        rewards: every candidate's reward, in input order: the fallback reward (``None`` by default) where the
            judge gave no valid answer (``results[i].ok`` false).
        results: every candidate's full `JudgeResult`, in input order.
    """

    prompt: Any
    chosen: list[Any]
    chosen_indices: list[int]
    rewards: list[Optional[float]]
    results: list[JudgeResult] = field(repr=False)


def judged(result: JudgeResult) -> bool:
    """Whether ``result`` is the judge's verdict: a valid answer, not a fallback reward."""
    return bool(result.ok) and not result.fallback


def rank_candidates(rewards: Sequence[Optional[float]], valid: Optional[Sequence[bool]] = None) -> list[int]:
    """Candidate indices best first: the judged ones (``valid``, default: a reward that is not ``None``) before
    the others, each by higher reward, then earlier index.

    ``valid`` says which rewards are the judge's verdict (`judged` of each result): a fallback reward, even a
    numeric one above every verdict, ranks after every judged candidate.

    Example:
        >>> rank_candidates([0.5, None, 0.9, 0.9])
        [2, 3, 0, 1]
        >>> rank_candidates([0.5, 1.0, 0.2], valid=[True, False, True])  # 1.0 is a fallback reward
        [0, 2, 1]
    """
    if valid is None:
        valid = [reward is not None for reward in rewards]
    elif len(valid) != len(rewards):
        raise ValueError(f"valid must have one value per reward ({len(rewards)}), got {len(valid)}")
    return sorted(range(len(rewards)), key=lambda i: (not valid[i] or rewards[i] is None, -(rewards[i] or 0.0), i))


def rank_results(results: Sequence[JudgeResult]) -> list[int]:
    """Candidate indices best first, from their results: no valid answer or a fallback reward last, then by
    reward (highest first), then by index (`rank_candidates`)."""
    return rank_candidates([r.reward for r in results], [judged(r) for r in results])


def best_of_n(
    prompts: Sequence[Any],
    candidates: Sequence[Sequence[Any]],
    judge: GenerativeRewardModel,
    n_best: int = 1,
    *,
    reference: Optional[Sequence[Optional[str]]] = None,
    rubric: Optional[Sequence[Any]] = None,
) -> list[BestOfN]:
    """Judge every candidate of every prompt in one batched call and keep the ``n_best`` best of each.

    Example:
        >>> picks = best_of_n(["What is 2+2?"], [["4", "5", "four"]], judge, n_best=1)   # doctest: +SKIP
        >>> picks[0].chosen, picks[0].rewards                                              # doctest: +SKIP
    """
    if isinstance(n_best, bool) or not isinstance(n_best, int) or n_best < 1:
        raise ValueError(f"n_best must be a positive integer, got {n_best!r}")
    if len(prompts) != len(candidates):
        raise ValueError(f"prompts and candidates must have the same length, got {len(prompts)} and {len(candidates)}")
    for name, values in (("reference", reference), ("rubric", rubric)):
        if values is not None and len(values) != len(prompts):
            raise ValueError(f"{name} must have one value per prompt ({len(prompts)}), got {len(values)}")
    flat_prompts, flat_completions, flat_refs, flat_rubrics, owner = [], [], [], [], []
    for i, (prompt, cands) in enumerate(zip(prompts, candidates)):
        if isinstance(cands, (str, bytes)) or not isinstance(cands, Sequence) or len(cands) == 0:
            raise ValueError(f"candidates[{i}] must be a non-empty list of completions, got {cands!r:.80}")
        for cand in cands:
            flat_prompts.append(prompt)
            flat_completions.append(cand)
            flat_refs.append(reference[i] if reference is not None else None)
            flat_rubrics.append(rubric[i] if rubric is not None else None)
            owner.append(i)
    # each prompt's candidates are one group for a pairwise or listwise judge (even when two prompts are equal)
    results = judge.score(flat_prompts, flat_completions, reference=flat_refs, rubric=flat_rubrics, group_ids=owner)
    picks: list[BestOfN] = []
    start = 0
    for prompt, cands in zip(prompts, candidates):
        own = results[start: start + len(cands)]
        start += len(cands)
        rewards = [r.reward for r in own]
        order = rank_results(own)[:n_best]
        picks.append(BestOfN(prompt, [cands[k] for k in order], order, rewards, own))
    return picks


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, row in read_jsonl(path):
        if "prompt" not in row or not isinstance(row.get("candidates"), list):
            raise ValueError(f"{path}:{number}: each line needs 'prompt' and a list 'candidates'")
        yield number, row


def best_of_n_file(source: Path, target: Path, judge: GenerativeRewardModel, n_best: int = 1,
                   chunk_size: int = 16, progress: bool = True) -> dict[str, int]:
    """Stream a JSONL file of ``{"prompt", "candidates", [reference], [rubric]}`` lines into a JSONL of choices.

    Each output line keeps the input fields and adds ``chosen`` (best first), ``chosen_indices``,
    ``rewards``, ``scores`` and ``ok`` (one per candidate, input order). The file is read ``chunk_size``
    prompts at a time, never whole.
    """
    from tqdm import tqdm

    total = count_lines(source)
    rows = _read_rows(source)
    counts = {"prompts": 0, "candidates": 0, "unscored": 0}
    with atomic_output(target) as out, tqdm(total=total, unit="prompt", desc="best-of-n",
                                                        disable=not progress) as bar:
        while True:
            chunk = list(islice(rows, chunk_size))
            if not chunk:
                break
            picks = best_of_n([r["prompt"] for _, r in chunk], [r["candidates"] for _, r in chunk], judge, n_best,
                              reference=[r.get("reference") for _, r in chunk],
                              rubric=[r.get("rubric") for _, r in chunk])
            for (_, row), pick in zip(chunk, picks):
                record = dict(row)
                record.update(chosen=pick.chosen, chosen_indices=pick.chosen_indices, rewards=pick.rewards,
                              scores=[r.score for r in pick.results], ok=[r.ok for r in pick.results])
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts["prompts"] += 1
                counts["candidates"] += len(pick.rewards)
                counts["unscored"] += sum(not judged(r) for r in pick.results)
            bar.update(len(chunk))
    return counts
