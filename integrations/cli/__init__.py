"""The ``reward-judge`` command line: one module per subcommand, each with ``register(subparsers)``.

It lives with the framework glue because some subcommands are glue (``serve``, ``best-of-n``); it
imports the core, never the other way round.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from . import best_of_n, cache, export, protocols, redteam, reward_file, score, serve
from . import eval as eval_command  # the module is named after its subcommand; the alias keeps the builtin

SUBCOMMANDS = (score, protocols, best_of_n, cache, serve, export, redteam, reward_file, eval_command)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reward-judge", description="Generative judges as reward functions.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    for command in sub.choices.values():  # every --help shows the defaults (judge flags carry theirs in the text)
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if getattr(args, "quiet", False):
        # transformers and huggingface_hub read this when they are imported: no weight-loading bars either
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
