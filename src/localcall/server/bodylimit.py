"""A cap on request bodies: without one, a client can make the server buffer any amount of
memory before validation even starts. The largest real request (a full 128k-token context)
is well under a megabyte of text, so the default of 32 MB refuses nothing legitimate.

Pure ASGI: the body is read (up to the cap) before the app runs and handed to it unchanged;
after that, `receive` is the server's own, so the app still hears about a disconnect.
"""

from __future__ import annotations

from .errors import APIError

DEFAULT_MAX_BODY = 32 * 2 ** 20


class BodyLimit:
    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._refuse(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        error = APIError(413, f"The request body is larger than the server accepts ({self.max_bytes} bytes).",
                         code="request_too_large")
        await error.response()(scope, receive, send)
