"""Runs the peers by method name, loading the llama.cpp judge and starting its server once, stopping it at the end.

Example:
    >>> with PeerRunner(inputs, prometheus_eval_rollouts=8) as peers:   # doctest: +SKIP
    ...     result = peers.run("llamacpp-prompt-eval")
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .common import MULTI_TOKEN_PROTOCOL, PEER_METHODS, PeerInputs, PeerResult, PeerUnavailable, gguf_path
from .llamacpp import LlamaCppPeer, llama_cpp_status
from .llamacpp_server import LlamaCppServer
from .vllm_server import VLLMServer


@dataclass
class VLLMSettings:
    """How the vLLM rows run: the engine settings every vLLM engine of the run shares (ours in process, the server's,
    prometheus-eval's), so the rows differ by method only."""

    dtype: str = "float32"
    max_model_len: int = 4096
    #: KV cache bytes of every engine (None: vLLM sizes it from gpu_memory_utilization, on a GPU)
    kv_cache_bytes: Optional[int] = 2 << 30
    block_size: Optional[int] = 32
    enforce_eager: bool = True
    gpu_memory_utilization: Optional[float] = None
    #: VLLM_CPU_OMP_THREADS_BIND of the server's worker (None: every core)
    threads_bind: Optional[str] = None
    prometheus_eval_venv: Optional[str] = None

    @property
    def export_dtype(self) -> Optional[str]:
        return None if self.dtype == "auto" else self.dtype

    def engine_args(self) -> dict[str, Any]:
        """``vllm.LLM`` keyword arguments (prometheus-eval's ``VLLM`` class takes them as they are)."""
        args: dict[str, Any] = dict(dtype=self.dtype, max_model_len=self.max_model_len, enforce_eager=self.enforce_eager,
                                    seed=0)
        if self.kv_cache_bytes:
            args["kv_cache_memory_bytes"] = self.kv_cache_bytes
        if self.block_size:
            args["block_size"] = self.block_size
        if self.gpu_memory_utilization:
            args["gpu_memory_utilization"] = self.gpu_memory_utilization
        return args

    def backend_options(self) -> dict[str, Any]:
        """Our ``backend="vllm"`` options for the same engine."""
        options: dict[str, Any] = dict(dtype=self.dtype, max_model_len=self.max_model_len,
                                       enforce_eager=self.enforce_eager, block_size=self.block_size,
                                       kv_cache_memory_bytes=self.kv_cache_bytes)
        if self.gpu_memory_utilization:
            options["gpu_memory_utilization"] = self.gpu_memory_utilization
        return options

    def server_args(self) -> dict[str, Any]:
        extra = ["--gpu-memory-utilization", str(self.gpu_memory_utilization)] if self.gpu_memory_utilization else []
        if self.kv_cache_bytes and not extra:
            extra = ["--kv-cache-memory-bytes", str(self.kv_cache_bytes)]
        return dict(dtype=self.dtype, max_model_len=self.max_model_len, block_size=self.block_size,
                    kv_cache_gib=(self.kv_cache_bytes or 2 << 30) / 2**30, threads_bind=self.threads_bind,
                    enforce_eager=self.enforce_eager, extra=extra)

    def describe(self, server: VLLMServer) -> str:
        s = server.settings
        return (f"{s['dtype']}, {'eager' if s['enforce_eager'] else 'compiled'}, blocks of {s['block_size']}, "
                f"worker threads bound to {s['threads_bind']}")

    @staticmethod
    def version() -> str:
        from importlib.metadata import PackageNotFoundError, version

        for name in ("vllm", "vllm-cpu"):
            try:
                return version(name)
            except PackageNotFoundError:
                continue
        return "?"


class PeerRunner:
    """Owns what the peers share (the in-process llama.cpp judge, the llama.cpp server); ``close()`` frees it."""

    def __init__(self, inputs: PeerInputs, *, prometheus_eval_venv: Optional[str] = None,
                 prometheus_eval_rollouts: int = 8, vllm: Optional[VLLMSettings] = None):
        self.inputs = inputs
        self.prometheus_eval_venv = prometheus_eval_venv
        self.prometheus_eval_rollouts = prometheus_eval_rollouts
        self.vllm = vllm or VLLMSettings()
        self._llama: Optional[Union[LlamaCppPeer, PeerUnavailable]] = None
        self._server: Optional[Union[LlamaCppServer, PeerUnavailable]] = None
        self._vllm_server: Optional[Union[VLLMServer, PeerUnavailable]] = None
        self._folder: Optional[tempfile.TemporaryDirectory] = None

    def run(self, name: str) -> PeerResult:
        """Measure peer ``name`` (one of `PEER_METHODS`); `PeerUnavailable` says why it cannot run here."""
        if name == "llamacpp-generate":
            return self.llama().generate(self.inputs)
        if name == "llamacpp-prompt-eval":
            return self.llama().prompt_eval(self.inputs)
        if name in ("openai-generate", "openai-direct"):
            from .openai_backend import run_openai_mode

            note = (f"llama_cpp.server (Q4_1 GGUF, {self.inputs.threads} threads; it applies its default "
                    "repeat_penalty 1.1 to requests that set none)")
            return run_openai_mode(self.inputs, self.server(), name.split("-", 1)[1], server_note=note)
        if name == "prometheus-eval":
            from .prometheus import ensure_venv, run_prometheus_eval

            python = ensure_venv(self.prometheus_eval_venv)
            return run_prometheus_eval(self.inputs, self.server(), Path(python), self.prometheus_eval_rollouts)
        if name.startswith("openai-vllm-"):
            from .openai_backend import run_openai_mode

            server = self.vllm_server()
            mode = name[len("openai-vllm-"):]
            note = f"vLLM {self.vllm.version()} server ({self.vllm.describe(server)})"
            if mode == "direct-multi":
                return run_openai_mode(self.inputs, server, "direct", protocol=MULTI_TOKEN_PROTOCOL, server_note=note)
            return run_openai_mode(self.inputs, server, mode, server_note=note)
        if name == "prometheus-eval-vllm":
            from .prometheus import ensure_venv, run_prometheus_eval_vllm

            python = ensure_venv(self.vllm.prometheus_eval_venv, flavour="vllm")
            return run_prometheus_eval_vllm(self.inputs, Path(python), self.folder(), self.vllm.engine_args())
        raise ValueError(f"unknown peer {name!r}; peers are {list(PEER_METHODS)}")

    def folder(self) -> str:
        """The judge written by `reward-judge export` into a temporary folder (once): what vLLM engines load."""
        if self._folder is None:
            from reward_judge.export import export_judge

            self._folder = tempfile.TemporaryDirectory(prefix="bench-judge-export-")
            export_judge(self.inputs.judge, Path(self._folder.name) / "judge", dtype=self.vllm.export_dtype)
        return str(Path(self._folder.name) / "judge")

    def vllm_server(self) -> VLLMServer:
        """vLLM's OpenAI-compatible server on the exported judge, started once (start it before any engine in
        this process: an in-process engine changes process-wide state a server started later would inherit)."""
        if self._vllm_server is None:
            try:
                self._vllm_server = VLLMServer(self.folder(), **self.vllm.server_args())
                print(f"  vLLM server healthy after {self._vllm_server.startup_seconds:.0f} s", flush=True)
            except PeerUnavailable as exc:
                self._vllm_server = exc
        if isinstance(self._vllm_server, PeerUnavailable):
            raise self._vllm_server
        return self._vllm_server

    def llama(self) -> LlamaCppPeer:
        if self._llama is None:
            try:
                self._llama = LlamaCppPeer(threads=self.inputs.threads)
            except PeerUnavailable as exc:
                self._llama = exc
        if isinstance(self._llama, PeerUnavailable):
            raise self._llama
        return self._llama

    def server(self) -> LlamaCppServer:
        if self._server is None:
            try:
                why = llama_cpp_status()
                if why:
                    raise PeerUnavailable(why)
                self._server = LlamaCppServer(gguf_path(), threads=self.inputs.threads)
            except PeerUnavailable as exc:
                self._server = exc
        if isinstance(self._server, PeerUnavailable):
            raise self._server
        return self._server

    def close(self) -> None:
        if isinstance(self._llama, LlamaCppPeer):
            self._llama.close()
        if isinstance(self._server, LlamaCppServer):
            self._server.stop()
        if isinstance(self._vllm_server, VLLMServer):
            self._vllm_server.stop()
        if self._folder is not None:
            self._folder.cleanup()
        self._llama = self._server = self._vllm_server = self._folder = None

    def __enter__(self) -> "PeerRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
