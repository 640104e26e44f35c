"""Throughput of `reward-judge serve` under 8 concurrent clients vs one in-process call of the same size.

    python benchmarks/bench_server.py --requests 200 --clients 8

Both sides judge the same rollouts with the same judge settings (the embedded judge by default); the
table shows rollouts per second and the server's micro-batch sizes. The server requires an API key, as
an exposed one should, and is called two ways: ``/v1/score`` through `RemoteRewardModel` (TRL), and
``/get_reward`` the way OpenRLHF calls it (one sample per request, ChatML-templated prompt, query ending
with ``<|im_end|>``, the key in the URL), so the cost of reading the policy's chat template back shows.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _servers import ECHO_COMPLETION, ECHO_OPTIONS, ECHO_PROTOCOL, ServerProcess, echo_prompt, free_port, metric  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="default")
    parser.add_argument("--requests", type=int, default=200, help="one-rollout requests in total")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="judge forward batch (both sides)")
    args = parser.parse_args()

    from reward_judge import CustomProtocol, GenerativeRewardModel
    from reward_judge.integrations.remote import RemoteRewardModel

    numbers = list(range(100, 100 + args.requests))
    prompts = [echo_prompt(n) for n in numbers]

    protocol = CustomProtocol(**{**ECHO_PROTOCOL, "range": tuple(ECHO_PROTOCOL["range"])})
    rm = GenerativeRewardModel.from_pretrained(args.judge, protocol=protocol, chat_format="raw", max_new_tokens=4,
                                               max_attempts=1, normalize="none", batch_size=args.batch_size)
    rm([prompts[0]], [ECHO_COMPLETION])  # warm-up
    started = time.perf_counter()
    local = rm(prompts, [ECHO_COMPLETION] * len(prompts))
    local_s = time.perf_counter() - started

    port = free_port()
    argv = [sys.executable, "-m", "reward_judge.integrations.cli", "serve", "--judge", args.judge, "--port", str(port),
            "--protocol", json.dumps(ECHO_PROTOCOL), *ECHO_OPTIONS, "--transformers-batch-size", str(args.batch_size),
            "--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "serve.log"  # the server's output, kept out of the CWD
    key = secrets.token_hex(16)
    auth = {"Authorization": f"Bearer {key}"}
    with ServerProcess(argv, port, log, env={"REWARD_JUDGE_API_KEY": key}) as server:
        RemoteRewardModel(server.url, api_key=key)([prompts[0]], [ECHO_COMPLETION])  # warm-up

        def run_clients(send) -> tuple[dict[int, float], float, float]:
            before = httpx.get(server.url + "/metrics", headers=auth).text
            got: dict[int, float] = {}

            def client(c: int) -> None:
                with httpx.Client(timeout=600) as http:
                    remote = RemoteRewardModel(server.url, timeout=600, api_key=key)
                    for i in range(c, len(prompts), args.clients):
                        got[i] = send(remote, http, i)

            threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
            after = httpx.get(server.url + "/metrics", headers=auth).text
            batches = metric(after, "reward_judge_batches_total") - metric(before, "reward_judge_batches_total")
            return got, seconds, len(prompts) / max(batches, 1)

        def score(remote, http, i: int) -> float:
            return remote([prompts[i]], [ECHO_COMPLETION])[0]

        def get_reward(remote, http, i: int) -> float:
            # OpenRLHF's request: ChatML-templated prompt, query = prompt + response + end-of-turn, key in the URL
            templated = f"<|im_start|>user\n{prompts[i]}<|im_end|>\n<|im_start|>assistant\n"
            body = {"query": [templated + ECHO_COMPLETION + "<|im_end|>"], "prompts": [templated], "labels": [""]}
            return http.post(f"{server.url}/get_reward?api_key={key}", json=body).json()["rewards"][0]

        served, served_s, served_batch = run_clients(score)
        openrlhf, openrlhf_s, openrlhf_batch = run_clients(get_reward)
        max_batch = metric(httpx.get(server.url + "/metrics", headers=auth).text, "reward_judge_batch_size_max")

    print(f"{'setup':<60} {'rollouts':>8} {'seconds':>8} {'rollouts/s':>10} {'mean batch':>10} {'= local':>8}")
    print(f"{'in-process rm(...) one call':<60} {len(prompts):>8} {local_s:>8.2f} {len(prompts) / local_s:>10.2f} "
          f"{args.batch_size:>10} {'':>8}")
    for name, got, seconds, batch in (
            (f"serve /v1/score, {args.clients} RemoteRewardModel clients", served, served_s, served_batch),
            (f"serve /get_reward, {args.clients} OpenRLHF-style clients (ChatML)", openrlhf, openrlhf_s, openrlhf_batch)):
        same = sum(got[i] == local[i] for i in range(len(prompts)))
        print(f"{name:<60} {len(prompts):>8} {seconds:>8.2f} {len(prompts) / seconds:>10.2f} {batch:>10.1f} "
              f"{f'{same}/{len(prompts)}':>8}")
    print(f"server max batch {max_batch:g}; '= local': rewards equal to the in-process call's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
