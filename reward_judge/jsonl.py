"""Reading rollout files: one JSON object per line, errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-empty line; ``ValueError`` names ``path:line``.

    The file is read line by line, never whole.

    Example:
        >>> rows = read_jsonl(Path("examples/rollouts.jsonl"))   # doctest: +SKIP
        >>> next(rows)[1]["prompt"]                              # doctest: +SKIP
        'What is 2+2?'
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
            yield number, row


def count_lines(path: Path) -> int:
    """Non-empty lines, for a progress bar's total (a cheap byte scan)."""
    with Path(path).open("rb") as handle:
        return sum(1 for line in handle if line.strip())
