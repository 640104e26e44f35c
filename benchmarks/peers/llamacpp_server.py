"""llama-cpp-python's OpenAI-compatible server as a subprocess on 127.0.0.1: started on a free port, always stopped.

    with LlamaCppServer(gguf_path(), threads=2) as server:
        ...  # server.url, server.peak_memory_mib()

``--logits_all true`` makes it return log-probabilities. The log goes to a temporary folder, not the
working directory; the last lines of it are in the error when the server does not come up.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from .common import PeerUnavailable


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppServer:
    """``python -m llama_cpp.server`` serving one GGUF file; ``stop()`` (or leaving the ``with``) ends it."""

    def __init__(self, model_path: str, *, threads: int, n_ctx: int = 4096, startup_s: float = 120.0,
                 python: Optional[str] = None):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._logdir = tempfile.TemporaryDirectory(prefix="bench-llamacpp-server-")
        self.log = Path(self._logdir.name) / "server.log"
        argv = [python or sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--logits_all", "true",
                "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(threads),
                "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx)]
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(argv, stdout=self._log_handle, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        atexit.register(self.stop)  # a benchmark that fails half-way must not leave the server running
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:]
                self.stop()
                raise PeerUnavailable(f"llama_cpp.server exited with {self.proc.returncode}: {tail}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        tail = self.log.read_text()[-2000:]
        self.stop()
        raise PeerUnavailable(f"llama_cpp.server on {self.url} did not answer in {startup_s:.0f} s: {tail}")

    def reset_peak_memory(self) -> None:
        """Reset the server process's resident-set high-water mark (Linux; ignored elsewhere)."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_memory_mib(self) -> Optional[float]:
        """The server process's peak resident set since the last reset, in MiB (None when unknown)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self, wait_s: float = 20.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after ``wait_s``; returns the exit status."""
        atexit.unregister(self.stop)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log_handle.closed:
            self._log_handle.close()
        self._logdir.cleanup()
        return self.proc.returncode

    def __enter__(self) -> "LlamaCppServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
