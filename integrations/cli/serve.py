"""``reward-judge serve``: one judge, loaded once, shared by every trainer process over HTTP."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from .judge_options import add_judge_options, build_reward_model

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve a judge over HTTP to many trainer processes")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch-size", type=int, default=64, help="rollouts per judge call")
    parser.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a batch waits to fill")
    parser.add_argument("--max-queue", type=int, default=1024, help="queued rollouts before answering 503")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds sent with 503")
    parser.add_argument("--get-reward-fallback", type=float, default=0.0,
                        help="reward /get_reward sends when the judge gave no valid answer (flagged and counted)")
    add_judge_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..server import create_app

    rm = build_reward_model(args)
    app = create_app(rm, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                     retry_after_s=args.retry_after, get_reward_fallback=args.get_reward_fallback)
    logger.info("serving %r on http://%s:%d", rm, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=60)
    return 0
