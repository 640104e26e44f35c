"""``reward-judge serve --ray``: the reward server's HTTP app on Ray Serve, one judge per replica.

Every replica builds the judge from ``(judge, options)`` (any backend: a judge on vLLM, ``backend="vllm"``,
is a replica like one on transformers) and serves the same app as the single-process server
(`server.create_app`): ``/get_reward`` (OpenRLHF), ``/v1/score``, ``/slime/reward``, ``/health``, ``/metrics``,
the API key, the request limits and its own micro-batcher, so the requests Ray Serve routes to one
replica are judged together. Ray Serve's proxy (on every node, at ``--host``/``--port``) spreads requests
over the replicas; ``--autoscaling-config`` is handed to Ray Serve as it is.

A replica that dies (SIGKILL, OOM) is replaced by Ray Serve. Requests routed after its death go to the
others; a request that was inside the dead replica is answered 500 by the proxy and not retried there,
so clients retry 500 within their timeout: `remote.RemoteRewardModel` (and the verl functions built on
it), OpenRLHF's remote reward client and slime's ``remote_rm`` all do. No request is answered with
another's reward: each answer comes from the replica that judged that request.

``/metrics`` answers with the counters of the replica that took the scrape (each replica keeps its own);
Ray Serve's own request metrics for the whole deployment are on Ray's metrics endpoint.

Example:
    >>> spec = ServeSpec(judge="default", options={"max_new_tokens": 64}, app={"api_key": "s3cret"})  # doctest: +SKIP
    >>> serve_on_ray(spec, num_replicas=2, host="0.0.0.0", port=8000)                                 # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from .ray_cluster import check_positive, connect, local_cpus, replica_resources, require_ray

logger = logging.getLogger(__name__)

APP_NAME = "reward-judge"
DEPLOYMENT_NAME = "RewardJudge"


@dataclass(frozen=True)
class ServeSpec:
    """What every replica builds: the judge (``from_pretrained(judge, **options)``), the keyword arguments of
    `server.create_app` (``app``: limits, API key, fallback), and how ``/get_reward`` reads policy prompts."""

    judge: Any = "default"
    options: Mapping[str, Any] = field(default_factory=dict)
    app: Mapping[str, Any] = field(default_factory=dict)
    policy_template: str = "auto"
    policy_tokenizer: Optional[str] = None

    def build_app(self) -> Any:
        """The ASGI app of one replica, its judge loaded."""
        from reward_judge import GenerativeRewardModel

        from .policy_prompts import PolicyPromptReader
        from .server import create_app

        rm = GenerativeRewardModel.from_pretrained(self.judge, **self.options)
        policy = (PolicyPromptReader.from_tokenizer(self.policy_tokenizer, template=self.policy_template)
                  if self.policy_tokenizer else PolicyPromptReader(self.policy_template))
        logger.info("replica ready: %r", rm)
        return create_app(rm, policy_reader=policy, **self.app)


@functools.lru_cache(maxsize=None)
def replica_class() -> type:
    """The Ray Serve deployment class (defined on first use: it needs ``ray.serve``)."""
    from ray import serve

    @serve.ingress()
    class RewardJudge:
        """One replica: one judge and the reward server's app around it."""

        def __init__(self, spec: ServeSpec):
            self._app = spec.build_app()

        def __serve_build_asgi_app__(self) -> Any:
            return self._app

    return RewardJudge


