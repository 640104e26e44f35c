"""The ``--report DIR`` output: a Markdown report with its PNG plots.

Example:
    >>> from reward_judge.eval import evaluate                                       # doctest: +SKIP
    >>> report = evaluate("mt-bench", data="mt_bench_eval.json", reward_model=rm,     # doctest: +SKIP
    ...                   limit=16, report_dir="eval-report")
    >>> sorted(report.files)                                                         # doctest: +SKIP
    ['calibration', 'groups', 'report', 'scores']
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Union

from .plots import calibration, chosen_vs_rejected, confusion_matrix, group_metrics, score_vs_label
from .summary import EvalReport


def _plots(report: EvalReport, directory: Path) -> dict[str, Path]:
    details, title = report.details, report.benchmark
    made: dict[str, Path] = {}
    if report.kind == "pairwise":
        made["confusion"] = confusion_matrix(details["labels"], details["outputs"], details["swapped_back"],
                                                   directory / "confusion.png", f"{title}: verdicts vs human labels")
    elif report.kind == "absolute":
        made["scores"] = score_vs_label(details["labels"], details["judge"], directory / "scores.png",
                                              f"{title}: judge score vs label")
    elif report.kind == "preference":
        made["scores"] = chosen_vs_rejected(details["chosen"], details["rejected"], details["outcomes"],
                                                  directory / "scores.png", f"{title}: chosen vs rejected")
    if report.calibration and report.calibration["bins"]:
        made["calibration"] = calibration(report.calibration, directory / "calibration.png",
                                                f"{title}: calibration of the judge's probabilities")
    made["groups"] = group_metrics(report.groups, report.overall, report.metric_names[:3],
                                         directory / "groups.png", f"{title}: per group")
    return made


def write_report(report: EvalReport, directory: Union[str, Path]) -> dict[str, str]:
    """Write ``report.md`` and its plots into ``directory``; returns ``{name: path}`` of the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    made = _plots(report, directory)
    judge = report.judge
    if report.source == "judged" and judge:
        how = (f"judged by `{judge.get('name')}` (protocol `{judge.get('protocol')}`, mode `{judge.get('mode')}`"
               + (f", default rubric `{judge['rubric']}`" if judge.get("rubric") else "") + ")")
    else:
        how = "replayed from " + ", ".join(f"`{p}`" for p in report.predictions.values())
    lines = [
        f"# `{report.benchmark}` meta-evaluation",
        "",
        f"- data: `{report.data}`, {report.n} items" + (f" (limit {report.limit}, spread over the file)" if report.limit else ""),
        f"- verdicts: {how}" + (f", {report.runs} runs per item" if report.runs > 1 else ""),
        f"- method: {report.method}",
        f"- written {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "## Metrics",
        "",
        report.table(),
        "",
        "## Judging",
        "",
        report.judging_table(),
        "",
    ]
    if report.judging.get("failure_reasons"):
        lines += ["Most frequent reasons for a missing verdict:", ""]
        lines += [f"- {count} x {reason}" for reason, count in report.judging["failure_reasons"].items()]
        lines.append("")
    if report.calibration:
        lines += ["## Calibration", "",
                  f"Expected calibration error {report.calibration['ece']:.3f} over {report.calibration['n']} verdicts "
                  "with a probability (score-distribution modes).", ""]
    lines += ["## Plots", ""]
    lines += [f"![{name}]({path.name})" for name, path in made.items()]
    if report.predictions:
        lines += ["", "## Prediction files", ""]
        lines += [f"- {name}: `{path}`" for name, path in report.predictions.items()]
    if report.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in report.notes]
    markdown = directory / "report.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = {name: str(path) for name, path in made.items()}
    files["report"] = str(markdown)
    return files
