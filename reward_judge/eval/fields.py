"""What every benchmark item has, and the checks every reader applies to a record's fields.

Each check raises `EvalDataError` naming the file, the line and the field of a bad record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .records import EvalDataError

ALL = "all"  # the group of items that name none


@dataclass(frozen=True)
class Item:
    """What every benchmark item has: its position, its line in the file, its group and its prompt."""

    index: int
    line: int
    group: str
    prompt: str


def require(path: Path, line: int, row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise EvalDataError(path, line, name, f"is missing (fields present: {sorted(row)})")
    return row[name]


def text_field(path: Path, line: int, row: dict[str, Any], name: str, optional: bool = False) -> Optional[str]:
    if optional and row.get(name) is None:
        return None
    value = require(path, line, row, name)
    if not isinstance(value, str):
        raise EvalDataError(path, line, name, "must be a string", value)
    return value


def number_field(path: Path, line: int, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EvalDataError(path, line, name, "must be a finite number", value)
    return value


def group_field(path: Path, line: int, row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ALL
    if not isinstance(value, str) or not value.strip():
        raise EvalDataError(path, line, name, "must be a non-empty string", value)
    return value


def non_empty(path: Path, items: list[Any]) -> list[Any]:
    if not items:
        raise EvalDataError(path, None, None, "holds no items")
    return items
