"""slime's reward hooks backed by our judge: ``--custom-rm-path`` (per sample and ``--group-rm``) and ``remote_rm``.

slime (THUDM/slime) does not install without a GPU stack (sglang, Megatron), and PyPI's ``slime`` is another
project. Where slime's source is on hand (``$REWARD_JUDGE_SLIME_SRC``: a checkout, put on ``sys.path``; or an
installed slime), these tests call our functions through slime's own dispatch: ``slime.rollout.rm_hub``'s
``async_rm`` / ``batched_async_rm`` with ``slime.utils.types.Sample``, and its ``remote_rm`` client against a
real ``reward-judge serve``. Without it (CI), they follow slime's documented conventions instead (the same
calls, re-expressed here): ``--custom-rm-path`` is a dotted import path awaited as ``fn(args, sample)`` or
``fn(args, samples)``; ``remote_rm`` POSTs ``{"prompt", "response", "label"}`` to ``--rm-url`` as it is and
uses the JSON answer as the reward; a ``Sample`` has ``prompt`` (text or messages), ``response``, ``label``
and ``metadata``.

The judge is the embedded one on the echo protocol: each prompt's reward is the number written in it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from tests._servers import ECHO_COMPLETION, ECHO_OPTIONS, ECHO_PROTOCOL, echo_prompt, start_reward_server

pytestmark = pytest.mark.training

KEY = "slime-key-0b7e"


@dataclass
class DocumentedSample:
    """The fields of slime's ``slime.utils.types.Sample`` a reward function reads (slime 0.3.1)."""

    prompt: Any = ""
    response: str = ""
    label: Optional[str] = None
    metadata: dict = field(default_factory=dict)
    reward: Any = None
    custom_rm_path: Optional[str] = None


def _slime() -> Optional[tuple[Any, type]]:
    """slime's ``rm_hub`` module and ``Sample`` class, when slime's code is on hand."""
    source = os.environ.get("REWARD_JUDGE_SLIME_SRC")
    if source and source not in sys.path:
        sys.path.insert(0, source)
    try:
        hub = importlib.import_module("slime.rollout.rm_hub")
        return hub, importlib.import_module("slime.utils.types").Sample
    except ImportError:
        return None


SLIME = _slime()
Sample = SLIME[1] if SLIME else DocumentedSample


async def custom_rm(args: Namespace, sample: Any) -> Any:
    """What slime does with ``--custom-rm-path`` for one sample (``async_rm``), or a list (``batched_async_rm``)."""
    if SLIME:
        hub = SLIME[0]
        return await (hub.batched_async_rm(args, sample) if isinstance(sample, list) else hub.async_rm(args, sample))
    module, _, name = args.custom_rm_path.rpartition(".")
    return await getattr(importlib.import_module(module), name)(args, sample)


async def remote_rm(args: Namespace, sample: Any) -> Any:
    """What slime does with ``--rm-type remote_rm``: its own client, or its documented request."""
    if SLIME:
        return await SLIME[0].async_rm(args, sample)
    import httpx

    async with httpx.AsyncClient(timeout=120) as client:
        answer = await client.post(args.rm_url, json={"prompt": sample.prompt, "response": sample.response,
                                                      "label": sample.label})
        answer.raise_for_status()
        return answer.json()


def _samples() -> list[Any]:
    chatml = f"<|im_start|>user\n{echo_prompt(31)}<|im_end|>\n<|im_start|>assistant\n"  # --apply-chat-template
    return [Sample(prompt=echo_prompt(11), response=ECHO_COMPLETION, label="11"),
            Sample(prompt=[{"role": "user", "content": echo_prompt(22)}], response=ECHO_COMPLETION + "<|im_end|>"),
            Sample(prompt=chatml, response=ECHO_COMPLETION, label=None, metadata={"source": "x"})]


def test_custom_rm_per_sample_group_and_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "default")
    monkeypatch.setenv("REWARD_JUDGE_PROTOCOL", json.dumps(ECHO_PROTOCOL))
    monkeypatch.setenv("REWARD_JUDGE_OPTIONS", json.dumps({"chat_format": "raw", "max_new_tokens": 4,
                                                           "max_attempts": 1, "normalize": "none"}))
    monkeypatch.setenv("REWARD_JUDGE_MAX_WAIT_MS", "100")
    import reward_judge.integrations.slime as ours

    expected = [11.0, 22.0, 31.0]
    with start_reward_server(tmp_path, env={"REWARD_JUDGE_API_KEY": KEY}) as server:
        monkeypatch.setenv("REWARD_JUDGE_URL", server.url)
        monkeypatch.setenv("REWARD_JUDGE_API_KEY", KEY)

        async def run() -> dict[str, Any]:
            single = Namespace(custom_rm_path="reward_judge.integrations.slime.rm", rm_type=None, rm_url=None,
                               group_rm=False)
            group = Namespace(custom_rm_path="reward_judge.integrations.slime.group_rm", rm_type=None, rm_url=None,
                              group_rm=True)
            remote_group = Namespace(custom_rm_path="reward_judge.integrations.slime.group_rm_remote", rm_type=None,
                                     rm_url=None, group_rm=True)
            # slime's --rm-url is used as it is: the key rides in the URL (the server takes it out of its logs)
            slime_remote = Namespace(custom_rm_path=None, rm_type="remote_rm", group_rm=False,
                                     rm_url=f"{server.url}/slime/reward?api_key={KEY}")
            samples = _samples()
            out = {
                # concurrent per-sample calls, as slime's rollout makes them: judged together
                "single": await asyncio.gather(*(custom_rm(single, s) for s in samples)),
                "group": await custom_rm(group, samples),
                "remote_group": await custom_rm(remote_group, samples),  # the group: one /v1/score request
                "remote_rm": [await remote_rm(slime_remote, s) for s in samples],
            }
            if SLIME and getattr(SLIME[0], "_shared_session", None) is not None:
                await SLIME[0]._get_shared_session().close()
            return out

        out = asyncio.run(run())
    for name, rewards in out.items():
        assert rewards == expected, (name, rewards)
    assert ours.stats["fallbacks"] == 0
    print(f"slime's own code: {bool(SLIME)}; rewards {out}")


def test_bad_samples_and_remote_requests_are_named():
    from reward_judge.integrations.policy_prompts import PolicyPromptReader
    from reward_judge.integrations.slime import read_remote_request, read_sample

    reader = PolicyPromptReader("auto")
    with pytest.raises(ValueError, match=r"samples\[2\]\.response must be a text, got NoneType"):
        read_sample("Q", None, None, None, reader, "samples[2]")
    with pytest.raises(ValueError, match=r"^prompt is empty"):
        read_sample("  ", "a", None, None, reader)
    with pytest.raises(ValueError, match=r"label must be a text, a number, JSON data or null, got bool"):
        read_sample("Q", "a", True, None, reader)
    assert read_sample("Q", "a", {"answer": 4}, {"rubric": "helpfulness"}, reader) == \
        ("Q", "a", '{"answer": 4}', "helpfulness")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['responses'\]"):
        read_remote_request({"prompt": "Q", "responses": "a"})
    with pytest.raises(ValueError, match="response is required"):
        read_remote_request({"prompt": "Q"})
