"""verl: custom reward functions backed by the judge, in process or through ``reward-judge serve``.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` once per sample
(the ``naive`` reward manager, the default; in verl 0.9 its reward loop may also await an ``async``
function) or with lists once per batch (the ``batch`` reward manager: ``data_sources``,
``solution_strs``, ``ground_truths``, ``extra_infos``). A judge needs the question too, which verl
does not pass: it is read from ``extra_info["question"]`` (verl's example datasets keep it there) or
``extra_info["prompt"]`` (text, chat messages, or text written with the policy's chat template);
``extra_info["rubric"]`` is the row's rubric and ``ground_truth`` the reference answer.

Six functions, one module (``reward-judge reward-file verl`` prints its path)::

    # verl 0.9 (reward loop, naive manager), in process: concurrent samples judged together
    reward.custom_reward_function.path=$(reward-judge reward-file verl)
    reward.custom_reward_function.name=compute_score
    # through a shared server (REWARD_JUDGE_URL=http://judge-host:8000, REWARD_JUDGE_API_KEY=...):
    reward.custom_reward_function.name=compute_score_remote
    # releases with the legacy reward managers, one judge call (or request) per batch:
    reward_model.reward_manager=batch custom_reward_function.name=compute_score_batch   # or compute_score_remote_batch
    # GenRM: the judge on verl's own vLLM/SGLang servers (reward.reward_model.enable=True), through its router:
    reward.custom_reward_function.name=compute_score_router   # compute_score_router_sync for the 'remote' manager

The judge of the in-process functions is described by ``$REWARD_JUDGE_CONFIG`` / ``REWARD_JUDGE_*``
variables (`judge_settings`) or ``+reward.custom_reward_function.reward_kwargs.judge_config=FILE``.
Each function returns ``{"score": reward, "judge_fallback": 0.0 or 1.0}`` per sample; ``score`` is
``fallback_reward`` (flagged by ``judge_fallback``) where the judge gave no valid answer.
"""

# Absolute imports only: verl loads this file as a standalone module (verl.utils.import_utils).
from __future__ import annotations

import json
import logging
import math
from typing import Any, Mapping, Optional, Sequence, Union

from reward_judge.integrations.judge_settings import (JudgeSettings, SharedJudge, current_settings, fit_columns,
                                                      shared_judge, shared_policy, shared_remote)
from reward_judge.integrations.policy_prompts import Message, PolicyPromptReader

logger = logging.getLogger("reward_judge.integrations.verl")

# Passed by verl's reward loop when a reward-model router runs beside it; only the router functions use them.
_VERL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_warned: set[str] = set()


def _settings(judge_config: Optional[str]) -> JudgeSettings:
    return current_settings(judge_config or None)


def _policy(settings: JudgeSettings) -> PolicyPromptReader:
    """The remote functions read prompts here (the server gets chat messages); one reader per settings."""
    return shared_policy(settings)


def _ignore(kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _VERL_KWARGS - _warned)
    if unknown:
        _warned.update(unknown)
        logger.warning("ignoring reward_kwargs %s: the reward-judge functions take judge_config (and url for the "
                       "remote ones)", unknown)


def verl_row(solution_str: Any, ground_truth: Any, extra_info: Any, policy: PolicyPromptReader,
             where: str = "") -> tuple[Union[str, list[Message]], str, Optional[str], Optional[str]]:
    """(judge prompt, response, reference, rubric) of one verl sample.

    Example:
        >>> verl_row("4", 4, {"question": "2+2?"}, PolicyPromptReader("auto"))
        ('2+2?', '4', '4', None)
    """
    info = extra_info if isinstance(extra_info, Mapping) else {}
    if extra_info is not None and not isinstance(extra_info, Mapping):
        raise ValueError(f"extra_info{where} must be a dict, got {type(extra_info).__name__}")
    if not isinstance(solution_str, str):
        raise ValueError(f"solution_str{where} must be a text, got {type(solution_str).__name__}")
    prompt: Union[str, list[Message], None] = None
    if isinstance(info.get("question"), str) and info["question"].strip():
        prompt = info["question"]
    elif isinstance(info.get("prompt"), str) and info["prompt"].strip():
        prompt, _ = policy.read_prompt(info["prompt"])  # may be written with the policy's chat template
    elif isinstance(info.get("prompt"), (list, tuple)) and info["prompt"]:
        prompt = [dict(m) for m in info["prompt"]]
    if prompt is None:
        raise ValueError(f"extra_info{where} has no 'question' or 'prompt' (keys: {sorted(info)}): the judge needs the "
                         f"question; keep it in extra_info when preparing the dataset (verl's examples store "
                         f"extra_info['question'])")
    rubric = info.get("rubric")
    if rubric is not None and not isinstance(rubric, str):
        raise ValueError(f"extra_info{where}['rubric'] must be a text, got {type(rubric).__name__}")
    return prompt, policy.completion(solution_str)[0], _reference(ground_truth, where), rubric


