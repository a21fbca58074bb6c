"""The Ray Serve deployment: each replica builds what `localcall serve` builds, once, when it
starts (the models loaded, the tools, the keys, the audit log) and serves the same app through
Serve's FastAPI ingress.

The app itself is unchanged but for two additions, both made here: a middleware that names
the replica in every response (`x-localcall-replica`), and the replicas Ray knows in
`/health`. A replica writes server tool calls to an audit log of its own,
`audit-<host>-<pid>.sqlite3` beside the default log, unless one shared path is given
(`audit_path`, $LOCALCALL_AUDIT_DB): a row is committed before the result returns, so a
replica that dies loses none.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve.schema import ServeInstanceDetails
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...tools.audit import default_audit_path
from ..app import create_app
from ..serve import _configure_logging, build
from .cluster import APP_NAME, LOOPBACK

DEPLOYMENT = APP_NAME
REPLICA_HEADER = "x-localcall-replica"


@serve.deployment(name=DEPLOYMENT)
@serve.ingress()
class Replica:
    def __init__(self, app_options: dict[str, Any]):
        """app_options: `server.serve.build`'s arguments."""
        _configure_logging()
        if ray.util.get_node_ip_address() == LOOPBACK:
            _keep_replica_grpc_on_loopback()
        options = dict(app_options)
        if options.get("tools") and options.get("audit_path") is None and not os.environ.get("LOCALCALL_AUDIT_DB"):
            options["audit_path"] = replica_audit_path()
        self.name = serve.get_replica_context().replica_id.unique_id
        self.served = build(**options)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        app = create_app(self.served.models, replace(self.served.settings, health=self.health))
        app.add_middleware(ReplicaHeader, name=self.name)
        return app

    async def health(self) -> dict:
        return {"replica": self.name, "replicas": await asyncio.to_thread(replicas)}

    def __del__(self) -> None:  # Serve calls it after the app's shutdown (generations cancelled)
        if hasattr(self, "served"):  # not when the constructor failed
            self.served.close()


def _keep_replica_grpc_on_loopback() -> None:
    """On a local instance (node 127.0.0.1), bind the replica's inter-deployment gRPC server to
    127.0.0.1 too: Ray 2.60 binds it to every interface ("[::]:0") with no option to say
    otherwise, the one server of a local instance that would. It starts after the constructor."""
    import ray.serve._private.replica as ray_replica

    bind = ray_replica.add_port_to_grpc_server
    ray_replica.add_port_to_grpc_server = lambda server, address: bind(
        server, f"{LOOPBACK}:0" if address == "[::]:0" else address)


def replica_audit_path() -> Path:
    """This replica's own audit log: its host and PID in the name, beside the default log."""
    return default_audit_path().parent / f"audit-{socket.gethostname()}-{os.getpid()}.sqlite3"


def replicas() -> list[dict]:
    """The deployment's replicas as the Serve controller knows them (id, state, node, pid)."""
    # Only the controller's details list replicas (serve.status() counts them); the pinned
    # Ray version is what this is tested against.
    from ray.serve.context import _get_global_client

    details = ServeInstanceDetails(**_get_global_client().get_serve_details())
    app = details.applications.get(APP_NAME)
    if app is None or DEPLOYMENT not in app.deployments:
        return []
    return [{"id": r.replica_id, "state": r.state.value, "node_id": r.node_id, "node_ip": r.node_ip, "pid": r.pid}
            for r in app.deployments[DEPLOYMENT].replicas]


class ReplicaHeader:
    """ASGI middleware: every HTTP response carries `x-localcall-replica: <replica id>`."""

    def __init__(self, app: ASGIApp, name: str):
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REPLICA_HEADER, self.name)
            await send(message)

        await self.app(scope, receive, send_named)


def deploy(app_options: dict[str, Any], deployment_options: dict[str, Any], host: str, port: int) -> None:
    """Start Serve's HTTP proxy on host:port (unless Serve already runs) and the deployment;
    return once every replica is up."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(Replica.options(**deployment_options).bind(app_options), name=APP_NAME, route_prefix="/")
