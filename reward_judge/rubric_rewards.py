"""Several rubrics of one judge as several TRL rewards, judged together: `RubricRewards` and `RubricReward`.

TRL's multi-objective GRPO (``reward_weights``, ``multi_objective_aggregation``) takes one reward function
per objective and calls them one after another with the same arguments. `GenerativeRewardModel.for_rubrics`
returns one `RubricReward` per rubric; they share a `RubricRewards`. The first call of a batch judges
every rubric of every rollout in one pass (one `JudgeRunner` call: its batching, the shared-prefix KV
reuse of a rollout's rubric variants, cache, deduplication, retries and isolation all apply per
(rollout, rubric) request), and the other functions' calls on the same batch are served from its results.

A call belongs to the batch judged last when its ``prompts``, ``completions``, judged columns and trainer
step are those of the judging call (the same objects, as TRL passes them, or equal ones) and its
function has not been served from that batch yet; anything else judges a new batch. Calls may come
concurrently (async rewards on TRL's event loop): they are serialised, and the ones that wait are served.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from .groups.rewarder import is_groupwise
from .reward_function import anchor_column, note_once, report_to_trainer
from .result import JudgeResult
from .rubric import Rubric, RubricLike, resolve_rubric

logger = logging.getLogger(__name__)

#: The `RubricRewards` alive in this process, by token: functions unpickled one by one find their shared state here.
_LIVE: "weakref.WeakValueDictionary[str, RubricRewards]" = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


def rubric_label(rubric: RubricLike, index: int) -> str:
    """A short name for a rubric in reward names: a built-in name as it is, otherwise ``rubric<index>``.

    Example:
        >>> rubric_label("helpfulness", 0), rubric_label("Is it kind?\\nScore 1: ...", 1)
        ('helpfulness', 'rubric1')
    """
    if isinstance(rubric, str) and rubric.replace("_", "").replace("-", "").isalnum() and len(rubric) <= 40:
        return rubric
    return f"rubric{index}"


@dataclass
class _Batch:
    """The last judged batch: the arguments it was judged for, its results per rubric, who was served."""

    key: tuple[Any, ...]
    results: list[list[JudgeResult]]
    seconds: float
    served: set[int] = field(default_factory=set)
    #: The judging call's exception: the batch's other rubric calls raise it too, not judge it all again.
    error: Optional[BaseException] = None


class RubricRewards:
    """The shared judging behind `GenerativeRewardModel.for_rubrics`: every rubric of a batch in one judge pass.

    ``functions`` are the TRL reward functions, one per rubric, in the order of ``rubrics``. ``score`` judges
    rollouts on every rubric directly (``results[j][i]``: rubric ``j``, rollout ``i``).

    Example:
        >>> rm = GenerativeRewardModel.from_pretrained("default", mode="direct")            # doctest: +SKIP
        >>> helpful, harmless, honest = rm.for_rubrics(["helpfulness", "harmlessness", "honesty"])  # doctest: +SKIP
        >>> trainer = GRPOTrainer(model, reward_funcs=[helpful, harmless, honest],          # doctest: +SKIP
        ...                       args=GRPOConfig(reward_weights=[1.0, 1.0, 0.5], ...))
    """

    def __init__(self, reward_model: Any, rubrics: Sequence[RubricLike], names: Optional[Sequence[str]] = None):
        if isinstance(rubrics, (str, bytes, Rubric)) or not isinstance(rubrics, Sequence):
            raise TypeError(f"rubrics must be a list of rubrics (names, Rubric objects, mappings, paths or texts), "
                            f"got {type(rubrics).__name__}: {str(rubrics)[:80]!r}")
        if not rubrics:
            raise ValueError("rubrics must name at least one rubric, got an empty list")
        protocols = reward_model.protocols
        if not any(p.uses_rubric for p in protocols):
            raise ValueError(f"protocol {reward_model.protocol.name!r} has no rubric slot: for_rubrics needs a rubric-based "
                             "protocol (prometheus-v2, prometheus-v1, ...)")
        resolved = [resolve_rubric(r) for r in rubrics]
        for j, rubric in enumerate(resolved):
            if rubric is None:
                raise ValueError(f"rubrics[{j}] is None; every entry must be a rubric")
            for protocol in protocols:
                if protocol.uses_rubric:
                    try:
                        protocol.rubric_text(rubric)  # validated now, not at the first training step
                    except ValueError as exc:
                        raise ValueError(f"rubrics[{j}]: {exc}") from None
        base = reward_model.__name__
        if names is None:
            names = [f"{base}-{rubric_label(r, j)}" for j, r in enumerate(rubrics)]
        names = list(names)
        if len(names) != len(rubrics) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"names must be {len(rubrics)} non-empty strings (one per rubric), got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct (TRL logs rewards/<name>/mean per reward), got {names!r}")
        with _LIVE_LOCK:
            self._bind(reward_model, resolved, names, uuid.uuid4().hex)

    def _bind(self, reward_model: Any, rubrics: list[Any], names: list[str], token: str) -> None:
        """Set up the shared state (also on unpickling) and register it under ``token`` (caller holds _LIVE_LOCK)."""
        self.reward_model = reward_model
        self.rubrics = rubrics
        self.names = names
        self.token = token
        self.functions = [RubricReward(self, j) for j in range(len(rubrics))]
        self._lock = threading.Lock()
        self._batch: Optional[_Batch] = None
        _LIVE[token] = self

    # ------------------------------------------------------------------ judging
    def score(self, prompts: Sequence[Any], completions: Sequence[Any], *, reference: Any = None,
              anchors: Any = None, gather: bool = False) -> list[list[JudgeResult]]:
        """Every rollout judged on every rubric in one pass: ``results[j][i]`` for rubric ``j``, rollout ``i``."""
        return self.reward_model.score_rubrics(prompts, completions, self.rubrics, reference=reference,
                                               anchors=anchors, gather=gather)

    def results_for(self, index: int, prompts: Sequence[Any], completions: Sequence[Any],
                    kwargs: dict[str, Any]) -> tuple[list[JudgeResult], float, bool]:
        """(rubric ``index``'s results for this call, judge seconds, whether they were served from the batch)."""
        rm = self.reward_model
        cfg = rm.config
        reference = kwargs.get(cfg.reference_column) if cfg.reference_column else None
        if reference is not None and all(p.reference_slot == "none" for p in rm.protocols):
            note_once(self.names[index], "reference", f"column {cfg.reference_column!r} ignored: protocol "
                                                      f"{rm.protocol.name} has no reference slot")
            reference = None
        if cfg.rubric_column and kwargs.get(cfg.rubric_column) is not None:
            note_once(self.names[index], "rubric", f"column {cfg.rubric_column!r} ignored: {self.names[index]} judges "
                                                   "its own rubric (for_rubrics)")
        anchors = anchor_column(rm, kwargs)
        state = kwargs.get("trainer_state")
        key = (prompts, completions, reference, anchors, getattr(state, "global_step", None))
        with self._lock:
            batch = self._batch
            if batch is not None and index not in batch.served and _same_call(batch.key, key):
                batch.served.add(index)
                rm.stats.rubric_calls_served += 1
                self._release_if_done(batch)
                if batch.error is not None:  # the judging call failed: every rubric of the batch fails with it
                    raise batch.error
                return batch.results[index], 0.0, True
            started = time.perf_counter()
            results: list[list[JudgeResult]] = []
            error: Optional[BaseException] = None
            try:
                # a group split across processes is gathered, as the single reward model's call does: every rank
                # makes the same calls in the same order, so each judges (and gathers) on the same call
                results = self.score(prompts, completions, reference=reference, anchors=anchors,
                                     gather=is_groupwise(rm.protocol) and cfg.group_options.gather_groups)
            except Exception as exc:  # kept for the batch's other rubric calls, which raise it too
                error = exc
            # the judged batch keeps a snapshot, compared by value: lists refilled in place make a new call (only
            # the judging call copies; the calls it serves compare against the copy)
            batch = _Batch(tuple(_snapshot(part) for part in key), results, time.perf_counter() - started, {index},
                           error=error)
            self._batch = batch
            self._release_if_done(batch)
            if error is not None:
                raise error
            return results[index], batch.seconds, False

    def _release_if_done(self, batch: _Batch) -> None:
        if len(batch.served) == len(self.functions) and self._batch is batch:
            self._batch = None  # every rubric has its results: nothing left to serve

    # ------------------------------------------------------------------ pickling
    def __reduce__(self) -> tuple[Any, ...]:
        state = {"reward_model": self.reward_model, "rubrics": self.rubrics, "names": self.names}
        return _restore, (self.token, state)

    def __repr__(self) -> str:
        return f"RubricRewards({self.names!r}, reward_model={self.reward_model!r})"


def _restore(token: str, state: dict[str, Any]) -> RubricRewards:
    """The `RubricRewards` of ``token`` in this process, rebuilt from ``state`` by the first function unpickled."""
    with _LIVE_LOCK:
        live = _LIVE.get(token)
        if live is not None:
            return live
        shared = RubricRewards.__new__(RubricRewards)
        shared._bind(state["reward_model"], state["rubrics"], state["names"], token)
        return shared


def _snapshot(value: Any) -> Any:
    """A copy of a call's argument that later changes to the caller's lists (or chat messages) do not reach."""
    try:
        return copy.deepcopy(value)
    except Exception:  # something that cannot be copied is compared as it is
        return value


def _same_call(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two calls' (prompts, completions, reference, step) are the same: equal values (snapshots)."""
    for x, y in zip(a, b, strict=True):
        try:
            if not (type(x) is type(y) and x == y):
                return False
        except Exception:  # values that cannot be compared are not the same call
            return False
    return True


class RubricReward:
    """One rubric's TRL reward function from `GenerativeRewardModel.for_rubrics` (``__name__``: its name in logs).

    Its call returns one reward per completion (``None`` where the judge gave no valid answer), logs its
    rubric's feedback (``<name>_feedback``) and counters (``<name>/...``) through TRL's hooks, and is served
    from the batch another rubric's call of the same step judged (``<name>/served_from_batch``: 1.0).
    It pickles with its shared state (no weights; they load where it is first called).

    Example:
        >>> helpful, harmless = rm.for_rubrics(["helpfulness", "harmlessness"])          # doctest: +SKIP
        >>> helpful(prompts=["What is 2+2?"], completions=["4"]), helpful.__name__        # doctest: +SKIP
        ([0.81], 'judge-prometheus-v2-helpfulness')
        >>> harmless(prompts=["What is 2+2?"], completions=["4"])   # served: no judge call  # doctest: +SKIP
        [0.93]
    """

    def __init__(self, shared: RubricRewards, index: int):
        self.shared = shared
        self.index = index
        self.__name__ = shared.names[index]

    @property
    def rubric(self) -> Any:
        return self.shared.rubrics[self.index]

    @property
    def reward_model(self) -> Any:
        return self.shared.reward_model

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **kwargs: Any) -> list[Optional[float]]:
        results, seconds, served = self.shared.results_for(self.index, prompts, completions, kwargs)
        if self.reward_model.config.log_feedback:
            log_metric = kwargs.get("log_metric")
            report_to_trainer(self.__name__, results, seconds, kwargs.get("log_extra"), log_metric)
            if callable(log_metric):
                log_metric(f"{self.__name__}/served_from_batch", float(served))
        return [r.reward for r in results]

    def __reduce__(self) -> tuple[Any, ...]:
        return _function, (self.shared, self.index)

    def __repr__(self) -> str:
        return f"RubricReward({self.__name__!r})"


def _function(shared: RubricRewards, index: int) -> RubricReward:
    return shared.functions[index]
