"""Ray, on one local cluster shared by the session (`conftest.ray_cluster`): offline scoring on Ray Data and the
reward server on Ray Serve, with the real embedded judge in every replica.

- ``score --ray`` with 2 replicas writes, byte for byte, what the single-process ``score`` writes for the same
  file (bad rows included, in place): the same chunks judged by the same code (`rollout_file.judge_records`)
  on the session's loaded judge, with one thread as each replica has, so both do the same arithmetic (the
  single-process command itself, bad rows and ``--strict``, is tested in test_cli.py); `score_dataset` on the
  same rows answers every row from the shared cache;
- ``serve --ray`` with 2 replicas serves the reward server's app (API key, limits, OpenRLHF and slime schemas,
  metrics); one replica is SIGKILLed under a bounded request loop: it is replaced, and every request gets its
  own reward (requests inside the dead replica get a 500 that the client retries).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._servers import ECHO_COMPLETION, ECHO_OPTIONS, ECHO_PROTOCOL, ServerProcess, echo_prompt, free_port

pytestmark = pytest.mark.process

if importlib.util.find_spec("ray") is None or importlib.util.find_spec("grpc") is None:
    if os.environ.get("CI"):  # the test extra installs ray[serve,data]: there these tests must run
        raise RuntimeError("ray[serve,data] is not installed; the test extra includes it")
    pytest.skip("the 'ray' extra is not installed (pip install 'reward-judge[ray]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
# direct mode (the default preset's): score distributions, so any difference in the arithmetic would show
JUDGE = ["--judge", "default", "--max-attempts", "1"]
LINES = [
    '{"prompt": "What is 2+2?", "completion": "4", "reference": "4"}',
    '{"prompt": "What is 2+2?", "completion": "It is 5."}',
    "",  # blank: skipped, its number kept
    "this line is not JSON",
    '{"prompt": "Name a primary colour.", "completion": "Blue,\u2028like the sky."}',  # U+2028 inside a string
    '{"prompt": "Q without an answer"}',
    '[1, 2, 3]',
    '{"prompt": "Capital of France?", "completion": "Paris.", "reference": 7}',
    '{"prompt": [{"role": "user", "content": "Capital of Italy?"}], "completion": "Rome."}',
    # the judge refuses this rubric (Prometheus needs five score descriptions): a bad row too, found by the judge
    '{"prompt": "Capital of Spain?", "completion": "Madrid.", "rubric": "Is the answer correct?"}',
    '{"prompt": "Capital of Spain?", "completion": "Madrid.", "rubric": "helpfulness"}',
]
BAD = {4: "is not valid JSON", 6: "missing field 'completion'", 7: "each line must be a JSON object",
       8: "reference must be a string or null", 10: "protocol 'prometheus-v2' needs score descriptions"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, **(env or {})))


def single_process_output(backend, source: Path, chunk_size: int, **options) -> tuple[str, str]:
    """What ``reward-judge score --judge default`` writes for ``source`` (its chunking, its records, its summary),
    on the session's loaded judge, with one thread like each replica."""
    from itertools import islice

    import torch

    from reward_judge import GenerativeRewardModel
    from reward_judge.integrations.rollout_file import RowSpec, ScoreTally, judge_records, parse_line, read_lines
    from reward_judge.presets import resolve_config

    config, preset = resolve_config("default", **options)
    rm = GenerativeRewardModel(backend, config, judge="default", preset=preset)
    spec, tally, out = RowSpec(), ScoreTally(), []
    lines = (parse_line(n, raw, spec) for n, raw in read_lines(source))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        while chunk := list(islice(lines, chunk_size)):
            for judged in judge_records(rm, chunk):
                out.append(judged.text + "\n")
                tally.add(judged.kind, judged.line)
    finally:
        torch.set_num_threads(threads)
    return "".join(out), tally.summary(rm.protocol.name, config.mode, config.fallback, source)


