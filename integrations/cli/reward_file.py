"""``reward-judge reward-file openrlhf|verl``: the path of a reward-function file a framework loads itself.

OpenRLHF takes a ``.py`` file as ``--reward.remote_url`` and calls its ``reward_func``; verl takes
``custom_reward_function.path`` and ``.name``. Both files ship inside the installed package; this
prints the path (stdout, for ``$(...)``) and how to use it (stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

USAGE = {
    "openrlhf": "--reward.remote_url {path}   (judge: $REWARD_JUDGE_CONFIG or REWARD_JUDGE_* variables)",
    "verl": "reward.custom_reward_function.path={path} reward.custom_reward_function.name=compute_score\n"
            "  (or compute_score_batch with the batch reward manager; compute_score_remote[_batch] with "
            "$REWARD_JUDGE_URL to ask reward-judge serve)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("reward-file", help="print the path of the OpenRLHF / verl reward-function file")
    parser.add_argument("framework", choices=sorted(USAGE))
    parser.set_defaults(func=run)


def path_of(framework: str) -> Path:
    """The installed reward-function file for ``framework``."""
    if framework == "openrlhf":
        from .. import openrlhf as module
    else:
        from .. import verl as module
    return Path(module.__file__).resolve()


def run(args: argparse.Namespace) -> int:
    path = path_of(args.framework)
    print(path)
    print("use: " + USAGE[args.framework].format(path=path), file=sys.stderr)
    return 0
