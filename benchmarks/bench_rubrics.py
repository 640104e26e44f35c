"""Several rubrics in one pass: the cost of k rubric rewards against one rubric, direct mode, one run.

    python benchmarks/bench_rubrics.py                                  # embedded judge, 3 rubrics, 2 lengths
    python benchmarks/bench_rubrics.py --rubrics helpfulness,harmlessness,honesty,reasoning \\
        --prompts 4 --group 8 --completion-words 40,250 --repeats 3 --json rubrics.json
    python benchmarks/bench_rubrics.py --backend vllm                  # the same on our in-process vLLM backend
    python benchmarks/bench_rubrics.py --eval-file ../shared/data/prometheus/mt_bench_eval.json --eval-rows 8
        # real Prometheus inputs: instruction, response and reference of a benchmark set's first rows

For each completion length, the same rollouts are judged three ways, interleaved ``--repeats`` times.
The cost compared is the median CPU time of the process (``time.process_time``, on ``--threads 1`` by
default): on a machine shared with other jobs the wall time measures the neighbours as much as the judge,
the CPU time of one compute thread does not (on a quiet machine the two agree). Wall seconds are printed
beside it. ``--batch-size`` (rows per forward batch) defaults to 32, so every method's rows fit one batch:

- ``1 rubric``: one reward model with the first rubric (the reference cost);
- ``k separate``: k reward models, one per rubric, one after another (what TRL does with k judges);
- ``k one pass``: ``GenerativeRewardModel.for_rubrics`` called as TRL calls its reward functions: the
  first call judges every (rollout, rubric) request in one runner call, the others are served.

The target (issue 22) is ``k one pass <= 1 + 0.3 (k - 1)`` times ``1 rubric``. The second table is the
prefix-reuse breakdown that bounds it: tokens of the judge inputs, tokens the prefill really ran (the
backend's counters) and with the padding its passes computed, and how the tokens split over the prefix
tree (the batch's shared prefix, segments shared by some rows below it such as a prompt's instruction
or a rollout's response, each row's own tail, which holds its rubric, and padding). A rubric's tail is
run once per rubric whatever the batching, so ``(prefix + response + k tails) / (prefix + response + 1
tail)`` tokens is the floor of the ratio: long completions amortise the rubrics, short ones cannot. The FLOP
floor adds attention: a rubric's tail attends to the whole rollout before it, once per rubric.

With ``--backend vllm`` the judge is our in-process vLLM backend, whose prefix cache (emptied before each timed
call) shares what the rubric variants have in common; the token columns are its reads' prompt tokens and the part
of them its cache did not serve, and "passes" counts its engine requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Optional

INSTRUCTIONS = [
    "Explain why the sky is blue.",
    "Give three tips for staying focused while studying.",
    "Describe how a bicycle gear system helps a rider climb hills.",
    "Summarise the plot of Romeo and Juliet.",
    "Convert 100 degrees Fahrenheit to Celsius and show the formula.",
    "What is the capital of Australia, and why is it not Sydney?",
]
SENTENCES = [
    "Sunlight is made of many colours, and air molecules scatter the short blue wavelengths far more than red.",
    "That scattered light reaches our eyes from every direction, so the whole sky looks blue.",
    "At sunset the light crosses much more air, the blue is scattered away, and reds and oranges remain.",
    "Remove distractions such as your phone before you start.",
    "Work in short timed blocks, then take a real break away from the desk.",
    "Write down what you want to finish in each block so you can tell when you are done.",
    "Lower gears turn the rear wheel less for each turn of the pedals.",
    "That trades speed for force, so the rider can keep pushing up a steep slope without stalling.",
    "Two young lovers from feuding families marry in secret.",
    "A chain of misunderstandings and a delayed letter end in both of their deaths.",
    "The formula is C = (F - 32) x 5/9, so 100 F is about 37.8 C.",
    "Canberra was chosen as a compromise between the rival cities of Sydney and Melbourne.",
    "I am not completely sure about every detail, but this is the usual explanation.",
    "Let me know if you would like a longer answer or some sources.",
]


def make_rollouts(prompts: int, group: int, words: int) -> tuple[list[str], list[str]]:
    """``prompts`` instructions with ``group`` different completions of about ``words`` words each."""
    ps, cs = [], []
    for p in range(prompts):
        for g in range(group):
            ps.append(INSTRUCTIONS[p % len(INSTRUCTIONS)])
            cs.append(sentences(p * 3 + g, g + 1, words))
    return ps, cs


def sentences(start: int, step: int, words: int) -> str:
    """About ``words`` words of `SENTENCES`, from sentence ``start`` on, every ``step``-th."""
    text: list[str] = []
    k = start
    while len(text) < words:
        text += SENTENCES[k % len(SENTENCES)].split()
        k += step
    return " ".join(text[:words])


def make_references(prompts: int, group: int, words: int) -> Optional[list[str]]:
    """One reference answer of ``words`` words per instruction, the same for its ``group`` rollouts (None for 0)."""
    if not words:
        return None
    return [sentences(p * 5 + 1, 1, words) for p in range(prompts) for _ in range(group)]


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def counters(backend: Any) -> tuple[int, int, int, int]:
    """(input tokens, tokens run, tokens run with padding, forward passes) so far. On vLLM: prompt tokens of its
    reads, the part its prefix cache did not serve (twice: vLLM pads nothing it reports), and engine requests."""
    if backend.name == "vllm":
        computed = backend.trie_prompt_tokens - backend.trie_cached_tokens
        return backend.trie_prompt_tokens, computed, computed, backend.trie_requests
    return (getattr(backend, "prefill_row_tokens", 0), getattr(backend, "prefill_tokens", 0),
            getattr(backend, "prefill_padded_tokens", 0), getattr(backend, "prefill_passes", 0))


def tree_breakdown(rm: Any, requests: list[Any]) -> dict[str, int]:
    """How the prefill's tokens split over the prefix tree, planned exactly as the backend plans them."""
    from reward_judge.backends.continuations import candidate_tokens
    from reward_judge.backends.transformers.batching import plan_batches, prefill_plan
    from reward_judge.scoring.answers import AnswerSpace

    backend = rm.backend
    space = AnswerSpace.of(rm.protocol)
    rows = [candidate_tokens(backend.tokenizer, r.input.extend(rm.protocol.answer_prefix), space.candidates)[0]
            for r in requests]
    from bench_judge import ModelShape

    shape = ModelShape.of(backend.model)
    split = {"batch prefix": 0, "shared below it": 0, "own tails": 0, "padding": 0}
    flops = 0.0
    for batch in plan_batches(rows, max_rows=backend.batch_size, max_tokens=backend.batch_tokens,
                              group_prefixes=backend.prefix_cache):
        plan = prefill_plan([rows[i] for i in batch], share_prefix=backend.prefix_cache)
        if plan.root is not None:
            split["batch prefix"] += plan.root.end - plan.root.start
            flops += shape.flops(plan.root.start, plan.root.end - plan.root.start, 0)
        for branch in plan.branches:
            for depth, level in enumerate(branch.levels):
                part = "batch prefix" if depth == 0 and plan.root is None else "shared below it"
                split[part] += sum(e - s for _, s, e in level.segments)
            split["own tails"] += sum(e - s for level in branch.leaves for _, s, e in level.segments)
            # the work itself, padding left out: each segment's tokens attend to everything before them in their row
            flops += sum(shape.flops(s, e - s, 0) for level in branch.levels + branch.leaves for _, s, e in level.segments)
        split["padding"] += plan.padded_tokens - plan.tokens
        flops += shape.head_flops * len(batch)
    return {**split, "flops": int(flops)}


