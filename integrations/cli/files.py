"""Input files of the commands: a whole input file is checked before any judge loads, so a bad line is named at
once (outputs are written through `reward_judge.jsonl.atomic_output`: a failed run leaves none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

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

