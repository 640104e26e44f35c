"""Prediction files: what `evaluate` writes when it runs a judge, and reads back to replay.

One JSON object per line, one line per benchmark item, in data order, with the item's position in the
data file as ``index``. Metrics are always computed from these records, whether they were just judged or
read from a file, so replaying a run's files gives exactly that run's figures.

- Pairwise sets: one file per order. ``output`` is the verdict in the order the pair was shown, in
  Auto-J's format: 0 (first better), 1 (second better), 2 (tie), ``null`` (no valid verdict). The file
  for the swapped order holds verdicts on the swapped pairs, as Auto-J's ``*_exchange_*`` file does.
  Auto-J's released files (``{"output": 0|1|2}`` per line, no ``index``) are read the same way.
- Absolute sets: ``score`` (a number or ``null``) or ``scores`` (one per run, numbers or ``null``).
- HHH-alignment: ``chosen_scores`` and ``rejected_scores`` (one per run), or ``chosen_score`` and
  ``rejected_score``.

Optional fields written by a judged run: ``confidence`` (the probability the judge gave its verdict, in
the score-distribution modes), ``predicted`` (the most probable score), and per answer ``ok``, ``error``,
``fallback``, ``cached``, ``attempts``, ``winner``, ``distribution`` and ``raw`` (the judge's output).

RewardBench, RewardBench 2, JudgeBench and RM-Bench lines: `reward_judge.eval.leaderboard_records`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from ..result import JudgeResult
from .leaderboard_records import CHECKS as LEADERBOARD_CHECKS
from .records import EvalDataError, read_records

WINNER_LABEL = {"A": 0, "B": 1, "tie": 2}


# ------------------------------------------------------------------ from judge results
def answer_record(result: JudgeResult) -> dict[str, Any]:
    """The audit fields of one judge answer (never the reward: eval reads verdicts only)."""
    record: dict[str, Any] = {"ok": result.ok, "error": result.error, "fallback": result.fallback,
                              "cached": result.cached, "attempts": result.attempts}
    if result.winner is not None:
        record["winner"] = result.winner
    if result.distribution is not None:
        record["distribution"] = result.distribution
    if result.raw:
        record["raw"] = result.raw
    return record


def confidence_of(result: JudgeResult) -> Optional[float]:
    """The probability the judge put on its own verdict (score-distribution modes), else ``None``."""
    if not result.ok or not result.distribution:
        return None
    return max(result.distribution.values())


def most_probable_score(result: JudgeResult) -> Optional[float]:
    """The single most probable score of an absolute judge's distribution, when its answers are numbers."""
    if not result.ok or not result.distribution:
        return None
    value = max(result.distribution, key=result.distribution.__getitem__)
    try:
        return float(value)
    except ValueError:
        return None


def pair_record(index: int, result: JudgeResult) -> dict[str, Any]:
    """One pairwise verdict (a judge that compares the two responses), in the order it was shown."""
    output = WINNER_LABEL.get(result.winner) if result.ok and result.winner else None  # type: ignore[arg-type]
    return {"index": index, "output": output, "confidence": confidence_of(result), **answer_record(result)}


def single_pair_record(index: int, result_a: JudgeResult, result_b: JudgeResult) -> dict[str, Any]:
    """A pair judged by scoring each response alone: the higher score wins, equal scores are a tie."""
    a = result_a.score if result_a.ok else None
    b = result_b.score if result_b.ok else None
    output = None if a is None or b is None else 0 if a > b else 1 if b > a else 2
    return {"index": index, "output": output, "score_a": a, "score_b": b,
            "a": answer_record(result_a), "b": answer_record(result_b)}


def absolute_record(index: int, runs: Sequence[JudgeResult]) -> dict[str, Any]:
    """One item scored in one or more runs; ``score`` is the mean of the runs' valid scores."""
    scores = [r.score if r.ok else None for r in runs]
    valid = [s for s in scores if s is not None]
    return {"index": index, "score": sum(valid) / len(valid) if valid else None, "scores": scores,
            "confidence": confidence_of(runs[0]), "predicted": most_probable_score(runs[0]),
            "runs": [answer_record(r) for r in runs]}


def preference_record(index: int, chosen: Sequence[JudgeResult], rejected: Sequence[JudgeResult]) -> dict[str, Any]:
    """A chosen and a rejected response, each scored in every run."""
    return {"index": index,
            "chosen_scores": [r.score if r.ok else None for r in chosen],
            "rejected_scores": [r.score if r.ok else None for r in rejected],
            "chosen": [answer_record(r) for r in chosen], "rejected": [answer_record(r) for r in rejected]}


