"""Rows -> groups -> entrants: which completions are judged against each other.

A group is the rollouts of one prompt in a call: rows with the same prompt (as the judge sees it), the
same reference, rubric and anchor (or the same explicit group id). Inside a group, completions the judge
would see as the same text are one *entrant* with several copies, so they get the same reward and cost
one set of judge calls. Entrants are ordered by their text, never by input position: a group's judge
requests and rewards do not change when its rows are shuffled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..rollout_text import completion_text, prompt_text
from ..rubric import Rubric


@dataclass(frozen=True)
class Row:
    """One rollout as the group layer needs it (picklable: processes exchange rows)."""

    prompt: Any
    completion: Any
    reference: Optional[str] = None
    rubric: Any = None
    anchor: Any = None
    group: Any = None


@dataclass
class Entrant:
    """Identical completions of a group: their text, and the row indices (gathered batch) that hold them."""

    text: str
    rows: list[int] = field(default_factory=list)

    @property
    def copies(self) -> int:
        return len(self.rows)


@dataclass
class Group:
    """The rows of one prompt; ``entrants`` in canonical (text) order, ``rows`` in input order."""

    index: int
    key: str
    rows: list[int]
    entrants: list[Entrant]

    def entrant_of(self, row: int) -> int:
        for k, entrant in enumerate(self.entrants):
            if row in entrant.rows:
                return k
        raise KeyError(row)


def _rubric_key(rubric: Any) -> Any:
    if rubric is None or isinstance(rubric, str):
        return rubric
    if isinstance(rubric, Rubric):
        return rubric.render()
    return repr(rubric)


def group_key(row: Row, index: int = 0) -> str:
    """The key that puts ``row`` in its group: rows with equal keys are one group (``index`` names the row in errors).

    Example:
        >>> group_key(Row("q", "a")) == group_key(Row([{"role": "user", "content": "q"}], "b"))
        True
    """
    where = f"[{index}]"
    return json.dumps([row.group, prompt_text(row.prompt, f"prompts{where}"), row.reference, _rubric_key(row.rubric),
                       None if row.anchor is None else completion_text(row.anchor, f"anchors{where}")],
                      ensure_ascii=False, default=str)


def form_groups(rows: Sequence[Row]) -> list[Group]:
    """The groups of ``rows`` in order of first appearance, each with its entrants.

    An explicit ``group`` id partitions the rows first: rows are grouped only with rows of the same id (and
    the same prompt, reference, rubric and anchor), so callers can keep apart the candidates of two equal
    prompts (best-of-N) or the requests of two clients (a server batching them into one call).

    Example:
        >>> groups = form_groups([Row("q", "a"), Row("p", "x"), Row("q", "b"), Row("q", "a")])
        >>> [(g.rows, [(e.text, e.rows) for e in g.entrants]) for g in groups]
        [([0, 2, 3], [('a', [0, 3]), ('b', [2])]), ([1], [('x', [1])])]
    """
    by_key: dict[str, Group] = {}
    for i, row in enumerate(rows):
        key = group_key(row, i)
        group = by_key.get(key)
        if group is None:
            group = by_key[key] = Group(len(by_key), key, [], [])
        group.rows.append(i)
    for group in by_key.values():
        texts: dict[str, Entrant] = {}
        for i in group.rows:
            text = completion_text(rows[i].completion, f"completions[{i}]")
            texts.setdefault(text, Entrant(text)).rows.append(i)
        group.entrants = [texts[t] for t in sorted(texts)]
    return list(by_key.values())
