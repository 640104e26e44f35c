"""TRL glue: a coroutine reward function for GRPO/RLOO's event loop.

`GenerativeRewardModel` itself is already a TRL reward function (``reward_funcs=[judge]``): it takes
``prompts``, ``completions``, ``completion_ids`` and the dataset columns, returns ``list[float | None]``,
logs the judge's feedback through ``log_extra`` and its counters through ``log_metric``, and pickles
without its weights; so is each reward of `GenerativeRewardModel.for_rubrics`. This module adds the async
variant of both.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Optional, Sequence, Union

from reward_judge import GenerativeRewardModel
from reward_judge.rubric_rewards import RubricReward


class AsyncJudgeReward:
    """A coroutine reward function: TRL awaits it on its event loop, in parallel with other async rewards.

    The judge runs in a worker thread (``asyncio.to_thread``), so a slow judge does not block the
    loop; calls into one judge are serialised by a lock because one model serves one batch at a time.
    It pickles like the reward model it wraps (no weights; they load where it is first called).
    It also wraps the rubric rewards of `GenerativeRewardModel.for_rubrics`: TRL awaits them together, the
    first to run judges every rubric and the others, waiting for it, are served from its batch.

    Example:
        >>> judge = GenerativeRewardModel.from_pretrained("default")          # doctest: +SKIP
        >>> trainer = GRPOTrainer(model=policy, reward_funcs=[AsyncJudgeReward(judge)], ...)  # doctest: +SKIP
        >>> rubric_rewards = [AsyncJudgeReward(f) for f in judge.for_rubrics(["helpfulness", "honesty"])]  # doctest: +SKIP
    """

    def __init__(self, reward_model: Union[GenerativeRewardModel, RubricReward], name: Optional[str] = None):
        if not isinstance(reward_model, (GenerativeRewardModel, RubricReward)):
            raise TypeError(f"reward_model must be a GenerativeRewardModel or one of its for_rubrics() rewards, got "
                            f"{type(reward_model).__name__}")
        self.reward_model = reward_model
        self.__name__ = name or reward_model.__name__
        self._lock = threading.Lock()

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                       **kwargs: Any) -> list[Optional[float]]:
        return await asyncio.to_thread(self._call_locked, prompts, completions, completion_ids, kwargs)

    def _call_locked(self, prompts, completions, completion_ids, kwargs) -> list[Optional[float]]:
        with self._lock:
            return self.reward_model(prompts, completions, completion_ids, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
