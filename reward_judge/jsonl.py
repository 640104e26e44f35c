"""Rollout files: one JSON object per line, errors that name the file and the line; outputs written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, TextIO


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


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A text file to write ``path`` through: it replaces ``path`` when the block ends without an error, and is
    removed otherwise, so a crash or Ctrl-C leaves no empty or half-written output.

    Example:
        >>> with atomic_output(Path("scored.jsonl")) as out:   # doctest: +SKIP
        ...     _ = out.write('{"reward": 0.75}')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
