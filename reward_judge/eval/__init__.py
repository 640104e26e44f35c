"""Meta-evaluation: is this judge, with this protocol, mode and rubric, good enough to be a reward?

`evaluate` judges a public benchmark (Auto-J's pairwise set, the Prometheus MT-Bench, Vicuna and
HHH-alignment sets) or your own labelled JSONL with a reward model, or replays saved verdicts, and
reports the figures the judges' papers print: agreement and consistency (Auto-J), Pearson, Spearman and
Kendall tau-b (Prometheus), chosen-over-rejected accuracy, keval's diff score; plus coverage, parse
failures, fallbacks and judge time. Needs the ``eval`` extra (scipy, matplotlib).

Example:
    >>> from reward_judge.eval import evaluate                                            # doctest: +SKIP
    >>> report = evaluate("autoj-pairwise", data="testdata_pairwise.jsonl",               # doctest: +SKIP
    ...                   predictions="pairwise_example_output.jsonl",
    ...                   predictions_swapped="pairwise_exchange_example_output.jsonl")
    >>> report.overall["agreement"], report.overall["consistency"]                        # doctest: +SKIP
    (54.96, 83.41)
"""

from .datasets import BENCHMARKS, AbsoluteItem, Benchmark, PairItem, PreferenceItem, get_benchmark
from .records import EvalDataError
from .runner import evaluate, spread_selection
from .summary import EvalReport

__all__ = ["BENCHMARKS", "AbsoluteItem", "Benchmark", "EvalDataError", "EvalReport", "PairItem", "PreferenceItem",
           "evaluate", "get_benchmark", "spread_selection"]
