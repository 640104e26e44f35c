"""JudgeBench as its authors count it (``ScalerLab/JudgeBench`` ``run_judge.py`` and ``utils/metrics.py``).

Each pair is judged twice, as shown and with the two responses exchanged (unless ``--single_game``). The
second decision is flipped back (``A>B`` <-> ``B>A``; a tie or no decision stays). A pair is correct when
``counter > 0``, where each decision adds +1 when it equals the label and -1 when it equals the flipped
label: one right decision and one tie is correct, a right and a wrong one (inconsistent) is not, ties and
missing decisions are not. Accuracy is ``100 * n_correct / n_pairs``; with one game it is the share of
decisions equal to the label. JudgeBench prints it per category by the prefix of ``source``: mmlu-pro
(knowledge), livebench-reasoning, livebench-math, livecodebench (coding), and overall.

A judge that scores single answers decides as JudgeBench's reward-model judges do: ``A>B`` when the first
answer's score is higher, else ``B>A`` (equal scores are B>A), in one game.
"""

from __future__ import annotations

from typing import Optional, Sequence

LABELS = ("A>B", "B>A")
#: JudgeBench's categories and the ``source`` prefix that selects each.
CATEGORIES = {"knowledge": "mmlu-pro", "reasoning": "livebench-reasoning", "math": "livebench-math",
              "coding": "livecodebench"}


def category_of(source: str) -> Optional[str]:
    """The JudgeBench category of a ``source`` (``"mmlu-pro-physics"`` -> ``"knowledge"``), or ``None``."""
    return next((name for name, prefix in CATEGORIES.items() if source.startswith(prefix)), None)


def flip(decision: Optional[str]) -> Optional[str]:
    """``A>B`` <-> ``B>A``; anything else unchanged (JudgeBench's ``flip_judgment``)."""
    return {"A>B": "B>A", "B>A": "A>B"}.get(decision, decision) if decision is not None else None


def decision_of(winner: Optional[str]) -> Optional[str]:
    """A pairwise verdict as a JudgeBench decision: ``A>B``, ``B>A``, ``A=B`` for a tie, ``None`` for none."""
    return {"A": "A>B", "B": "B>A", "tie": "A=B"}.get(winner) if winner is not None else None


def score_decision(score_a: Optional[float], score_b: Optional[float]) -> Optional[str]:
    """JudgeBench's reward-model rule: ``A>B`` if the first score is higher, else ``B>A`` (``None`` without both)."""
    if score_a is None or score_b is None:
        return None
    return "A>B" if score_a > score_b else "B>A"


def pair_counter(label: str, decisions: Sequence[Optional[str]]) -> int:
    """The counter of one pair: ``decisions`` are in the original order (the second already flipped back).

    Example:
        >>> pair_counter("A>B", ["A>B", "A=B"]), pair_counter("A>B", ["A>B", "B>A"]), pair_counter("B>A", [None, "B>A"])
        (1, 0, 1)
    """
    return sum(1 if d == label else -1 if d == flip(label) else 0 for d in decisions)


def pair_correct(label: str, decisions: Sequence[Optional[str]]) -> int:
    """1 when the pair counts as correct: ``counter > 0`` with two games, ``decision == label`` with one."""
    if len(decisions) == 1:
        return int(decisions[0] == label)
    return int(pair_counter(label, decisions) > 0)
