"""Reading benchmark and prediction files record by record, with the line each record starts on.

Benchmarks come as JSONL (Auto-J's test set, custom data, prediction files) or as one indented JSON
array (the Prometheus sets). Both are read into ``(line, record)`` pairs so that every error can name
the file, the line and the field, as `EvalDataError` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

from ..jsonl import JsonlError, read_jsonl


class EvalDataError(ValueError):
    """A benchmark or prediction file holds something that cannot be evaluated.

    The message starts with ``path:line`` and names the field, so the bad record can be found at once.

    Example:
        >>> err = EvalDataError("data.jsonl", 3, "label", "must be 0, 1 or 2", 7)
        >>> str(err)
        "data.jsonl:3: field 'label' must be 0, 1 or 2, got 7"
    """

    _UNSET = object()

    def __init__(self, path: Any, line: Optional[int], field: Optional[str], problem: str, value: Any = _UNSET):
        self.path, self.line, self.field = str(path), line, field
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field {field!r} {problem}" if field else problem
        shown = "" if value is EvalDataError._UNSET else f", got {_short(value)}"
        super().__init__(f"{where}: {what}{shown}")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, record)`` for each object of a JSONL file or of a JSON array file.

    A file whose first non-blank character is ``[`` is a JSON array; each element's line is where
    the element starts. Anything that is not a JSON object raises `EvalDataError`.

    Example:
        >>> rows = read_records(Path("tests/data/eval/prometheus/mt_bench_excerpt.json"))  # doctest: +SKIP
        >>> line, row = next(rows)                                                          # doctest: +SKIP
        >>> line, row["category"]                                                           # doctest: +SKIP
        (2, 'writing')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    with path.open(encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("["):
        yield from _read_json_array(path)
        return
    yield from _read_jsonl(path)


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from read_jsonl(path)
    except JsonlError as exc:
        raise EvalDataError(path, exc.line, None, exc.problem) from None


def _read_json_array(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    line = 1 + text.count("\n", 0, pos)
    counted = pos

    def skip(at: int) -> int:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        return at

    def line_of(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    pos = skip(pos)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        if pos >= len(text):
            raise EvalDataError(path, line_of(len(text)), None, "the JSON array is not closed with ']'")
        start_line = line_of(pos)
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise EvalDataError(path, exc.lineno, None, f"is not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise EvalDataError(path, start_line, None, "each element must be a JSON object", type(value).__name__)
        yield start_line, value
        pos = skip(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return
        raise EvalDataError(path, line_of(min(pos, len(text))), None, "expected ',' or ']' between array elements")
