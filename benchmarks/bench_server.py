"""Throughput of `reward-judge serve` under 8 concurrent clients vs one in-process call of the same size.

    python benchmarks/bench_server.py --requests 200 --clients 8

Both sides judge the same rollouts with the same judge settings (the embedded judge by default); the
table shows rollouts per second and the server's micro-batch sizes. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
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
            "--protocol", json.dumps(ECHO_PROTOCOL), *ECHO_OPTIONS, "--batch-size", str(args.batch_size),
            "--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "serve.log"  # the server's output, kept out of the CWD
    with ServerProcess(argv, port, log) as server:
        RemoteRewardModel(server.url)([prompts[0]], [ECHO_COMPLETION])  # warm-up
        before = httpx.get(server.url + "/metrics").text
        remote: dict[int, float] = {}

        def client(c: int) -> None:
            reward = RemoteRewardModel(server.url, timeout=600)
            for i in range(c, len(prompts), args.clients):
                remote[i] = reward([prompts[i]], [ECHO_COMPLETION])[0]

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        served_s = time.perf_counter() - started
        after = httpx.get(server.url + "/metrics").text
    batches = metric(after, "reward_judge_batches_total") - metric(before, "reward_judge_batches_total")
    same = sum(remote[i] == local[i] for i in range(len(prompts)))

    print(f"{'setup':<52} {'rollouts':>8} {'seconds':>8} {'rollouts/s':>10} {'mean batch':>10}")
    print(f"{'in-process rm(...) one call':<52} {len(prompts):>8} {local_s:>8.2f} {len(prompts) / local_s:>10.2f} "
          f"{args.batch_size:>10}")
    print(f"{f'reward-judge serve, {args.clients} clients x 1-rollout requests':<52} {len(prompts):>8} {served_s:>8.2f} "
          f"{len(prompts) / served_s:>10.2f} {len(prompts) / max(batches, 1):>10.1f}")
    print(f"server max batch {metric(after, 'reward_judge_batch_size_max'):g}; rewards equal to in-process: "
          f"{same}/{len(prompts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
