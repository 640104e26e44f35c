"""`backend="openai"` against a real `transformers serve` process serving the exported embedded judge.

The server serves the folder `reward-judge export default` wrote (the session's `exported_judge`), so these
tests also show that a serving engine loads an exported judge as it is.
"""

from __future__ import annotations

import shutil

import pytest

from tests._servers import ECHO_COMPLETION, ServerProcess, echo_prompt, free_port
from reward_judge import CustomProtocol, GenerativeRewardModel
from reward_judge.backends.openai import LogprobsUnsupported, OpenAIBackend


ECHO = CustomProtocol(custom_name="echo", template="{instruction}{response}", answer_pattern=r"(\d+)", range=(0, 999))
GREEDY = dict(max_new_tokens=8, max_attempts=1, mode="generate")


@pytest.fixture(scope="module")
def judge_path(exported_judge) -> str:
    return str(exported_judge)


@pytest.fixture(scope="module")
def transformers_serve(tmp_path_factory, judge_path):
    pytest.importorskip("transformers.cli.serving.server", reason="needs transformers[serving]")
    exe = shutil.which("transformers") or pytest.skip("the `transformers` CLI is not installed")
    port = free_port()
    proc = ServerProcess([exe, "serve", judge_path, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                          "--dtype", "float32"], port, tmp_path_factory.mktemp("tserve") / "serve.log")
    yield proc
    proc.stop()


@pytest.mark.process
def test_transformers_serve_starts_on_the_exported_judge(transformers_serve, judge_path):
    """The exported folder is what `transformers serve` loads: its own log names it, and it answers."""
    import httpx

    answer = httpx.post(transformers_serve.url + "/v1/completions", timeout=120,
                        json={"model": judge_path, "prompt": "Hi", "max_tokens": 2, "temperature": 0}).json()
    assert answer["choices"][0]["text"] is not None
    log = transformers_serve.log.read_text()
    assert "Uvicorn running on http://127.0.0.1" in log or "Application startup complete" in log, log[-2000:]


@pytest.fixture(scope="module")
def local_judge():
    return GenerativeRewardModel.from_pretrained("default", batch_size=1, **GREEDY)


@pytest.mark.process
def test_rendered_text_matches_in_process_judge_under_greedy(transformers_serve, local_judge, judge_path):
    remote = GenerativeRewardModel.from_pretrained("default", backend="openai", base_url=transformers_serve.url,
                                                   model=judge_path, **GREEDY)
    assert isinstance(remote.backend, OpenAIBackend)
    prompts = ["What is 2+2?", "Name a primary colour.", "Translate 'cat' into French."]
    completions = ["4", "Blue.", "chat"]
    # The same preset prompt (Prometheus + SmolLM2 chat template) reaches both judges.
    assert [remote.render(p, c) for p, c in zip(prompts, completions)] == \
        [local_judge.render(p, c) for p, c in zip(prompts, completions)]
    over_http = remote.score(prompts, completions)
    in_process = local_judge.score(prompts, completions)
    assert [r.raw for r in over_http] == [r.raw for r in in_process]
    assert all(r.raw for r in over_http)
    assert [r.ok for r in over_http] == [r.ok for r in in_process]


@pytest.mark.process
def test_parsed_scores_and_chat_endpoint(transformers_serve, local_judge, judge_path):
    remote = GenerativeRewardModel.from_pretrained("default", protocol=ECHO, chat_format="raw", normalize="none",
                                                   backend="openai", base_url=transformers_serve.url, model=judge_path,
                                                   **GREEDY)
    assert remote([echo_prompt(n) for n in (314, 271)], [ECHO_COMPLETION] * 2) == [314.0, 271.0]
    # Chat messages to /v1/chat/completions: the server applies the same chat template as the local judge.
    chat = GenerativeRewardModel.from_pretrained("default", backend="openai", base_url=transformers_serve.url,
                                                 model=judge_path, endpoint="chat", **GREEDY)
    assert [r.raw for r in chat.score(["What is 2+2?"], ["4"])] == [r.raw for r in local_judge.score(["What is 2+2?"], ["4"])]