def deployment_options(*, num_replicas: Union[int, str] = 1, num_cpus_per_replica: float = 1.0,
                       num_gpus_per_replica: float = 0.0, autoscaling_config: Optional[Mapping[str, Any]] = None,
                       max_ongoing_requests: int = 1024, health_check_period_s: float = 2.0) -> dict[str, Any]:
    """The ``serve.deployment`` options of the judge: replicas or autoscaling, resources, concurrency.

    Example:
        >>> deployment_options(num_replicas=2, max_ongoing_requests=256)["ray_actor_options"]
        {'num_cpus': 1.0}
        >>> deployment_options(autoscaling_config={"min_replicas": 1, "max_replicas": 4})["autoscaling_config"]
        {'min_replicas': 1, 'max_replicas': 4}
    """
    check_positive("max_ongoing_requests", max_ongoing_requests, integer=True)
    options: dict[str, Any] = dict(ray_actor_options=replica_resources(num_cpus_per_replica, num_gpus_per_replica),
                                   max_ongoing_requests=max_ongoing_requests,
                                   health_check_period_s=health_check_period_s)
    if autoscaling_config is not None:
        if num_replicas not in (1, "auto"):
            raise ValueError(f"--autoscaling-config replaces --num-replicas (got {num_replicas!r}): set min_replicas "
                             "and max_replicas in the autoscaling config")
        options["autoscaling_config"] = dict(autoscaling_config)
    elif num_replicas == "auto":
        options["num_replicas"] = "auto"
    else:
        check_positive("num_replicas", num_replicas, integer=True)
        options["num_replicas"] = num_replicas
    return options


def _serve_running() -> bool:
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        return True
    except ValueError:
        return False


def replica_states() -> dict[str, int]:
    """How many replicas of the judge are in each state (``RUNNING``, ``STARTING``...), from Ray Serve."""
    from ray import serve

    application = serve.status().applications.get(APP_NAME)
    if application is None or DEPLOYMENT_NAME not in application.deployments:
        return {}
    return dict(application.deployments[DEPLOYMENT_NAME].replica_states)


def deploy(spec: ServeSpec, *, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Start Ray Serve's proxy on ``host:port`` (if Serve is not running yet) and deploy the judge; returns once
    every replica is serving. ``options``: `deployment_options`."""
    from ray import serve

    serve.start(http_options={"host": host, "port": port})
    app = serve.deployment(replica_class()).options(name=DEPLOYMENT_NAME, **deployment_options(**options)).bind(spec)
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)


def serve_on_ray(spec: ServeSpec, *, host: str = "127.0.0.1", port: int = 8000, ray_address: Optional[str] = None,
                 num_replicas: Union[int, str] = 1, num_cpus_per_replica: Optional[float] = None,
                 num_gpus_per_replica: float = 0.0, autoscaling_config: Optional[Mapping[str, Any]] = None,
                 max_ongoing_requests: int = 1024, stop: Optional[threading.Event] = None) -> None:
    """Serve ``spec`` on Ray Serve until SIGINT/SIGTERM (or ``stop`` is set), then take the app down.

    Joins the cluster at ``ray_address`` or starts a local one (stopped at the end). Ray Serve itself is shut
    down at the end only when this call started it.
    """
    require_ray("reward-judge serve --ray", "ray.serve", "grpc")
    if num_cpus_per_replica is None:
        num_cpus_per_replica = 1.0
    options = dict(num_replicas=num_replicas, num_cpus_per_replica=num_cpus_per_replica,
                   num_gpus_per_replica=num_gpus_per_replica, autoscaling_config=autoscaling_config,
                   max_ongoing_requests=max_ongoing_requests)
    deployment_options(**options)  # a bad value is named before a cluster starts
    most = (autoscaling_config or {}).get("max_replicas", num_replicas if isinstance(num_replicas, int) else 1)
    connection = connect(ray_address, num_cpus=None if ray_address else local_cpus(int(most), num_cpus_per_replica))
    from ray import serve

    started_serve = not _serve_running()
    stop = stop or threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        deploy(spec, host=host, port=port, **options)
        logger.info("serving on http://%s:%d with Ray Serve: %s", host, port, replica_states())
        last = None
        while not stop.wait(2.0):
            states = replica_states()
            if states != last:
                if last is not None:
                    logger.warning("replicas now %s", states)
                last = states
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logger.info("taking the app down (queued requests are judged first)")
        try:
            serve.delete(APP_NAME)
            if started_serve:
                serve.shutdown()
        finally:
            if connection.started:
                connection.close()
