"""Meta-evaluation metrics, computed the way the judges' authors computed them.

- Pairwise agreement and consistency as Auto-J's scorer counts them (arXiv:2310.05470, its
  ``pairwise_eval.py``): with both orders judged, a pair agrees with the human label only when the
  verdict on the original order and the verdict on the swapped order (mapped back) both equal the label;
  consistency is the share of pairs whose two verdicts are the same. Both in percent, rounded to two
  decimals with the same arithmetic. With one order only (a single-response judge) agreement is the share
  of correct verdicts and consistency does not apply.
- Pearson, Spearman and Kendall tau-b between the judge's mean score and the mean label, with
  ``scipy.stats`` as the Prometheus authors' ``calculate_results`` does.
- Chosen-over-rejected accuracy as Prometheus scores HHH-alignment with an absolute judge.
- keval's diff score, accuracy and count of answers without a valid score ("wrong").
- Calibration bins for the score-distribution modes.

Our one addition: a missing verdict (``None``: the judge gave no valid answer) is never right and never
consistent. The released Auto-J predictions have no missing verdicts, so this changes none of its figures.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any, Callable, Optional, Sequence


# ------------------------------------------------------------------ pairwise
def to_original_order(label: Optional[int]) -> Optional[int]:
    """A verdict on the swapped pair, expressed in the original order: 0 and 1 trade places, a tie stays.

    Example:
        >>> [to_original_order(v) for v in (0, 1, 2, None)]
        [1, 0, 2, None]
    """
    return {0: 1, 1: 0}.get(label, label) if label is not None else None  # type: ignore[arg-type]


def pairwise_agreement(labels: Sequence[int], outputs: Sequence[Optional[int]],
                       swapped_outputs: Optional[Sequence[Optional[int]]] = None) -> dict[str, Any]:
    """Agreement and consistency (percent, two decimals) of pairwise verdicts with 0/1/2 labels.

    ``outputs`` are the verdicts on the pairs as shown (0: first better, 1: second, 2: tie, ``None``: no
    valid verdict); ``swapped_outputs`` the verdicts on the same pairs with the responses exchanged, in
    that exchanged order, as Auto-J's prediction files hold them.

    Example:
        >>> pairwise_agreement([0, 1, 2, 0], [0, 1, 2, 1], [1, 1, 2, 0])
        {'agreement': 50.0, 'consistency': 75.0, 'n': 4}
    """
    total = len(labels)
    if len(outputs) != total or (swapped_outputs is not None and len(swapped_outputs) != total):
        raise ValueError(f"labels, outputs and swapped_outputs must have the same length, got {total}, {len(outputs)}"
                         f" and {None if swapped_outputs is None else len(swapped_outputs)}")
    if total == 0:
        return {"agreement": None, "consistency": None, "n": 0}
    if swapped_outputs is None:
        correct = sum(1 for label, out in zip(labels, outputs, strict=True) if out is not None and out == label)
        return {"agreement": round(100 * correct / total, 2), "consistency": None, "n": total}
    both_right = disagree = 0
    for label, out, swapped in zip(labels, outputs, swapped_outputs, strict=True):
        back = to_original_order(swapped)
        if out is None or back is None or out != back:
            disagree += 1
        elif out == label:
            both_right += 1
    return {"agreement": round(100 * both_right / total, 2),
            "consistency": round(100 * (1 - disagree / total), 2), "n": total}


# ------------------------------------------------------------------ correlations
def correlations(judge: Sequence[float], labels: Sequence[float]) -> dict[str, Any]:
    """Pearson, Spearman and Kendall tau-b of two equally long score lists (``None`` where undefined).

    A coefficient is undefined with fewer than two items or when either list is constant.

    Example:
        >>> c = correlations([1, 2, 3, 5], [1, 3, 2, 5])
        >>> round(c["pearson"], 4), round(c["spearman"], 4), round(c["kendall"], 4), c["n"]
        (0.8857, 0.8, 0.6667, 4)
    """
    from scipy.stats import kendalltau, pearsonr, spearmanr

    if len(judge) != len(labels):
        raise ValueError(f"judge and labels must have the same length, got {len(judge)} and {len(labels)}")
    n = len(judge)
    result: dict[str, Any] = {"pearson": None, "spearman": None, "kendall": None, "n": n}
    if n < 2 or len(set(judge)) < 2 or len(set(labels)) < 2:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = {
            "pearson": pearsonr(judge, labels)[0],
            "spearman": spearmanr(judge, labels)[0],
            "kendall": kendalltau(judge, labels, variant="b")[0],
        }
    for name, value in values.items():
        result[name] = None if value is None or math.isnan(value) else float(value)
    return result


# ------------------------------------------------------------------ chosen vs rejected
def preference_outcome(chosen: Sequence[Optional[float]], rejected: Sequence[Optional[float]]) -> str:
    """``"right"``, ``"wrong"``, ``"tie"`` or ``"missing"`` for one chosen/rejected pair scored over runs.

    As Prometheus scores HHH-alignment: runs are read in order, the first run where both responses have
    a valid score and the scores differ decides; when every run ties (or lacks a score) the pair is not
    won. ``tie`` and ``missing`` both count as wrong in the accuracy.

    Example:
        >>> preference_outcome([4, 5], [4, 3]), preference_outcome([3], [3]), preference_outcome([None], [2])
        ('right', 'tie', 'missing')
    """
    seen_both = False
    for c, r in zip(chosen, rejected, strict=True):
        if c is None or r is None:
            continue
        seen_both = True
        if c != r:
            return "right" if c > r else "wrong"
    return "tie" if seen_both else "missing"


def preference_accuracy(outcomes: Sequence[str]) -> dict[str, Any]:
    """Accuracy in percent (ties and missing scores count as wrong), with the counts of each outcome."""
    counts = Counter(outcomes)
    total = len(outcomes)
    return {"accuracy": 100 * counts["right"] / total if total else None, "n": total,
            "ties": counts["tie"], "missing": counts["missing"]}


# ------------------------------------------------------------------ keval
def round_half_up(value: float) -> int:
    """Nearest integer, halves rounded up (2.5 -> 3), for comparing a mean or expected score with a label."""
    return math.floor(value + 0.5)


def keval_scores(labels: Sequence[float], predictions: Sequence[Optional[float]]) -> dict[str, Any]:
    """keval's diff score, accuracy and wrong count (percentages over all items, as its card computes them).

    A difference of 0 between label and prediction earns a full point, a difference of 1 half a point;
    the diff score is the points over the number of items. Accuracy is the share of exact matches.
    ``wrong`` counts predictions without a valid score (they earn nothing). Non-integer predictions
    (several runs, score-distribution modes) are rounded half up first.

    Example:
        >>> keval_scores([5, 3, 1, 4], [5, 4, None, 1])
        {'diff_score': 37.5, 'accuracy': 25.0, 'wrong': 1, 'length': 4, 'diff_counts': {0: 1, 1: 1, 3: 1}}
    """
    if len(labels) != len(predictions):
        raise ValueError(f"labels and predictions must have the same length, got {len(labels)} and {len(predictions)}")
    length = len(labels)
    diffs = [abs(round_half_up(label) - round_half_up(pred)) for label, pred in zip(labels, predictions, strict=True)
             if pred is not None]
    counts = Counter(diffs)
    if not length:
        return {"diff_score": None, "accuracy": None, "wrong": 0, "length": 0, "diff_counts": {}}
    return {
        "diff_score": 100 * (counts[0] + 0.5 * counts[1]) / length,
        "accuracy": 100 * counts[0] / length,
        "wrong": length - len(diffs),
        "length": length,
        "diff_counts": dict(sorted(counts.items())),
    }


# ------------------------------------------------------------------ calibration
def calibration_bins(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Reliability of a judge's probabilities: per confidence bin, the mean confidence and the observed rate.

    ``confidences`` are the probabilities the judge gave its own verdict; ``correct`` whether that verdict
    matched the label. ``ece`` is the expected calibration error (count-weighted gap between the two).

    Example:
        >>> out = calibration_bins([0.9, 0.8, 0.3], [True, False, False], bins=2)
        >>> [(b["count"], b["accuracy"]) for b in out["bins"]], round(out["ece"], 3)
        ([(1, 0.0), (2, 0.5)], 0.333)
    """
    if len(confidences) != len(correct):
        raise ValueError(f"confidences and correct must have the same length, got {len(confidences)} and {len(correct)}")
    table = []
    total = len(confidences)
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [k for k, c in enumerate(confidences) if low <= c < high or (b == bins - 1 and c == 1.0)]
        if not members:
            continue
        confidence = sum(confidences[k] for k in members) / len(members)
        accuracy = sum(bool(correct[k]) for k in members) / len(members)
        ece += len(members) / total * abs(accuracy - confidence)
        table.append({"low": low, "high": high, "count": len(members), "confidence": confidence, "accuracy": accuracy})
    return {"bins": table, "ece": ece if total else None, "n": total}


# ------------------------------------------------------------------ groups
def by_group(groups: Sequence[str], order: Sequence[str] = ()) -> dict[str, list[int]]:
    """Item positions per group: the groups of ``order`` first (those present), then the others as first seen.

    Example:
        >>> by_group(["b", "a", "b"], order=["a", "c"])
        {'a': [1], 'b': [0, 2]}
    """
    members: dict[str, list[int]] = {}
    for k, group in enumerate(groups):
        members.setdefault(group, []).append(k)
    ordered = {g: members[g] for g in order if g in members}
    ordered.update({g: v for g, v in members.items() if g not in ordered})
    return ordered


def per_group(groups: Sequence[str], order: Sequence[str], metric: Callable[[list[int]], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``metric`` applied to the item positions of each group (see `by_group`)."""
    return {group: metric(positions) for group, positions in by_group(groups, order).items()}
