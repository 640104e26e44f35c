"""Ray's cost and gain, in one run: ``score`` vs ``score --ray`` (1 and 2 replicas) on the same file, and the reward
server with and without Ray Serve (1 and 2 replicas).

    python benchmarks/bench_ray.py --rows 1000 --requests 200 --clients 8

Offline: the same JSONL file (``--rows`` rollouts) is judged by the embedded judge (its preset: Prometheus 2 in
direct mode, one forward pass per rollout) three ways, each writing the output file:

- ``single``: what ``reward-judge score`` runs (`rollout_file.judge_records` over chunks), in this process;
- ``ray-1`` / ``ray-2``: ``score_file`` (``reward-judge score --ray``) on a local Ray cluster started once
  before them (its start-up is reported on its own line), with 1 replica of 2 CPUs or 2 replicas of 1 CPU, so
  every way uses this machine's 2 cores and the same threads in total.

"job s" runs from the call to the file being written (judge loading and, for Ray, replica start-up
included); "steady rollouts/s" counts the rows written after the first chunk over the time after it (the
judging rate once every judge is loaded). Ray Data's overhead is ray-1 against single on both.

Online: ``reward-judge serve`` and ``reward-judge serve --ray`` with 1 and 2 replicas, each started and
warmed up before ``--clients`` threads send ``--requests`` one-rollout ``/v1/score`` requests (the echo
judge of the server tests: a few generated tokens; every answer is checked). Requests/s and p50/p99
latency per setting.

On a 2-core machine replicas cannot add compute: what the tables show there is Ray's overhead. Prints
tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _servers import ECHO_COMPLETION, ECHO_OPTIONS, ECHO_PROTOCOL, ServerProcess, echo_prompt, free_port  # noqa: E402

QUESTIONS = ["What is {a}+{b}?", "Name a city in country number {a}.", "Write a haiku about the number {b}.",
             "Explain in one sentence why {a} is {parity}."]


def write_rollouts(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            a, b = i % 37, (i * 7) % 53
            question = QUESTIONS[i % len(QUESTIONS)].format(a=a, b=b, parity="even" if a % 2 == 0 else "odd")
            answer = [f"{a + b}.", f"It is {a + b + i % 3}.", "I do not know.", f"Because {a} mod 2 is {a % 2}."][i % 4]
            row = {"prompt": question, "completion": answer}
            if i % 4 == 0:
                row["reference"] = str(a + b)
            out.write(json.dumps(row) + "\n")


class Clock:
    """Time from start to the first chunk written and to the last row written."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float = 0.0
        self.first_rows = 0
        self.end: float = 0.0
        self.rows = 0

    def wrote(self, rows: int) -> None:
        now = time.perf_counter()
        if not self.first:
            self.first, self.first_rows = now, rows
        self.rows += rows
        self.end = now

    def row(self, name: str) -> dict[str, Any]:
        steady = (self.rows - self.first_rows) / (self.end - self.first) if self.end > self.first else float("nan")
        return {"setting": name, "rows": self.rows, "job_s": self.end - self.start, "steady_rps": steady,
                "job_rps": self.rows / (self.end - self.start)}


def offline_single(source: Path, target: Path, chunk: int, options: dict[str, Any]) -> dict[str, Any]:
    from itertools import islice

    from reward_judge import GenerativeRewardModel
    from reward_judge.integrations.rollout_file import RowSpec, judge_records, parse_line, read_lines

    clock = Clock()
    rm = GenerativeRewardModel.from_pretrained("default", **options)
    lines = (parse_line(n, raw, RowSpec()) for n, raw in read_lines(source))
    with target.open("w", encoding="utf-8") as out:
        while batch := list(islice(lines, chunk)):
            for judged in judge_records(rm, batch):
                out.write(judged.text + "\n")
            clock.wrote(len(batch))
    rm.close()
    return clock.row("single")


