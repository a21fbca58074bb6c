"""One log line per request, written when its response has been sent in full (for a stream,
after `data: [DONE]` or the client leaving), with what the handler recorded: the model, the
tokens, the tool calls."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..messages import ChatResult

log = logging.getLogger("localcall.server")

STATE_KEY = "localcall"  # where a handler leaves its RequestStats in the ASGI scope's state
CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection first"


@dataclass
class RequestStats:
    model: str
    principal: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0  # returned to the client
    executed: int = 0  # run by the server
    finish_reason: str = ""

    def record(self, result: ChatResult, executed: int) -> None:
        self.prompt_tokens = result.usage.prompt_tokens
        self.completion_tokens = result.usage.completion_tokens
        self.tool_calls = len(result.tool_calls)
        self.executed = executed
        self.finish_reason = result.finish_reason

    def describe(self) -> str:
        text = f"model={self.model} key={self.principal}"
        if not self.finish_reason:  # refused before generating: nothing else to say
            return text
        text += f" prompt={self.prompt_tokens} completion={self.completion_tokens} tool_calls={self.tool_calls}"
        if self.executed:
            text += f" executed={self.executed}"
        return f"{text} finish={self.finish_reason}"


class RequestLog:
    """ASGI middleware: wraps `send` to see the status and the end of the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = CLIENT_CLOSED  # unless a response starts

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            stats = scope.get("state", {}).get(STATE_KEY)
            details = f" {stats.describe()}" if stats else ""
            log.info("%s %s %d%s %.3fs", scope["method"], scope["path"], status, details,
                     time.perf_counter() - started)
