"""slime: reward functions backed by the judge, for ``--custom-rm-path`` (in process or through a server).

slime (THUDM/slime) imports ``--custom-rm-path`` as a dotted path (``package.module.function``) and awaits
it as ``rm(args, sample)`` for each generated sample, or, with ``--group-rm``, as ``rm(args, samples)`` with
every sample of a prompt's group once the group is done (in order; one reward per sample). A custom
generate function that returns several samples makes slime call the function with a list even without
``--group-rm``: `rm` takes both.

- ``--custom-rm-path reward_judge.integrations.slime.rm``: the judge in slime's rollout process (built
  once from ``$REWARD_JUDGE_CONFIG`` / ``REWARD_JUDGE_*``, `judge_settings`); concurrent samples are judged
  together. ``--group-rm`` with a pairwise or listwise protocol rewards a group's samples against each other;
- ``--custom-rm-path reward_judge.integrations.slime.rm_remote``: the same through ``reward-judge serve``
  (``$REWARD_JUDGE_URL``, ``$REWARD_JUDGE_API_KEY``): a sample, or a group, is one ``/v1/score`` request
  carrying its labels and rubrics, with the client's retries, failover and timeout (`remote.RemoteRewardModel`);
  the server batches requests and judges a group as one group;
- or no custom code at all: ``--rm-type remote_rm --rm-url http://judge-host:8000/slime/reward``, slime's
  own client posting ``{"prompt", "response", "label"}`` to the reward server.

Each sample is read as slime builds it: ``prompt`` (text, the chat-templated text with
``--apply-chat-template``, which is read back into the conversation, or chat messages), ``response`` (the
policy's trailing end-of-turn text is cut), ``label`` (the reference answer, from ``--label-key``) and
``metadata["rubric"]`` (the row's rubric, from ``--metadata-key``); a label or rubric the judge's protocol has
no slot for is left out (`fit_columns`). The reward is a number: the judge's, or ``fallback_reward`` where it
gave no valid answer or no server answered in time (logged and counted in `stats`).

Example::

    python train.py ... --custom-rm-path reward_judge.integrations.slime.rm --group-rm
    # judge: REWARD_JUDGE_JUDGE=prometheus-eval/prometheus-7b-v2.0 (or REWARD_JUDGE_CONFIG=judge.yaml)

>>> read_sample("What is 2+2?", "4<|im_end|>", 4, None, PolicyPromptReader("auto"))
('What is 2+2?', '4', '4', None)
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import Counter
from typing import Any, Mapping, Optional, Sequence, Union

from reward_judge.integrations.judge_settings import (current_settings, fit_columns, shared_judge, shared_policy,
                                                     shared_remote)
from reward_judge.integrations.policy_prompts import Message, PolicyPromptReader

logger = logging.getLogger(__name__)

stats: Counter = Counter()
"""``samples`` judged and ``fallbacks`` (samples that got ``fallback_reward``) in this process."""

Row = tuple[Union[str, list[Message]], str, Optional[str], Optional[str]]


def read_sample(prompt: Any, response: Any, label: Any, metadata: Any, policy: PolicyPromptReader,
                where: str = "") -> Row:
    """(judge prompt, response, reference, rubric) of one slime sample; a bad field raises ``ValueError`` naming it
    (as ``{where}.field``, or ``field`` when ``where`` is empty)."""
    def name(field: str) -> str:
        return f"{where}.{field}" if where else field

    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError(f"{name('prompt')} is empty: the judge needs the question")
        judge_prompt: Union[str, list[Message]] = policy.read_prompt(prompt)[0]
    elif isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, Mapping) for m in prompt):
        judge_prompt = [dict(m) for m in prompt]
    else:
        raise ValueError(f"{name('prompt')} must be a text or a list of chat messages, got {type(prompt).__name__}")
    if not isinstance(response, str):
        raise ValueError(f"{name('response')} must be a text, got {type(response).__name__}")
    if isinstance(label, bool) or not (label is None or isinstance(label, (str, int, float, list, dict))):
        raise ValueError(f"{name('label')} must be a text, a number, JSON data or null, got {type(label).__name__}")
    if isinstance(label, float) and not math.isfinite(label):  # a missing value read by pandas: not the text "nan"
        raise ValueError(f"{name('label')} is {label!r}: a NaN is no reference answer (give null for a sample without one)")
    reference = None if label is None or label == "" else label if isinstance(label, str) else \
        str(label) if isinstance(label, (int, float)) else json.dumps(label, ensure_ascii=False)
    rubric = metadata.get("rubric") if isinstance(metadata, Mapping) else None
    if rubric is not None and not isinstance(rubric, str):
        raise ValueError(f"{name('metadata')}['rubric'] must be a text, got {type(rubric).__name__}")
    return judge_prompt, policy.completion(response)[0], reference, rubric


def _rows(samples: Sequence[Any], policy: PolicyPromptReader) -> list[Row]:
    return [read_sample(getattr(s, "prompt", None), getattr(s, "response", None), getattr(s, "label", None),
                        getattr(s, "metadata", None), policy, f"samples[{i}]") for i, s in enumerate(samples)]


def _rewards(answers: Sequence[tuple[Optional[float], bool]], fallback: float) -> list[float]:
    fell = sum(1 for reward, fell_back in answers if reward is None or fell_back)
    stats["samples"] += len(answers)
    if fell:
        stats["fallbacks"] += fell
        logger.warning("%d of %d samples got no valid judge answer: reward %r applied", fell, len(answers), fallback)
    return [fallback if reward is None else float(reward) for reward, _ in answers]


async def _judge(args: Any, samples: Sequence[Any]) -> list[float]:
    judge = shared_judge(current_settings())
    rows = fit_columns(judge.batcher.rm, _rows(samples, judge.policy))
    if not rows:
        return []
    results = await judge.batcher.ascore([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows],
                                         rubric=[r[3] for r in rows])
    return _rewards([(r.reward, bool(r.fallback)) for r in results], judge.settings.fallback_reward)


async def rm(args: Any, sample: Any, **kwargs: Any) -> Union[float, list[float]]:
    """slime's custom reward (``--custom-rm-path reward_judge.integrations.slime.rm``): a sample's reward, or
    with a list (``--group-rm``) one reward per sample, in order."""
    if isinstance(sample, (list, tuple)):
        return await _judge(args, sample)
    return (await _judge(args, [sample]))[0]


async def group_rm(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[float]:
    """The group variant by name (``--group-rm``): one reward per sample of ``samples``, in order."""
    return await _judge(args, list(samples))


async def _judge_remote(args: Any, samples: Sequence[Any]) -> list[float]:
    """The samples as one ``/v1/score`` request: each sample's label and ``metadata["rubric"]`` travel with it (the
    server leaves out what its judge has no slot for), a group is judged as one group, and a verdict-less sample
    comes back flagged, so ``fallback_reward`` applies and ``stats`` counts it, as in process."""
    settings = current_settings()
    client = shared_remote(None, settings)
    rows = _rows(samples, shared_policy(settings))  # a bad sample is named here, before anything is sent
    if not rows:
        return []
    records = await client.ascore([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows],
                                  rubric=[r[3] for r in rows], fit_columns=True)
    return _rewards([(r.get("reward"), bool(r.get("fallback"))) for r in records], settings.fallback_reward)


async def rm_remote(args: Any, sample: Any, **kwargs: Any) -> Union[float, list[float]]:
    """`rm` through a ``reward-judge serve`` server at ``$REWARD_JUDGE_URL``: a sample, or a group (a list) as one
    ``/v1/score`` request (so a pairwise or listwise judge compares the group's samples, as `rm` does)."""
    if isinstance(sample, (list, tuple)):
        return await _judge_remote(args, sample)
    return (await _judge_remote(args, [sample]))[0]


async def group_rm_remote(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[float]:
    """The group variant of `rm_remote` by name."""
    return await _judge_remote(args, list(samples))


def read_remote_request(body: Any) -> tuple[Any, Any, Any]:
    """``(prompt, response, label)`` of a ``remote_rm`` request body (``/slime/reward``); errors name the field.

    Example:
        >>> read_remote_request({"prompt": [{"role": "user", "content": "2+2?"}], "response": "4", "label": "4"})[1:]
        ('4', '4')
    """
    if not isinstance(body, Mapping):
        raise ValueError(f"the request body must be a JSON object with prompt, response and label, got "
                         f"{type(body).__name__}")
    unknown = sorted(set(body) - {"prompt", "response", "label"})
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; slime's remote_rm sends prompt, response and label")
    for name in ("prompt", "response"):
        if name not in body:
            raise ValueError(f"{name} is required (slime's remote_rm sends prompt, response and label)")
    return body["prompt"], body["response"], body.get("label")
