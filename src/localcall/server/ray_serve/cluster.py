"""The Ray instance the replicas run on.

Without an address, a local instance for this process alone: every Ray process bound to the
loopback interface, no dashboard, a small object store, no usage statistics. With one
(`auto`: the cluster running on this machine, or `HOST:PORT` of a head node), a running
cluster is joined. stop() shuts down what start() started and nothing else: on a joined
cluster it removes this application, and the Serve instance only if it started it and no
other application is left.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("localcall.server")

# Read by Ray when it is imported, so set before. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is Ray's
# own switch for single-machine instances (its default on macOS and Windows): the node's
# address becomes 127.0.0.1 and every Ray process listens on it alone.
LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# The replicas pass requests and responses through it, never tensors; Ray's minimum is 75 MiB.
OBJECT_STORE_BYTES = 96 * 2**20
LOOPBACK = "127.0.0.1"
APP_NAME = "localcall"  # the Serve application (and its one deployment) on the cluster


@dataclass
class RayInstance:
    address: str  # the GCS address (HOST:PORT) the driver is connected to
    started: bool  # True: a local instance this process started, which stop() shuts down
    serve_was_running: bool = False  # on a joined cluster: Serve was there before us


def start(address: str | None = None) -> RayInstance:
    """Start a local instance (address None) or join the cluster at `address`."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if address is None:
        os.environ.update(LOCAL_ENV)
        import ray

        context = ray.init(address="local", include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES)
        node = context.address_info["node_ip_address"]
        instance = RayInstance(context.address_info["gcs_address"], started=True)
        if node != LOOPBACK:  # Ray was imported before LOCAL_ENV was set
            stop(instance)
            raise RuntimeError(f"the local Ray instance listens on {node}, not only on {LOOPBACK}: "
                               "import localcall's Ray support before ray itself")
        log.info("started a local Ray instance at %s", instance.address)
        return instance
    import ray

    context = ray.init(address=address)
    log.info("joined the Ray cluster at %s", context.address_info["gcs_address"])
    instance = RayInstance(context.address_info["gcs_address"], started=False, serve_was_running=_serve_running())
    if instance.serve_was_running and APP_NAME in serve_applications():
        ray.shutdown()  # deploying would replace it, and stopping would delete it
        raise ValueError(f"the cluster at {instance.address} already runs a Serve application named "
                         f"{APP_NAME!r} (another localcall serve --ray?): stop that one first")
    return instance


def serve_applications() -> list[str]:
    from ray import serve

    return list(serve.status().applications)


def stop(instance: RayInstance) -> None:
    """Remove the application and what `instance` started; disconnect."""
    import ray
    from ray import serve

    if instance.started:
        serve.shutdown()  # the controller, proxies and replicas, before the processes go
    elif _serve_running():
        serve.delete(APP_NAME)
        if not instance.serve_was_running and not serve_applications():
            serve.shutdown()
    ray.shutdown()  # a local instance: its processes end; a cluster: this driver disconnects
    log.info("stopped the local Ray instance" if instance.started else "left the Ray cluster")


def free_proxy_port() -> int:
    """A free loopback port for Serve's proxy (tests, benchmarks), below the kernel's ephemeral
    range: while Ray starts, its processes bind many ephemeral ports (port 0), and one picked
    from that range can be taken before the proxy binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(20000, low), 200):  # above Ray's worker ports (10002-19999)
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _serve_running() -> bool:
    # Ray has no public call for "is a Serve controller running" that does not start one.
    from ray.serve.context import _get_global_client

    return _get_global_client(raise_if_no_controller_running=False) is not None
