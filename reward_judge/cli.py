"""Command line: ``reward-judge score`` and ``reward-judge protocols``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from itertools import islice
from pathlib import Path
from typing import Any, Optional, Sequence

logger = logging.getLogger("reward_judge.cli")


def _judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judge")
    group.add_argument("--judge", default="default", help="'default' (embedded demo judge), a hub id or a local folder")
    group.add_argument("--protocol", help="judge protocol (default: the judge's preset); see `reward-judge protocols`")
    group.add_argument("--rubric", help="rubric name, YAML/JSON file or text for Prometheus-style protocols")
    group.add_argument("--chat-format", choices=["template", "llama2", "mistral", "raw"])
    group.add_argument("--mode", choices=["generate", "expected", "direct"],
                       help="how the score is read: parse the feedback (generate), or the judge's answer distribution "
                            "after its feedback (expected) or right after the prompt (direct)")
    group.add_argument("--batch-size", type=int)
    group.add_argument("--batch-tokens", type=int, help="cap on padded tokens per judge batch")
    group.add_argument("--max-new-tokens", type=int)
    group.add_argument("--do-sample", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--temperature", type=float)
    group.add_argument("--top-p", type=float)
    group.add_argument("--max-attempts", type=int)
    group.add_argument("--fallback", help="reward when the judge gives no valid answer: 'none' (default), a number, or 'raise'")
    group.add_argument("--normalize", choices=["linear", "centered", "none"])
    group.add_argument("--dtype", help="auto, float32, bfloat16, float16")
    group.add_argument("--device")
    group.add_argument("--device-map")
    group.add_argument("--adapter", help="PEFT adapter id or path")
    group.add_argument("--base-model", help="base model an adapter is loaded onto")
    group.add_argument("--load-in-4bit", action="store_true", default=None)
    group.add_argument("--load-in-8bit", action="store_true", default=None)
    group.add_argument("--cache", help="SQLite reward cache file shared by runs and processes")
    group.add_argument("--backend", choices=["transformers", "openai"], help="where the judge runs")
    group.add_argument("--base-url", action="append", help="OpenAI-compatible judge server URL (repeatable)")
    group.add_argument("--model", help="model name on the judge server (--backend openai)")
    group.add_argument("--max-input-tokens", type=int, help="longest judge input; longer responses are cut head+tail")


_OPTION_NAMES = ("mode", "batch_tokens", "chat_format", "batch_size", "max_new_tokens", "do_sample", "temperature",
                 "top_p", "max_attempts", "normalize", "dtype", "device", "device_map", "adapter", "base_model",
                 "load_in_4bit", "load_in_8bit", "cache", "max_input_tokens", "backend", "base_url", "model")


def build_reward_model(args: argparse.Namespace, **extra: Any) -> Any:
    """The `GenerativeRewardModel` the judge options of a command describe (``extra``: more `JudgeConfig` options)."""
    from .reward_model import GenerativeRewardModel

    options = {name: getattr(args, name) for name in _OPTION_NAMES if getattr(args, name, None) is not None}
    options.update(extra)
    if args.fallback is not None:
        options["fallback"] = _parse_fallback(args.fallback)
    return GenerativeRewardModel.from_pretrained(args.judge, protocol=args.protocol, rubric=args.rubric, **options)


def _parse_fallback(text: str) -> Any:
    if text.lower() in ("none", "null"):
        return None
    if text == "raise":
        return "raise"
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"--fallback must be 'none', 'raise' or a number, got {text!r}") from None


def cmd_score(args: argparse.Namespace) -> int:
    try:
        return _score_file(args)
    except ValueError as exc:  # a bad line or a bad value: the message names it
        raise SystemExit(str(exc)) from None


def _score_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .jsonl import count_lines, read_jsonl

    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise SystemExit(f"--input {str(source)!r} does not exist")
    rm = build_reward_model(args)
    total = count_lines(source)
    rows = read_jsonl(source)
    chunk_size = max(1, args.chunk_size)
    scored = failed = 0
    with target.open("w", encoding="utf-8") as out, tqdm(total=total, unit="rollout", desc="judging",
                                                        disable=args.quiet) as bar:
        while True:
            chunk = list(islice(rows, chunk_size))
            if not chunk:
                break
            for number, row in chunk:
                for key in ("prompt", "completion"):
                    if key not in row:
                        raise SystemExit(f"{source}:{number}: missing field {key!r} (fields: {sorted(row)})")
            results = rm.score(
                [row["prompt"] for _, row in chunk], [row["completion"] for _, row in chunk],
                reference=[row.get("reference") for _, row in chunk],
                rubric=[row.get("rubric") for _, row in chunk],
                completions_b=[row["completion_b"] for _, row in chunk] if rm.protocol.pairwise else None,
            )
            for (_, row), result in zip(chunk, results):
                record = dict(row)
                record.update(score=result.score, reward=result.reward, feedback=result.feedback, ok=result.ok,
                              attempts=result.attempts, fallback=result.fallback, error=result.error)
                if result.winner is not None:
                    record["winner"] = result.winner
                if args.raw:
                    record["judge_output"] = result.raw
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                scored += 1
                failed += not result.ok
            bar.update(len(chunk))
    print(f"judged {scored} rollouts with {rm.protocol.name}: {scored - failed} parsed, {failed} fell back "
          f"(fallback={rm.config.fallback!r}); wrote {target}", file=sys.stderr)
    return 0


def cmd_protocols(args: argparse.Namespace) -> int:
    from .presets import PRESETS
    from .protocols import get_protocol, list_protocols

    print("Protocols:")
    for name in list_protocols():
        p = get_protocol(name)
        scale = "A/B" + ("/tie" if "tie" in p.description or name == "mtbench-pair" else "") if p.pairwise else \
            f"{p.score_range[0]:g}-{p.score_range[1]:g}"  # type: ignore[index]
        slots = ", ".join(s for s, on in (("reference " + p.reference_slot, p.reference_slot != "none"),
                                          ("rubric", p.uses_rubric)) if on) or "-"
        print(f"  {name:<24} {scale:<8} {slots:<28} {p.description}")
    print("\nPresets (judge id -> protocol, chat format):")
    for name, preset in PRESETS.items():
        opts = preset.options
        print(f"  {name:<40} {opts.get('protocol'):<16} {opts.get('chat_format', 'template'):<9} {preset.note}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .cache import cache_command

    for line in cache_command(args.action, args.path):
        print(line)
    return 0


def cmd_best_of_n(args: argparse.Namespace) -> int:
    from .integrations.best_of_n import best_of_n_file

    source = Path(args.input)
    if not source.is_file():
        raise SystemExit(f"--input {str(source)!r} does not exist")
    judge = build_reward_model(args)
    try:
        counts = best_of_n_file(source, Path(args.output), judge, args.n_best, args.chunk_size, not args.quiet)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"chose {args.n_best} of each candidate list for {counts['prompts']} prompts "
          f"({counts['candidates']} candidates judged, {counts['unscored']} without a valid judge answer); "
          f"wrote {args.output}", file=sys.stderr)
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reward-judge", description="Generative judges as reward functions.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="judge a JSONL file of rollouts")
    score.add_argument("--input", required=True, help="JSONL with prompt, completion, optional reference, rubric")
    score.add_argument("--output", required=True, help="JSONL to write: the input fields plus score, reward, feedback, ok")
    score.add_argument("--chunk-size", type=int, default=64, help="rollouts read and judged at a time")
    score.add_argument("--raw", action="store_true", help="also write the judge's full output")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    _judge_options(score)
    score.set_defaults(func=cmd_score)

    protocols = sub.add_parser("protocols", help="list judge protocols and judge presets")
    protocols.set_defaults(func=cmd_protocols)

    # Subcommands whose implementation is framework glue live in integrations; the CLI is the one
    # place that assembles both.
    from .integrations import best_of_n

    best_of_n.add_cli(sub, _judge_options, cmd_best_of_n)

    cache = sub.add_parser("cache", help="show statistics of a reward cache file, or empty it")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("path", help="the SQLite cache file (the cache= option)")
    cache.set_defaults(func=cmd_cache)
    # `serve` lives in integrations (FastAPI glue); importing it is cheap, its server imports are lazy.
    from .integrations.server import add_serve_parser

    add_serve_parser(sub, _judge_options)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
