"""Judging RewardBench, RewardBench 2, JudgeBench and RM-Bench items, through the reward model's ``score`` only.

Each benchmark shows its answers to the judge as its authors' scripts do, with the judge's own protocol:

- ``rewardbench``: a pairwise judge sees each pair once, the chosen answer first or second by a seeded draw
  per item (``order="random"``), or in both orders (``order="both"``: the item scores the mean of the two,
  RewardBench's random-order score without its sampling noise). A single-answer judge rates both answers.
- ``rewardbench-2``: with the ``rewardbench-four`` protocol the four answers are shown at once, the chosen one
  in a seeded slot; with a single-answer protocol each answer is rated. Ties is always rated: with
  RewardBench's own prompts (``rewardbench-four``, ``rewardbench-ratings``) by its Ties prompt
  ``rewardbench-ratings-ties``, else with the judge's own protocol.
- ``judgebench``: a pairwise judge sees each pair in both orders (``order="both"``, JudgeBench's default) or
  as shown (``order="shown"``, its ``--single_game``); a single-answer judge scores both answers (one game).
- ``rm-bench``: a single-answer judge scores the six answers; a pairwise judge compares the nine
  chosen/rejected pairs, each in a seeded order (or both orders).

One record per item (`reward_judge.eval.predictions` has the shared fields): ``index``, ``id``, ``subset``,
``correct`` (the item's score by the authors' rule), what decided it, and ``answers`` (how every judge
answer was obtained).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..protocols.rewardbench import RewardBenchFour, four_way_block
from ..result import JudgeResult
from .judgebench import decision_of, flip, pair_correct, score_decision
from .leaderboard_data import BestOfItem, ChosenRejectedItem, LabelledPairItem, StyleItem
from .predictions import answer_record
from .rewardbench import (FOUR_SLOTS, four_way_outcome, pair_outcome, ratings_best_of, ratings_outcome, seeded_bit,
                          seeded_slot, ties_accurate)
from .rmbench import score_cells

#: The orders each benchmark can show a pair in, its default first.
ORDERS = {"rewardbench": ("random", "both"), "rewardbench-2": ("random",), "judgebench": ("both", "shown"),
          "rm-bench": ("random", "both")}
#: RewardBench's own prompts, whose Ties subset is rated with its Ties prompt.
RB_OWN_PROTOCOLS = ("rewardbench-four", "rewardbench-ratings", "rewardbench-ratings-ties")


def check_order(benchmark: str, order: Optional[str]) -> str:
    """The order to use (the benchmark's default for ``None``); ``ValueError`` naming the allowed ones."""
    allowed = ORDERS[benchmark]
    if order is None:
        return allowed[0]
    if order not in allowed:
        raise ValueError(f"order={order!r} does not apply to {benchmark!r}; choose one of {allowed}")
    return order


def _score_value(result: JudgeResult) -> Optional[float]:
    return result.score if result.ok else None


def _winner(result: JudgeResult) -> Optional[str]:
    return result.winner if result.ok else None


def _four_way_choice(result: JudgeResult) -> Optional[str]:
    """The letter the judge picked: the most probable one in the distribution modes, else the parsed one."""
    if not result.ok:
        return None
    if result.distribution:
        return max(result.distribution, key=result.distribution.__getitem__)
    return RewardBenchFour.letter(result.score)  # type: ignore[arg-type]


def _base(item: Any) -> dict[str, Any]:
    return {"index": item.index, "id": item.item_id, "subset": item.group}


# ------------------------------------------------------------------ RewardBench v1
def judge_rewardbench(rm: Any, score: Any, items: Sequence[ChosenRejectedItem], order: str, seed: int) -> list[dict[str, Any]]:
    prompts = [item.prompt for item in items]
    if not rm.protocol.pairwise:
        results = score(rm, prompts + prompts, [i.chosen for i in items] + [i.rejected for i in items])
        n = len(items)
        records = []
        for k, item in enumerate(items):
            chosen, rejected = _score_value(results[k]), _score_value(results[n + k])
            records.append({**_base(item), "correct": ratings_outcome(chosen, rejected), "method": "ratings",
                            "chosen_score": chosen, "rejected_score": rejected,
                            "answers": [answer_record(results[k]), answer_record(results[n + k])]})
        return records
    shows = []  # (item position, chosen shown as)
    for k, item in enumerate(items):
        if order == "both":
            shows += [(k, "A"), (k, "B")]
        else:
            shows.append((k, "B" if seeded_bit(seed, "rewardbench", item.item_id) else "A"))
    firsts = [items[k].chosen if as_ == "A" else items[k].rejected for k, as_ in shows]
    seconds = [items[k].rejected if as_ == "A" else items[k].chosen for k, as_ in shows]
    results = score(rm, [prompts[k] for k, _ in shows], firsts, completions_b=seconds)
    records = [{**_base(item), "method": "pairwise", "orders": [], "answers": []} for item in items]
    for (k, shown_as), result in zip(shows, results, strict=True):
        winner = _winner(result)
        records[k]["orders"].append({"chosen_as": shown_as, "winner": winner, "score": pair_outcome(winner, shown_as)})
        records[k]["answers"].append(answer_record(result))
    for record in records:
        record["correct"] = sum(o["score"] for o in record["orders"]) / len(record["orders"])
    return records


# ------------------------------------------------------------------ RewardBench 2
def ties_model(rm: Any) -> Any:
    """The reward model that rates the Ties subset: RewardBench's Ties prompt for its own prompts, else ``rm``."""
    if rm.protocol.name in RB_OWN_PROTOCOLS and rm.protocol.name != "rewardbench-ratings-ties":
        return rm.with_options(protocol="rewardbench-ratings-ties", mode="generate")
    return rm


def judge_rewardbench_2(rm: Any, score: Any, items: Sequence[BestOfItem], seed: int,
                        ties_rm: Any = None) -> list[dict[str, Any]]:
    if rm.protocol.pairwise:
        raise ValueError(f"RewardBench 2 compares four answers; protocol {rm.protocol.name!r} compares two. Use "
                         "protocol='rewardbench-four' (its 4-way prompt) or a single-answer protocol (ratings)")
    records: list[Any] = [None] * len(items)
    ties = [k for k, item in enumerate(items) if item.ties]
    rest = [k for k, item in enumerate(items) if not item.ties]
    if rest and rm.protocol.name == "rewardbench-four":
        blocks, slots = [], []
        for k in rest:
            item = items[k]
            slot = seeded_slot(seed, "rewardbench-2", item.item_id)
            answers = [item.chosen[0], *item.rejected]
            answers[0], answers[slot] = answers[slot], answers[0]  # swap the chosen answer into its slot
            blocks.append(four_way_block(answers))
            slots.append(slot)
        results = score(rm, [items[k].prompt for k in rest], blocks)
        for k, slot, result in zip(rest, slots, results, strict=True):
            choice = _four_way_choice(result)
            records[k] = {**_base(items[k]), "method": "four-way", "chosen_slot": FOUR_SLOTS[slot], "choice": choice,
                          "correct": four_way_outcome(choice, slot), "answers": [answer_record(result)]}
    elif rest:
        records_for = _rate(rm, score, [items[k] for k in rest])
        for k, (ratings, answers) in zip(rest, records_for, strict=True):
            records[k] = {**_base(items[k]), "method": "ratings", "ratings": ratings,
                          "correct": ratings_best_of(ratings), "answers": answers}
    if ties:
        rated = _rate(ties_rm if ties_rm is not None else ties_model(rm), score, [items[k] for k in ties])
        for k, (ratings, answers) in zip(ties, rated, strict=True):
            item = items[k]
            records[k] = {**_base(item), "method": "ratings", "ratings": ratings, "num_correct": len(item.chosen),
                          "correct": int(ties_accurate(ratings, len(item.chosen))), "answers": answers}
    return records


def _rate(rm: Any, score: Any, items: Sequence[BestOfItem]) -> list[tuple[list[Optional[float]], list[dict[str, Any]]]]:
    prompts = [item.prompt for item in items for _ in item.completions]
    completions = [c for item in items for c in item.completions]
    results = score(rm, prompts, completions)
    out, at = [], 0
    for item in items:
        own = results[at:at + len(item.completions)]
        at += len(item.completions)
        out.append(([_score_value(r) for r in own], [answer_record(r) for r in own]))
    return out


# ------------------------------------------------------------------ JudgeBench
def judge_judgebench(rm: Any, score: Any, items: Sequence[LabelledPairItem], order: str) -> list[dict[str, Any]]:
    prompts = [item.prompt for item in items]
    first = [item.response_a for item in items]
    second = [item.response_b for item in items]
    records = []
    if not rm.protocol.pairwise:  # JudgeBench's reward-model judges: one game on the two scores
        results = score(rm, prompts + prompts, first + second)
        n = len(items)
        for k, item in enumerate(items):
            decision = score_decision(_score_value(results[k]), _score_value(results[n + k]))
            records.append({**_base(item), "source": item.source, "method": "scores", "decisions": [decision],
                            "correct": pair_correct(item.label, [decision]),
                            "answers": [answer_record(results[k]), answer_record(results[n + k])]})
        return records
    shown = score(rm, prompts, first, completions_b=second)
    swapped = score(rm, prompts, second, completions_b=first) if order == "both" else None
    for k, item in enumerate(items):
        decisions = [decision_of(_winner(shown[k]))]
        answers = [answer_record(shown[k])]
        if swapped is not None:
            decisions.append(flip(decision_of(_winner(swapped[k]))))
            answers.append(answer_record(swapped[k]))
        records.append({**_base(item), "source": item.source, "method": "pairwise", "decisions": decisions,
                        "correct": pair_correct(item.label, decisions), "answers": answers})
    return records


# ------------------------------------------------------------------ RM-Bench
def judge_rm_bench(rm: Any, score: Any, items: Sequence[StyleItem], order: str, seed: int) -> list[dict[str, Any]]:
    records = []
    if not rm.protocol.pairwise:
        prompts = [item.prompt for item in items for _ in range(6)]
        completions = [c for item in items for c in (*item.chosen, *item.rejected)]
        results = score(rm, prompts, completions)
        for k, item in enumerate(items):
            own = results[6 * k:6 * k + 6]
            chosen, rejected = [_score_value(r) for r in own[:3]], [_score_value(r) for r in own[3:]]
            cells = score_cells(chosen, rejected)
            records.append({**_base(item), "method": "scores", "chosen_scores": chosen, "rejected_scores": rejected,
                            "cells": cells, "correct": sum(map(sum, cells)) / 9,
                            "answers": [answer_record(r) for r in own]})
        return records
    shows = []  # (item position, i, j, chosen shown as)
    for k, item in enumerate(items):
        for i in range(3):
            for j in range(3):
                if order == "both":
                    shows += [(k, i, j, "A"), (k, i, j, "B")]
                else:
                    shows.append((k, i, j, "B" if seeded_bit(seed, "rm-bench", f"{item.item_id}:{i}:{j}") else "A"))
    firsts = [items[k].chosen[i] if as_ == "A" else items[k].rejected[j] for k, i, j, as_ in shows]
    seconds = [items[k].rejected[j] if as_ == "A" else items[k].chosen[i] for k, i, j, as_ in shows]
    results = score(rm, [items[k].prompt for k, *_ in shows], firsts, completions_b=seconds)
    sums = [[[0.0] * 3 for _ in range(3)] for _ in items]
    counts = [[[0] * 3 for _ in range(3)] for _ in items]
    answers: list[list[dict[str, Any]]] = [[] for _ in items]
    for (k, i, j, shown_as), result in zip(shows, results, strict=True):
        winner = _winner(result)
        sums[k][i][j] += 1.0 if winner == shown_as else 0.5 if winner == "tie" else 0.0
        counts[k][i][j] += 1
        answers[k].append(answer_record(result))
    for k, item in enumerate(items):
        cells = [[sums[k][i][j] / counts[k][i][j] for j in range(3)] for i in range(3)]
        records.append({**_base(item), "method": "pairwise", "cells": cells, "correct": sum(map(sum, cells)) / 9,
                        "answers": answers[k]})
    return records


def judge_leaderboard(benchmark: str, rm: Any, score: Any, items: Sequence[Any], order: Optional[str],
                      ties_rm: Any = None) -> list[dict[str, Any]]:
    """Records of ``items`` of ``benchmark`` judged by ``rm``; ``score(rm, prompts, completions, **kw)`` judges.

    ``ties_rm`` rates RewardBench 2's Ties items (`ties_model` of ``rm`` when not given).
    """
    order = check_order(benchmark, order)
    seed = getattr(getattr(rm, "config", None), "seed", 0)
    if benchmark == "rewardbench":
        return judge_rewardbench(rm, score, items, order, seed)
    if benchmark == "rewardbench-2":
        return judge_rewardbench_2(rm, score, items, seed, ties_rm)
    if benchmark == "judgebench":
        return judge_judgebench(rm, score, items, order)
    if benchmark == "rm-bench":
        return judge_rm_bench(rm, score, items, order, seed)
    raise ValueError(f"unknown leaderboard benchmark {benchmark!r}")
