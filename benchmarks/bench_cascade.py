"""The uncertainty cascade's trade-off: how much of ``expected``'s cost it spends, and how close it stays to it.

    python benchmarks/bench_cascade.py                                   # embedded judge, rollouts + two eval sets
    python benchmarks/bench_cascade.py --thresholds 0,0.4,0.6,0.8,1 --sets vicuna,mt-bench,hhh-alignment \\
        --limit 12 --feedback-tokens 64 --plot cascade.png --json cascade.json

One run, one judge. Each workload is judged in ``direct`` and in ``expected`` mode (the reference), then in
``cascade`` mode at every threshold (a fresh reward model each time, no cache), and each run is timed. The
table gives, per threshold: the escalation rate, the cost (CPU seconds of the process on ``--threads 1``
by default, which a machine shared with other jobs does not inflate as it does wall time; wall seconds
beside it) and its ratio to ``expected``'s, and the agreement with ``expected``'s scores (mean |difference|
and Spearman's rank correlation over the items both scored). Workloads: ``rollouts`` (GRPO-like groups of completions, the Prometheus 2 prompt and the
helpfulness rubric) and the eval sets' ``--limit`` runs through `reward_judge.eval.evaluate` (for those,
the judge's correlation with GPT-4's labels is printed too).

The embedded judge is a 135M demonstration model: its uncertainty says little about when reasoning helps,
so the agreement figures here measure the mechanism, not a strong judge's quality. On a GPU, with a real
judge, the quality of each mode is measured against the human/GPT-4 labels with, for example:

    reward-judge eval vicuna --data vicuna_eval.json --judge prometheus-eval/prometheus-7b-v2.0 \\
        --mode cascade --cascade-threshold 0.7 --max-new-tokens 512 --report cascade-0.7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_rubrics import load_average, make_rollouts  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "eval" / "prometheus"
SHARED = Path("/work/shared/data/prometheus")
SETS = {"vicuna": "vicuna_eval", "mt-bench": "mt_bench_eval", "hhh-alignment": "hhh_alignment_eval"}


def data_file(name: str, folder: Optional[str]) -> Path:
    """The full benchmark file (``--data-dir``, else the shared data), or the excerpt shipped with the tests."""
    stem = SETS[name]
    for directory in ([Path(folder)] if folder else []) + [SHARED]:
        if (directory / f"{stem}.json").is_file():
            return directory / f"{stem}.json"
    return DATA / f"{stem}_excerpt.json"


def agreement(scores: list[Optional[float]], reference: list[Optional[float]]) -> dict[str, Any]:
    """Mean |difference| and Spearman's correlation with the reference scores, over items both have."""
    from reward_judge.eval.metrics import correlations

    pairs = [(a, b) for a, b in zip(scores, reference, strict=True) if a is not None and b is not None]
    if not pairs:
        return {"n": 0, "mean_abs_diff": None, "spearman": None}
    return {"n": len(pairs), "mean_abs_diff": sum(abs(a - b) for a, b in pairs) / len(pairs),
            "spearman": correlations([a for a, _ in pairs], [b for _, b in pairs])["spearman"]}


