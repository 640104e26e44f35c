"""From prediction records to a report's figures: metrics overall and per group, coverage, calibration.

The same function serves a judged run and a replay, so both give the same figures for the same records.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from .datasets import AbsoluteItem, Benchmark, PairItem, PreferenceItem
from .metrics import (calibration_bins, correlations, keval_scores, pairwise_agreement, per_group, preference_accuracy,
                      preference_outcome, round_half_up, to_original_order)


@dataclass
class Figures:
    """The computed part of an `EvalReport`."""

    method: str
    overall: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    judging: dict[str, Any]
    calibration: Optional[dict[str, Any]] = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ answers and coverage
def _answer(valid: bool, info: Optional[dict[str, Any]]) -> dict[str, Any]:
    return {"valid": valid, **({k: info.get(k) for k in ("fallback", "cached", "attempts")} if info else {})}


def _answers(kind: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every judge answer behind one record, with what the record says about how it was obtained."""
    if kind not in ("pairwise", "absolute", "preference"):  # the leaderboards list every answer of an item
        return [_answer(bool(a.get("ok")), a) for a in record.get("answers") or []]
    if kind == "pairwise":
        if "score_a" in record:  # a single-response judge scored each response
            return [_answer(record["score_a"] is not None, record.get("a")),
                    _answer(record["score_b"] is not None, record.get("b"))]
        return [_answer(record["output"] is not None, record if "ok" in record else None)]
    if kind == "absolute":
        runs = record.get("runs") or []
        return [_answer(s is not None, runs[k] if k < len(runs) else None) for k, s in enumerate(record["scores"])]
    chosen, rejected = record.get("chosen") or [], record.get("rejected") or []
    return ([_answer(s is not None, chosen[k] if k < len(chosen) else None) for k, s in enumerate(record["chosen_scores"])]
            + [_answer(s is not None, rejected[k] if k < len(rejected) else None)
               for k, s in enumerate(record["rejected_scores"])])


def judging_figures(kind: str, records: Sequence[dict[str, Any]], with_verdict: int, n_items: int,
                    swapped: Optional[Sequence[dict[str, Any]]] = None) -> dict[str, Any]:
    """Coverage, parse-failure rate, fallbacks, cache hits and retries, from the records alone."""
    answers = [a for r in records for a in _answers(kind, r)] + [a for r in swapped or () for a in _answers(kind, r)]
    invalid = sum(not a["valid"] for a in answers)
    recorded = [a for a in answers if "fallback" in a]
    return {
        "coverage": with_verdict / n_items if n_items else None,
        "items": n_items,
        "items_with_verdict": with_verdict,
        "answers": len(answers),
        "answers_without_verdict": invalid,
        "parse_failure_rate": invalid / len(answers) if answers else None,
        "fallbacks": sum(bool(a["fallback"]) for a in recorded) if recorded else None,
        "cache_hits": sum(bool(a["cached"]) for a in recorded) if recorded else None,
        "retried": sum((a["attempts"] or 0) > 1 for a in recorded) if recorded else None,
    }


# ------------------------------------------------------------------ pairwise
def score_pairwise(benchmark: Benchmark, items: Sequence[PairItem], records: Sequence[dict[str, Any]],
                   swapped: Optional[Sequence[dict[str, Any]]]) -> Figures:
    labels = [item.label for item in items]
    groups = [item.group for item in items]
    outputs = [r["output"] for r in records]
    exchanged = [r["output"] for r in swapped] if swapped is not None else None

    def metric(positions: list[int]) -> dict[str, Any]:
        return pairwise_agreement([labels[k] for k in positions], [outputs[k] for k in positions],
                                  [exchanged[k] for k in positions] if exchanged is not None else None)

    overall = metric(list(range(len(items))))
    if exchanged is None:
        with_verdict = sum(o is not None for o in outputs)
        method = "one verdict per pair (Auto-J's 'single' type): agreement only, consistency does not apply"
    else:
        with_verdict = sum(o is not None and s is not None for o, s in zip(outputs, exchanged, strict=True))
        method = ("both orders judged (Auto-J's 'pairwise' type): a pair agrees when both verdicts equal the label; "
                  "consistency is the share of pairs with the same verdict in both orders")
    confidences, correct = [], []
    for order, rows in (("shown", records), ("swapped", swapped)):
        for item, row in zip(items, rows or [{"output": None}] * len(items), strict=True):
            if row.get("confidence") is not None and row["output"] is not None:
                label = item.label if order == "shown" else to_original_order(item.label)
                confidences.append(row["confidence"])
                correct.append(row["output"] == label)
    notes = ["A pair without a valid verdict in either order counts as wrong and as inconsistent."]
    if any("score_a" in r for r in records):
        notes.append("The judge scored each response alone; the higher score wins, equal scores are a tie.")
    return Figures(
        method=method, overall=overall, groups=per_group(groups, benchmark.group_order, metric),
        judging=judging_figures("pairwise", records, with_verdict, len(items), swapped),
        calibration=calibration_bins(confidences, correct) if confidences else None,
        details={"labels": labels, "outputs": outputs,
                 "swapped_back": [to_original_order(s) for s in exchanged] if exchanged is not None else None},
        notes=notes,
    )


