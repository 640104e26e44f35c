"""The benchmarks `evaluate` knows, what their files hold, and readers that check every field.

Each reader returns one item per record, in file order, and raises `EvalDataError` naming the file, the
line and the field of the first bad record (missing field, wrong type, label out of range).

| benchmark | file | item |
|---|---|---|
| ``autoj-pairwise`` | Auto-J ``testdata_pairwise.jsonl``: ``scenario``, ``label`` (0/1/2), ``prompt``, ``response 1``, ``response 2`` | `PairItem` |
| ``mt-bench``, ``vicuna`` | Prometheus ``*_eval.json``: ``category``, ``instruction`` (a rendered Prometheus prompt), ``gpt4_score`` (1-5 each) | `AbsoluteItem` |
| ``hhh-alignment`` | Prometheus ``hhh_alignment_eval.json``: ``source``, ``chosen_instruction``, ``rejected_instruction`` | `PreferenceItem` |
| ``custom-absolute`` | JSONL: ``prompt``, ``response``, ``label`` (a number), optional ``reference``, ``rubric``, ``group`` | `AbsoluteItem` |
| ``custom-pairwise`` | JSONL: ``prompt``, ``response_a``, ``response_b``, ``label`` (0/``"A"``, 1/``"B"``, 2/``"tie"``), optional ``reference``, ``rubric``, ``group`` | `PairItem` |
| ``rewardbench``, ``rewardbench-2``, ``judgebench``, ``rm-bench`` | see `reward_judge.eval.leaderboard_data` | |
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from .autoj_scenarios import AUTOJ_GROUPS, SCENARIO_GROUP
from .prometheus_prompt import split_prometheus_prompt
from .judgebench import CATEGORIES
from .leaderboard_data import read_judgebench, read_rewardbench, read_rewardbench_2, read_rm_bench
from .rewardbench import RB2_SUBSETS, SUBSET_ORDER
from .rmbench import DOMAINS
from .fields import Item, group_field, non_empty, number_field, require, text_field
from .records import EvalDataError, read_records

RubricValue = Union[str, Mapping[str, Any], None]


@dataclass(frozen=True)
class PairItem(Item):
    """Two responses to one prompt and which one people preferred: 0 the first, 1 the second, 2 a tie."""

    response_a: str
    response_b: str
    label: int
    reference: Optional[str] = None
    rubric: RubricValue = None


@dataclass(frozen=True)
class AbsoluteItem(Item):
    """One response with a numeric label (for the Prometheus sets, the mean of GPT-4's scores)."""

    response: str
    label: float
    reference: Optional[str] = None
    rubric: RubricValue = None


@dataclass(frozen=True)
class PreferenceItem(Item):
    """A chosen and a rejected response to one prompt, each to be scored on its own (HHH-alignment)."""

    chosen: str
    rejected: str
    rubric: RubricValue = None


Item = Union[PairItem, AbsoluteItem, PreferenceItem]


def _rubric(path: Path, line: int, row: dict[str, Any]) -> RubricValue:
    value = row.get("rubric")
    if value is None or isinstance(value, (str, Mapping)):
        return value
    raise EvalDataError(path, line, "rubric", "must be a string (a built-in name or rubric text) or a mapping", value)


_PAIR_LABELS: dict[Any, int] = {"A": 0, "B": 1, "tie": 2, "TIE": 2, "Tie": 2}


def _pair_label(path: Path, line: int, row: dict[str, Any], names_allowed: bool) -> int:
    value = require(path, line, row, "label")
    if not isinstance(value, bool) and isinstance(value, int) and value in (0, 1, 2):
        return value
    if names_allowed and isinstance(value, str) and value in _PAIR_LABELS:
        return _PAIR_LABELS[value]
    allowed = "0, 1, 2 (or 'A', 'B', 'tie')" if names_allowed else "0 (first better), 1 (second better) or 2 (tie)"
    raise EvalDataError(path, line, "label", f"must be {allowed}", value)


# ------------------------------------------------------------------ readers
def read_autoj_pairwise(path: Union[str, Path]) -> list[PairItem]:
    """Auto-J's pairwise test set (1,392 pairs, 58 scenarios in 8 groups)."""
    path = Path(path)
    items = []
    for line, row in read_records(path):
        scenario = text_field(path, line, row, "scenario")
        if scenario not in SCENARIO_GROUP:
            raise EvalDataError(path, line, "scenario", "is not one of Auto-J's 58 scenarios", scenario)
        items.append(PairItem(
            index=len(items), line=line, group=SCENARIO_GROUP[scenario],  # type: ignore[index]
            prompt=text_field(path, line, row, "prompt"),  # type: ignore[arg-type]
            response_a=text_field(path, line, row, "response 1"),  # type: ignore[arg-type]
            response_b=text_field(path, line, row, "response 2"),  # type: ignore[arg-type]
            label=_pair_label(path, line, row, names_allowed=False),
        ))
    return non_empty(path, items)


def _gpt4_scores(path: Path, line: int, row: dict[str, Any]) -> list[float]:
    scores = require(path, line, row, "gpt4_score")
    if not isinstance(scores, list) or not scores:
        raise EvalDataError(path, line, "gpt4_score", "must be a non-empty list of scores 1-5", scores)
    for score in scores:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 5:
            raise EvalDataError(path, line, "gpt4_score", "must hold scores between 1 and 5", score)
    return scores


def _split(path: Path, line: int, row: dict[str, Any], name: str):
    text = text_field(path, line, row, name)
    try:
        return split_prometheus_prompt(text)  # type: ignore[arg-type]
    except ValueError as exc:
        raise EvalDataError(path, line, name, str(exc)) from None


def read_prometheus_absolute(path: Union[str, Path]) -> list[AbsoluteItem]:
    """A Prometheus absolute set (``mt_bench_eval.json``, ``vicuna_eval.json``); the label is the mean GPT-4 score."""
    path = Path(path)
    items = []
    for line, row in read_records(path):
        fields = _split(path, line, row, "instruction")
        items.append(AbsoluteItem(
            index=len(items), line=line, group=text_field(path, line, row, "category"),  # type: ignore[arg-type]
            prompt=fields.instruction, response=fields.response,
            label=statistics.mean(_gpt4_scores(path, line, row)),
            reference=fields.reference, rubric=fields.rubric,
        ))
    return non_empty(path, items)


def read_hhh_alignment(path: Union[str, Path]) -> list[PreferenceItem]:
    """Prometheus' HHH-alignment set: chosen and rejected responses as rendered absolute prompts."""
    path = Path(path)
    items = []
    for line, row in read_records(path):
        chosen = _split(path, line, row, "chosen_instruction")
        rejected = _split(path, line, row, "rejected_instruction")
        if rejected.instruction != chosen.instruction:
            raise EvalDataError(path, line, "rejected_instruction", "has another instruction than chosen_instruction")
        if rejected.rubric != chosen.rubric:
            raise EvalDataError(path, line, "rejected_instruction", "has another score rubric than chosen_instruction")
        items.append(PreferenceItem(
            index=len(items), line=line, group=text_field(path, line, row, "source"),  # type: ignore[arg-type]
            prompt=chosen.instruction, chosen=chosen.response, rejected=rejected.response, rubric=chosen.rubric,
        ))
    return non_empty(path, items)


def read_custom_absolute(path: Union[str, Path], label_range: Optional[Sequence[float]] = None) -> list[AbsoluteItem]:
    """Your own JSONL: ``prompt``, ``response``, numeric ``label``; optional ``reference``, ``rubric``, ``group``.

    With ``label_range=(low, high)`` a label outside it is an error.
    """
    path = Path(path)
    items = []
    for line, row in read_records(path):
        label = number_field(path, line, "label", require(path, line, row, "label"))
        if label_range is not None and not label_range[0] <= label <= label_range[1]:
            raise EvalDataError(path, line, "label", f"is outside label_range {label_range[0]:g}-{label_range[1]:g}", label)
        items.append(AbsoluteItem(
            index=len(items), line=line, group=group_field(path, line, row, "group"),
            prompt=text_field(path, line, row, "prompt"), response=text_field(path, line, row, "response"),  # type: ignore[arg-type]
            label=label, reference=text_field(path, line, row, "reference", optional=True), rubric=_rubric(path, line, row),
        ))
    return non_empty(path, items)


def read_custom_pairwise(path: Union[str, Path]) -> list[PairItem]:
    """Your own JSONL: ``prompt``, ``response_a``, ``response_b``, ``label``; optional ``reference``, ``rubric``, ``group``."""
    path = Path(path)
    items = []
    for line, row in read_records(path):
        items.append(PairItem(
            index=len(items), line=line, group=group_field(path, line, row, "group"),
            prompt=text_field(path, line, row, "prompt"),  # type: ignore[arg-type]
            response_a=text_field(path, line, row, "response_a"), response_b=text_field(path, line, row, "response_b"),  # type: ignore[arg-type]
            label=_pair_label(path, line, row, names_allowed=True),
            reference=text_field(path, line, row, "reference", optional=True), rubric=_rubric(path, line, row),
        ))
    return non_empty(path, items)


# ------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class Benchmark:
    """A benchmark `evaluate` can run: how its file is read and what kind of judgement it asks for.

    ``kind`` is ``"pairwise"`` (agreement and consistency, Auto-J's way), ``"absolute"`` (correlations
    with the labels), ``"preference"`` (accuracy of scoring chosen above rejected), or the name of a
    leaderboard benchmark with its own counting (``"rewardbench"``, ``"rewardbench-2"``, ``"judgebench"``,
    ``"rm-bench"``).

    Example:
        >>> get_benchmark("autoj-pairwise").kind
        'pairwise'
    """

    name: str
    kind: str
    reader: Callable[..., list[Any]]
    description: str
    group_order: tuple[str, ...] = ()
    keval_metrics: bool = False

    def read(self, path: Union[str, Path], label_range: Optional[Sequence[float]] = None) -> list[Any]:
        if label_range is not None and self.name != "custom-absolute":
            raise ValueError(f"label_range applies to custom-absolute only, not to {self.name!r}")
        return self.reader(path, label_range) if label_range is not None else self.reader(path)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b for b in (
        Benchmark("autoj-pairwise", "pairwise", read_autoj_pairwise,
                  "Auto-J pairwise test set: agreement with human labels and consistency under swapped order",
                  group_order=tuple(AUTOJ_GROUPS)),
        Benchmark("mt-bench", "absolute", read_prometheus_absolute,
                  "Prometheus MT-Bench set: correlation with the mean of three GPT-4 scores"),
        Benchmark("vicuna", "absolute", read_prometheus_absolute,
                  "Prometheus Vicuna-bench set: correlation with the mean of three GPT-4 scores"),
        Benchmark("hhh-alignment", "preference", read_hhh_alignment,
                  "HHH-alignment: accuracy of scoring the chosen response above the rejected one",
                  group_order=("helpful", "harmless", "honest", "other")),
        Benchmark("custom-absolute", "absolute", read_custom_absolute,
                  "your JSONL with numeric labels: correlations, and keval's diff score for integer labels",
                  keval_metrics=True),
        Benchmark("custom-pairwise", "pairwise", read_custom_pairwise,
                  "your JSONL with preference labels: agreement and consistency"),
        Benchmark("rewardbench", "rewardbench", read_rewardbench,
                  "RewardBench v1 (prompt, chosen, rejected, subset, id): per-subset accuracy, the four sections "
                  "weighted as RewardBench weights them, and their mean", group_order=SUBSET_ORDER),
        Benchmark("rewardbench-2", "rewardbench-2", read_rewardbench_2,
                  "RewardBench 2 (1 chosen vs 3 rejected; Ties): best-of-4 or ratings, the Ties score, the mean of "
                  "the subsets", group_order=RB2_SUBSETS),
        Benchmark("judgebench", "judgebench", read_judgebench,
                  "JudgeBench (question, response_A, response_B, label 'A>B'): both orders, its accuracy per "
                  "category", group_order=tuple(CATEGORIES)),
        Benchmark("rm-bench", "rm-bench", read_rm_bench,
                  "RM-Bench (3 chosen x 3 rejected styles): hard, normal and easy accuracy per domain",
                  group_order=DOMAINS),
    )
}

#: The benchmarks whose pairs a pairwise judge compares (a judge preset's pairwise protocol is used for them).
PAIRWISE_KINDS = frozenset({"pairwise", "rewardbench", "judgebench", "rm-bench"})


def get_benchmark(name: str) -> Benchmark:
    """A benchmark by name; ``ValueError`` lists the known ones."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
