"""The ``--ray`` flags of ``score`` and ``serve``: where the cluster is, and what each replica (one judge) reserves."""

from __future__ import annotations

import argparse
import json
from typing import Any, Union


def _replicas(text: str) -> Union[int, str]:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--num-replicas: expected a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--num-replicas: expected a positive integer, got {value}")
    return value


def _json_object(flag: str):
    def read(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{flag}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"{flag}: expected a JSON object, got {type(value).__name__}")
        return value

    return read


def _non_negative(flag: str):
    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: expected a number, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{flag}: expected a number >= 0, got {value}")
        return value

    return read


def add_ray_options(parser: argparse.ArgumentParser, *, serve: bool) -> None:
    """``--ray``, ``--ray-address``, ``--num-replicas`` and the per-replica resources (``serve``: autoscaling too)."""
    what = "Ray Serve: the same HTTP app on every replica" if serve else "Ray Data: an actor pool reads, judges, and writes in order"
    group = parser.add_argument_group("ray", f"Scale out on a Ray cluster ({what}); needs the 'ray' extra.")
    group.add_argument("--ray", action="store_true",
                       help="run on Ray (default: one process)" + ("" if serve else "; each replica loads one judge"))
    group.add_argument("--ray-address", default=None, metavar="ADDRESS",
                       help="the cluster to join ('auto', 'host:6379', 'ray://host:10001'); default: start a local "
                            "cluster for this run")
    group.add_argument("--num-replicas", type=_replicas, default=1,
                       help="judges, one per replica" + (" ('auto': Ray Serve's autoscaling defaults)" if serve else ""))
    group.add_argument("--num-cpus-per-replica", type=_non_negative("--num-cpus-per-replica"), default=None,
                       help="CPUs each replica reserves (Ray sets its threads to this); default: a local cluster's "
                            "CPUs divided among the replicas, 1 on a joined cluster")
    group.add_argument("--num-gpus-per-replica", type=_non_negative("--num-gpus-per-replica"), default=0.0,
                       help="GPUs each replica reserves (a judge on vLLM with tensor parallelism T needs T)")
    if serve:
        group.add_argument("--autoscaling-config", type=_json_object("--autoscaling-config"), default=None,
                           metavar="JSON",
                           help='Ray Serve autoscaling, passed through: {"min_replicas": 1, "max_replicas": 4, '
                                '"target_ongoing_requests": 8}; replaces --num-replicas')
        group.add_argument("--max-ongoing-requests", type=int, default=None,
                           help="requests a replica takes at once, so its micro-batcher can fill batches (default: "
                                "--max-queue); more wait in Ray Serve's queue")


def check_ray_options(args: argparse.Namespace) -> None:
    """Refuse Ray flags given without ``--ray`` (they would be ignored), naming them."""
    if getattr(args, "ray", False):
        return
    given = [flag for flag, dest, default in (("--ray-address", "ray_address", None), ("--num-replicas", "num_replicas", 1),
                                              ("--num-cpus-per-replica", "num_cpus_per_replica", None),
                                              ("--num-gpus-per-replica", "num_gpus_per_replica", 0.0),
                                              ("--autoscaling-config", "autoscaling_config", None),
                                              ("--max-ongoing-requests", "max_ongoing_requests", None))
             if getattr(args, dest, default) != default]
    if given:
        raise SystemExit(f"reward-judge: {', '.join(given)} only apply with --ray")