# ------------------------------------------------------------------ absolute
def _mean(scores: Sequence[Optional[float]]) -> Optional[float]:
    valid = [s for s in scores if s is not None]
    return statistics.mean(valid) if valid else None


def score_absolute(benchmark: Benchmark, items: Sequence[AbsoluteItem], records: Sequence[dict[str, Any]],
                   judge_range: Optional[Sequence[float]] = None) -> Figures:
    labels = [item.label for item in items]
    groups = [item.group for item in items]
    judge = [_mean(r["scores"]) for r in records]
    notes = ["The judge's score is the mean of its valid scores over runs; items without any are left out of "
             "the correlations and count against coverage."]
    use_keval = benchmark.keval_metrics and all(float(label).is_integer() for label in labels)
    if use_keval and judge_range is not None and any(not judge_range[0] <= label <= judge_range[1] for label in labels):
        use_keval = False
        notes.append(f"keval's diff score is not given: labels fall outside the judge's scale "
                     f"{judge_range[0]:g}-{judge_range[1]:g}.")
    elif benchmark.keval_metrics and not use_keval:
        notes.append("keval's diff score is not given: it needs integer labels.")

    def metric(positions: list[int]) -> dict[str, Any]:
        valid = [k for k in positions if judge[k] is not None]
        figures = correlations([judge[k] for k in valid], [labels[k] for k in valid])
        if use_keval:
            keval = keval_scores([labels[k] for k in positions], [judge[k] for k in positions])
            figures.update({key: keval[key] for key in ("diff_score", "accuracy", "wrong", "length")})
            figures["diff_counts"] = keval["diff_counts"]
        return figures

    confidences, correct = [], []
    for item, row in zip(items, records, strict=True):
        if row.get("confidence") is not None and row.get("predicted") is not None:
            confidences.append(row["confidence"])
            correct.append(row["predicted"] == round_half_up(item.label))
    with_verdict = sum(j is not None for j in judge)
    groups_figures = per_group(groups, benchmark.group_order, metric)
    small = [g for g, figures in groups_figures.items() if figures["n"] < 10]
    if small and len(groups_figures) > 1:
        notes.append(f"{len(small)} group(s) have fewer than 10 scored items ({', '.join(small[:4])}"
                     f"{', ...' if len(small) > 4 else ''}): their correlations are noise (two points always "
                     "correlate at +1 or -1).")
    return Figures(
        method="Pearson, Spearman and Kendall tau-b (scipy.stats) between the judge's mean score and the mean label",
        overall=metric(list(range(len(items)))), groups=groups_figures,
        judging=judging_figures("absolute", records, with_verdict, len(items)),
        calibration=calibration_bins(confidences, correct) if confidences else None,
        details={"labels": labels, "judge": judge, "judge_range": list(judge_range) if judge_range else None},
        notes=notes,
    )


# ------------------------------------------------------------------ chosen vs rejected
def score_preference(benchmark: Benchmark, items: Sequence[PreferenceItem], records: Sequence[dict[str, Any]]) -> Figures:
    groups = [item.group for item in items]
    outcomes = [preference_outcome(r["chosen_scores"], r["rejected_scores"]) for r in records]

    def metric(positions: list[int]) -> dict[str, Any]:
        return preference_accuracy([outcomes[k] for k in positions])

    return Figures(
        method=("accuracy of scoring the chosen response above the rejected one: the first run where both have a "
                "valid score and they differ decides; a tie in every run, or a missing score, counts as wrong"),
        overall=metric(list(range(len(items)))), groups=per_group(groups, benchmark.group_order, metric),
        judging=judging_figures("preference", records, sum(o != "missing" for o in outcomes), len(items)),
        details={"chosen": [_mean(r["chosen_scores"]) for r in records],
                 "rejected": [_mean(r["rejected_scores"]) for r in records], "outcomes": outcomes},
        notes=["Ties count as wrong, as in the Prometheus authors' scoring of HHH-alignment."],
    )


def score_records(benchmark: Benchmark, items: Sequence[Any], records: Sequence[dict[str, Any]],
                  swapped: Optional[Sequence[dict[str, Any]]] = None,
                  judge_range: Optional[Sequence[float]] = None) -> Figures:
    """The figures of ``benchmark`` for prediction ``records`` (and ``swapped`` ones for pairwise judges)."""
    if len(records) != len(items) or (swapped is not None and len(swapped) != len(items)):
        raise ValueError(f"{len(items)} items need as many prediction records, got {len(records)}"
                         + ("" if swapped is None else f" and {len(swapped)} swapped"))
    if benchmark.kind == "pairwise":
        return score_pairwise(benchmark, items, records, swapped)
    if swapped is not None:
        raise ValueError(f"swapped-order predictions apply to pairwise benchmarks, not to {benchmark.name!r}")
    if benchmark.kind == "absolute":
        return score_absolute(benchmark, items, records, judge_range)
    return score_preference(benchmark, items, records)
