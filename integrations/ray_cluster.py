"""Where the Ray jobs of ``score --ray`` and ``serve --ray`` run: a cluster to join, or a local one started here.

`connect` joins the cluster at ``address`` (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``), or starts a
local one sized for the replicas (one logical CPU more than they reserve, so Ray Data's read task is never
starved by the actor pool: on a 2-CPU box an actor pool holding every CPU deadlocks the read). A Ray 2.60
cluster started by ``ray.init`` or ``ray start`` uses token authentication by default; a client finds the
token in ``~/.ray/auth_token`` or ``$RAY_AUTH_TOKEN`` (``RAY_AUTH_MODE=token``), and a refusal is reported
with that advice instead of Ray's traceback.

Example:
    >>> replica_resources(num_cpus=1, num_gpus=0)
    {'num_cpus': 1.0}
    >>> replica_resources(num_cpus=0.5, num_gpus=1)
    {'num_cpus': 0.5, 'num_gpus': 1.0}
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

logger = logging.getLogger(__name__)

def require_ray(feature: str, *modules: str) -> None:
    """Raise `reward_judge.extras.MissingExtra` naming the ``ray`` extra (``ray[serve,data]``) when Ray or one of
    ``modules`` is missing (Ray Serve imports ``grpc``, which a bare ``pip install ray`` lacks)."""
    from reward_judge.extras import require_extra

    require_extra("ray", "ray", "pyarrow", *modules, feature=feature)


def check_positive(name: str, value: Any, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


def replica_resources(num_cpus: float = 1.0, num_gpus: float = 0.0) -> dict[str, float]:
    """The Ray resources one replica reserves (``num_gpus`` only when it is not 0)."""
    check_positive("num_cpus_per_replica", num_cpus)
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or num_gpus < 0:
        raise ValueError(f"num_gpus_per_replica must be a number >= 0, got {num_gpus!r}")
    resources = {"num_cpus": float(num_cpus)}
    if num_gpus:
        resources["num_gpus"] = float(num_gpus)
    return resources


PATH_OPTIONS = ("tokenizer", "adapter")
"""Options that may name a local folder (else a hub id): made absolute when the folder exists here, before they
travel to replicas, whose working directory is not the caller's. ``cache`` (a file path) always is."""


def portable_judge(judge: Any, options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``judge`` and ``options`` with relative local paths made absolute (hub ids and ``"default"`` stay).

    Example:
        >>> portable_judge("default", {"cache": "c.sqlite"})[1]["cache"].endswith("/c.sqlite")
        True
    """
    def existing(value: Any) -> Any:
        if isinstance(value, (str, os.PathLike)) and str(value) not in ("", "default") and Path(value).exists():
            return str(Path(value).resolve())
        return value

    portable = dict(options)
    for key in PATH_OPTIONS:
        if key in portable:
            portable[key] = existing(portable[key])
    if isinstance(portable.get("cache"), (str, os.PathLike)):
        portable["cache"] = str(Path(portable["cache"]).resolve())
    return existing(judge), portable


@dataclass
class Connection:
    """A connection made by `connect`; ``started`` says whether the cluster was started here (and ends with it)."""

    address: str
    started: bool

    def close(self) -> None:
        """Disconnect; a cluster started here stops."""
        import ray

        if ray.is_initialized():
            ray.shutdown()


def connect(address: Optional[str] = None, *, num_cpus: Optional[float] = None, num_gpus: Optional[float] = None,
            quiet: bool = False) -> Connection:
    """Join the Ray cluster at ``address``, or start a local one with ``num_cpus`` logical CPUs (default: this
    machine's); a process already connected keeps its connection (``started`` is then false).

    ``quiet`` keeps Ray's own start-up lines and worker output at warnings.
    """
    import ray

    if ray.is_initialized():
        return Connection(ray.get_runtime_context().gcs_address, started=False)
    options: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING,
                                   log_to_driver=not quiet)
    if address:
        try:
            context = ray.init(address=address, **options)
        except ConnectionError as exc:
            raise ConnectionError(f"--ray-address {address!r}: no Ray cluster answered ({exc}); start one with "
                                  "`ray start --head` or leave --ray-address out for a local cluster") from None
        except Exception as exc:  # ray.exceptions.AuthenticationError and friends
            if type(exc).__name__ == "AuthenticationError":
                raise PermissionError(
                    f"--ray-address {address!r}: the cluster refused this client's token ({exc}). Ray 2.60 clusters "
                    "use token authentication by default: run with RAY_AUTH_MODE=token and the cluster's token in "
                    "~/.ray/auth_token or $RAY_AUTH_TOKEN") from None
            raise
        return Connection(context.address_info.get("gcs_address", address), started=False)
    cpus = math.ceil(num_cpus) if num_cpus is not None else (os.cpu_count() or 1)
    # address="local": a new cluster of our own, even where `ray start` left a cluster (or a stale record of one in
    # /tmp/ray/ray_current_cluster) that a bare ray.init would try to join and refuse num_cpus for
    context = ray.init(address="local", num_cpus=cpus, num_gpus=None if num_gpus is None else math.ceil(num_gpus),
                       **options)
    logger.info("started a local Ray cluster with %s logical CPUs at %s", cpus, context.address_info["gcs_address"])
    return Connection(context.address_info["gcs_address"], started=True)


def local_cpus(num_replicas: int, cpus_per_replica: float) -> float:
    """Logical CPUs for a local cluster: what the replicas reserve plus one for the read side, at least this
    machine's count.

    Example:
        >>> local_cpus(2, 1) >= 3
        True
    """
    return max(float(os.cpu_count() or 1), num_replicas * cpus_per_replica + 1)
