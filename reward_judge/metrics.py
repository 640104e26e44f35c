"""Per-batch metrics a trainer logs for a judge reward: parse failures, fallbacks, cache hits, judge time, the
cascade's escalation rate, groups.

TRL's GRPO and RLOO log them through the reward function's ``log_metric`` hook (see
`reward_judge.reward_function`); other loops can call `trainer_metrics` on the results of `score`.
"""

from __future__ import annotations

from typing import Sequence

from .result import JudgeResult
from .rewarding import JUDGE_READ_CAUSES


def trainer_metrics(name: str, results: Sequence[JudgeResult], seconds: float) -> dict[str, float]:
    """Metrics of one batch of results, each named ``<name>/<metric>``.

    Example:
        >>> metrics = trainer_metrics("judge", [JudgeResult(ok=True, reward=0.5),
        ...                                     JudgeResult(fallback=True, fallback_cause="rollout")], 1.5)
        >>> metrics["judge/parse_failure_rate"], metrics["judge/fallbacks"], metrics["judge/rollout_fallbacks"]
        (0.5, 1.0, 1.0)
    """
    n = max(len(results), 1)
    return {
        f"{name}/parse_failure_rate": sum(not r.ok for r in results) / n,
        f"{name}/fallbacks": float(sum(r.fallback for r in results)),
        # the judge read the rollout and gave no verdict (a judge-breaker shows here, and whoever a group
        # compared only with judge-breakers: "unattributed")
        f"{name}/rollout_fallbacks": float(sum(r.fallback and r.fallback_cause in JUDGE_READ_CAUSES for r in results)),
        f"{name}/cache_hit_rate": sum(r.cached for r in results) / n,
        f"{name}/judge_seconds": seconds,
        **cascade_metrics(results, name),
        **group_metrics(results, name),
    }


def cascade_metrics(results: Sequence[JudgeResult], name: str) -> dict[str, float]:
    """``<name>/escalation_rate``: the share of a ``cascade`` batch's results escalated to ``expected``.

    Example:
        >>> escalated = JudgeResult(extra={"cascade": {"escalated": True}})
        >>> cascade_metrics([escalated, JudgeResult(extra={"cascade": {"escalated": False}})], "judge")
        {'judge/escalation_rate': 0.5}
    """
    records = [r.extra["cascade"] for r in results if r.extra and "cascade" in r.extra]
    if not records:
        return {}
    return {f"{name}/escalation_rate": sum(bool(c["escalated"]) for c in records) / len(records)}


def group_metrics(results: Sequence[JudgeResult], name: str) -> dict[str, float]:
    """Trainer metrics of group rewards: judge calls per group, position consistency, failed comparisons.

    Example:
        >>> r = JudgeResult(extra={"group": {"index": 0, "judge_calls": 12, "pairs": 6, "failed_pairs": 0,
        ...                                  "consistent_pairs": 3, "checked_pairs": 6}})
        >>> group_metrics([r], "judge")
        {'judge/judge_calls_per_group': 12.0, 'judge/failed_comparisons': 0.0, 'judge/position_consistency': 0.5}
    """
    summaries = {}
    for result in results:
        summary = result.extra.get("group") if result.extra else None
        if summary:
            summaries[summary["index"]] = summary
    if not summaries:
        return {}
    groups = list(summaries.values())
    metrics = {f"{name}/judge_calls_per_group": sum(g["judge_calls"] for g in groups) / len(groups)}
    if any("pairs" in g for g in groups):
        metrics[f"{name}/failed_comparisons"] = float(sum(g.get("failed_pairs", 0) for g in groups))
        checked = sum(g.get("checked_pairs", 0) for g in groups)
        if checked:
            metrics[f"{name}/position_consistency"] = sum(g.get("consistent_pairs", 0) for g in groups) / checked
    return metrics
