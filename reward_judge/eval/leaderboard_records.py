"""Checks of RewardBench, RewardBench 2, JudgeBench and RM-Bench prediction lines read back for a replay.

Every line of a ``--report`` predictions file has ``index`` (the item's position in the data file), ``id``,
``subset`` and ``correct`` (the item's score by its benchmark's rule: 1, 0, 0.5 for a RewardBench tie,
0.25 or 1/n for RewardBench 2...), then what the figures are computed from: ``correct`` (RewardBench,
RewardBench 2 outside Ties), ``ratings`` (RewardBench 2's Ties), ``decisions`` (JudgeBench: the verdict in
each order as ``A>B``/``B>A``/``A=B``/``null``, the second flipped back) or ``cells`` (RM-Bench's 3x3 matrix).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .records import EvalDataError

DECISIONS = ("A>B", "B>A", "A=B", None)


def _probability(path: Path, line: int, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1 or math.isnan(value):
        raise EvalDataError(path, line, name, "must be a number between 0 and 1", value)
    return float(value)


def check_rewardbench(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    if "correct" not in row:
        raise EvalDataError(path, line, "correct", f"is missing (fields present: {sorted(row)})")
    return dict(row, correct=_probability(path, line, "correct", row["correct"]))


def check_rewardbench_2(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    if "correct" not in row and "ratings" not in row:
        raise EvalDataError(path, line, "correct", f"is missing, and no 'ratings' (fields present: {sorted(row)})")
    out = dict(row)
    if row.get("correct") is not None:
        out["correct"] = _probability(path, line, "correct", row["correct"])
    ratings = row.get("ratings")
    if ratings is not None:
        if not isinstance(ratings, list) or any(r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)))
                                                for r in ratings):
            raise EvalDataError(path, line, "ratings", "must be a list of numbers or nulls (one per answer)", ratings)
    return out


def check_judgebench(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    decisions = row.get("decisions")
    if not isinstance(decisions, list) or len(decisions) not in (1, 2) or any(d not in DECISIONS for d in decisions):
        raise EvalDataError(path, line, "decisions", "must be a list of one or two of 'A>B', 'B>A', 'A=B' or null "
                            "(the second flipped back to the original order)", decisions)
    return dict(row)


def check_rm_bench(path: Path, line: int, row: dict[str, Any]) -> dict[str, Any]:
    cells = row.get("cells")
    if not isinstance(cells, list) or len(cells) != 3 or any(not isinstance(r, list) or len(r) != 3 for r in cells):
        raise EvalDataError(path, line, "cells", "must be a 3x3 list (chosen style x rejected style)", cells)
    return dict(row, cells=[[_probability(path, line, "cells", v) for v in r] for r in cells])


CHECKS = {"rewardbench": check_rewardbench, "rewardbench-2": check_rewardbench_2, "judgebench": check_judgebench,
          "rm-bench": check_rm_bench}
