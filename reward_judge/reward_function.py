"""The TRL reward-function contract: a trainer's call in, ``list[float | None]`` out.

TRL (GRPO, RLOO, Online DPO) calls each reward function with ``prompts``, ``completions``,
``completion_ids``, every dataset column as a keyword (one value per completion), ``trainer_state`` and
the ``log_extra`` / ``log_metric`` hooks. `reward_call` maps such a call onto
`GenerativeRewardModel.score`: the columns named by ``reference_column`` and ``rubric_column`` reach the
judge (the others are ignored), an anchor column feeds ``pairing="anchor"``, and the judge's feedback
and counters go back through the hooks (`report_to_trainer`). `GenerativeRewardModel.__call__` is
`reward_call`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional, Sequence

from .groups.pairing import ANCHOR, member_anchor
from .groups.rewarder import is_groupwise
from .metrics import trainer_metrics
from .result import JudgeResult

logger = logging.getLogger(__name__)

_noted: set[tuple[str, str]] = set()


def note_once(name: str, key: str, message: str) -> None:
    """Log ``message`` at INFO once per (reward name, key) in this process (an ignored column, say)."""
    if (name, key) not in _noted:
        _noted.add((name, key))
        logger.info(message)


def anchor_column(rm: Any, kwargs: dict[str, Any]) -> Optional[Any]:
    """The anchor responses of ``pairing="anchor"`` on a dataset column, from a reward call's ``kwargs`` (``None``
    for any other pairing, a member anchor or a pointwise protocol); a missing column is an error naming it."""
    groups = rm.config.group_options
    if groups.pairing != ANCHOR or member_anchor(groups.anchor) is not None or not is_groupwise(rm.protocol):
        return None
    anchors = kwargs.get(groups.anchor)
    if anchors is None:
        raise ValueError(f"pairing='anchor' with anchor={groups.anchor!r}: the reward call has no column "
                         f"{groups.anchor!r} (columns: {sorted(k for k in kwargs if not k.startswith('log_'))})")
    return anchors


def reward_call(rm: Any, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                **kwargs: Any) -> list[Optional[float]]:
    """A TRL reward call on reward model ``rm``: one reward per completion, ``None`` where the judge gave none.

    Example:
        >>> rm = GenerativeRewardModel.from_pretrained("default")                           # doctest: +SKIP
        >>> reward_call(rm, ["What is 2+2?"], ["4"], reference=["4"], trainer_state=None)  # doctest: +SKIP
        [0.66]
    """
    cfg = rm.config
    reference = kwargs.get(cfg.reference_column) if cfg.reference_column else None
    rubric = kwargs.get(cfg.rubric_column) if cfg.rubric_column else None
    # A dataset column that another reward uses must not break a judge without that slot.
    if reference is not None and rm.protocol.reference_slot == "none" and rm.reference_protocol is None:
        note_once(rm.__name__, "reference",
                   f"column {cfg.reference_column!r} ignored: protocol {rm.protocol.name} has no reference slot")
        reference = None
    if rubric is not None and not rm.protocol.uses_rubric:
        note_once(rm.__name__, "rubric", f"column {cfg.rubric_column!r} ignored: protocol {rm.protocol.name} has no "
                                          "rubric slot")
        rubric = None
    started = time.perf_counter()
    results = rm.score(prompts, completions, reference=reference, rubric=rubric, anchors=anchor_column(rm, kwargs),
                       gather=cfg.group_options.gather_groups)
    if cfg.log_feedback:
        report_to_trainer(rm.__name__, results, time.perf_counter() - started, kwargs.get("log_extra"),
                          kwargs.get("log_metric"))
    return [r.reward for r in results]


def report_to_trainer(name: str, results: Sequence[JudgeResult], seconds: float,
                      log_extra: Optional[Callable[..., Any]] = None,
                      log_metric: Optional[Callable[..., Any]] = None) -> None:
    """Send the judge's feedback (``log_extra``: a ``<name>_feedback`` column of TRL's completions table) and the
    batch's metrics (``log_metric``, see `reward_judge.metrics.trainer_metrics`) through TRL's reward-function hooks.

    Example:
        >>> logged = {}
        >>> report_to_trainer("judge", [JudgeResult(ok=True, feedback="Good.")], 0.5, log_metric=logged.__setitem__)
        >>> logged["judge/judge_seconds"]
        0.5
    """
    if callable(log_extra):
        log_extra(f"{name}_feedback", [r.feedback if r.ok else f"[no valid answer: {r.error}] {r.raw[:200]}"
                                       for r in results])
    if callable(log_metric):
        for metric, value in trainer_metrics(name, results, seconds).items():
            log_metric(metric, value)
