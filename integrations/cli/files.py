"""Input and output files of the commands: a whole input file is checked before any judge loads, and an output
file appears only when a run finishes (written beside it, then moved into place), so a failed run leaves none."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from reward_judge.jsonl import JsonlError, read_jsonl

RowCheck = Callable[[dict[str, Any], str], None]


def check_input(path: Path, required: Sequence[str], check: Optional[RowCheck] = None, flag: str = "--input") -> int:
    """Read every line of ``path`` once: each must be a JSON object with the ``required`` fields (and pass
    ``check(row, where)``). Returns the number of rows; raises ``SystemExit`` naming the file, line and field."""
    if not path.is_file():
        raise SystemExit(f"{flag} {str(path)!r} does not exist")
    rows = 0
    try:
        for number, row in read_jsonl(path):
            where = f"{path}:{number}"
            missing = [key for key in required if key not in row]
            if missing:
                raise SystemExit(f"{where}: missing field {missing[0]!r} (fields: {sorted(row)})")
            if check is not None:
                try:
                    check(row, where)
                except (TypeError, ValueError) as exc:
                    raise SystemExit(f"{where}: {exc}") from None
            rows += 1
    except JsonlError as exc:
        raise SystemExit(str(exc)) from None
    if rows == 0:
        raise SystemExit(f"{flag} {str(path)!r} holds no rows")
    return rows


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[Any]:
    """A text file to write ``path`` through: it replaces ``path`` when the block ends without an error, and is
    removed otherwise (a crash or Ctrl-C leaves no empty or half-written output)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
