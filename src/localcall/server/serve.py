"""`localcall serve`: load the models, build the app, run uvicorn until SIGINT or SIGTERM.

Shutdown (SIGINT, SIGTERM): the server stops accepting, cancels every generation at once (a
stream in flight ends normally: its last chunks, finish_reason "length", [DONE]; a queued
request gets 503), waits for the worker threads, so none is inside llama.cpp at exit, and
gives the responses `shutdown_grace` seconds to be sent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import uvicorn

from ..model import ChatModel
from ..runtime.registry import load_registry
from ..tools import AuditLog, Policy, load_tools
from .app import ServerSettings, create_app
from .approvals import PendingApprovals
from .auth import Auth
from .tools import ServerTools
from .ui import UiSettings

log = logging.getLogger("localcall.server")


def run(models: Sequence[str] = (), host: str = "127.0.0.1", port: int = 8000, api_keys: Sequence[str] = (),
        tools: str | Sequence[str] | None = None, registry: str | os.PathLike | None = None, *,
        no_auth: bool = False, tool_policy: Policy | None = None, high_risk: Policy | None = None,
        audit_path: str | os.PathLike | None = None, max_waiting: int = 8, request_timeout: float = 600.0,
        default_max_tokens: int | None = 4096, shutdown_grace: float = 5.0, ui: UiSettings | None = UiSettings(),
        ask_approval: bool = False, parallel: int | None = None, cache_tokens: int | None = None) -> None:
    """Serve until interrupted.

    models: registry names or model paths (.gguf files, HF directories); none: the registry's
      default. Each is served under its registry name (a path: its file or directory name).
    api_keys: `KEY` or `NAME=KEY`; NAME is the principal tool permissions and the audit log use.
      With keys, every request needs one. Without, only a loopback host is allowed, unless
      no_auth says the server may run open.
    tools: `.py` files or module names whose @tool functions the server runs itself.
    tool_policy: which principal may use which server tool (all of them by default);
      high_risk: which principal may run which high-risk tool (none by default).
    audit_path: the SQLite audit log of server tool calls ($LOCALCALL_AUDIT_DB or
      ~/.local/state/localcall/audit.sqlite3 by default).
    ui: the playground at / (None: none); ask_approval: high-risk calls that high_risk does not
      allow wait for Approve / Deny in the playground instead of being denied.
    parallel: generations per model at once, decoded together (runtime/batch.py, llama.cpp);
      None: 4 on llama.cpp, 1 on transformers. cache_tokens: the KV cells they share (default:
      the model's context).
    """
    _configure_logging()
    served = build(models, host, api_keys, tools, registry, no_auth=no_auth, tool_policy=tool_policy,
                   high_risk=high_risk, audit_path=audit_path, max_waiting=max_waiting,
                   request_timeout=request_timeout, default_max_tokens=default_max_tokens, ui=ui,
                   ask_approval=ask_approval, parallel=parallel, cache_tokens=cache_tokens)
    config = uvicorn.Config(create_app(served.models, served.settings), host=host, port=port, access_log=False,
                            log_level="info", timeout_graceful_shutdown=shutdown_grace)
    if ui is not None:
        log.info("playground: http://%s:%d/", host if ":" not in host else f"[{host}]", port)
    try:
        _Server(config).run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT it handled; the shutdown has already happened
    finally:
        served.close()


@dataclass
class Served:
    """What `create_app` is given: the loaded models and the settings; close() at the end."""

    models: dict[str, ChatModel]
    settings: ServerSettings
    audit: AuditLog | None = None

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()


def build(models: Sequence[str] = (), host: str = "127.0.0.1", api_keys: Sequence[str] = (),
          tools: str | Sequence[str] | None = None, registry: str | os.PathLike | None = None, *,
          no_auth: bool = False, tool_policy: Policy | None = None, high_risk: Policy | None = None,
          audit_path: str | os.PathLike | None = None, max_waiting: int = 8, request_timeout: float = 600.0,
          default_max_tokens: int | None = 4096, ui: UiSettings | None = UiSettings(),
          ask_approval: bool = False, parallel: int | None = None, cache_tokens: int | None = None) -> Served:
    """Load the models and tools `run` serves (its arguments, less the port and the grace);
    also what every replica of `localcall serve --ray` builds for itself."""
    auth = Auth.for_binding(host, api_keys, allow_unauthenticated=no_auth)  # before the slow part
    reg = load_registry(registry)
    served: dict[str, ChatModel] = {}
    for name in models or [None]:
        model = ChatModel.load(name, registry=reg, parallel=parallel, cache_tokens=cache_tokens)
        if model.name in served:
            raise ValueError(f"two --model arguments are both served as {model.name!r}")
        served[model.name] = model
        log.info("serving %s (%s)", model.name, ", ".join(f"{k}={v}" for k, v in model.describe().items()
                                                            if k in ("backend", "format", "engine", "parallel",
                                                                     "prompt_cache_mib")))
    server_tools = audit = None
    if tools:
        audit = AuditLog(audit_path)
        server_tools = ServerTools(load_tools(*([tools] if isinstance(tools, str) else tools)), audit=audit,
                                   policy=tool_policy, high_risk=high_risk,
                                   approval=PendingApprovals() if ask_approval else None)
        log.info("server-side tools: %s (audit log %s)", ", ".join(server_tools.registry.names), audit.path)
    log.info("authentication: %s", "API key required" if auth.required else "none (loopback or --no-auth)")
    settings = ServerSettings(auth=auth, max_waiting=max_waiting, request_timeout=request_timeout,
                              default_max_tokens=default_max_tokens, tools=server_tools, ui=ui)
    return Served(served, settings, audit)


class _Server(uvicorn.Server):
    """uvicorn, with the generations cancelled as soon as shutdown begins: uvicorn itself would
    wait for every response to end, and a generation can last minutes."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.catalog = config.app.state.catalog  # an app made by create_app

    async def shutdown(self, sockets=None) -> None:
        await self.catalog.close()
        await super().shutdown(sockets)


class BackgroundServer:
    """An app served by uvicorn in a background thread of this process, on a port the OS picks
    (tests, benchmarks, notebooks). The socket is bound before the thread starts, so there is
    no window in which another process can take the port."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, shutdown_grace: float = 2.0):
        self.app = app
        self._socket = socket.create_server((host, port))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = _Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                             timeout_graceful_shutdown=shutdown_grace))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                       name=f"localcall-server-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self._socket.close()


def _configure_logging() -> None:
    logger = logging.getLogger("localcall")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
