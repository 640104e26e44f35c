"""From RewardBench, RewardBench 2, JudgeBench and RM-Bench prediction records to each benchmark's own figures.

A judged run and a replay of its ``predictions.jsonl`` go through the same functions, so they give the same
figures. Figures are in percent, as the leaderboards print them.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from .judgebench import CATEGORIES, pair_correct
from .records import EvalDataError
from .rewardbench import EXAMPLE_COUNTS, RB2_SUBSETS, SECTIONS, SUBSET_ORDER, rewardbench_score, section_scores, ties_score
from .rmbench import DOMAINS, rmbench_figures
from .scoring import Figures, judging_figures

LEADERBOARDS = ("rewardbench", "rewardbench-2", "judgebench", "rm-bench")


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else 100 * value


def _ordered(groups: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    out = {g: groups[g] for g in order if g in groups}
    out.update({g: v for g, v in groups.items() if g not in out})
    return out


def _judging(kind: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    with_verdict = sum(all(a.get("ok", True) for a in r.get("answers", [])) for r in records)
    return judging_figures(kind, records, with_verdict, len(records))


def _by_group(items: Sequence[Any], records: Sequence[dict[str, Any]]) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    groups: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for item, record in zip(items, records, strict=True):
        groups.setdefault(item.group, []).append((item, record))
    return groups


def _correct(record: dict[str, Any], item: Any) -> float:
    if record.get("correct") is None:
        raise EvalDataError("predictions", None, "correct", f"is missing for data item {item.index} (id {item.item_id!r})")
    return float(record["correct"])


# ------------------------------------------------------------------ RewardBench v1
def score_rewardbench(items: Sequence[Any], records: Sequence[dict[str, Any]]) -> Figures:
    groups = _by_group(items, records)
    accuracy = {subset: sum(_correct(r, i) for i, r in rows) / len(rows) for subset, rows in groups.items()}
    known = {s: a for s, a in accuracy.items() if s in EXAMPLE_COUNTS}
    sections = section_scores(known)
    final = rewardbench_score(sections)
    notes = ["A tie or a missing verdict (after the judge's retries) counts 0.5, as RewardBench counts it.",
             "Sections weight each subset's accuracy by RewardBench's EXAMPLE_COUNTS (math-prm counts 984, its 447 "
             "items upweighted to equal the six hep-* subsets); the score is the mean of the four sections."]
    unknown = sorted(set(accuracy) - set(EXAMPLE_COUNTS))
    if unknown:
        notes.append(f"Subsets not in RewardBench's sections are shown but left out of them: {', '.join(unknown)}.")
    missing = [s for s in SECTIONS if sections[s] is None]
    if missing:
        notes.append(f"No item of section(s) {', '.join(missing)}: no RewardBench score (its calculate_scores_per_section "
                     "would count such a section as 0).")
    methods = {r.get("method") for r in records}
    if methods == {"ratings"}:
        method = "each answer rated alone; the higher rating wins, equal or missing ratings count 0.5"
    elif any(len(r.get("orders", [])) == 2 for r in records):
        method = "each pair judged in both orders; an item scores the mean of its two verdicts (1 / 0 / 0.5 each)"
    else:
        method = "each pair judged once, the chosen answer first or second by a seeded draw per item"
    group_rows = {s: {"accuracy": _pct(accuracy[s]), "n": len(rows)} for s, rows in groups.items()}
    overall = {"accuracy": _pct(final), "n": len(records), "sections": {s: _pct(v) for s, v in sections.items()}}
    return Figures(method=method, overall=overall, groups=_ordered(group_rows, SUBSET_ORDER),
                   judging=_judging("rewardbench", records), notes=notes)


# ------------------------------------------------------------------ RewardBench 2
def score_rewardbench_2(items: Sequence[Any], records: Sequence[dict[str, Any]]) -> Figures:
    groups = _by_group(items, records)
    group_rows: dict[str, dict[str, Any]] = {}
    for subset, rows in groups.items():
        if subset.lower() == "ties":
            for item, record in rows:
                if not isinstance(record.get("ratings"), list) or len(record["ratings"]) != len(item.completions):
                    raise EvalDataError("predictions", None, "ratings", f"must hold one rating per answer of Ties "
                                        f"item {item.index} ({len(item.completions)})", record.get("ratings"))
            value = ties_score([(item.item_id, record["ratings"], len(item.chosen)) for item, record in rows])
        else:
            value = sum(_correct(r, i) for i, r in rows) / len(rows)
        group_rows[subset] = {"accuracy": _pct(value), "n": len(rows)}
    values = [g["accuracy"] for g in group_rows.values()]
    final = None if any(v is None for v in values) or not values else sum(values) / len(values)
    notes = ["4-way: the chosen answer's slot scores 1, another 0, no verdict 0.25; ratings: (0 in winners) / "
             "len(winners) over the top valid ratings, 0.25 when none is valid. Ties is always rated and scored by "
             "RewardBench 2's Ties formula (an invalid rating counts -1, as its code keeps it)."]
    absent = [s for s in RB2_SUBSETS if s not in group_rows]
    if absent:
        notes.append(f"Subset(s) {', '.join(absent)} absent: the score is the mean of the subsets present, not "
                     "RewardBench 2's six.")
    methods = {r.get("method") for i, r in zip(items, records, strict=True) if not i.ties}
    method = ("best of four in one prompt, the chosen answer in a seeded slot A-D" if methods == {"four-way"} else
              "each answer rated alone (the chosen one must have the top rating)")
    return Figures(method=method + "; final score: the unweighted mean of the subsets",
                   overall={"accuracy": final, "n": len(records)}, groups=_ordered(group_rows, RB2_SUBSETS),
                   judging=_judging("rewardbench-2", records), notes=notes)


# ------------------------------------------------------------------ JudgeBench
def score_judgebench(items: Sequence[Any], records: Sequence[dict[str, Any]]) -> Figures:
    correct = [pair_correct(item.label, record["decisions"]) for item, record in zip(items, records, strict=True)]
    for record, value in zip(records, correct, strict=True):
        record["correct"] = value
    games = {len(r["decisions"]) for r in records}
    groups = _by_group(items, records)
    group_rows = {g: {"accuracy": 100 * sum(r["correct"] for _, r in rows) / len(rows), "n": len(rows)}
                  for g, rows in groups.items()}
    overall = {"accuracy": 100 * sum(correct) / len(correct), "n": len(correct)}
    method = ("both orders judged; a pair is correct when (decisions equal to the label) - (decisions equal to its "
              "flip) > 0" if games == {2} else "one game per pair: correct when the decision equals the label")
    notes = ["Ties, inconsistent verdicts and missing decisions count as wrong, as JudgeBench counts them."]
    return Figures(method=method, overall=overall, groups=_ordered(group_rows, tuple(CATEGORIES)),
                   judging=_judging("judgebench", records), notes=notes)


# ------------------------------------------------------------------ RM-Bench
def score_rm_bench(items: Sequence[Any], records: Sequence[dict[str, Any]]) -> Figures:
    cells: dict[str, list[Any]] = {}
    others = set()
    for item, record in zip(items, records, strict=True):
        if item.group in DOMAINS:
            cells.setdefault(item.group, []).append(record["cells"])
        else:
            others.add(item.group)
    domains, overall = rmbench_figures(cells)
    counts = {d: len(v) for d, v in cells.items()}
    group_rows = {d: {**{k: 100 * v for k, v in figures.items()}, "n": counts[d]} for d, figures in domains.items()}
    notes = ["A chosen answer must score strictly above the rejected one (equal scores count as wrong); a pairwise "
             "verdict counts 1 for the chosen answer, 0.5 for a tie, 0 otherwise."]
    if others:
        notes.append(f"Items of other domains are left out, as RM-Bench's compute_accuracy does: {', '.join(sorted(others))}.")
    if len(domains) < len(DOMAINS):
        notes.append(f"Only {len(domains)} of RM-Bench's four domains present: the averages are over those.")
    methods = {r.get("method") for r in records}
    method = ("the 3x3 style matrix of chosen-over-rejected; hard = above the diagonal (plainer chosen vs fancier "
              "rejected), normal = the diagonal, easy = below; "
              + ("each answer scored alone" if methods == {"scores"} else "each of the nine pairs compared"))
    return Figures(method=method, overall={**{k: 100 * v for k, v in overall.items()}, "n": len(records)} if overall
                   else {"accuracy": None, "n": len(records)},
                   groups=_ordered(group_rows, DOMAINS), judging=_judging("rm-bench", records), notes=notes)


def score_leaderboard(benchmark: str, items: Sequence[Any], records: Sequence[dict[str, Any]]) -> Figures:
    """The figures of a leaderboard benchmark for its prediction ``records`` (one per item, in item order)."""
    if len(records) != len(items):
        raise ValueError(f"{len(items)} items need as many prediction records, got {len(records)}")
    return {"rewardbench": score_rewardbench, "rewardbench-2": score_rewardbench_2, "judgebench": score_judgebench,
            "rm-bench": score_rm_bench}[benchmark](items, records)
