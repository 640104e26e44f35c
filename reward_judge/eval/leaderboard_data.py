"""The files of RewardBench, RewardBench 2, JudgeBench and RM-Bench, read record by record with every field checked.

| benchmark | file | item |
|---|---|---|
| ``rewardbench`` | ``allenai/reward-bench`` (split ``filtered``): ``prompt``, ``chosen``, ``rejected``, ``subset``, ``id`` | `ChosenRejectedItem` |
| ``rewardbench-2`` | ``allenai/reward-bench-2``: ``id``, ``prompt``, ``chosen`` (list), ``rejected`` (list), ``subset``, optional ``num_correct`` | `BestOfItem` |
| ``judgebench`` | ``ScalerLab/JudgeBench``: ``pair_id``, ``question``, ``response_A``, ``response_B``, ``label`` (``"A>B"``/``"B>A"``), ``source`` | `LabelledPairItem` |
| ``rm-bench`` | ``THU-KEG/RM-Bench``: ``id``, ``prompt``, ``chosen`` (3), ``rejected`` (3), ``domain`` | `StyleItem` |

The data sets are the user's (they are not downloaded here); JSONL or a JSON array of records, the columns
above as the sources publish them (other columns are ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .fields import Item, non_empty, require, text_field
from .judgebench import LABELS, category_of
from .records import EvalDataError, read_records
from .rewardbench import ties_parts
from .rmbench import domain_of


@dataclass(frozen=True)
class ChosenRejectedItem(Item):
    """A RewardBench pair: the chosen and the rejected answer to one prompt; ``group`` is its subset."""

    item_id: Any
    chosen: str
    rejected: str


@dataclass(frozen=True)
class BestOfItem(Item):
    """A RewardBench 2 item: correct answers (``chosen``) and incorrect ones; ``ties`` marks the Ties subset."""

    item_id: str
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]
    ties: bool

    @property
    def completions(self) -> tuple[str, ...]:
        """Every answer, the correct ones first (completion ``i`` is correct when ``i < len(chosen)``)."""
        return self.chosen + self.rejected


@dataclass(frozen=True)
class LabelledPairItem(Item):
    """A JudgeBench pair with its objective label; ``group`` is its category (knowledge, reasoning, math, coding)."""

    item_id: str
    response_a: str
    response_b: str
    label: str
    source: str


@dataclass(frozen=True)
class StyleItem(Item):
    """An RM-Bench item: chosen and rejected answers in three styles each; ``group`` is its domain."""

    item_id: Any
    chosen: tuple[str, str, str]
    rejected: tuple[str, str, str]


def _identifier(path: Path, line: int, row: dict[str, Any], name: str, seen: dict[Any, int]) -> Any:
    value = require(path, line, row, name)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not value.strip()):
        raise EvalDataError(path, line, name, "must be an integer or a non-empty string", value)
    if value in seen:
        raise EvalDataError(path, line, name, f"repeats the id of line {seen[value]}", value)
    seen[value] = line
    return value


def _texts(path: Path, line: int, row: dict[str, Any], name: str, count: Union[int, None] = None) -> tuple[str, ...]:
    value = require(path, line, row, name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise EvalDataError(path, line, name, "must be a non-empty list of strings", value)
    if count is not None and len(value) != count:
        raise EvalDataError(path, line, name, f"must hold {count} answers, got {len(value)}")
    return tuple(value)


def _subset(path: Path, line: int, row: dict[str, Any], name: str) -> str:
    value = text_field(path, line, row, name)
    if not value or not value.strip():  # type: ignore[union-attr]
        raise EvalDataError(path, line, name, "must be a non-empty string", value)
    return value  # type: ignore[return-value]


def read_rewardbench(path: Union[str, Path]) -> list[ChosenRejectedItem]:
    """RewardBench v1 (``filtered``: 2,985 pairs in 23 subsets)."""
    path = Path(path)
    items: list[ChosenRejectedItem] = []
    seen: dict[Any, int] = {}
    for line, row in read_records(path):
        items.append(ChosenRejectedItem(
            index=len(items), line=line, group=_subset(path, line, row, "subset"),
            prompt=text_field(path, line, row, "prompt"),  # type: ignore[arg-type]
            item_id=_identifier(path, line, row, "id", seen),
            chosen=text_field(path, line, row, "chosen"), rejected=text_field(path, line, row, "rejected"),  # type: ignore[arg-type]
        ))
    return non_empty(path, items)


def read_rewardbench_2(path: Union[str, Path]) -> list[BestOfItem]:
    """RewardBench 2 (1,865 prompts): one chosen and three rejected answers, or, in Ties, several correct ones."""
    path = Path(path)
    items: list[BestOfItem] = []
    seen: dict[Any, int] = {}
    for line, row in read_records(path):
        subset = _subset(path, line, row, "subset")
        ties = subset.lower() == "ties"
        item_id = _identifier(path, line, row, "id", seen)
        chosen = _texts(path, line, row, "chosen", None if ties else 1)
        rejected = _texts(path, line, row, "rejected", None if ties else 3)
        if ties:
            try:
                ties_parts(str(item_id))
            except ValueError as exc:
                raise EvalDataError(path, line, "id", str(exc)) from None
        num_correct = row.get("num_correct", len(chosen))
        if num_correct != len(chosen) or isinstance(num_correct, bool):
            raise EvalDataError(path, line, "num_correct", f"must equal the number of chosen answers ({len(chosen)})",
                                num_correct)
        items.append(BestOfItem(index=len(items), line=line, group=subset,
                                prompt=text_field(path, line, row, "prompt"),  # type: ignore[arg-type]
                                item_id=str(item_id), chosen=chosen, rejected=rejected, ties=ties))
    return non_empty(path, items)


def read_judgebench(path: Union[str, Path]) -> list[LabelledPairItem]:
    """JudgeBench (350 GPT-4o pairs, or 270 Claude pairs): the label says which response is correct."""
    path = Path(path)
    items: list[LabelledPairItem] = []
    seen: dict[Any, int] = {}
    for line, row in read_records(path):
        label = require(path, line, row, "label")
        if label not in LABELS:
            raise EvalDataError(path, line, "label", "must be 'A>B' or 'B>A'", label)
        source = _subset(path, line, row, "source")
        items.append(LabelledPairItem(
            index=len(items), line=line, group=category_of(source) or source,
            prompt=text_field(path, line, row, "question"),  # type: ignore[arg-type]
            item_id=str(_identifier(path, line, row, "pair_id", seen)),
            response_a=text_field(path, line, row, "response_A"), response_b=text_field(path, line, row, "response_B"),  # type: ignore[arg-type]
            label=label, source=source,
        ))
    return non_empty(path, items)


def read_rm_bench(path: Union[str, Path]) -> list[StyleItem]:
    """RM-Bench (chat, code, math, safety): three chosen and three rejected answers per prompt."""
    path = Path(path)
    items: list[StyleItem] = []
    seen: dict[Any, int] = {}
    for line, row in read_records(path):
        domain = _subset(path, line, row, "domain")
        items.append(StyleItem(
            index=len(items), line=line, group=domain_of(domain) or domain,
            prompt=text_field(path, line, row, "prompt"),  # type: ignore[arg-type]
            item_id=_identifier(path, line, row, "id", seen),
            chosen=_texts(path, line, row, "chosen", 3), rejected=_texts(path, line, row, "rejected", 3),  # type: ignore[arg-type]
        ))
    return non_empty(path, items)