@pytest.mark.process
def test_dead_url_fails_over_and_opens_its_circuit(transformers_serve, judge_path):
    dead = f"http://127.0.0.1:{free_port()}"
    remote = GenerativeRewardModel.from_pretrained("default", protocol=ECHO, chat_format="raw", normalize="none",
                                                   backend="openai", base_url=[dead, transformers_serve.url],
                                                   model=judge_path, **GREEDY)
    assert remote([echo_prompt(n) for n in (101, 202, 303, 404)], [ECHO_COMPLETION] * 4) == [101.0, 202.0, 303.0, 404.0]
    assert remote.backend.pool.failovers > 0 and remote.stats.backend_errors == 0


@pytest.mark.process
def test_circuit_breaker_skips_a_dead_url(transformers_serve, judge_path):
    import asyncio

    from reward_judge.backends.http_pool import EndpointPool, RetryPolicy

    dead = f"http://127.0.0.1:{free_port()}"
    pool = EndpointPool([dead, transformers_serve.url], timeout=60,
                        policy=RetryPolicy(max_attempts=3, backoff_base=0.01, breaker_failures=2, breaker_cooldown=600))
    body = {"model": judge_path, "prompt": "Hi", "max_tokens": 1, "temperature": 0}

    async def calls(n: int) -> None:
        for _ in range(n):  # sequential: round-robin starts on the dead URL every other call
            assert (await pool.post_json("/v1/completions", body))["choices"][0]["text"] is not None

    asyncio.run(calls(4))
    assert pool.circuit_open(dead)
    failovers = pool.failovers
    asyncio.run(calls(4))
    assert pool.failovers == failovers  # an open circuit is not tried first any more


@pytest.mark.model
def test_no_server_is_a_counted_backend_failure():
    dead = f"http://127.0.0.1:{free_port()}"
    remote = GenerativeRewardModel.from_pretrained("default", backend="openai", base_url=dead, max_retries=1,
                                                   request_timeout=2, fallback=0.0, **GREEDY)
    results = remote.score(["What is 2+2?"], ["4"])
    assert results[0].fallback and results[0].reward == 0.0 and "judge backend error" in results[0].error
    assert remote.stats.backend_errors == 1 and remote.stats.fallbacks == 1


@pytest.mark.process
def test_mode_the_server_cannot_serve_is_refused_at_construction(transformers_serve, judge_path):
    # `transformers serve` rejects logprobs: the preset's distribution mode is refused, naming backend and mode
    with pytest.raises(LogprobsUnsupported, match=r"backend 'openai' cannot serve mode='direct'.*logprobs"):
        GenerativeRewardModel.from_pretrained("default", backend="openai", base_url=transformers_serve.url,
                                              model=judge_path)
    # the chat endpoint has no answer slot: refused before any request is sent
    with pytest.raises(ValueError, match=r"backend 'openai' cannot serve mode='expected'"):
        GenerativeRewardModel.from_pretrained("default", backend="openai", base_url=transformers_serve.url,
                                              model=judge_path, endpoint="chat", mode="expected")


@pytest.mark.unit
def test_mode_the_backend_cannot_serve_is_refused_before_loading():
    # the chat endpoint declares no answer log-probabilities: refused without a server or weights
    with pytest.raises(ValueError, match=r"backend 'openai' cannot serve mode='direct': it cannot read answer "
                                         r"log-probabilities \(it can: generate\); use mode='generate'"):
        GenerativeRewardModel.from_pretrained("default", backend="openai", base_url="http://127.0.0.1:9",
                                              endpoint="chat")


@pytest.mark.model
def test_bad_backend_options_name_the_value():
    with pytest.raises(ValueError, match="backend='nonesuch' is not one of"):
        GenerativeRewardModel.from_pretrained("default", backend="nonesuch")
    with pytest.raises(ValueError, match="base_url"):
        GenerativeRewardModel.from_pretrained("default", backend="openai")
    with pytest.raises(ValueError, match="http://"):
        GenerativeRewardModel.from_pretrained("default", backend="openai", base_url="127.0.0.1:8000")
    with pytest.raises(ValueError, match="endpoint='grpc'"):
        GenerativeRewardModel.from_pretrained("default", backend="openai", base_url="http://x", endpoint="grpc")
