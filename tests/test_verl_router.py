"""verl's GenRM path with verl 0.9.1's own code: its reward-model router in front of a real judge server, its
``RewardLoopWorker`` calling `compute_score_router` with ``reward_router_address`` and ``reward_model_tokenizer``.

The judge server is llama.cpp's (llama-cpp-python, the embedded judge's GGUF), where verl would start vLLM or
SGLang: both speak the OpenAI API the router forwards. Every scoring mode the router allows is run: generate
on ``/v1/completions`` (text prompts: llama-cpp-python refuses token ids, and the router's 500 for that 4xx
makes the backend fall back to text) and on ``/v1/chat/completions``, and direct (score distributions from
log-probabilities). Each must give what our OpenAI backend gets from the same server without the router.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import multiprocessing
import os
import socket
import time
from pathlib import Path

import pytest

from tests._servers import free_port

pytestmark = pytest.mark.training

verl = pytest.importorskip("verl", reason="pip install --no-deps verl==0.9.1 plus its reward-manager imports")
if importlib.util.find_spec("llama_cpp") is None:
    if os.environ.get("CI"):
        raise RuntimeError("llama-cpp-python[server] is not installed; .ci/run installs it")
    pytest.skip("llama-cpp-python[server] is not installed", allow_module_level=True)

from tests.test_verl import PROTOCOL, ROWS, _batch  # noqa: E402  (the same verl batch as the other verl tests)

# direct mode reads the grade's distribution where the judge writes it: after its answer marker
SLOT_PROTOCOL = {**PROTOCOL, "custom_name": "grade-ref-slot", "answer_marker": "Grade: ", "answer_pattern": r"Grade: (\d)",
                 "template": PROTOCOL["template"].replace("Grade of the answer from 1 to 9:", "Grade the answer from 1 to 9.\n")}
MODES = {
    "generate": ({"mode": "generate"}, PROTOCOL),
    "direct": ({"mode": "direct"}, SLOT_PROTOCOL),
    "chat": ({"mode": "generate", "endpoint": "chat"}, PROTOCOL),
}
BASE = {"chat_format": "template", "max_new_tokens": 3, "max_attempts": 1, "normalize": "none"}


@pytest.fixture(scope="module")
def router(llama_server):
    """verl's NaiveRouter (its own code, in its own process) in front of the llama.cpp server."""
    from verl.experimental.reward_loop.router.naive_router import run_router

    port = free_port()
    process = multiprocessing.get_context("fork").Process(target=run_router, args=("127.0.0.1", port, [llama_server.url]),
                                                          daemon=True)
    process.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("verl's router did not start")
            time.sleep(0.2)
    yield f"127.0.0.1:{port}"  # verl passes host:port, without a scheme
    process.terminate()
    process.join(10)


def _config(function_name: str):
    from omegaconf import OmegaConf

    import reward_judge.integrations.verl as ours
    from reward_judge.embedded import embedded_judge_path

    folder = str(embedded_judge_path()[0])  # the policy tokenizer, and the judge verl would serve
    reward = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/reward/reward.yaml")
    reward.num_workers = 1
    reward.custom_reward_function.path = str(Path(ours.__file__))
    reward.custom_reward_function.name = function_name
    reward.reward_model.enable = True
    reward.reward_model.model_path = folder
    reward.reward_model.rollout.name = "vllm"
    return OmegaConf.create({"actor_rollout_ref": {"model": {"path": folder, "tokenizer_path": folder}},
                             "data": {"reward_fn_key": "data_source"}, "reward": reward})


def _judge_env(monkeypatch, options: dict, protocol: dict = PROTOCOL) -> None:
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "default")
    monkeypatch.setenv("REWARD_JUDGE_PROTOCOL", json.dumps(protocol))
    monkeypatch.setenv("REWARD_JUDGE_OPTIONS", json.dumps({**BASE, **options}))
    monkeypatch.setenv("REWARD_JUDGE_MAX_WAIT_MS", "100")


def _reward_loop(function_name: str, router_address: str) -> list[dict]:
    from verl.experimental.reward_loop import RewardLoopWorker

    data, _ = _batch()
    worker = RewardLoopWorker(_config(function_name), reward_router_address=router_address)
    return worker.loop.run_until_complete(worker.compute_score_batch(data))


def _without_router(llama_server, options: dict, protocol: dict) -> tuple[list, list[float]]:
    """The same rows scored by our OpenAI backend on the same server, straight (no verl, no router)."""
    from reward_judge import CustomProtocol, GenerativeRewardModel
    from reward_judge.integrations.policy_prompts import PolicyPromptReader
    from reward_judge.integrations.verl import verl_row

    flat = {**BASE, **options}
    rm = GenerativeRewardModel.from_pretrained("default", protocol=CustomProtocol(**{**protocol, "range": (1, 9)}), backend="openai",
                                               base_url=llama_server.url, **flat)
    rows = [verl_row(response, truth, info, PolicyPromptReader("auto")) for info, response, truth, *_ in ROWS]
    results = rm.score([r[0] for r in rows], [r[1] for r in rows], reference=[r[2] for r in rows])
    rm.close()
    return [r.reward for r in results], [float(r.fallback or r.reward is None) for r in results]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_router_path_scores_what_the_server_scores_in_every_mode(mode, router, llama_server, monkeypatch):
    options, protocol = MODES[mode]
    _judge_env(monkeypatch, options, protocol)
    out = _reward_loop("compute_score_router", router)
    assert all(set(r["reward_extra_info"]) == {"score", "judge_fallback"} for r in out), out
    straight, fell_back = _without_router(llama_server, options, protocol)
    # the 135M judge sometimes writes no grade (more often through the server's chat template): the same rows
    # fall back on both paths, and the others get the same reward
    assert [r["reward_extra_info"]["judge_fallback"] for r in out] == fell_back, (out, fell_back)
    assert 0.0 in fell_back, "no row was scored"
    through_router = [r["reward_score"] for r in out]
    for got, want, fell in zip(through_router, straight, fell_back):
        assert fell or got == pytest.approx(want, abs=1e-6), (through_router, straight)
        if mode != "direct" and not fell:
            assert float(got).is_integer() and 1 <= got <= 9  # a grade the judge wrote
    if mode == "generate":  # the plain-function variant (verl's 'remote' manager takes only those) agrees
        assert [r["reward_score"] for r in _reward_loop("compute_score_router_sync", router)] == through_router
    print(f"{mode}: rewards through verl's router {through_router}")


def test_without_a_router_the_function_says_what_verl_needs():
    from reward_judge.integrations.verl import compute_score_router, compute_score_router_sync

    with pytest.raises(ValueError, match="reward_router_address is missing.*reward.reward_model.enable=True"):
        asyncio.run(compute_score_router("s", "4", "4", {"question": "2+2?"}))
    with pytest.raises(ValueError, match="reward_router_address is missing"):
        compute_score_router_sync("s", "4", "4", {"question": "2+2?"}, reward_router_address="")
