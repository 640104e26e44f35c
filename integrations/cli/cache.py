"""``reward-judge cache stats|clear PATH``: look into a reward cache file, or empty it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cache", help="show statistics of a reward cache file, or empty it")
    parser.add_argument("action", choices=["stats", "clear"])
    parser.add_argument("path", help="the SQLite cache file (the cache= option)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reward_judge.cache import JudgeCache

    file = Path(args.path)
    if not file.is_file():
        raise SystemExit(f"cache file {args.path!r} does not exist")
    cache = JudgeCache(file, memory_size=0)
    try:
        if args.action == "clear":
            print(f"removed {cache.clear()} entries from {file}")
            return 0
        info = cache.info()
        print(f"path:       {file}")
        print(f"entries:    {info['size']}")
        print(f"file bytes: {info['file_bytes']}")
        oldest, newest = cache.span()
        if oldest is not None:
            fmt = "%Y-%m-%d %H:%M:%S"
            print(f"oldest:     {time.strftime(fmt, time.gmtime(oldest))} UTC")
            print(f"newest:     {time.strftime(fmt, time.gmtime(newest))} UTC")
        return 0
    finally:
        cache.close()
