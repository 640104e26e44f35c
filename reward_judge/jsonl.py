"""Reading rollout files: one JSON object per line, errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


class JsonlError(ValueError):
    """A line of a JSON-lines file that is not a JSON object; the message starts with ``path:line``."""

    def __init__(self, path: Any, line: int, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path}:{line}: {problem}")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-empty line; `JsonlError` names ``path:line``.

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
                raise JsonlError(path, number, f"is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise JsonlError(path, number, f"each line must be a JSON object, got {type(row).__name__}")
            yield number, row


def count_lines(path: Path) -> int:
    """Non-empty lines, for a progress bar's total (a cheap byte scan)."""
    with Path(path).open("rb") as handle:
        return sum(1 for line in handle if line.strip())
