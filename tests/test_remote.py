"""`RemoteRewardModel` against real `reward-judge serve` processes: failover, fallback, pickling, async."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from tests._servers import ECHO_COMPLETION, echo_prompt, free_port, start_reward_server
from reward_judge.integrations.remote import RemoteRewardModel



@pytest.mark.process
def test_failover_to_second_server_then_declared_fallback_without_hanging(tmp_path):
    first = start_reward_server(tmp_path, name="first")
    second = start_reward_server(tmp_path, name="second")
    try:
        reward = RemoteRewardModel([first.url, second.url], timeout=120, request_timeout=60, fallback=-1.0,
                                   backoff_base=0.05)
        assert reward([echo_prompt(111), echo_prompt(222)], [ECHO_COMPLETION] * 2) == [111.0, 222.0]
        first.kill()  # mid-run: the next calls must find the second server
        for n in (333, 444, 555):
            assert reward([echo_prompt(n)], [ECHO_COMPLETION]) == [float(n)]
        assert reward.pool.circuit_open(first.url) or reward.stats["retries"] > 0
        assert reward.stats["fallbacks"] == 0
        second.kill()
        short = RemoteRewardModel([first.url, second.url], timeout=5, request_timeout=2, fallback=-1.0, max_retries=50)
        started = time.monotonic()
        assert short([echo_prompt(1), echo_prompt(2)], [ECHO_COMPLETION] * 2) == [-1.0, -1.0]
        assert time.monotonic() - started < 5 + 2  # bounded by timeout, not by 50 retries
        assert short.stats["fallbacks"] == 2 and short.stats["failed_calls"] == 1
        records = short.score([echo_prompt(3)], [ECHO_COMPLETION])
        assert records[0]["fallback"] and "reward server" in records[0]["error"]
    finally:
        first.stop()
        second.stop()


@pytest.mark.process
def test_pickled_and_async_clients_share_one_server(tmp_path):
    with start_reward_server(tmp_path) as server:
        reward = RemoteRewardModel(server.url, timeout=120, name="shared_judge")
        assert reward([echo_prompt(808)], [ECHO_COMPLETION]) == [808.0]
        clone = pickle.loads(pickle.dumps(reward))  # what async GRPO does with reward_funcs
        assert clone.__name__ == "shared_judge" and clone([echo_prompt(909)], [ECHO_COMPLETION]) == [909.0]
        areward = reward.as_async()
        assert asyncio.iscoroutinefunction(areward.__call__)

        async def many() -> list:
            return await asyncio.gather(*(areward([echo_prompt(n)], [ECHO_COMPLETION]) for n in (123, 456, 789)))

        assert asyncio.run(many()) == [[123.0], [456.0], [789.0]]


@pytest.mark.process
def test_a_hung_server_is_failed_over_and_its_circuit_opens(tmp_path):
    """A server that accepts and never answers took every call routed to it to the whole timeout and a fallback:
    one attempt could use the call's whole budget, and its cancelled attempt never counted against its circuit."""
    import socket
    import sys
    import threading

    from tests._servers import ServerProcess
    from tests.test_slime_remote import ROOT, SERVER

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    held: list = []

    def accept() -> None:
        while True:
            try:
                held.append(hung.accept()[0])  # read nothing, answer nothing
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = free_port()
    code = SERVER.format(root=str(ROOT), port=port, options="")
    try:
        with ServerProcess([sys.executable, "-c", code], port, tmp_path / "server.log") as good:
            remote = RemoteRewardModel([hung_url, good.url], timeout=3)
            started = time.perf_counter()
            rewards = [remote(prompts=["Q"], completions=["score=4"])[0] for _ in range(6)]
            assert rewards == [0.75] * 6 and remote.stats["fallbacks"] == 0  # every call failed over in time
            assert time.perf_counter() - started < 6 * 3
            assert remote.pool.circuit_open(hung_url)
            remote.close()
    finally:
        hung.close()
        for connection in held:
            connection.close()


@pytest.mark.unit
def test_client_arguments_are_checked():
    with pytest.raises(ValueError, match="url"):
        RemoteRewardModel("localhost:8000")
    with pytest.raises(ValueError, match="timeout"):
        RemoteRewardModel(f"http://127.0.0.1:{free_port()}", timeout=0)
    with pytest.raises(ValueError, match="fallback"):
        RemoteRewardModel(f"http://127.0.0.1:{free_port()}", fallback="zero")
    with pytest.raises(ValueError, match="same length"):
        RemoteRewardModel(f"http://127.0.0.1:{free_port()}")(["a"], ["b", "c"])


@pytest.mark.training
def test_grpo_trainer_rewards_come_from_the_shared_server(tmp_path):
    """A real TRL GRPOTrainer with a sync and an async RemoteRewardModel: every rollout reaches the server."""
    import httpx
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from tests._servers import metric
    from reward_judge.embedded import embedded_judge_path

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_judge_path()[0]))
    policy = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2))
    dataset = Dataset.from_dict({"prompt": [echo_prompt(n) for n in range(600, 604)]})
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), use_cpu=True, bf16=False, report_to=[], max_steps=2,
                      per_device_train_batch_size=4, num_generations=2, max_completion_length=4, logging_steps=1,
                      save_strategy="no")
    with start_reward_server(tmp_path) as server:
        sync_reward = RemoteRewardModel(server.url, timeout=300, name="judge_sync", fallback=0.0)
        async_reward = RemoteRewardModel(server.url, timeout=300, name="judge_async", fallback=0.0).as_async()
        trainer = GRPOTrainer(model=policy, reward_funcs=[sync_reward, async_reward], args=args,
                              train_dataset=dataset, processing_class=tokenizer)
        trainer.train()
        rollouts = metric(httpx.get(server.url + "/metrics").text, "reward_judge_rollouts_total")
    # 2 steps x 4 completions, judged once by each of the two reward functions, all on the one server
    assert sync_reward.stats["rollouts"] == 8 and async_reward.stats["rollouts"] == 8
    assert rollouts == 16 and sync_reward.stats["fallbacks"] == async_reward.stats["fallbacks"] == 0
    logged = [entry for entry in trainer.state.log_history if "rewards/judge_sync/mean" in entry]
    assert logged and "rewards/judge_async/mean" in logged[0]
