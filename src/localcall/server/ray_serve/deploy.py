"""`localcall serve --ray`: the options, then start Ray, deploy, wait for SIGINT or SIGTERM, stop."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from ...runtime.backend import DEFAULT_PARALLEL
from ...runtime.registry import load_registry
from ..auth import Auth
from ..serve import _configure_logging, build
from . import cluster

log = logging.getLogger("localcall.server")

# Environment variables of the driver that every replica gets too (a joined cluster's workers
# have their own environment otherwise).
FORWARDED_ENV = ("LOCALCALL_THREADS", "LOCALCALL_MODELS", "LOCALCALL_CACHE", "LOCALCALL_AUDIT_DB",
                 "LOCALCALL_PROMPT_CACHE_MIB")


class DeploymentFailed(RuntimeError):
    """The replicas did not start (Ray tried each three times); their errors are in the log."""


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray instance; "auto" or HOST:PORT: join a cluster
    replicas: int | None = None  # a fixed number of replicas (1 when neither this nor autoscale)
    autoscale: tuple[int, int] | None = None  # (MIN, MAX) replicas, as Ray's autoscaler decides
    replica_cpus: float = 1.0  # Ray's num_cpus per replica; also its llama.cpp threads by default
    replica_gpus: float = 0.0  # Ray's num_gpus per replica

    def __post_init__(self) -> None:
        if self.replicas is not None and self.autoscale is not None:
            raise ValueError("give --replicas or --autoscale, not both")
        if self.replicas is not None and self.replicas < 1:
            raise ValueError(f"--replicas must be at least 1, not {self.replicas}")
        if self.autoscale is not None and not 0 <= self.autoscale[0] <= self.autoscale[1] >= 1:
            raise ValueError(f"--autoscale MIN:MAX needs 0 <= MIN <= MAX and MAX >= 1, not "
                             f"{self.autoscale[0]}:{self.autoscale[1]}")
        if self.replica_cpus <= 0 or self.replica_gpus < 0:
            raise ValueError("--replica-cpus must be above 0 and --replica-gpus at least 0")

    @staticmethod
    def parse_autoscale(text: str) -> tuple[int, int]:
        low, sep, high = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return int(low), int(high)
        except ValueError:
            raise ValueError(f"--autoscale takes MIN:MAX (two whole numbers, such as 1:4), not {text!r}") from None

    def deployment_options(self, models: int, max_waiting: int, shutdown_grace: float,
                           parallel: int = 1) -> dict[str, Any]:
        """Ray Serve's options for the deployment of `models` models, each generating `parallel`
        requests at once and queueing `max_waiting`."""
        if self.autoscale is not None:
            # A replica generates `parallel` requests per model at once: one more waiting is the
            # signal for another replica.
            scale = {"autoscaling_config": {"min_replicas": self.autoscale[0], "max_replicas": self.autoscale[1],
                                            "target_ongoing_requests": parallel}}
        else:
            scale = {"num_replicas": self.replicas or 1}
        env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
        env.setdefault("LOCALCALL_THREADS", str(max(1, round(self.replica_cpus))))
        return {**scale,
                # What a replica admits itself (`parallel` generating and max_waiting queued per
                # model, and /health), so its queue answers 429 as on one machine; Serve routes the rest.
                "max_ongoing_requests": models * (max_waiting + parallel) + 1,
                "graceful_shutdown_timeout_s": shutdown_grace,
                "ray_actor_options": {"num_cpus": self.replica_cpus, "num_gpus": self.replica_gpus,
                                      "runtime_env": {"env_vars": env}}}


def run(ray: RayOptions, port: int = 8000, *, shutdown_grace: float = 5.0, **app_options: Any) -> None:
    """Serve through Ray Serve until SIGINT or SIGTERM, then stop the deployment and the local
    Ray instance if this started one. app_options: `server.serve.build`'s arguments (models,
    host, api_keys, tools, ...), which mean what they mean to `localcall serve`."""
    _configure_logging()
    inspect.signature(build).bind(**app_options)  # a misspelt option fails here, not in every replica
    host = app_options.get("host", "127.0.0.1")
    Auth.for_binding(host, app_options.get("api_keys", ()), allow_unauthenticated=app_options.get("no_auth", False))
    if app_options.get("ask_approval") and (ray.autoscale or (ray.replicas or 1) > 1):
        raise ValueError("--ask-approval needs a single replica: a call waits for its approval in the "
                         "memory of the replica running it, and the Approve may reach another")
    if ray.address is None:  # the replicas will see this machine's files: a wrong name fails here
        _check_models(app_options.get("models") or [None], app_options.get("registry"))
    # --parallel unset: each replica's llama.cpp models batch DEFAULT_PARALLEL; Serve may send that many.
    parallel = app_options.get("parallel") or max(DEFAULT_PARALLEL.values())
    options = ray.deployment_options(len(app_options.get("models") or ()) or 1, app_options.get("max_waiting", 8),
                                     shutdown_grace, parallel)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    instance = cluster.start(ray.address)
    signal.signal(signal.SIGTERM, _interrupt)  # after ray.init, which sets its own (an exit code 15)
    try:
        from .replica import deploy

        try:
            deploy(app_options, options, host, port)
        except RuntimeError as exc:  # Ray's DEPLOY_FAILED: the replicas' own errors were logged above
            raise DeploymentFailed(f"the replicas did not start ({exc}); their errors are above") from None
        scale = ray.autoscale and f"{ray.autoscale[0]} to {ray.autoscale[1]}" or ray.replicas or 1
        log.info("serving on http://%s:%d through Ray Serve; replicas: %s", host, port, scale)
        threading.Event().wait()  # until a signal interrupts it
    except KeyboardInterrupt:
        pass
    finally:
        for sig in handlers:  # the stop must not be cut short
            signal.signal(sig, signal.SIG_IGN)
        cluster.stop(instance)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _check_models(models: list[str | None], registry) -> None:
    reg = load_registry(registry)
    for name in models:
        try:
            reg.get(name)
        except (KeyError, FileNotFoundError) as exc:
            raise ValueError(str(exc).strip("'\"")) from None


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
