"""The throughput targets of issue 14 as ratios of rollouts/s within one benchmark run (printed, never asserted).

Example:
    >>> rows = target_ratios({"generate": 2.0, "expected": 1.9, "loop": 0.2, "direct": 4.0})
    >>> [(r["target"], r["ratio"]) for r in rows if r["ratio"] is not None]
    [('direct >= 10x loop', 20.0), ('expected >= 0.9x generate', 0.95)]
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

#: (method, reference method, minimum ratio of their rollouts/s, what the reference is)
TARGETS = (
    ("direct", "loop", 10.0, "the model cards' loop"),
    ("direct", "llamacpp-prompt-eval", 2.0, "llama.cpp prompt evaluation with prefix reuse"),
    ("generate", "llamacpp-generate", 1.5, "llama.cpp generation, one sequence at a time"),
    ("expected", "generate", 0.9, "our generate mode"),
    # issue 19: vLLM as the engine
    ("vllm-direct", "direct", 1.5, "our transformers backend's direct mode"),
    ("vllm-generate", "generate", 2.0, "our transformers backend's generate mode"),
    ("openai-vllm-direct-multi", "openai-vllm-direct", 0.5,
     "single-token answers over the same vLLM server (our OpenAI backend)"),
    ("vllm-generate", "prometheus-eval-vllm-first-pass", 1.0,
     "prometheus-eval's VLLM class, its first pass, at the same feedback budget"),
)


def target_ratios(rates: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per target: the measured ratio (None when a side was not measured) and whether it is met."""
    rows = []
    for method, reference, minimum, what in TARGETS:
        ratio: Optional[float] = None
        if method in rates and reference in rates and rates[reference] > 0:
            ratio = rates[method] / rates[reference]
        rows.append({"method": "target", "target": f"{method} >= {minimum:g}x {reference}", "reference": what,
                     "ratio": ratio, "minimum": minimum, "met": None if ratio is None else ratio >= minimum})
    return rows


def print_targets(rates: Mapping[str, float], bounds: Optional[Mapping[str, str]] = None) -> list[dict[str, Any]]:
    """Print the targets as measured in this run; returns the rows (for ``--json``).

    ``bounds`` (method -> text) is the measurement that bounds a method's rate (the engine's own time, what it
    computed): printed under a target that is missed, for both of its sides.
    """
    rows = target_ratios(rates)
    print("\ntargets (rollouts/s ratios in this run; not asserted):")
    for row in rows:
        if row["ratio"] is None:
            print(f"  {row['target']} ({row['reference']}): not measured in this run")
            continue
        verdict = "met" if row["met"] else "NOT met"
        print(f"  {row['target']} ({row['reference']}): {row['ratio']:.2f}x, {verdict}")
        if not row["met"] and bounds:
            method, _, rest = row["target"].partition(" >= ")
            for side in (method, rest.split("x ", 1)[-1]):
                if side in bounds:
                    print(f"      bound, {side}: {bounds[side]}")
                    row.setdefault("bounds", {})[side] = bounds[side]
    return rows
