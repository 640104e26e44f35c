"""`EvalReport`: what one evaluation found, as an object, as JSON and as a table for the console."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

#: the headline metrics of each kind of benchmark, in the order tables show them
HEADLINE = {
    "pairwise": ("agreement", "consistency"),
    "absolute": ("pearson", "spearman", "kendall"),
    "preference": ("accuracy",),
    "rewardbench": ("accuracy",),
    "rewardbench-2": ("accuracy",),
    "judgebench": ("accuracy",),
    "rm-bench": ("hard", "normal", "easy", "accuracy"),
}
#: What the Overall row of each leaderboard benchmark holds.
OVERALL_NAME = {"rewardbench": "Score (mean of the 4 sections)", "rewardbench-2": "Score (mean of the subsets)",
                "judgebench": "Overall", "rm-bench": "Overall (means over the domains)"}
KEVAL = ("diff_score", "accuracy", "wrong")


@dataclass
class EvalReport:
    """The result of `evaluate`: metrics overall and per group, how the judging went, and the files written.

    ``to_dict()`` is the ``--json`` document: ``{"benchmark", "n", "overall": {metric: value},
    "groups": {group: {metric: value}}, "judging": {coverage, parse_failure_rate, fallbacks, judge_seconds,
    ...}, ...}``. For ``autoj-pairwise`` the metrics are ``agreement`` and ``consistency`` in percent,
    rounded to two decimals as Auto-J prints them; for the absolute sets ``pearson``, ``spearman`` and
    ``kendall``; for ``hhh-alignment`` ``accuracy`` in percent. The leaderboard benchmarks report
    ``accuracy`` in percent per subset (RewardBench, RewardBench 2), category (JudgeBench) or domain
    (RM-Bench, with ``hard``, ``normal``, ``easy``); RewardBench's ``overall`` also has its ``sections``.

    Example:
        >>> from reward_judge.eval import evaluate                                                # doctest: +SKIP
        >>> report = evaluate("autoj-pairwise", data="testdata_pairwise.jsonl",                   # doctest: +SKIP
        ...                   predictions="pairwise_example_output.jsonl",
        ...                   predictions_swapped="pairwise_exchange_example_output.jsonl")
        >>> report.overall                                                                        # doctest: +SKIP
        {'agreement': 54.96, 'consistency': 83.41, 'n': 1392}
    """

    benchmark: str
    kind: str
    data: str
    n: int
    overall: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    judging: dict[str, Any]
    method: str
    source: str
    judge: Optional[dict[str, Any]] = None
    limit: Optional[int] = None
    runs: int = 1
    calibration: Optional[dict[str, Any]] = None
    predictions: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-item details (those are in the prediction files)."""
        return {
            "benchmark": self.benchmark, "kind": self.kind, "data": self.data, "n": self.n,
            "overall": self.overall, "groups": self.groups, "judging": self.judging, "method": self.method,
            "source": self.source, "judge": self.judge, "limit": self.limit, "runs": self.runs,
            "calibration": self.calibration, "predictions": self.predictions, "files": self.files,
            "notes": self.notes,
        }

    def write_json(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @property
    def metric_names(self) -> tuple[str, ...]:
        names = HEADLINE[self.kind]
        if self.kind == "absolute" and "diff_score" in self.overall:
            names = names + KEVAL
        return names

    def table(self) -> str:
        """The metrics as a Markdown table: one row per group, then Overall (as Auto-J prints them)."""
        names = self.metric_names
        rows = [["group", *names, "n"]]
        for group, values in self.groups.items():
            rows.append([group, *(format_value(name, values.get(name)) for name in names), str(values.get("n", ""))])
        for section, value in (self.overall.get("sections") or {}).items():  # RewardBench's four sections
            rows.append([f"section: {section}", format_value(names[0], value), ""])
        rows.append([OVERALL_NAME.get(self.kind, "Overall"), *(format_value(name, self.overall.get(name)) for name in names),
                     str(self.overall.get("n", ""))])
        return markdown_table(rows)

    def judging_table(self) -> str:
        """Coverage, parse failures, fallbacks, cache hits and judge time as a two-column table."""
        j = self.judging
        rows = [["", "value"],
                ["items with a valid verdict", f"{j['items_with_verdict']} of {j['items']} ({format_percent(j['coverage'])})"],
                ["judge answers", str(j["answers"])],
                ["answers without a valid verdict", f"{j['answers_without_verdict']} ({format_percent(j['parse_failure_rate'])})"],
                ["fallbacks", _or_dash(j.get("fallbacks"))],
                ["answers retried", _or_dash(j.get("retried"))],
                ["cache hits", _or_dash(j.get("cache_hits"))],
                ["judge time", "-" if j.get("judge_seconds") is None else f"{j['judge_seconds']:.1f} s"]]
        return markdown_table(rows)


PERCENT = frozenset({"agreement", "consistency", "accuracy", "diff_score", "hard", "normal", "easy"})


def format_value(name: str, value: Any) -> str:
    """Percentages rounded to two decimals and printed as Auto-J prints them (``47.5``), correlations with four."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return str(round(value, 2)) if name in PERCENT else f"{value:.4f}"
    return str(value)


def format_percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
