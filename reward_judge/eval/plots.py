"""PNG plots of an evaluation (matplotlib's Agg renderer; no display, no global pyplot state).

- pairwise sets: confusion matrix of verdicts against human labels, per order;
- absolute sets: the judge's score against the label, as a scatter and as a heat map of counts;
- HHH-alignment: the chosen response's score against the rejected one's (integer scores are spread a
  little so that piled-up points show; continuous scores are drawn where they are);
- distribution modes: a calibration (reliability) plot of the judge's probability against the observed rate;
- every set: the headline metrics per group.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Optional, Sequence

PAIR_NAMES = ("first better", "second better", "tie")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _spread(values: Sequence[float], seed: int) -> list[float]:
    """Integer scores pile up on one point: spread them a little so a crowd is visible. Other values stay put."""
    if not all(float(v).is_integer() for v in values):
        return list(values)
    rng = random.Random(seed)
    return [v + rng.uniform(-0.08, 0.08) for v in values]


def _annotated_counts(ax: Any, counts: list[list[int]], xlabels: Sequence[str], ylabels: Sequence[str]) -> None:
    top = max(max(row) for row in counts) or 1
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=top, aspect="auto")
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            ax.text(c, r, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    ax.set_xticks(range(len(xlabels)), labels=list(xlabels), rotation=20)
    ax.set_yticks(range(len(ylabels)), labels=list(ylabels))


def confusion_matrix(labels: Sequence[int], outputs: Sequence[Optional[int]],
                     swapped_back: Optional[Sequence[Optional[int]]], path: Path, title: str) -> Path:
    """Verdicts (columns: first better, second better, tie, none) against labels (rows), per order."""
    panels = [("as shown", outputs)] + ([("swapped, mapped back", swapped_back)] if swapped_back is not None else [])
    figure = _figure(4.6 * len(panels), 3.8)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, verdicts) in zip(axes, panels, strict=True):
        counts = [[0] * 4 for _ in range(3)]
        for label, verdict in zip(labels, verdicts, strict=True):
            counts[label][3 if verdict is None else verdict] += 1
        _annotated_counts(ax, counts, [*PAIR_NAMES, "no verdict"], PAIR_NAMES)
        ax.set_xlabel("judge verdict")
        ax.set_ylabel("human label")
        ax.set_title(name)
    figure.suptitle(title)
    return _save(figure, path)


def score_vs_label(labels: Sequence[float], judge: Sequence[Optional[float]], path: Path, title: str) -> Path:
    """Scatter (integer values spread a little) and heat map of the judge's score against the label, items with a score."""
    pairs = [(label, score) for label, score in zip(labels, judge, strict=True) if score is not None]
    figure = _figure(10, 4.2)
    left, right = figure.subplots(1, 2)
    left.scatter(_spread([l for l, _ in pairs], 0), _spread([s for _, s in pairs], 1), s=14, alpha=0.6)
    left.set_xlabel("label (mean)")
    left.set_ylabel("judge score (mean over runs)")
    left.set_title(f"{len(pairs)} items with a judge score")
    if pairs:
        xs = sorted({math.floor(l + 0.5) for l, _ in pairs})
        ys = sorted({math.floor(s + 0.5) for _, s in pairs})
        counts = [[0] * len(xs) for _ in ys]
        for label, score in pairs:
            counts[ys.index(math.floor(score + 0.5))][xs.index(math.floor(label + 0.5))] += 1
        _annotated_counts(right, counts, [str(x) for x in xs], [str(y) for y in ys])
        right.invert_yaxis()
    right.set_xlabel("label (rounded)")
    right.set_ylabel("judge score (rounded)")
    right.set_title("counts")
    figure.suptitle(title)
    return _save(figure, path)


def chosen_vs_rejected(chosen: Sequence[Optional[float]], rejected: Sequence[Optional[float]], outcomes: Sequence[str],
                       path: Path, title: str) -> Path:
    """The chosen response's score against the rejected one's; points above the diagonal are right."""
    figure = _figure(5.2, 4.6)
    ax = figure.subplots()
    colours = {"right": "tab:green", "wrong": "tab:red", "tie": "tab:orange"}
    for outcome, colour in colours.items():
        points = [(r, c) for c, r, o in zip(chosen, rejected, outcomes, strict=True)
                  if o == outcome and c is not None and r is not None]
        ax.scatter(_spread([r for r, _ in points], 0), _spread([c for _, c in points], 1),
                   s=14, alpha=0.6, color=colour, label=f"{outcome} ({len(points)})")
    values = [v for v in (*chosen, *rejected) if v is not None]
    if values:
        low, high = min(values) - 0.3, max(values) + 0.3
        ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set_xlabel("rejected response: judge score")
    ax.set_ylabel("chosen response: judge score")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return _save(figure, path)


def calibration(calibration_table: dict[str, Any], path: Path, title: str) -> Path:
    """Reliability plot: per probability bin, the observed rate of right verdicts against the mean probability."""
    figure = _figure(5.2, 4.6)
    ax = figure.subplots()
    bins = calibration_table["bins"]
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfectly calibrated")
    ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
           width=[b["high"] - b["low"] for b in bins], alpha=0.35, edgecolor="black", label="observed rate per bin")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", color="tab:blue",
            label="mean probability per bin")
    for b in bins:
        ax.annotate(str(b["count"]), ((b["low"] + b["high"]) / 2, b["accuracy"]), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("judge's probability of its verdict")
    ax.set_ylabel("share of verdicts that match the label")
    ece = calibration_table.get("ece")
    ax.set_title(f"{title}\nexpected calibration error {ece:.3f}" if ece is not None else title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def group_metrics(groups: dict[str, dict[str, Any]], overall: dict[str, Any], names: Sequence[str], path: Path,
                  title: str) -> Path:
    """Horizontal bars of the headline metrics for each group and overall."""
    rows = [*groups.items(), ("Overall", overall)]
    figure = _figure(7.5, 0.45 * len(rows) * max(1, len(names)) / 1.5 + 1.6)
    ax = figure.subplots()
    height = 0.8 / len(names)
    for k, name in enumerate(names):
        column = [figures.get(name) for _, figures in rows]
        positions = [r + k * height for r in range(len(rows))]
        ax.barh(positions, [0 if v is None else v for v in column], height=height, label=name)
        for position, value in zip(positions, column, strict=True):
            ax.text(0 if value is None else value, position, " -" if value is None else f" {value:.2f}",
                    va="center", fontsize=7)
    ax.set_yticks([r + height * (len(names) - 1) / 2 for r in range(len(rows))], labels=[g for g, _ in rows])
    shown = [v for _, figures in rows for v in (figures.get(n) for n in names) if v is not None]
    low, high = min([0.0, *shown]), max([0.0, *shown])
    ax.set_xlim(low * 1.15, high * 1.15 if high > 0 else 1.0)  # room for the value labels
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(figure, path)
