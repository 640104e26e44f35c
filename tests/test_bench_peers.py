"""Smoke check of the judge benchmark's llama.cpp peer (benchmarks/peers): correct, not timed.

llama.cpp evaluates the embedded judge's own GGUF file (Q4_1 kernels) on the judge inputs our reward model
renders; its answer distribution must give the expected score our in-process ``direct`` mode gives (fp32
weights dequantised from that file) up to quantisation noise, and it must really reuse the shared prefix.
Skipped only when llama-cpp-python is not installed (``pip install "llama-cpp-python[server]"``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.process, pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                reason='llama-cpp-python is not installed (pip install "llama-cpp-python[server]"), '
                                       "so the benchmark's llama.cpp peer cannot run")]

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# Largest |llama.cpp expected score - our direct expected score| measured on the benchmark's 32 rollouts
# (1-5 scale): 0.05 (2026-11-23, this project's CPU machine). Q4_1 kernels quantise the activations to 8 bits
# in the matmuls, which our fp32 forward pass does not; twice the measured maximum leaves room for other CPUs.
TOLERANCE = 0.1


@pytest.fixture(scope="module")
def peers():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import peers as module

        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_llamacpp_prompt_eval_agrees_with_direct_mode(peers, judge_backend):
    from reward_judge import GenerativeRewardModel

    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol="prometheus-v2", mode="direct")
    prompts = ["What is the capital of Australia?"] * 2
    completions = ["Canberra.", "Sydney, the largest city."]
    inputs = peers.PeerInputs.build(rm, prompts, completions, judge="default", feedback_tokens=8, threads=2)
    inputs.ours["direct"] = ours = rm.score(prompts, completions)
    llama = peers.runner.LlamaCppPeer(threads=2)
    try:
        result = llama.prompt_eval(inputs)
    finally:
        llama.close()

    assert result.rollouts == 2
    agreement = result.details["agreement_with_direct"]
    assert agreement["compared"] == 2, [r.error for r in ours]
    assert agreement["max_abs_diff"] < TOLERANCE, (result.details["scores"], [r.score for r in ours])
    # Both rollouts put most of the next-token probability on the answers 1-5, as our direct mode reads it.
    for mass, r in zip(result.details["answer_mass"], ours, strict=True):
        assert abs(mass - r.extra["answer_mass"]) < TOLERANCE
    # The second rollout re-used the KV of the prefix it shares with the first (same prompt).
    assert result.details["evaluated_tokens"] < result.details["context_tokens"] - 50