def test_score_on_ray_writes_what_the_single_process_command_writes(ray_cluster, judge_backend, tmp_path):
    source = tmp_path / "rollouts.jsonl"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    on_ray, cache = tmp_path / "ray.jsonl", tmp_path / "cache.sqlite"
    proc_ray = run_cli("score", "--input", str(source), "--chunk-size", "3", "--quiet", *JUDGE, "--output",
                       str(on_ray), "--ray", "--ray-address", ray_cluster, "--num-replicas", "2",
                       "--num-cpus-per-replica", "1", "--cache", str(cache))
    assert proc_ray.returncode == 0, proc_ray.stderr
    single, summary = single_process_output(judge_backend, source, chunk_size=3, max_attempts=1)
    assert on_ray.read_text(encoding="utf-8") == single  # row for row, byte for byte
    records = [json.loads(line) for line in single.split("\n") if line]
    numbers = [n for n, line in enumerate(LINES, 1) if line]
    assert len(records) == len(numbers)  # one output line per input line, in place
    for number, record in zip(numbers, records):
        if number in BAD:
            assert record["ok"] is False and record["reward"] is None and record["attempts"] == 0, record
            assert record["error"].startswith(f"bad input row (line {number}): {BAD[number]}"), record
        else:
            assert record["ok"] and record["error"] is None and set(record["distribution"]) == set("12345"), record
    assert records[3]["completion"] == "Blue,\u2028like the sky."  # the separator did not split the line
    for stderr in (summary, proc_ray.stderr):
        assert "judged 5 rollouts" in stderr and "5 bad input rows written in place" in stderr
        assert "(lines 4, 6, 7, 8, 10;" in stderr
    assert "(2 Ray Data replicas)" in proc_ray.stderr

    # The Python API on the good rows, one replica, the same cache: every row is answered from it.
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(line for n, line in enumerate(LINES, 1) if line and n not in BAD and n != 9) + "\n",
                    encoding="utf-8")
    out = tmp_path / "dataset.json"
    job = subprocess.run([sys.executable, "-m", "tests._ray_jobs", "score-dataset", ray_cluster, str(good), str(cache),
                          str(out), json.dumps({"max_attempts": 1})], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    rows = json.loads(out.read_text(encoding="utf-8"))
    expected = [r for n, r in zip(numbers, records) if n not in BAD and n != 9]
    assert [r["completion"] for r in rows] == [r["completion"] for r in expected]  # input order kept
    for row, want in zip(rows, expected):
        assert row["cached"] is True, row
        assert (row["score"], row["reward"], row["distribution"]) == (want["score"], want["reward"], want["distribution"])


def _replica_pids() -> set[int]:
    """PIDs of the Ray Serve replicas of the judge (Ray names its worker processes after the actor they hold)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ServeReplica:reward-judge:RewardJudge" in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                pass
    return pids


def test_ray_serve_replaces_a_killed_replica_and_no_request_gets_a_wrong_reward(ray_cluster, tmp_path):
    from reward_judge.integrations.remote import RemoteRewardModel

    key = "ray-serve-key-4e1d"
    port = free_port()
    argv = [sys.executable, "-m", "reward_judge.integrations.cli", "serve", "--ray", "--ray-address", ray_cluster,
            "--num-replicas", "2", "--num-cpus-per-replica", "1", "--host", "127.0.0.1", "--port", str(port),
            "--protocol", json.dumps(ECHO_PROTOCOL), *ECHO_OPTIONS, "--max-request-rows", "8", "--max-wait-ms", "20"]
    with ServerProcess(argv, port, tmp_path / "serve.log", env={"REWARD_JUDGE_API_KEY": key}) as server:
        auth = {"Authorization": f"Bearer {key}"}
        body = {"prompts": [echo_prompt(7)], "completions": [ECHO_COMPLETION]}
        assert httpx.post(server.url + "/v1/score", json=body, timeout=60).status_code == 401
        answer = httpx.post(server.url + "/v1/score", json=body, headers=auth, timeout=60)
        assert answer.status_code == 200 and answer.json()["rewards"] == [7.0], answer.text
        too_many = {"prompts": [echo_prompt(1)] * 9, "completions": [ECHO_COMPLETION] * 9}
        refused = httpx.post(server.url + "/v1/score", json=too_many, headers=auth, timeout=60)
        assert refused.status_code == 413 and "--max-request-rows" in refused.text
        openrlhf = httpx.post(f"{server.url}/get_reward?api_key={key}", timeout=60,
                              json={"query": [echo_prompt(12) + ECHO_COMPLETION], "prompts": [echo_prompt(12)]})
        assert openrlhf.json()["rewards"] == [12.0], openrlhf.text
        slime = httpx.post(server.url + "/slime/reward", headers=auth, timeout=60,
                           json={"prompt": echo_prompt(21), "response": ECHO_COMPLETION, "label": None})
        assert slime.json() == 21.0, slime.text
        metrics = httpx.get(server.url + "/metrics", headers=auth, timeout=60)
        assert metrics.status_code == 200 and "reward_judge_requests_total" in metrics.text
        assert key not in server.log.read_text()  # the key in the URL reached no log

        before = _replica_pids()
        assert len(before) == 2, before
        client = RemoteRewardModel(server.url, api_key=key, timeout=120, request_timeout=60, max_retries=30,
                                   backoff_base=0.2, backoff_max=2.0)
        wrong, answered, lock, stop = [], [], threading.Lock(), threading.Event()
        counter = iter(range(100, 10_000))

        def loop() -> None:
            while not stop.is_set():
                with lock:
                    n = next(counter)
                reward = client([echo_prompt(n)], [ECHO_COMPLETION])[0]
                with lock:
                    answered.append((time.monotonic(), n))
                    if reward != float(n):
                        wrong.append((n, reward))

        threads = [threading.Thread(target=loop) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3)
            victim = min(before)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            deadline = killed_at + 150
            while time.monotonic() < deadline:  # bounded: the replacement must come within it
                now = _replica_pids()
                if len(now) == 2 and victim not in now and httpx.get(server.url + "/health", timeout=10).status_code == 200:
                    break
                time.sleep(0.5)
            replaced_after = time.monotonic() - killed_at
            time.sleep(3)  # traffic on the replacement too
        finally:
            stop.set()
            for thread in threads:
                thread.join(180)
        after = _replica_pids()
        assert victim not in after and len(after) == 2, (before, after)
        assert wrong == [], wrong
        assert client.stats["fallbacks"] == 0, client.stats
        served_after = [n for t, n in answered if t > killed_at]
        assert served_after, "no request was answered after the kill"
        print(f"replica {victim} SIGKILLed: replaced after {replaced_after:.1f} s; {len(answered)} requests, "
              f"{len(served_after)} after the kill, {client.stats['retries']} retried, 0 wrong rewards")
        client.close()
    assert "replicas now" in server.log.read_text()  # the command noticed the dead replica and its replacement
