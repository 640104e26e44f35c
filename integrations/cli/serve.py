"""``reward-judge serve``: one judge, loaded once, shared by every trainer process over HTTP; with ``--ray``, the
same app on Ray Serve, one judge per replica (`reward_judge.integrations.ray_serve`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
from typing import Any

from ..server_guard import API_KEY_ENV, DEFAULT_MAX_REQUEST_BYTES
from .judge_options import add_judge_options, build_reward_model, judge_option_values
from .ray_options import add_ray_options, check_ray_options

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve a judge over HTTP to many trainer processes")
    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1",
                     help="bind address (default 127.0.0.1: this machine only; 0.0.0.0 exposes it: set --api-key)")
    net.add_argument("--port", type=int, default=8000)
    net.add_argument("--api-key", default=None,
                     help=f"the key clients of this server must send, on every path but /health (Authorization: "
                          f"Bearer KEY, or ?api_key=KEY in the URL for OpenRLHF); default ${API_KEY_ENV}, which keeps "
                          f"it out of the process list. (--openai-api-key-env names the judge server's own key.)")
    net.add_argument("--max-batch-size", type=int, default=64, help="rollouts per judge call")
    net.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a batch waits to fill")
    net.add_argument("--max-queue", type=int, default=1024, help="queued rollouts before answering 503 (busy)")
    net.add_argument("--max-request-rows", type=int, default=None,
                     help="rows one request may hold; more is answered 413 (default and upper bound: --max-queue)")
    net.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                     help="largest request body in bytes; larger is answered 413")
    net.add_argument("--parse-timeout", type=float, default=10.0,
                     help="seconds reading one request body may take (JSON, policy prompts); longer is answered 413")
    net.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds sent with 503")
    net.add_argument("--get-reward-fallback", type=float, default=0.0,
                     help="reward /get_reward sends when the judge gave no valid answer (flagged and counted)")
    policy = parser.add_argument_group("policy prompts (/get_reward)")
    policy.add_argument("--policy-template", default="auto",
                        help="chat template family of the policy's prompts: auto (detect ChatML, Llama 3, [INST], "
                             "Gemma by the header a prompt ends with), chatml, llama3, llama2 / mistral, gemma, or "
                             "none (pass prompts as they are)")
    policy.add_argument("--policy-tokenizer", default=None, metavar="PATH_OR_ID",
                        help="the policy's tokenizer: its chat template picks the family, what it adds by itself "
                             "(a default system message) is left out, its EOS/pad tokens are cut from responses")
    net.add_argument("--log-judge-inputs", action="store_true",
                     help="log the exact text the judge reads for every rollout, one JSON string per line "
                          "(logger reward_judge.integrations.judge_input)")
    add_ray_options(parser, serve=True)
    add_judge_options(parser)
    parser.set_defaults(func=run)


def _policy_reader(args: argparse.Namespace) -> Any:
    from ..policy_prompts import PolicyPromptReader

    try:
        if args.policy_tokenizer:
            return PolicyPromptReader.from_tokenizer(args.policy_tokenizer, template=args.policy_template)
        return PolicyPromptReader(args.policy_template)
    except ValueError as exc:
        raise SystemExit(f"{'--policy-tokenizer' if args.policy_tokenizer else '--policy-template'}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from reward_judge.extras import MissingExtra, require_extra

    check_ray_options(args)
    try:
        require_extra("serve", "fastapi", "uvicorn", "httpx", "prometheus_client", feature="reward-judge serve")
    except MissingExtra as exc:
        raise SystemExit(str(exc)) from None
    from ..batcher import judge_input_logger
    from ..server import create_app

    # The server's own notes (start-up, which chat template the prompts were read with) show by default.
    logging.getLogger("reward_judge.integrations").setLevel(min(logging.getLogger().level, logging.INFO))
    if args.log_judge_inputs:
        judge_input_logger.setLevel(logging.DEBUG)
    if args.api_key is not None and not args.api_key.strip():
        raise SystemExit("--api-key must not be empty")
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    policy = _policy_reader(args)
    app_options = dict(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                       retry_after_s=args.retry_after, get_reward_fallback=args.get_reward_fallback, api_key=api_key,
                       max_request_rows=args.max_request_rows, max_request_bytes=args.max_request_bytes,
                       parse_timeout_s=args.parse_timeout)
    rm = build_reward_model(args, lazy=args.ray)  # with --ray the replicas load the judge; options are checked here
    try:
        app = create_app(rm, policy_reader=policy, **app_options)
    except ValueError as exc:  # a bad limit: named as the flag the user typed
        message = re.sub(r"\bmax_\w+", lambda m: "--" + m.group(0).replace("_", "-"), str(exc))
        raise SystemExit(message.replace("parse_timeout_s", "--parse-timeout")) from None
    if args.host not in LOOPBACK and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach port %d can use this judge "
                       "(set --api-key or $%s)", args.host, args.port, API_KEY_ENV)
    if args.ray:
        return _serve_on_ray(args, app_options, api_key is not None)
    logger.info("serving %r on http://%s:%d (API key %s; policy prompts: %s)", rm, args.host, args.port,
                "required" if api_key else "not required", policy.source or policy.template)
    import uvicorn

    root = logging.getLogger().level
    # -v shows uvicorn's access log; the guard has already taken the key out of every URL it prints
    uvicorn_level = "debug" if root <= logging.DEBUG else "info" if root <= logging.INFO else "warning"
    # asyncio's loop and h11, whatever else is installed: ray[serve] brings uvloop and httptools, which uvicorn
    # would pick by itself, and with both the queue-full test's clients starve (the clients a batch just answered
    # take the freed queue slots before any retrying one: tests/test_server.py)
    uvicorn.run(app, host=args.host, port=args.port, log_level=uvicorn_level, server_header=False,
                timeout_graceful_shutdown=60, loop="asyncio", http="h11")
    return 0


def _serve_on_ray(args: argparse.Namespace, app_options: dict[str, Any], keyed: bool) -> int:
    from reward_judge.extras import MissingExtra

    from ..ray_cluster import portable_judge, require_ray
    from ..ray_serve import ServeSpec, serve_on_ray

    try:
        require_ray("reward-judge serve --ray", "ray.serve", "grpc")
    except MissingExtra as exc:
        raise SystemExit(str(exc)) from None
    judge, options = portable_judge(args.judge, judge_option_values(args))
    tokenizer = portable_judge(args.policy_tokenizer, {})[0] if args.policy_tokenizer else None
    spec = ServeSpec(judge=judge, options=options, app=app_options, policy_template=args.policy_template,
                     policy_tokenizer=tokenizer)
    replicas = args.autoscaling_config or args.num_replicas
    logger.info("serving %s on http://%s:%d with Ray Serve (replicas: %s; API key %s)", args.judge, args.host,
                args.port, replicas, "required" if keyed else "not required")
    try:
        serve_on_ray(spec, host=args.host, port=args.port, ray_address=args.ray_address,
                     num_replicas=args.num_replicas, num_cpus_per_replica=args.num_cpus_per_replica,
                     num_gpus_per_replica=args.num_gpus_per_replica, autoscaling_config=args.autoscaling_config,
                     max_ongoing_requests=args.max_ongoing_requests or args.max_queue)
    except (ConnectionError, PermissionError, ValueError) as exc:
        raise SystemExit(f"reward-judge: {exc}") from None
    return 0
