"""The OpenAI-compatible HTTP server: `create_app` for an ASGI app, `serve.run` for `localcall serve`."""

from .app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
