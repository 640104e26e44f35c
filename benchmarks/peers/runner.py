"""Runs the peers by method name, loading the llama.cpp judge and starting its server once, stopping it at the end.

Example:
    >>> with PeerRunner(inputs, prometheus_eval_rollouts=8) as peers:   # doctest: +SKIP
    ...     result = peers.run("llamacpp-prompt-eval")
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .common import PEER_METHODS, PeerInputs, PeerResult, PeerUnavailable, gguf_path
from .llamacpp import LlamaCppPeer, llama_cpp_status
from .llamacpp_server import LlamaCppServer


class PeerRunner:
    """Owns what the peers share (the in-process llama.cpp judge, the llama.cpp server); ``close()`` frees it."""

    def __init__(self, inputs: PeerInputs, *, prometheus_eval_venv: Optional[str] = None,
                 prometheus_eval_rollouts: int = 8):
        self.inputs = inputs
        self.prometheus_eval_venv = prometheus_eval_venv
        self.prometheus_eval_rollouts = prometheus_eval_rollouts
        self._llama: Optional[Union[LlamaCppPeer, PeerUnavailable]] = None
        self._server: Optional[Union[LlamaCppServer, PeerUnavailable]] = None

    def run(self, name: str) -> PeerResult:
        """Measure peer ``name`` (one of `PEER_METHODS`); `PeerUnavailable` says why it cannot run here."""
        if name == "llamacpp-generate":
            return self.llama().generate(self.inputs)
        if name == "llamacpp-prompt-eval":
            return self.llama().prompt_eval(self.inputs)
        if name in ("openai-generate", "openai-direct"):
            from .openai_backend import run_openai_mode

            return run_openai_mode(self.inputs, self.server(), name.split("-", 1)[1])
        if name == "prometheus-eval":
            from .prometheus import ensure_venv, run_prometheus_eval

            python = ensure_venv(self.prometheus_eval_venv)
            return run_prometheus_eval(self.inputs, self.server(), Path(python), self.prometheus_eval_rollouts)
        raise ValueError(f"unknown peer {name!r}; peers are {list(PEER_METHODS)}")

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
        self._llama = self._server = None

    def __enter__(self) -> "PeerRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