def eval_rollouts(path: str, rows: int) -> tuple[list[str], list[str], list[Optional[str]], dict[str, int]]:
    """The first ``rows`` items of a Prometheus absolute set (``mt_bench_eval.json``...): their instruction,
    response and reference answer as the benchmark authors rendered them (each item's own rubric is not used:
    every method judges the same ``--rubrics``), and the median words of each."""
    from reward_judge.eval.datasets import read_prometheus_absolute

    items = read_prometheus_absolute(path)[:rows]
    words = {"instruction": statistics.median(len(i.prompt.split()) for i in items),
             "response": statistics.median(len(i.response.split()) for i in items),
             "reference": statistics.median(len((i.reference or "").split()) for i in items)}
    return [i.prompt for i in items], [i.response for i in items], [i.reference for i in items], words


def run_length(base: Any, rubrics: list[str], words: Any, args: argparse.Namespace) -> dict[str, Any]:
    from bench_judge import empty_prefix_cache

    from reward_judge import GenerativeRewardModel

    if words == "eval":
        prompts, completions, references, median_words = eval_rollouts(args.eval_file, args.eval_rows)
    else:
        prompts, completions = make_rollouts(args.prompts, args.group, words)
        references = make_references(args.prompts, args.group, args.reference_words)
        median_words = None
    columns = {} if references is None else {"reference": references}
    k = len(rubrics)
    single = GenerativeRewardModel(base.backend, base.config.replace(rubric=rubrics[0]), judge=base.judge)
    separate = [GenerativeRewardModel(base.backend, base.config.replace(rubric=r), judge=base.judge) for r in rubrics]
    functions = base.for_rubrics(rubrics)
    backend = base.backend
    outputs: dict[str, Any] = {}

    def one() -> None:
        outputs["1 rubric"] = [r.reward for r in single.score(prompts, completions, **columns)]

    def apart() -> None:
        outputs["k separate"] = [[r.reward for r in m.score(prompts, completions, **columns)] for m in separate]

    def together() -> None:
        kwargs = {"trainer_state": None, "log_extra": None, "log_metric": None}  # as TRL passes them, one step
        outputs["k one pass"] = [f(prompts=prompts, completions=completions, **columns, **kwargs) for f in functions]

    methods = {"1 rubric": one, "k separate": apart, "k one pass": together}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    wall: dict[str, list[float]] = {m: [] for m in methods}
    work: dict[str, tuple[int, int, int]] = {}
    one()  # warm-up (first-call allocations), not timed
    for _ in range(args.repeats):
        for name, call in methods.items():
            empty_prefix_cache(backend)  # on vLLM: each timed call starts cold, as the prefix tree does
            before = counters(backend)
            started, started_cpu = time.perf_counter(), time.process_time()
            call()
            cpu[name].append(time.process_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)
            after = counters(backend)
            work[name] = tuple(a - b for a, b in zip(after, before))  # type: ignore[assignment]
    reference = statistics.median(cpu["1 rubric"])
    reference_wall = statistics.median(wall["1 rubric"])
    rows = []
    for name in methods:
        median = statistics.median(cpu[name])
        row_tokens, run_tokens, padded_tokens, passes = work[name]
        rows.append({"method": name, "judged": len(prompts) * (1 if name == "1 rubric" else k),
                     "cpu_seconds": median, "all_cpu_seconds": cpu[name], "ratio": median / reference,
                     "wall_seconds": statistics.median(wall[name]), "all_wall_seconds": wall[name],
                     "wall_ratio": statistics.median(wall[name]) / reference_wall,
                     "input_tokens": row_tokens, "tokens_run": run_tokens, "padded_tokens": padded_tokens,
                     "forward_passes": passes})
    refs = references or [None] * len(prompts)
    requests = [base.renderer.with_rubric(r).render(p, c, reference=ref)
                for r in rubrics for p, c, ref in zip(prompts, completions, refs)]
    single_requests = [single.request(p, c, reference=ref) for p, c, ref in zip(prompts, completions, refs)]
    gap = max(abs(a - b) for sep, one_pass in zip(outputs["k separate"], outputs["k one pass"], strict=True)
              for a, b in zip(sep, one_pass, strict=True) if a is not None and b is not None)
    on_vllm = backend.name == "vllm"
    workload = ({"eval_file": os.path.basename(args.eval_file), "eval_rows": len(prompts), "median_words": median_words}
                if words == "eval" else {})
    return {"completion_words": words, "reference_words": args.reference_words, "rollouts": len(prompts), "rows": rows,
            **workload,
            "breakdown": {} if on_vllm else {"1 rubric": tree_breakdown(single, single_requests),
                                             "k one pass": tree_breakdown(base, requests)},
            "max_abs_diff_vs_separate": gap,
            "target": 1 + 0.3 * (k - 1)}


