"""Both keys of a secured deployment, end to end with real servers.

    RemoteRewardModel --$REWARD_JUDGE_API_KEY--> reward-judge serve --backend openai
        --key named by --api-key-env--> llama.cpp's OpenAI-compatible server started with --api_key

The trainer's client sends the reward server's key; the reward server's OpenAI backend sends the judge
server's key. Without the judge server's key its requests are refused (401) and the rollouts come back
as failures, never as scores.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests._servers import ECHO_COMPLETION, ServerProcess, echo_prompt, free_port, start_reward_server
from reward_judge.embedded import gguf_path
from reward_judge.integrations.remote import RemoteRewardModel

pytestmark = pytest.mark.process


if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama-cpp-python[server] is not installed (.ci/run installs it)", allow_module_level=True)

SERVER_KEY = "reward-server-key-3e9c"
BACKEND_KEY = "judge-backend-key-a41f"
OPENAI = ["--backend", "openai", "--openai-max-concurrency", "1", "--openai-request-timeout", "600", "--openai-api-key-env",
          "JUDGE_BACKEND_KEY"]


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--api_key", BACKEND_KEY]
    # /docs is open; every API path needs the key
    proc = ServerProcess(argv, port, tmp_path_factory.mktemp("llamacpp") / "server.log", health="/docs")
    yield proc
    proc.stop()


def test_the_client_and_the_openai_backend_each_send_their_key(tmp_path, judge_server):
    prompts = [echo_prompt(n) for n in (123, 456)]
    env = {"REWARD_JUDGE_API_KEY": SERVER_KEY, "JUDGE_BACKEND_KEY": BACKEND_KEY}
    with start_reward_server(tmp_path, *OPENAI, "--openai-base-url", judge_server.url, env=env, name="keyed") as server:
        records = RemoteRewardModel(server.url, api_key=SERVER_KEY, timeout=600).score(prompts, [ECHO_COMPLETION] * 2)
    assert all(r["error"] is None or "401" not in r["error"] for r in records)
    assert any(r["ok"] for r in records), records  # the judge server answered the backend

    env = {"REWARD_JUDGE_API_KEY": SERVER_KEY, "JUDGE_BACKEND_KEY": "not-the-judge-key"}
    with start_reward_server(tmp_path, *OPENAI, "--openai-base-url", judge_server.url, env=env, name="wrong") as server:
        refused = RemoteRewardModel(server.url, api_key=SERVER_KEY, timeout=600).score(prompts, [ECHO_COMPLETION] * 2)
    assert all(not r["ok"] and r["reward"] is None for r in refused)
    assert all("401" in (r["error"] or "") for r in refused), refused
