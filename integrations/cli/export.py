"""``reward-judge export JUDGE DIR``: write a judge as a plain Hugging Face folder for a serving engine.

    reward-judge export default ./judge && python -m vllm.entrypoints.openai.api_server --model ./judge
    reward-judge export heegyu/ko-prometheus-8b-lora-0708 ./ko-judge   # the LoRA merged into its base
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export", help="write a judge as a plain Hugging Face folder (weights, tokenizer, chat template) that vLLM, "
                       "SGLang, TGI or `transformers serve` load")
    parser.add_argument("judge", help="'default' (the embedded judge), a hub id or a local folder")
    parser.add_argument("folder", help="where to write it (a new or empty folder)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                        help="convert the weights (none: keep them as they are)")
    parser.add_argument("--revision", default=None, help="hub revision of the judge")
    parser.add_argument("--trust-remote-code", action="store_true", help="passed to transformers")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reward_judge.embedded import EmbeddedJudgeMissing
    from reward_judge.export import export_judge

    try:
        folder = export_judge(args.judge, args.folder, dtype=args.dtype, revision=args.revision,
                              trust_remote_code=args.trust_remote_code, overwrite=args.overwrite)
    except (ValueError, OSError, EmbeddedJudgeMissing) as exc:
        raise SystemExit(f"reward-judge export: {exc}") from None
    print(folder)
    print(f"exported {args.judge} to {folder}; serve it with e.g. "
          f"`python -m vllm.entrypoints.openai.api_server --model {folder}` or `transformers serve {folder}`",
          file=sys.stderr)
    return 0
