"""What a tool call comes back as: a value, or a structured error the model can act on.

Every failure in the pipeline (unknown tool, bad arguments, refusal, denial, a raise, a hang,
a result that is not JSON) ends as a ToolOutcome whose content is
{"error": ..., "suggestion": ...}: the model reads it as the tool's answer and can rephrase,
try another tool, or tell the user. Nothing a tool does may end the agent loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ..messages import Message

# ok: the tool (or its fallback) returned a value. The rest name the layer that stopped it,
# the same words the audit log uses, so a row and an outcome can be read side by side.
# denied: the approval step said no (a person declined, or there was no one to ask);
# denied_by_policy: a high-risk policy does not name the caller, and nobody was asked.
Status = Literal["ok", "error", "timeout", "not_serializable", "invalid_arguments",
                 "unknown_tool", "refused", "denied", "denied_by_policy"]

MAX_ERROR_BYTES = 2048  # of an error or a suggestion the model reads (an exception can be huge)


class ToolError(Exception):
    """Raise it from a tool (or a validator) to choose what the model is told."""

    def __init__(self, error: str, suggestion: str | None = None):
        super().__init__(error)
        self.error = error
        self.suggestion = suggestion


class TransientError(ToolError):
    """A failure worth retrying as is: a rate limit, a network blip, a busy service."""


class ToolTimeout(ToolError):
    """The tool did not finish in its time. Not a TimeoutError on purpose: a hung sync tool
    keeps its thread, so retrying it by default would pile up stuck threads."""


@dataclass
class ToolOutcome:
    call_id: str
    name: str  # the tool the model called, even when its fallback answered
    status: Status
    content: str  # what the model reads: the result's JSON (a str result as is) or the error's
    value: Any = None  # the tool's return value, for Python callers; None on failure
    error: str | None = None
    suggestion: str | None = None
    attempts: int = 0  # executions of the tool that answered; 0 when it never ran
    answered_by: str | None = None  # the fallback's name when the fallback answered

    @classmethod
    def failure(cls, call_id: str, name: str, status: Status, error: str, suggestion: str | None,
                attempts: int = 0) -> ToolOutcome:
        error = bounded(error, MAX_ERROR_BYTES)
        suggestion = bounded(suggestion, MAX_ERROR_BYTES) if suggestion else suggestion
        body = {"error": error, **({"suggestion": suggestion} if suggestion else {})}
        return cls(call_id, name, status, json.dumps(body, ensure_ascii=False), error=error,
                   suggestion=suggestion, attempts=attempts)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self) -> Message:
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.content}


def to_content(value: Any) -> str:
    """The text the model reads for a return value. Raises TypeError/ValueError when it is not
    JSON (sets, objects, NaN): strict, because a model cannot use a Python repr."""
    if isinstance(value, str):
        return value  # already text; quoting it again only costs the model tokens
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def bounded(text: str, limit: int) -> str:
    """text, or its first `limit` bytes of UTF-8 followed by a note the model can read:
    '... [truncated: 50000000 bytes, showing the first 16384]'. Cut on a character boundary."""
    if len(text) * 4 <= limit:  # UTF-8 spends at most 4 bytes a character: no need to encode
        return text
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) <= limit:
        return text
    head = data[:limit].decode("utf-8", errors="ignore")
    shown = len(head.encode("utf-8", errors="surrogatepass"))
    return f"{head}... [truncated: {len(data)} bytes, showing the first {shown}]"
