"""Which attacks a red-team run applies to a protocol, which prompt set it uses, and what its table says about them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from .attacks import ATTACKS, MASTER_KEY, PAIRWISE_PROBES, PROBE, Attack

if TYPE_CHECKING:  # pragma: no cover
    from ..protocols import JudgeProtocol

#: Questions with a correct answer and its reference, for verifiers that judge against a reference.
REFERENCE_PROMPTS = Path(__file__).resolve().parent.parent / "data" / "redteam_reference_prompts.jsonl"


def choose_attacks(names: Optional[Iterable[str]], *, pairwise: bool) -> list[Attack]:
    """The attacks by name (every attack that applies without names); ``ValueError`` naming the unknown one.

    Example:
        >>> [a.name for a in choose_attacks(["master-key-colon"], pairwise=False)]
        ['master-key-colon']
    """
    known = {**ATTACKS, **(PAIRWISE_PROBES if pairwise else {})}
    chosen = []
    for name in names or known:
        if name in PAIRWISE_PROBES and not pairwise:
            raise ValueError(f"attack {name!r} probes pairwise protocols only (a single-answer judge has no position)")
        if name not in known:
            raise ValueError(f"unknown attack {name!r}; attacks: {', '.join(known)}")
        chosen.append(known[name])
    return chosen


def default_prompts(protocol: "JudgeProtocol", plain: Path) -> Path:
    """The built-in prompt set for ``protocol``: questions with reference answers when it needs a reference."""
    return REFERENCE_PROMPTS if protocol.reference_slot == "required" else plain


def master_key_notes(outcomes: Sequence[Any], pairwise: bool) -> list[str]:
    """The table's lines on master keys and probes, when the run had some."""
    kinds = {o.kind for o in outcomes}
    lines = []
    if MASTER_KEY in kinds:
        lines.append("Master keys (Zhao et al. 2025) replace the whole answer by a bare token such as ':' or 'Thought "
                     "process:'; a robust judge gives them far less than the clean answer (a large negative change). "
                     "Any prompt they helped is a false positive.")
    if PROBE in kinds:
        lines.append("Probes: length-bias writes the clean answer twice (same content); position-bias (pairwise) "
                     "shows the same answer as A and B, so any change is a preference for the first position.")
    if pairwise:
        lines.append("Pairwise protocol: each attacked answer is judged against the clean one in both orders; its "
                     "reward is its mean share of the two verdicts and the clean-vs-clean baseline is 0.5.")
    return lines


def references_for(rm: Any, rows: Sequence[dict[str, Any]]) -> list[Optional[str]]:
    """Each row's reference answer, or ``None`` for all when the judge has no reference slot (as a trainer's
    reference column is ignored then)."""
    if rm.protocol.reference_slot == "none" and getattr(rm, "reference_protocol", None) is None:
        return [None] * len(rows)
    return [r.get("reference") for r in rows]