def _reference(ground_truth: Any, where: str) -> Optional[str]:
    if ground_truth is None or ground_truth == "":
        return None
    if isinstance(ground_truth, str):
        return ground_truth
    if isinstance(ground_truth, float) and not math.isfinite(ground_truth):  # a missing value read by pandas
        raise ValueError(f"ground_truth{where} is {ground_truth!r}: a NaN is no reference answer (give None or '' for "
                         "a sample without one)")
    if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
        return str(ground_truth)
    try:  # lists of accepted answers, dicts: shown to the judge as JSON
        return json.dumps(_plain(ground_truth), ensure_ascii=False)
    except TypeError:
        raise ValueError(f"ground_truth{where} must be a text, a number or JSON data, got "
                         f"{type(ground_truth).__name__}") from None


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (verl keeps non-tensor data in numpy) as plain Python values."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _rows(judge_policy: PolicyPromptReader, solution_strs: Sequence[Any], ground_truths: Sequence[Any],
          extra_infos: Optional[Sequence[Any]]) -> list[tuple[Any, str, Optional[str], Optional[str]]]:
    n = len(solution_strs)
    infos = [None] * n if extra_infos is None else list(extra_infos)
    if len(ground_truths) != n or len(infos) != n:
        raise ValueError(f"solution_strs, ground_truths and extra_infos must have the same length, got {n}, "
                         f"{len(ground_truths)} and {len(infos)}")
    return [verl_row(s, g, e, judge_policy, f"[{i}]")
            for i, (s, g, e) in enumerate(zip(solution_strs, ground_truths, infos, strict=True))]


def _scores(answers: Sequence[tuple[Optional[float], bool]], fallback: float) -> list[dict[str, float]]:
    """verl's dicts from (reward, fell back) pairs: ``score`` is always a number, ``judge_fallback`` flags it."""
    return [{"score": fallback if reward is None else float(reward), "judge_fallback": float(reward is None or fell)}
            for reward, fell in answers]


def _judge_results(results: Sequence[Any], fallback: float) -> list[dict[str, float]]:
    return _scores([(r.reward, bool(r.fallback)) for r in results], fallback)


def _judge_in_process(rows: list[tuple[Any, str, Optional[str], Optional[str]]], judge: SharedJudge) -> list[dict[str, float]]:
    rows = fit_columns(judge.batcher.rm, rows)  # verl always passes a ground truth: a judge without a reference slot
    results = judge.batcher.score([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows],
                                  rubric=[r[3] for r in rows])
    return _judge_results(results, judge.settings.fallback_reward)


# --------------------------------------------------------------------------- in process
def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Optional[dict] = None, *,
                  judge_config: Optional[str] = None, **kwargs: Any) -> dict[str, float]:
    """verl's per-sample reward (naive manager): the judge's reward for ``solution_str``.

    Concurrent calls from verl's reward workers' threads are judged together.
    """
    _ignore(kwargs)
    judge = shared_judge(_settings(judge_config))
    return _judge_in_process([verl_row(solution_str, ground_truth, extra_info, judge.policy)], judge)[0]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Optional[Sequence[dict]] = None, *, judge_config: Optional[str] = None,
                        **kwargs: Any) -> list[dict[str, float]]:
    """verl's batch reward (``batch`` manager): the whole batch in one judge call."""
    _ignore(kwargs)
    judge = shared_judge(_settings(judge_config))
    if not len(solution_strs):
        return []
    return _judge_in_process(_rows(judge.policy, solution_strs, ground_truths, extra_infos), judge)


# --------------------------------------------------------------------------- through reward-judge serve
def _client(url: Union[str, Sequence[str], None], settings: JudgeSettings) -> Any:
    return shared_remote(url, settings)  # type: ignore[arg-type]


def _judge_remote(rows: list[tuple[Any, str, Optional[str], Optional[str]]], client: Any,
                  fallback: float) -> list[dict[str, float]]:
    # verl always passes a ground truth: the server leaves it out where its judge has no reference slot
    records = client.score([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows],
                           rubric=[r[3] for r in rows], fit_columns=True)
    return _scores([(r.get("reward"), bool(r.get("fallback"))) for r in records], fallback)


def compute_score_remote(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Optional[dict] = None,
                         *, url: Union[str, Sequence[str], None] = None, judge_config: Optional[str] = None,
                         **kwargs: Any) -> dict[str, float]:
    """Per-sample reward from a ``reward-judge serve`` server (it batches concurrent samples)."""
    _ignore(kwargs)
    settings = _settings(judge_config)
    return _judge_remote([verl_row(solution_str, ground_truth, extra_info, _policy(settings))], _client(url, settings),
                         settings.fallback_reward)[0]


def compute_score_remote_batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
                               ground_truths: Sequence[Any], extra_infos: Optional[Sequence[dict]] = None, *,
                               url: Union[str, Sequence[str], None] = None, judge_config: Optional[str] = None,
                               **kwargs: Any) -> list[dict[str, float]]:
    """Batch reward from a ``reward-judge serve`` server: the batch in one request."""
    _ignore(kwargs)
    settings = _settings(judge_config)
    if not len(solution_strs):
        return []
    rows = _rows(_policy(settings), solution_strs, ground_truths, extra_infos)
    return _judge_remote(rows, _client(url, settings), settings.fallback_reward)


# --------------------------------------------------------------------------- verl's GenRM router
from reward_judge.integrations.verl_router import compute_score_router, compute_score_router_sync  # noqa: E402,F401
