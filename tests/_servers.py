"""Real server processes on 127.0.0.1 for the serving tests: started on free ports, always stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar

import httpx

# A judge prompt the embedded model completes predictably: it repeats the number it has seen three
# times, so every request's reward encodes the request itself (mix-ups between clients show).
ECHO_PROTOCOL = {"custom_name": "echo", "template": "{instruction}{response}", "answer_pattern": r"(\d+)",
                 "range": [0, 999]}
ECHO_OPTIONS = ["--chat-format", "raw", "--max-new-tokens", "4", "--max-attempts", "1", "--normalize", "none"]


def echo_prompt(number: int) -> str:
    return f"Score: {number}\nScore: {number}\nScore: {number}\n"


ECHO_COMPLETION = "Score:"


T = TypeVar("T")


def concurrently(call: Callable[[int], T], n: int, timeout: float = 300) -> list[T]:
    """``call(0)`` ... ``call(n - 1)`` in n threads at once; their results in the order they finished."""
    results: list[T] = []
    threads = [threading.Thread(target=lambda i=i: results.append(call(i))) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess; ``stop()`` (or the context manager) ends it with SIGTERM, then SIGKILL."""

    def __init__(self, argv: Sequence[str], port: int, log: Path, health: str = "/health", startup_s: float = 180,
                 env: Optional[dict[str, str]] = None, process_group: bool = False):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_handle = log.open("w")
        #: The server runs in a session of its own and stops with every process it started (vLLM's API server,
        #: engine core and worker are three processes).
        self.process_group = process_group
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen(list(argv), stdout=self._log_handle, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=process_group)
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + health, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server on {self.url} not healthy after {startup_s} s: {log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, wait_s: float = 30) -> Optional[int]:
        if self.proc.poll() is None:
            self._signal(sig)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        if self.process_group:  # children that outlived the server (an engine process) go with it
            self._signal(signal.SIGKILL)
        self._log_handle.close()
        return self.proc.returncode

    def _signal(self, sig: int) -> None:
        try:
            if self.process_group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_reward_server(tmp_path: Path, *extra: str, name: str = "serve", protocol: Optional[dict] = None,
                        options: Optional[Sequence[str]] = None, verbose: int = 0,
                        env: Optional[dict[str, str]] = None) -> ServerProcess:
    """`reward-judge serve` on the embedded judge: the echo protocol unless ``protocol``/``options`` say otherwise."""
    port = free_port()
    argv = [sys.executable, "-m", "reward_judge.integrations.cli", *(["-" + "v" * verbose] if verbose else []),
            "serve", "--host", "127.0.0.1", "--port", str(port), "--protocol", json.dumps(protocol or ECHO_PROTOCOL),
            *(ECHO_OPTIONS if options is None else options), *extra]
    return ServerProcess(argv, port, tmp_path / f"{name}-{port}.log", env=env)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise KeyError(f"metric {name} not in /metrics output")


class RayHead:
    """A one-node Ray cluster (``ray start --head --block``) on a free port, for the Ray tests of a session.

    Token authentication is off (``RAY_AUTH_MODE=disabled`` for the head and every process the tests start);
    ``stop()`` ends the head, which takes down the processes it started, and only those.
    """

    def __init__(self, log: Path, num_cpus: int = 8, startup_s: float = 180):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = log
        self._log_handle = log.open("w")
        # no drain on SIGTERM: nothing of a test session is worth 30 s of waiting at its end
        self.env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
                        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
        argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--port", str(self.port),
                "--num-cpus", str(num_cpus), "--include-dashboard", "false", "--disable-usage-stats"]
        self.proc = subprocess.Popen(argv, stdout=self._log_handle, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + startup_s
        while "Ray runtime started" not in log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start --head did not come up: {log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the head drains, then stops its own processes
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_handle.close()