def offline_ray(source: Path, target: Path, chunk: int, options: dict[str, Any], replicas: int) -> dict[str, Any]:
    from reward_judge.integrations.ray_data import score_file

    clock = Clock()
    score_file(source, target, "default", options, num_replicas=replicas, chunk_size=chunk, progress=False,
               quiet=True, num_cpus_per_replica=(os.cpu_count() or 2) // replicas or 1, on_written=clock.wrote)
    return clock.row(f"ray-{replicas}")


def online(argv_extra: list[str], name: str, requests: int, clients: int, key: str) -> dict[str, Any]:
    import httpx

    port = free_port()
    argv = [sys.executable, "-m", "reward_judge.integrations.cli", "serve", "--port", str(port),
            "--protocol", json.dumps(ECHO_PROTOCOL), *ECHO_OPTIONS, "--max-batch-size", "32", "--max-wait-ms", "10",
            *argv_extra]
    log = Path(tempfile.mkdtemp(prefix="bench-ray-")) / f"{name}.log"
    started = time.perf_counter()
    with ServerProcess(argv, port, log, env={"REWARD_JUDGE_API_KEY": key, "RAY_AUTH_MODE": "disabled"},
                       startup_s=600) as server:
        startup = time.perf_counter() - started
        auth = {"Authorization": f"Bearer {key}"}

        def send(http: httpx.Client, n: int) -> float:
            t = time.perf_counter()
            answer = http.post(server.url + "/v1/score", headers=auth, timeout=600,
                               json={"prompts": [echo_prompt(n)], "completions": [ECHO_COMPLETION]})
            answer.raise_for_status()
            if answer.json()["rewards"] != [float(n)]:
                raise AssertionError(f"request {n} got {answer.json()['rewards']}")
            return time.perf_counter() - t

        with httpx.Client() as http:  # warm-up: every replica has judged
            for n in range(4 * clients):
                send(http, n)
        latencies: list[float] = []
        lock = threading.Lock()

        def client(c: int) -> None:
            with httpx.Client() as http:
                for n in range(100 + c, 100 + requests, clients):
                    seconds = send(http, n)
                    with lock:
                        latencies.append(seconds)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"setting": name, "requests": len(latencies), "startup_s": startup, "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Callable[[Any], str]]]) -> None:
    widths = [max(len(title), *(len(fmt(r[key])) for r in rows)) for key, title, fmt in columns]
    print("  ".join(title.ljust(w) for (_, title, _), w in zip(columns, widths)))
    for r in rows:
        print("  ".join(fmt(r[key]).ljust(w) for (key, _, fmt), w in zip(columns, widths)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rollouts in the offline file")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--requests", type=int, default=200, help="one-rollout requests per server setting")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # the local clusters of this run stay on this machine
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    figures: dict[str, Any] = {"load_before": os.getloadavg()}
    options = {"max_attempts": 1}

    if not args.skip_offline:
        import ray

        work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
        source = work / "rollouts.jsonl"
        write_rollouts(source, args.rows)
        rows = [offline_single(source, work / "single.jsonl", args.chunk_size, options)]
        t = time.perf_counter()
        ray.init(address="local", num_cpus=(os.cpu_count() or 2) + 1, include_dashboard=False, logging_level="WARNING",
                 log_to_driver=False)
        cluster_s = time.perf_counter() - t
        for replicas in (1, 2):
            rows.append(offline_ray(source, work / f"ray-{replicas}.jsonl", args.chunk_size, options, replicas))
        ray.shutdown()
        same = [(work / f"ray-{n}.jsonl").read_text().count("\n") == args.rows for n in (1, 2)]
        print(f"\noffline: {args.rows} rollouts, chunks of {args.chunk_size}, embedded judge (direct mode); "
              f"local Ray cluster start-up {cluster_s:.1f} s (not in the rows below); every output has "
              f"{'all' if all(same) else 'NOT all'} rows")
        table(rows, [("setting", "setting", str), ("job_s", "job s", lambda v: f"{v:.1f}"),
                     ("job_rps", "rollouts/s (job)", lambda v: f"{v:.2f}"),
                     ("steady_rps", "steady rollouts/s", lambda v: f"{v:.2f}")])
        single, ray1 = rows[0], rows[1]
        print(f"Ray Data overhead with 1 replica (target <= 15%): job time {100 * (ray1['job_s'] / single['job_s'] - 1):+.1f}%"
              f", steady rate {100 * (ray1['steady_rps'] / single['steady_rps'] - 1):+.1f}% (ray-1 against single; "
              "the steady rate counts the rows after the first chunk, so it leaves out replica start-up)")
        figures.update(offline=rows, cluster_start_s=cluster_s)

    if not args.skip_online:
        key = secrets.token_hex(16)
        rows = [online([], "serve", args.requests, args.clients, key),
                online(["--ray", "--num-replicas", "1", "--num-cpus-per-replica", "2"], "serve --ray (1 replica)",
                       args.requests, args.clients, key),
                online(["--ray", "--num-replicas", "2", "--num-cpus-per-replica", "1"], "serve --ray (2 replicas)",
                       args.requests, args.clients, key)]
        print(f"\nonline: {args.requests} one-rollout /v1/score requests from {args.clients} clients per setting "
              "(echo judge, a few generated tokens); start-up includes Ray's local cluster for --ray")
        table(rows, [("setting", "setting", str), ("startup_s", "start-up s", lambda v: f"{v:.1f}"),
                     ("rps", "requests/s", lambda v: f"{v:.2f}"), ("p50_ms", "p50 ms", lambda v: f"{v:.0f}"),
                     ("p99_ms", "p99 ms", lambda v: f"{v:.0f}")])
        figures["online"] = rows
    figures["load_after"] = os.getloadavg()
    print(f"\nload average before {figures['load_before'][0]:.2f}, after {figures['load_after'][0]:.2f} "
          f"({os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
