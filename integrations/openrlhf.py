"""OpenRLHF in process: ``--reward.remote_url /path/to/this/openrlhf.py``.

OpenRLHF loads a ``.py`` remote URL as a module (``importlib.util.spec_from_file_location``) and
calls its ``reward_func(queries, prompts, labels)`` from a thread per sample. This file builds the
judge once per process from ``$REWARD_JUDGE_CONFIG`` or ``REWARD_JUDGE_*`` variables
(`judge_settings`), batches the concurrent calls, and returns OpenRLHF's dict: ``rewards`` and
``scores`` as tensors, ``extra_logs`` (``judge_fallback``: 1.0 where the judge gave no valid answer and
``fallback_reward`` was used).

Prompts are chat-templated by the policy and queries end with its end-of-turn text; both are read
back as the reward server's ``/get_reward`` does (`policy_prompts`), so the judge gets the conversation
and the bare response. ``reward-judge reward-file openrlhf`` prints this file's path.

Example:
    >>> # REWARD_JUDGE_JUDGE=prometheus-eval/prometheus-7b-v2.0 python -m openrlhf.cli.train_ppo_ray \\
    >>> #     ... --reward.remote_url "$(reward-judge reward-file openrlhf)"
"""

# Absolute imports only: OpenRLHF runs this file as a standalone module named ``reward_func``.
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from reward_judge.integrations.judge_settings import fit_columns, shared_judge


def read_request(queries: Any, prompts: Any, labels: Any) -> tuple[list[str], list[str], list[Optional[str]]]:
    """OpenRLHF's three lists, checked (errors name ``query`` / ``prompts`` / ``labels``); labels become references.

    ``prompts`` are required: a query is prompt + response written by the policy, and without its prompt
    the only way to find where the response begins is the policy's own chat markup, which the response
    can write too (a forged ``<|im_start|>user`` turn would become the judge's instruction). OpenRLHF's
    client always sends them. Labels are texts or finite numbers (a ``NaN`` is no reference answer).

    Example:
        >>> read_request(["p a"], ["p "], [""])
        (['p a'], ['p '], [None])
        >>> read_request(["p a"], None, None)
        Traceback (most recent call last):
        ...
        ValueError: prompts is required: one prompt per query (the query is prompt + response; without the prompt, where the response begins could only be read from the policy's chat markup, which a response can forge)
    """
    if not isinstance(queries, (list, tuple)):
        raise ValueError(f"query must be a list of texts (prompt + response), got {type(queries).__name__}")
    n = len(queries)
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise ValueError(f"query[{i}] must be a text (prompt + response), got {type(q).__name__}")
    if n and (prompts is None or (isinstance(prompts, (list, tuple)) and not prompts)):
        raise ValueError("prompts is required: one prompt per query (the query is prompt + response; without the "
                         "prompt, where the response begins could only be read from the policy's chat markup, which "
                         "a response can forge)")
    prompts = [] if prompts is None else prompts
    if not isinstance(prompts, (list, tuple)) or len(prompts) != n:
        raise ValueError(f"prompts must be a list of {n} texts (one per query), got "
                         f"{len(prompts) if isinstance(prompts, (list, tuple)) else type(prompts).__name__}")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ValueError(f"prompts[{i}] must be a text (the prompt of query[{i}]), got {type(p).__name__}")
    labels = [None] * n if labels is None or (isinstance(labels, (list, tuple)) and not labels) else labels
    if not isinstance(labels, (list, tuple)) or len(labels) != n:
        raise ValueError(f"labels must be a list of {n} values (one per query), got "
                         f"{len(labels) if isinstance(labels, (list, tuple)) else type(labels).__name__}")
    references: list[Optional[str]] = []
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (str, int, float, type(None))):
            raise ValueError(f"labels[{i}] must be a text, a number or null (it is the reference answer), "
                             f"got {type(label).__name__}")
        if isinstance(label, float) and not math.isfinite(label):
            raise ValueError(f"labels[{i}] must be a text or a finite number (it is the reference answer), got {label!r}")
        # OpenRLHF sends "" when the dataset has no label column: no reference for that row
        references.append(None if label is None or label == "" else str(label))
    return list(queries), list(prompts), references


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """OpenRLHF's custom reward function: the judge's rewards for ``queries`` (prompt + response).

    Returns ``{"rewards": tensor, "scores": tensor, "extra_logs": {"judge_fallback": tensor}}``.
    """
    import torch

    judge = shared_judge()
    queries, prompt_texts, references = read_request(queries, prompts, labels)
    if not queries:
        empty = torch.zeros(0)
        return {"rewards": empty, "scores": empty, "extra_logs": {"judge_fallback": empty}}
    turns = [judge.policy.split(q, p) for q, p in zip(queries, prompt_texts, strict=True)]
    rows = fit_columns(judge.batcher.rm, [(t.prompt, t.completion, ref, None) for t, ref in zip(turns, references)])
    results = judge.batcher.score([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows])
    rewards = torch.tensor([judge.reward(r) for r in results], dtype=torch.float32)
    fallback = torch.tensor([float(r.reward is None or bool(r.fallback)) for r in results], dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": {"judge_fallback": fallback}}