class Timer:
    """CPU seconds of this process and wall seconds of a block."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def confidences(results: list[Any]) -> list[float]:
    return [r.extra["cascade"]["confidence"] for r in results if r.extra and "cascade" in r.extra]


def rollout_run(rm: Any, prompts: list[str], completions: list[str]) -> dict[str, Any]:
    with Timer() as timer:
        results = rm.score(prompts, completions)
    return {"seconds": timer.cpu, "wall_seconds": timer.wall, "scores": [r.score for r in results],
            "confidences": confidences(results),
            "escalation_rate": rm.stats.escalation_rate if rm.config.mode == "cascade" else None}


def eval_run(rm: Any, benchmark: str, data: Path, limit: int, folder: Path) -> dict[str, Any]:
    from reward_judge.eval import evaluate

    with Timer() as timer:
        report = evaluate(benchmark, data, rm, limit=limit, report_dir=folder)
    scores: list[Optional[float]] = []
    with open(report.predictions["predictions"], encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "score" in record:  # absolute sets
                scores.append(record["score"])
            else:  # hhh-alignment: both responses of the pair (one run)
                scores += [record["chosen_scores"][0], record["rejected_scores"][0]]
    labels = {k: v for k, v in report.overall.items() if k in ("pearson", "spearman", "accuracy")}
    return {"seconds": timer.cpu, "wall_seconds": timer.wall, "scores": scores, "vs_labels": labels,
            "escalation_rate": rm.stats.escalation_rate if rm.config.mode == "cascade" else None}


def run_workload(name: str, base: Any, thresholds: list[float], call: Any) -> dict[str, Any]:
    """direct, expected, then the cascade at each threshold, each on a fresh reward model (no cache)."""
    runs: list[dict[str, Any]] = []
    for label, options in [("direct", {"mode": "direct"}), ("expected", {"mode": "expected"})] + [
            (f"cascade {t:g}", {"mode": "cascade", "cascade_threshold": t}) for t in thresholds]:
        rm = base.with_options(**options)
        run = call(rm, label)
        run["method"] = label
        run["threshold"] = options.get("cascade_threshold")
        runs.append(run)
        print(f"  {name}: {label} done in {run['seconds']:.1f} CPU s ({run['wall_seconds']:.1f} s wall)",
              file=sys.stderr, flush=True)
    expected = next(r for r in runs if r["method"] == "expected")
    for run in runs:
        run["cost_vs_expected"] = run["seconds"] / expected["seconds"]
        run["vs_expected"] = agreement(run["scores"], expected["scores"])
    return {"workload": name, "runs": runs}


def print_workload(result: dict[str, Any]) -> None:
    print(f"\n{result['workload']}")
    labelled = any("vs_labels" in r for r in result["runs"])
    head = (f"{'method':<14} {'escalated':>9} {'CPU s':>8} {'x expected':>10} {'wall s':>8} {'|diff| vs exp':>13} "
            f"{'Spearman vs exp':>15}")
    print(head + (f" {'vs labels':>22}" if labelled else ""))
    for r in result["runs"]:
        rate = "" if r["escalation_rate"] is None else f"{r['escalation_rate']:.0%}"
        agree = r["vs_expected"]
        diff = "" if agree["mean_abs_diff"] is None else f"{agree['mean_abs_diff']:.3f}"
        rho = "" if agree["spearman"] is None else f"{agree['spearman']:.3f}"
        line = (f"{r['method']:<14} {rate:>9} {r['seconds']:>8.1f} {r['cost_vs_expected']:>10.2f} "
                f"{r['wall_seconds']:>8.1f} {diff:>13} {rho:>15}")
        if labelled:
            labels = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in r.get("vs_labels", {}).items() if v is not None)
            line += f" {labels:>22}"
        print(line)
    seen = next((r["confidences"] for r in result["runs"] if r.get("confidences")), None)
    if seen:
        ordered = sorted(seen)
        print(f"direct-read confidence of the rollouts: min {ordered[0]:.3f}, median {ordered[len(ordered) // 2]:.3f}, "
              f"max {ordered[-1]:.3f}")


def plot(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cost_ax, diff_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for result in results:
        cascade = [r for r in result["runs"] if r["threshold"] is not None]
        thresholds = [r["threshold"] for r in cascade]
        cost_ax.plot(thresholds, [r["cost_vs_expected"] for r in cascade], marker="o", label=result["workload"])
        diff_ax.plot([r["cost_vs_expected"] for r in cascade],
                     [r["vs_expected"]["mean_abs_diff"] or 0.0 for r in cascade], marker="o", label=result["workload"])
        for r in cascade:
            diff_ax.annotate(f"{r['threshold']:g}", (r["cost_vs_expected"], r["vs_expected"]["mean_abs_diff"] or 0.0),
                             textcoords="offset points", xytext=(4, 4), fontsize=7)
    cost_ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    cost_ax.set(xlabel="cascade_threshold", ylabel="CPU seconds / expected's", title="cost of the cascade")
    diff_ax.set(xlabel="CPU seconds / expected's", ylabel="mean |score - expected score|",
                title="distance from expected (labels: threshold)")
    for ax in (cost_ax, diff_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="default", help="judge id or path ('default': the embedded judge)")
    parser.add_argument("--thresholds", default="0,0.5,0.7,0.9,1", help="comma-separated cascade thresholds")
    parser.add_argument("--measure", default="top_probability", choices=("top_probability", "entropy"))
    parser.add_argument("--feedback-tokens", type=int, default=48, help="max_new_tokens of the expected reads")
    parser.add_argument("--prompts", type=int, default=3, help="rollouts workload: prompts")
    parser.add_argument("--group", type=int, default=4, help="rollouts workload: completions per prompt")
    parser.add_argument("--completion-words", type=int, default=40)
    parser.add_argument("--sets", default="vicuna,mt-bench", help="eval sets (vicuna, mt-bench, hhh-alignment; "
                                                                 "empty for none)")
    parser.add_argument("--limit", type=int, default=8, help="items per eval set (spread over the file)")
    parser.add_argument("--data-dir", default=None, help="folder with the full Prometheus eval files")
    parser.add_argument("--plot", default="cascade_tradeoff.png", help="PNG written here ('' for none)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", dest="json_out", help="write the results here")
    args = parser.parse_args(argv)

    import torch

    from reward_judge import GenerativeRewardModel

    if args.threads:
        torch.set_num_threads(args.threads)

    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; load average {load_average()}")
    base = GenerativeRewardModel.from_pretrained(args.judge, protocol="prometheus-v2", rubric="helpfulness",
                                                 max_new_tokens=args.feedback_tokens, max_attempts=1,
                                                 cascade_measure=args.measure)
    results = []
    prompts, completions = make_rollouts(args.prompts, args.group, args.completion_words)
    result = run_workload(f"rollouts ({len(prompts)}, {args.completion_words} words each)", base, thresholds,
                          lambda rm, _: rollout_run(rm, prompts, completions))
    print_workload(result)
    results.append(result)
    with tempfile.TemporaryDirectory() as scratch:
        for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
            data = data_file(name, args.data_dir)
            result = run_workload(f"{name} --limit {args.limit} ({data.name})", base, thresholds,
                                  lambda rm, label: eval_run(rm, name, data, args.limit,
                                                             Path(scratch) / name / label.replace(" ", "_")))
            print_workload(result)
            results.append(result)
    print(f"\nload average after: {load_average()} (a shared machine: compare within this run only)")
    print("The embedded judge is a 135M demonstration model: these figures measure the cascade's mechanism and "
          "cost, not a strong judge's quality (see this file's docstring for the GPU command).")
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"thresholds": thresholds, "measure": args.measure, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