def print_length(result: dict[str, Any], k: int) -> None:
    words = result["completion_words"]
    if words == "eval":
        median = ", ".join(f"{part} {n:g}" for part, n in result["median_words"].items())
        print(f"\n{result['eval_file']}, its first {result['eval_rows']} items (median words: {median}), "
              f"k = {k} rubrics")
    else:
        reference = (f", references of {result['reference_words']} words" if result["reference_words"]
                     else ", no reference")
        print(f"\ncompletions of {words} words{reference}, {result['rollouts']} rollouts, k = {k} rubrics")
    print(f"{'method':<12} {'judged':>6} {'CPU s':>7} {'x 1 rubric':>10} {'wall s':>7} {'x 1 rubric':>10} "
          f"{'input tok':>10} {'tokens run':>10} {'x 1 rubric':>10} {'+ padding':>9} {'passes':>6}")
    base_tokens = next(r["tokens_run"] for r in result["rows"] if r["method"] == "1 rubric") or 1
    for r in result["rows"]:
        print(f"{r['method']:<12} {r['judged']:>6} {r['cpu_seconds']:>7.2f} {r['ratio']:>10.2f} {r['wall_seconds']:>7.1f} "
              f"{r['wall_ratio']:>10.2f} {r['input_tokens']:>10} {r['tokens_run']:>10} "
              f"{r['tokens_run'] / base_tokens:>10.2f} {r['padded_tokens']:>9} {r['forward_passes']:>6}")
    one_pass = next(r for r in result["rows"] if r["method"] == "k one pass")
    verdict = "met" if one_pass["ratio"] <= result["target"] else "NOT met"
    breakdown = result["breakdown"]
    if not breakdown:  # vLLM: its prefix cache decides what is shared; the tokens it computed are the floor
        print(f"target: k one pass <= {result['target']:.2f}x 1 rubric (CPU time): {one_pass['ratio']:.2f}x, {verdict} "
              f"(tokens vLLM computed, not served by its prefix cache: {one_pass['tokens_run'] / base_tokens:.2f}x)")
        print(f"max |reward difference| one pass vs separate models: {result['max_abs_diff_vs_separate']:.2e}")
        return
    flop_floor = breakdown["k one pass"]["flops"] / max(breakdown["1 rubric"]["flops"], 1)
    print(f"target: k one pass <= {result['target']:.2f}x 1 rubric (CPU time): {one_pass['ratio']:.2f}x, {verdict} "
          f"(floors of this batching: {one_pass['tokens_run'] / base_tokens:.2f}x in tokens, {flop_floor:.2f}x in "
          "FLOPs, attention to each token's context included)")
    print("prefix tree of the prefill (tokens; FLOPs without padding):")
    for name, split in breakdown.items():
        print(f"  {name:<11} " + ", ".join(f"{part} {count:.3g}" if part == "flops" else f"{part} {count}"
                                           for part, count in split.items()))
    print(f"max |reward difference| one pass vs separate models: {result['max_abs_diff_vs_separate']:.2e}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="default", help="judge id or path ('default': the embedded judge)")
    parser.add_argument("--protocol", default="prometheus-v2")
    parser.add_argument("--rubrics", default="helpfulness,harmlessness,honesty", help="comma-separated rubric names")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--group", type=int, default=4, help="completions per prompt")
    parser.add_argument("--completion-words", default="40,250", help="comma-separated completion lengths (words)")
    parser.add_argument("--reference-words", type=int, default=0,
                        help="a reference answer of this many words per prompt (Prometheus' graded setting; 0: none)")
    parser.add_argument("--eval-file", help="a Prometheus absolute set (mt_bench_eval.json, vicuna_eval.json): judge "
                        "its first --eval-rows items instead of the synthetic rollouts")
    parser.add_argument("--eval-rows", type=int, default=8, help="items of --eval-file to judge")
    parser.add_argument("--batch-size", type=int, default=32, help="judge rows per forward batch")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions (median compared)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--backend", default="transformers", choices=("transformers", "vllm"),
                        help="'vllm': our in-process vLLM backend (float32, eager, blocks of 32, 1 GiB KV cache on CPU)")
    parser.add_argument("--json", dest="json_out", help="write the results here")
    args = parser.parse_args(argv)

    import torch

    from reward_judge import GenerativeRewardModel

    if args.threads:
        torch.set_num_threads(args.threads)
    rubrics = [r.strip() for r in args.rubrics.split(",") if r.strip()]
    lengths: list[Any] = ["eval"] if args.eval_file else [int(w) for w in args.completion_words.split(",")]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}; backend {args.backend}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"load average {load_average()}")
    if args.backend == "vllm":
        engine = dict(backend="vllm", dtype="float32", enforce_eager=True, block_size=32, kv_cache_memory_bytes=1 << 30)
    else:
        engine = dict(batch_size=args.batch_size)
    base = GenerativeRewardModel.from_pretrained(args.judge, protocol=args.protocol, mode="direct", rubric=rubrics[0],
                                                 **engine)
    results = []
    for words in lengths:
        result = run_length(base, rubrics, words, args)
        print_length(result, len(rubrics))
        results.append(result)
    print(f"\nload average after: {load_average()} (a shared machine: compare methods within this run only)")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"rubrics": rubrics, "load_average_end": load_average(), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