def write_predictions(path: Union[str, Path], records: Iterable[dict[str, Any]]) -> Path:
    """Write prediction records, one JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# ------------------------------------------------------------------ reading back
def read_predictions(path: Union[str, Path], kind: str, n_data: int, selected: Sequence[int]) -> list[dict[str, Any]]:
    """Prediction records for the ``selected`` data positions, checked field by field.

    Lines with an ``index`` are matched to data items by it (a file from a ``limit`` run covers only its
    items). Lines without one are in data order and must be as many as the data's items (or as the
    selected items). ``kind`` is ``"pairwise"``, ``"absolute"`` or ``"preference"``; the records come back
    normalised: ``output`` (pairwise), ``scores`` (absolute), ``chosen_scores``/``rejected_scores``.
    """
    path = Path(path)
    rows = list(read_records(path))
    if not rows:
        raise EvalDataError(path, None, None, "holds no predictions")
    with_index = [("index" in row) for _, row in rows]
    if any(with_index) and not all(with_index):
        line = rows[with_index.index(False)][0]
        raise EvalDataError(path, line, "index", "is missing (other lines have one: give it on every line or on none)")
    if all(with_index):
        by_index: dict[int, tuple[int, dict[str, Any]]] = {}
        for line, row in rows:
            index = row["index"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_data:
                raise EvalDataError(path, line, "index", f"must be an item position 0-{n_data - 1} of the data", index)
            if index in by_index:
                raise EvalDataError(path, line, "index", f"repeats item {index} (first at line {by_index[index][0]})")
            by_index[index] = (line, row)
        missing = [i for i in selected if i not in by_index]
        if missing:
            last = rows[-1][0]
            raise EvalDataError(path, None, None, f"has no prediction for data item {missing[0]} ({len(missing)} of "
                                f"{len(selected)} selected items missing; the file's {len(rows)} lines end at line {last})."
                                " Replay with the limit the predictions were made with")
        chosen = [by_index[i] for i in selected]
    elif len(rows) == n_data:
        chosen = [rows[i] for i in selected]
    elif len(rows) == len(selected):
        chosen = rows
    else:
        wanted = f"{n_data}" if len(selected) == n_data else f"{n_data} (or the {len(selected)} selected)"
        raise EvalDataError(path, rows[-1][0], None, f"the file holds {len(rows)} predictions (its last at this line) "
                            f"but the data has {wanted} items; lines without 'index' must follow the data one to one")
    check = {"pairwise": _check_pair, "absolute": _check_absolute, "preference": _check_preference,
             **LEADERBOARD_CHECKS}[kind]
    return [check(path, line, row) for line, row in chosen]


def _check_pair(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    if "output" not in row:
        raise EvalDataError(path, line, "output", f"is missing (fields present: {sorted(row)})")
    output = row["output"]
    if output is not None and (isinstance(output, bool) or output not in (0, 1, 2)):
        raise EvalDataError(path, line, "output", "must be 0 (first better), 1 (second better), 2 (tie) or null", output)
    return dict(row, confidence=_probability(path, line, row))


def _scores(path: Path, line: int, row: dict[str, Any], plural: str, singular: str) -> list[Optional[float]]:
    if plural in row:
        values = row[plural]
        if not isinstance(values, list) or not values:
            raise EvalDataError(path, line, plural, "must be a non-empty list (one score per run)", values)
        for value in values:
            _score(path, line, plural, value)
        return values
    if singular in row:
        return [_score(path, line, singular, row[singular])]
    raise EvalDataError(path, line, singular, f"is missing: give {singular!r} or {plural!r} (fields present: {sorted(row)})")


def _score(path: Path, line: int, field: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EvalDataError(path, line, field, "must be a number or null", value)
    return value


def _probability(path: Path, line: int, row: dict[str, Any]) -> Optional[float]:
    value = row.get("confidence")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise EvalDataError(path, line, "confidence", "must be a probability between 0 and 1 or null", value)
    return value


def _check_absolute(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    scores = _scores(path, line, row, "scores", "score")
    predicted = _score(path, line, "predicted", row.get("predicted"))
    return dict(row, scores=scores, confidence=_probability(path, line, row), predicted=predicted)


def _check_preference(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    chosen = _scores(path, line, row, "chosen_scores", "chosen_score")
    rejected = _scores(path, line, row, "rejected_scores", "rejected_score")
    if len(chosen) != len(rejected):
        raise EvalDataError(path, line, "rejected_scores", f"must have one score per run like chosen_scores ({len(chosen)})",
                            rejected)
    return dict(row, chosen_scores=chosen, rejected_scores=rejected)
