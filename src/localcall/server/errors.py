"""OpenAI-shaped errors: every failure leaves as {"error": {"message", "type", "param", "code"}}.

The official clients pick their exception class from the status code and read the body, so
the status must be right (400, 401, 404, 429, 503) and the body in this shape, including
for what FastAPI and Starlette would otherwise answer themselves: validation errors (422),
malformed JSON, unknown routes, wrong methods, and anything unexpected (500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("localcall.server")

# The "type" OpenAI gives each status.
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
          404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
          429: "rate_limit_error", 500: "server_error", 503: "server_error"}

# Labels pydantic puts in an error's location for the member of a union it tried ("str",
# "list[TextPart]", a model's class name): not fields, so they are left out of `param`.
_UNION_LABELS = {"str", "int", "float", "bool", "dict", "list", "none"}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """What every error response carries (OpenAI's shape)."""

    error: ErrorDetail


_WHEN = {400: "The request is malformed or cannot be served as asked (the message says which field)",
         401: "No API key, or a wrong one, where the server requires keys",
         404: "Unknown model or URL", 413: "The request body is larger than the server accepts",
         429: "The model's queue is full; retry after the Retry-After header's seconds",
         503: "The request's deadline passed while it waited, or the server is shutting down"}


def error_responses(*statuses: int) -> dict[int, dict]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    return {status: {"model": ErrorBody, "description": _WHEN[status]} for status in statuses}


def without_422(document: dict) -> dict:
    """FastAPI documents a 422 for every route with a body; this server answers 400 instead."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


class APIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def from_validation(exc: RequestValidationError) -> APIError:
    """One readable 400 from pydantic's list: the most specific location and what it expected."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return bad_request("We could not parse the JSON body of your request: it is not valid JSON. "
                           "Send a JSON object with Content-Type: application/json.", code="invalid_json")
    located = [(_param(e.get("loc", ())), e) for e in errors]
    deepest = max(located, key=lambda pe: len(pe[0] or ""))[0]
    here = [e for p, e in located if p == deepest]
    text = " or ".join(dict.fromkeys(e.get("msg", "invalid value").removeprefix("Value error, ") for e in here))
    text += _shown_input(here[0])
    if not deepest:
        return bad_request(f"The request body is not a valid chat completion request: {text}")
    return bad_request(f"Invalid value for '{deepest}': {text}", param=deepest)


def _param(loc: tuple) -> str | None:
    """('body', 'messages', 0, 'UserMessage', 'content', 'str') → 'messages[0].content'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "body" and not out:
            continue
        elif part in _UNION_LABELS or part[:1].isupper() or any(c in part for c in "[(:'"):
            continue
        else:
            out += f".{part}" if out else part
    return out or None


def _shown_input(error: dict) -> str:
    """The offending value, when it is short and the message does not already say it all."""
    if error.get("type") in ("missing", "value_error", "invalid_role", "invalid_type"):
        return ""
    shown = repr(error.get("input"))
    return f" (got {shown})" if len(shown) <= 60 else ""


def install(app: FastAPI) -> None:
    """Route every error FastAPI or Starlette can raise through the OpenAI shape."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return from_validation(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"Unknown URL {request.method} {request.url.path}",
                   405: f"Method {request.method} is not allowed on {request.url.path}"}.get(exc.status_code,
                                                                                          str(exc.detail))
        return APIError(exc.status_code, message, headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: logged with its traceback, answered in the shape clients understand.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return APIError(500, f"The server had an error while processing your request ({type(exc).__name__}). "
                             f"This is a bug in localcall; the server log has the details.").response()
