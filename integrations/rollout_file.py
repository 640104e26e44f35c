"""The rollout files of ``reward-judge score``, one line at a time: a bad line is a bad row, not a stopped job.

Each line is read and checked on its own. A line that is not a JSON object, lacks a field, or holds a
value the judge cannot take becomes a *bad row*: it is written in place (its own fields, when it has any,
then ``ok: false``, no score or reward, and ``error`` saying what is wrong and on which line) and counted.
The other rows of its chunk are judged together as usual. The single-process command and the Ray Data
job (`reward_judge.integrations.ray_data`) both cut the file with `plan_chunks` and judge chunks with
`judge_records`, so for the same input file and chunk size they write the same records.

With a group protocol (listwise: rows of one prompt are judged against each other, `group_key`) a chunk
holds whole groups: the file is read whole first, its groups are packed into chunks of about ``chunk_size``
rows (a larger group is one chunk of its own), and `InOrder` puts the judged rows back in input order, so a
row's reward depends neither on the chunk size nor on where its group's rows are in the file.

An input field named like a result field (``score``, ``reward``, ... `RESERVED_FIELDS`) is kept under
``input_<name>`` (``input_input_<name>`` when that is taken too, and so on) rather than overwritten.

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
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Optional, Sequence, TypeVar

from reward_judge.backends.base import LogprobsUnsupported
from reward_judge.groups import is_groupwise
from reward_judge.groups.grouping import Row, group_key as _row_group_key
from reward_judge.rollout_text import completion_text, prompt_text

logger = logging.getLogger(__name__)

RESULT_FIELDS = ("score", "reward", "feedback", "ok", "fallback", "error", "attempts", "cached", "truncated",
                 "distribution")
"""What ``score`` adds to every input row (``winner`` for pairwise protocols, ``judge_output`` with ``--raw``)."""

RESERVED_FIELDS = RESULT_FIELDS + ("winner", "judge_output")
"""Output field names an input field never keeps: such an input field is renamed (`input_name`), whatever the flags."""

T = TypeVar("T")


def input_name(name: str, taken: Iterable[str]) -> str:
    """Where an input field ``name`` that is a result field goes: ``input_<name>``, or ``input_input_<name>``
    (and so on) when the input already has that field too.

    Example:
        >>> input_name("score", ["score", "prompt"]), input_name("score", ["score", "input_score"])
        ('input_score', 'input_input_score')
    """
    taken = set(taken)
    renamed = f"input_{name}"
    while renamed in taken:
        renamed = f"input_{renamed}"
    return renamed


def keep_input_fields(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The input fields of an output record (result-field names renamed by `input_name`, in place), and the
    renames (``{old: new}``; empty when nothing was renamed).

    Example:
        >>> keep_input_fields({"prompt": "Q", "score": 5, "input_score": "x"})
        ({'prompt': 'Q', 'input_input_score': 5, 'input_score': 'x'}, {'score': 'input_input_score'})
    """
    renames = {key: input_name(key, row) for key in row if key in RESERVED_FIELDS}
    if not renames:
        return dict(row), {}
    return {renames.get(key, key): value for key, value in row.items()}, renames


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
    """The output line of one judged rollout: the input fields, then what the judge said and how the reward was made.

    An input field named like a result field is kept under another name (`keep_input_fields`), never overwritten.
    """
    record, _ = keep_input_fields(row)
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

    It is not a judge failure: no fallback reward is applied (``fallback: false``, ``attempts: 0``). Input
    fields named like result fields are kept under another name, as in `record_of`.
    """
    record, _ = keep_input_fields(line.row or {})
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


def grouped(rm: Any) -> bool:
    """Whether `judge_records` judges ``rm``'s rows against each other: a group protocol called without
    ``completion_b`` (listwise; a pairwise protocol's rows hold their own pair)."""
    return is_groupwise(rm.protocol) and not rm.protocol.pairwise


def group_key(row: dict[str, Any]) -> str:
    """The group of a good row as the judge forms it (`reward_judge.groups.grouping.group_key`): rows of the same
    prompt (as the judge reads it), reference and rubric are one group.

    Example:
        >>> group_key({"prompt": "Q", "completion": "a"}) == group_key({"prompt": "Q", "completion": "b"})
        True
    """
    return _row_group_key(Row(row["prompt"], row["completion"], row.get("reference"), row.get("rubric")))


def line_group_key(line: InputLine) -> Optional[str]:
    """`group_key` of a good line; ``None`` for a bad one (it joins no group)."""
    return group_key(line.row) if line.ok else None  # type: ignore[arg-type]


def plan_chunks(items: Iterable[T], chunk_size: int, key: Optional[Callable[[T], Optional[str]]] = None
                ) -> Iterator[list[tuple[int, T]]]:
    """The chunks to judge, as ``(position, item)`` (``position`` counts the items from 0), each in position order.

    Without ``key``: runs of ``chunk_size`` consecutive items, read as they are needed (a stream). With ``key``
    (an item's group; ``None`` for an item that joins none): every item is read first, the items of one key go
    into one chunk, and the groups are packed into chunks in order of first appearance, a chunk closing before a
    group that would take it past ``chunk_size``; a group larger than ``chunk_size`` is a chunk of its own. The
    chunks are then not in input order: `InOrder` puts what is judged back in it.

    Example:
        >>> [[p for p, _ in chunk] for chunk in plan_chunks("abcab", 2)]
        [[0, 1], [2, 3], [4]]
        >>> [[p for p, _ in chunk] for chunk in plan_chunks("abcab", 2, key=str)]
        [[0, 3], [1, 4], [2]]
        >>> [[p for p, _ in chunk] for chunk in plan_chunks("abaaa", 2, key=str)]
        [[0, 2, 3, 4], [1]]
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if key is None:
        numbered = enumerate(items)
        while chunk := list(islice(numbered, chunk_size)):
            yield chunk
        return
    groups: dict[tuple[bool, Any], list[tuple[int, T]]] = {}
    for position, item in enumerate(items):
        name = key(item)
        groups.setdefault((False, position) if name is None else (True, name), []).append((position, item))
    chunk: list[tuple[int, T]] = []
    for members in groups.values():
        if chunk and len(chunk) + len(members) > chunk_size:
            yield sorted(chunk, key=lambda entry: entry[0])
            chunk = []
        chunk.extend(members)
    if chunk:
        yield sorted(chunk, key=lambda entry: entry[0])


class InOrder(Generic[T]):
    """Puts items that come back out of order (the chunks of `plan_chunks` with a key) back in position order.

    Example:
        >>> order = InOrder()
        >>> order.add(1, "b"), order.add(0, "a"), order.add(2, "c")
        ([], ['a', 'b'], ['c'])
    """

    def __init__(self) -> None:
        self.next = 0
        self._waiting: dict[int, T] = {}

    def add(self, position: int, item: T) -> list[T]:
        """Take the item at ``position``; return the items now next in line (possibly none), in order."""
        if position < self.next or position in self._waiting:
            raise ValueError(f"position {position} was given twice")
        self._waiting[position] = item
        ready = []
        while self.next in self._waiting:
            ready.append(self._waiting.pop(self.next))
            self.next += 1
        return ready

    @property
    def waiting(self) -> int:
        """How many items wait for an earlier one."""
        return len(self._waiting)


@dataclass(frozen=True)
class Judged:
    """One output row of `judge_records`: the record, what became of the row, its line number, and the input
    fields renamed because they are named like result fields (``{old: new}``, `keep_input_fields`)."""

    record: dict[str, Any]
    kind: str
    line: Optional[int]
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The record as the output line (JSON, non-ASCII kept as it is)."""
        return json.dumps(self.record, ensure_ascii=False)


def judge_records(rm: Any, lines: Sequence[InputLine], raw: bool = False, strict: bool = False) -> list[Judged]:
    """The output records of a chunk of input lines (in input order), its good rows judged in one call.

    A row the judge refuses (a rubric it cannot take, say: the call raises ``ValueError``/``TypeError``) is
    found by judging the chunk's rows alone, and becomes a bad row like a malformed line; with ``strict``
    the error is raised instead, naming the lines. With a group protocol (`grouped`) the rows are judged
    against the other rows of their group in the chunk, so a chunk should hold whole groups (`plan_chunks`);
    the search for a refused row then judges each group alone, and a refused group's other rows together.
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
            by_group = grouped(rm)
            logger.warning("judging %s failed (%s): judging each %s alone to find the bad one", where, exc,
                           "group" if by_group else "row")
            results, refused = _isolate(rm, good, pairwise, by_group)
        for (k, line), result in zip(good, results, strict=True):
            if result is not None:
                out[k] = Judged(record_of(line.row, result, raw), SCORED if result.ok else FAILED,  # type: ignore[arg-type]
                                line.number, keep_input_fields(line.row)[1])  # type: ignore[arg-type]
    for k, line in [(k, line) for k, line in enumerate(lines) if not line.ok] + refused:
        out[k] = Judged(bad_record(line, raw), BAD, line.number, keep_input_fields(line.row or {})[1])
    return [out[k] for k in range(len(lines))]


def _isolate(rm: Any, good: Sequence[tuple[int, InputLine]], pairwise: bool, by_group: bool
             ) -> tuple[list[Any], list[tuple[int, InputLine]]]:
    """One result per good row (``None`` for a refused one) and the refused rows, judging each row alone, or
    with ``by_group`` each group alone and, in a group the judge refuses, each row alone to find the refused
    ones, then the group's other rows together (a group is never judged in parts)."""
    results: list[Any] = [None] * len(good)
    refused: list[tuple[int, InputLine]] = []
    units: dict[Any, list[int]] = {}
    for j, (_, line) in enumerate(good):
        units.setdefault(group_key(line.row) if by_group else j, []).append(j)  # type: ignore[arg-type]

    def refuse(j: int, why: Exception) -> None:
        k, line = good[j]
        refused.append((k, InputLine(line.number, line.row, str(why))))

    for members in units.values():
        try:
            judged = _score(rm, [good[j][1].row for j in members], pairwise)  # type: ignore[misc]
        except LogprobsUnsupported:
            raise
        except (TypeError, ValueError) as exc:
            if len(members) == 1:
                refuse(members[0], exc)
                continue
            accepted = []
            for j in members:
                try:
                    _score(rm, [good[j][1].row], pairwise)  # type: ignore[list-item]
                except LogprobsUnsupported:
                    raise
                except (TypeError, ValueError) as alone:
                    refuse(j, alone)
                else:
                    accepted.append(j)
            try:
                rows = [good[j][1].row for j in accepted]
                judged = _score(rm, rows, pairwise) if rows else []  # type: ignore[arg-type]
            except LogprobsUnsupported:
                raise
            except (TypeError, ValueError) as together:  # no row alone is refused, the group is
                for j in accepted:
                    refuse(j, together)
                continue
            members = accepted
        for j, result in zip(members, judged, strict=True):
            results[j] = result
    return results, refused


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
    renamed: dict[str, set[str]] = field(default_factory=dict)
    """Input fields kept under another name (`keep_input_fields`): each old name and the names it got."""

    def add(self, kind: str, line: Optional[int], renamed: Optional[dict[str, str]] = None) -> None:
        self.rows += 1
        for old, new in (renamed or {}).items():
            self.renamed.setdefault(old, set()).add(new)
        if kind == BAD:
            self.bad_lines.append(line)  # type: ignore[arg-type]
        elif kind == FAILED:
            self.failed += 1

    def warn_renamed(self) -> None:
        """Log one warning naming the input fields that were kept under another name (nothing when none were).

        Example:
            >>> tally = ScoreTally()
            >>> tally.add(SCORED, 1, {"score": "input_score"})
            >>> tally.warn_renamed()  # logs: ... input fields named like result fields ...: score -> input_score
        """
        if self.renamed:
            names = ", ".join(f"{old} -> {' / '.join(sorted(new))}" for old, new in sorted(self.renamed.items()))
            logger.warning("input fields named like result fields were kept under another name, not overwritten: %s",
                           names)

    def summary(self, protocol: str, mode: str, fallback: Any, target: Path) -> str:
        judged = self.rows - len(self.bad_lines)
        text = (f"judged {judged} rollouts with {protocol} ({mode} mode): {judged - self.failed} scored, "
                f"{self.failed} fell back (fallback={fallback!r})")
        if self.bad_lines:
            shown = ", ".join(map(str, self.bad_lines[:10])) + (", ..." if len(self.bad_lines) > 10 else "")
            text += (f"; {len(self.bad_lines)} bad input rows written in place with ok: false and the error "
                     f"(lines {shown}; --strict stops at the first)")
        return text + f"; wrote {target}"
