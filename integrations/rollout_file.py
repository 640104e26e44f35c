"""The rollout files of ``reward-judge score``, one line at a time: a bad line is a bad row, not a stopped job.

Each line is read and checked on its own. A line that is not a JSON object, lacks a field, or holds a
value the judge cannot take becomes a *bad row*: it is written in place (its own fields, when it has any,
then ``ok: false``, no score or reward, and ``error`` saying what is wrong and on which line) and counted.
The other rows of its chunk are judged together as usual. The single-process command and the Ray Data
job (`reward_judge.integrations.ray_data`) both judge chunks with `judge_records`, so for the same input
file and chunk size they write the same records.

Lines are split on ``\\n`` only (a JSON text holds no raw newline; Unicode line separators such as
U+2028 may appear inside strings and stay there), blank lines are skipped and keep their numbers.

Example:
    >>> line = parse_line(3, b'{"prompt": "Q"}', RowSpec(pairwise=False))
    >>> line.problem
    "missing field 'completion' (fields: ['prompt'])"
    >>> bad_record(line)["error"]
    "bad input row (line 3): missing field 'completion' (fields: ['prompt'])"
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from reward_judge.backends.base import LogprobsUnsupported
from reward_judge.rollout_text import completion_text, prompt_text

logger = logging.getLogger(__name__)

RESULT_FIELDS = ("score", "reward", "feedback", "ok", "fallback", "error", "attempts", "cached", "truncated",
                 "distribution")
"""What ``score`` adds to every input row (``winner`` for pairwise protocols, ``judge_output`` with ``--raw``)."""


@dataclass(frozen=True)
class RowSpec:
    """The fields a row needs: ``prompt`` and ``completion`` (and ``completion_b`` for a pairwise protocol)."""

    pairwise: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return ("prompt", "completion") + (("completion_b",) if self.pairwise else ())

    def check(self, row: dict[str, Any]) -> None:
        """Raise ``ValueError``/``TypeError`` naming the field when the row cannot be judged."""
        missing = [key for key in self.required if key not in row]
        if missing:
            raise ValueError(f"missing field {missing[0]!r} (fields: {sorted(row)})")
        prompt_text(row["prompt"], "prompt")
        for key in self.required[1:]:
            completion_text(row[key], key)
        reference = row.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise TypeError(f"reference must be a string or null, got {type(reference).__name__}: {reference!r:.80}")


@dataclass(frozen=True)
class InputLine:
    """One non-blank line of the input: its number (from 1; ``None`` for a row of a dataset), and the row it
    holds or what is wrong with it."""

    number: Optional[int]
    row: Optional[dict[str, Any]] = None
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each non-blank line of ``path``, read as a stream (never the whole file)."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield number, raw


def parse_line(number: int, raw: bytes, spec: RowSpec) -> InputLine:
    """The row on one line, checked by ``spec``; the problem instead when there is one (never raises)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InputLine(number, problem=f"is not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return InputLine(number, problem=f"is not valid JSON ({exc.msg})")
    except RecursionError:
        return InputLine(number, problem="is not valid JSON (nested too deeply)")
    if not isinstance(row, dict):
        return InputLine(number, problem=f"each line must be a JSON object, got {type(row).__name__}")
    try:
        spec.check(row)
    except (TypeError, ValueError) as exc:
        return InputLine(number, row, problem=str(exc))
    return InputLine(number, row)


def record_of(row: dict[str, Any], result: Any, raw: bool = False) -> dict[str, Any]:
    """The output line of one judged rollout: the input fields, then what the judge said and how the reward was made."""
    record = dict(row)
    record.update(score=result.score, reward=result.reward, feedback=result.feedback, ok=result.ok,
                  fallback=result.fallback, error=result.error, attempts=result.attempts, cached=result.cached,
                  truncated=result.truncated, distribution=result.distribution)
    if result.winner is not None:
        record["winner"] = result.winner
    if raw:
        record["judge_output"] = result.raw
    return record


def bad_record(line: InputLine, raw: bool = False) -> dict[str, Any]:
    """The output line of a bad row: its fields when it is an object, no score and no reward, ``ok: false``.

    It is not a judge failure: no fallback reward is applied (``fallback: false``, ``attempts: 0``).
    """
    record = dict(line.row or {})
    record.update(score=None, reward=None, feedback=None, ok=False, fallback=False,
                  error=f"bad input row{'' if line.number is None else f' (line {line.number})'}: {line.problem}", attempts=0, cached=False, truncated=0,
                  distribution=None)
    if raw:
        record["judge_output"] = None
    return record


def _score(rm: Any, rows: Sequence[dict[str, Any]], pairwise: bool) -> list[Any]:
    # fallback="raise" raises JudgeFailure (a RuntimeError) here: the user asked the job to stop
    return rm.score([row["prompt"] for row in rows], [row["completion"] for row in rows],
                    reference=[row.get("reference") for row in rows], rubric=[row.get("rubric") for row in rows],
                    completions_b=[row["completion_b"] for row in rows] if pairwise else None)


SCORED, FAILED, BAD = "scored", "failed", "bad"
"""What became of a row: judged with a valid answer, judged without one (the fallback), or a bad input row."""


@dataclass(frozen=True)
class Judged:
    """One output row of `judge_records`: the record, what became of the row, and its line number."""

    record: dict[str, Any]
    kind: str
    line: Optional[int]

    @property
    def text(self) -> str:
        """The record as the output line (JSON, non-ASCII kept as it is)."""
        return json.dumps(self.record, ensure_ascii=False)


def judge_records(rm: Any, lines: Sequence[InputLine], raw: bool = False, strict: bool = False) -> list[Judged]:
    """The output records of a chunk of input lines (in input order), its good rows judged in one call.

    A row the judge refuses (a rubric it cannot take, say: the call raises ``ValueError``/``TypeError``) is
    found by judging the chunk's rows alone, and becomes a bad row like a malformed line; with ``strict``
    the error is raised instead, naming the lines.
    """
    pairwise = bool(rm.protocol.pairwise)
    good = [(k, line) for k, line in enumerate(lines) if line.ok]
    out: dict[int, Judged] = {}
    refused: list[tuple[int, InputLine]] = []
    if good:
        try:
            results: list[Any] = _score(rm, [line.row for _, line in good], pairwise)  # type: ignore[misc]
        except LogprobsUnsupported:
            raise
        except (TypeError, ValueError) as exc:
            where = _span(good[0][1], good[-1][1])
            if strict:
                raise ValueError(f"{where}: {exc}") from None
            logger.warning("judging %s failed (%s): judging each row alone to find the bad one", where, exc)
            results = []
            for k, line in good:
                try:
                    results.append(_score(rm, [line.row], pairwise)[0])  # type: ignore[list-item]
                except LogprobsUnsupported:
                    raise
                except (TypeError, ValueError) as alone:
                    results.append(None)
                    refused.append((k, InputLine(line.number, line.row, str(alone))))
        for (k, line), result in zip(good, results, strict=True):
            if result is not None:
                out[k] = Judged(record_of(line.row, result, raw), SCORED if result.ok else FAILED,  # type: ignore[arg-type]
                                line.number)
    for k, line in [(k, line) for k, line in enumerate(lines) if not line.ok] + refused:
        out[k] = Judged(bad_record(line, raw), BAD, line.number)
    return [out[k] for k in range(len(lines))]


def _span(first: InputLine, last: InputLine) -> str:
    if first.number is None or last.number is None:
        return "a batch of rows"
    return f"line {first.number}" if first.number == last.number else f"lines {first.number}-{last.number}"


@dataclass
class ScoreTally:
    """What a scoring job wrote: rows judged, how many got no valid answer, and the bad rows' line numbers.

    Example:
        >>> tally = ScoreTally()
        >>> for kind, line in ((SCORED, 1), (BAD, 2), (FAILED, 3)):
        ...     tally.add(kind, line)
        >>> tally.rows, tally.failed, tally.bad_lines
        (3, 1, [2])
    """

    rows: int = 0
    failed: int = 0
    bad_lines: list[int] = field(default_factory=list)

    def add(self, kind: str, line: Optional[int]) -> None:
        self.rows += 1
        if kind == BAD:
            self.bad_lines.append(line)  # type: ignore[arg-type]
        elif kind == FAILED:
            self.failed += 1

    def summary(self, protocol: str, mode: str, fallback: Any, target: Path) -> str:
        judged = self.rows - len(self.bad_lines)
        text = (f"judged {judged} rollouts with {protocol} ({mode} mode): {judged - self.failed} scored, "
                f"{self.failed} fell back (fallback={fallback!r})")
        if self.bad_lines:
            shown = ", ".join(map(str, self.bad_lines[:10])) + (", ..." if len(self.bad_lines) > 10 else "")
            text += (f"; {len(self.bad_lines)} bad input rows written in place with ok: false and the error "
                     f"(lines {shown}; --strict stops at the first)")
        return text + f"; wrote {target}"
