"""verl's GenRM path: the judge runs on verl's own vLLM/SGLang servers, behind verl's reward-model router.

With ``reward.reward_model.enable=True`` verl 0.9 starts the judge (``reward.reward_model.model_path``) on its
own inference servers and a router in front of them, and calls the custom reward function with two more
keywords: ``reward_router_address`` (``"host:port"``) and ``reward_model_tokenizer`` (the judge's tokenizer).
`compute_score_router` renders the judge input with our protocol (the judge's preset, rubric, chat
formatting, untrusted spans) and scores it through that router with our OpenAI backend
(`reward_judge.backends.openai`), so every mode works as against any OpenAI-compatible server:

- ``mode="generate"`` on ``/v1/completions`` (the rendered input, as token ids when the server takes them)
  or, with ``endpoint="chat"``, on ``/v1/chat/completions`` (the server's chat template);
- ``mode="direct"`` and ``mode="expected"``: score distributions from ``/v1/completions`` log-probabilities
  (vLLM caps them at 20 per position by default: ``top_logprobs`` stays at 20).

Concurrent samples (verl awaits one call per sample) are judged together, so one call of the judge sends
a batch of requests that the engine batches again. The router is a plain proxy: it re-raises a server's
4xx as a 500, which our backend retries (``openai_max_retries``) before counting the row as failed.

The judge is described by the settings of every verl function (``$REWARD_JUDGE_CONFIG``,
``REWARD_JUDGE_*``, ``reward_kwargs.judge_config``): set ``judge`` to the judge verl serves (its preset:
protocol, mode, chat format) and judge options in ``options``. The model name sent is ``options.model``, else
the one the router's ``/v1/models`` reports; the tokenizer is the one verl passes (``reward_model_tokenizer``).

Example (verl config)::

    reward.reward_model.enable=True
    reward.reward_model.model_path=prometheus-eval/prometheus-7b-v2.0
    reward.reward_model.rollout.name=vllm
    reward.custom_reward_function.path=$(reward-judge reward-file verl)
    reward.custom_reward_function.name=compute_score_router
    +reward.custom_reward_function.reward_kwargs.judge_config=/abs/judge.yaml   # judge: prometheus-eval/...
"""

# Absolute imports only: verl loads verl.py (which imports this) as a standalone module.
from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any, Optional

from reward_judge.integrations.judge_settings import JudgeSettings, SharedJudge, current_settings, shared_judge

logger = logging.getLogger("reward_judge.integrations.verl")

_MODELS: dict[str, str] = {}
_MODELS_LOCK = threading.Lock()


def router_url(address: Any) -> str:
    """``http://host:port`` for verl's ``reward_router_address`` (``"host:port"``, ``"[::1]:port"`` or a URL).

    Example:
        >>> router_url("10.0.0.3:41234"), router_url("http://10.0.0.3:41234/")
        ('http://10.0.0.3:41234', 'http://10.0.0.3:41234')
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError("reward_router_address is missing: compute_score_router is verl's GenRM reward, which needs "
                         "reward.reward_model.enable=True (verl then starts the judge's servers and their router); "
                         f"got {address!r}")
    address = address.strip().rstrip("/")
    return address if address.startswith(("http://", "https://")) else f"http://{address}"


def served_model(url: str, timeout: float = 30.0) -> str:
    """The model name the servers behind ``url`` report first on ``/v1/models`` (asked once per URL)."""
    import httpx

    with _MODELS_LOCK:
        if url in _MODELS:
            return _MODELS[url]
    try:
        answer = httpx.get(url + "/v1/models", timeout=timeout).json()
        name = answer["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"the reward-model router at {url} did not name its model on /v1/models ({exc}); set "
                         "options.model in the judge settings to the name verl serves the judge under "
                         "(reward.reward_model.model_path)") from None
    with _MODELS_LOCK:
        _MODELS[url] = name
    return name


def router_settings(settings: JudgeSettings, address: Any, tokenizer: Any = None) -> JudgeSettings:
    """``settings`` with the judge reached through the router: the OpenAI backend at its URL, the served model's
    name, and the tokenizer verl loaded (``tokenizer.name_or_path``) unless the settings name one."""
    url = router_url(address)
    options = dict(settings.options)
    backend = options.get("backend", "openai")
    if backend != "openai":
        raise ValueError(f"compute_score_router judges through verl's router with backend 'openai'; the judge "
                         f"settings ask for backend {backend!r}: leave it out (or use compute_score for an in-process judge)")
    options.update(backend="openai", base_url=url)
    if "model" not in options:  # a named model needs no /v1/models (the router may not serve it)
        options["model"] = served_model(url)
    source = getattr(tokenizer, "name_or_path", None)
    if "tokenizer" not in options and isinstance(source, str) and source and Path(source).exists():
        options["tokenizer"] = source
    return dataclasses.replace(settings, options=options, url=None)


def router_judge(settings: JudgeSettings, address: Any, tokenizer: Any = None) -> SharedJudge:
    """The process's judge behind the router at ``address`` (built once per settings and address)."""
    return shared_judge(router_settings(settings, address, tokenizer))


_JUDGES: dict[tuple[str, str], SharedJudge] = {}


def _cached(settings: JudgeSettings, address: Any) -> Optional[SharedJudge]:
    return _JUDGES.get((settings.key(), str(address)))


async def compute_score_router(data_source: Any, solution_str: str, ground_truth: Any,
                               extra_info: Optional[dict] = None, *, reward_router_address: Optional[str] = None,
                               reward_model_tokenizer: Any = None, judge_config: Optional[str] = None,
                               **kwargs: Any) -> dict[str, float]:
    """verl's async GenRM reward: the judge's reward for ``solution_str``, judged on verl's own servers through
    ``reward_router_address``. Returns ``{"score": reward, "judge_fallback": 0.0 or 1.0}``."""
    from reward_judge.integrations.verl import _ignore, _judge_results, verl_row

    _ignore(kwargs)
    settings = current_settings(judge_config or None)
    judge = _cached(settings, reward_router_address)
    if judge is None:  # first call of this process: the tokenizer loads, the router is asked for its model
        judge = await asyncio.to_thread(router_judge, settings, reward_router_address, reward_model_tokenizer)
        _JUDGES[(settings.key(), str(reward_router_address))] = judge
    prompt, response, reference, rubric = verl_row(solution_str, ground_truth, extra_info, judge.policy)
    results = await judge.batcher.ascore([prompt], [response], reference=[reference], rubric=[rubric])
    return _judge_results(results, judge.settings.fallback_reward)[0]


def compute_score_router_sync(data_source: Any, solution_str: str, ground_truth: Any,
                              extra_info: Optional[dict] = None, *, reward_router_address: Optional[str] = None,
                              reward_model_tokenizer: Any = None, judge_config: Optional[str] = None,
                              **kwargs: Any) -> dict[str, float]:
    """`compute_score_router` for verl's reward managers that take only plain functions (``remote``)."""
    from reward_judge.integrations.verl import _ignore, _judge_results, verl_row

    _ignore(kwargs)
    judge = router_judge(current_settings(judge_config or None), reward_router_address, reward_model_tokenizer)
    prompt, response, reference, rubric = verl_row(solution_str, ground_truth, extra_info, judge.policy)
    return _judge_results(judge.batcher.score([prompt], [response], reference=[reference], rubric=[rubric]),
                          judge.settings.fallback_reward)[0]
