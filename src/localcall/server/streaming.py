"""Server-sent events, chunk by chunk as OpenAI sends them.

    role chunk ({"role": "assistant", "content": ""})
    content deltas, reasoning deltas (reasoning_content, as vLLM names it)
    per tool call: {"index", "id", "type": "function", "function": {"name", "arguments": ""}} once,
      then {"index", "function": {"arguments": FRAGMENT}} for each fragment
    the final chunk: empty delta, finish_reason (and the `localcall` extension field)
    with stream_options.include_usage: a chunk with "choices": [] and the usage
    data: [DONE]

The argument fragments are the runtime's own, so joining them gives exactly the arguments
of the non-streamed response. A failure after the first chunk (the status line is already
sent) goes out as a chunk {"error": {...}}, which the official clients raise as APIError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..messages import ChatEvent, ChatResult, ContentDelta, ReasoningDelta, ToolCallDelta, ToolCallStart
from . import schemas as s
from .errors import APIError

DONE = "data: [DONE]\n\n"


def sse(payload: s.WireModel | dict) -> str:
    body = payload.model_dump_json() if isinstance(payload, s.WireModel) else json.dumps(payload)
    return f"data: {body}\n\n"


@dataclass
class ChunkWriter:
    id: str
    model: str
    created: int

    def _chunk(self, delta: s.Delta, finish_reason: str | None = None, **extra) -> str:
        choice = s.ChunkChoice(delta=delta, finish_reason=finish_reason)
        return sse(s.ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[choice],
                                         **extra))

    def role(self) -> str:
        return self._chunk(s.Delta(role="assistant", content=""))

    def event(self, event: ChatEvent) -> str | None:
        """The chunk for one runtime event; None for events clients are not sent (call ends,
        dropped calls, Finished)."""
        if isinstance(event, ContentDelta):
            return self._chunk(s.Delta(content=event.text)) if event.text else None
        if isinstance(event, ReasoningDelta):
            return self._chunk(s.Delta(reasoning_content=event.text)) if event.text else None
        if isinstance(event, ToolCallStart):
            first = s.ToolCallDelta(index=event.index, id=event.id, type="function",
                                    function=s.FunctionDelta(name=event.name, arguments=""))
            return self._chunk(s.Delta(tool_calls=[first]))
        if isinstance(event, ToolCallDelta):
            if not event.arguments:
                return None
            fragment = s.ToolCallDelta(index=event.index, function=s.FunctionDelta(arguments=event.arguments))
            return self._chunk(s.Delta(tool_calls=[fragment]))
        return None

    def finish(self, result: ChatResult, extension: s.LocalcallExtension | None, include_usage: bool) -> str:
        out = self._chunk(s.Delta(), s.client_finish_reason(result.finish_reason), localcall=extension)
        if include_usage:
            out += sse(s.ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[],
                                             usage=s.ResponseUsage.of(result.usage)))
        return out + DONE

    @staticmethod
    def error(exc: APIError) -> str:
        return sse(exc.body()) + DONE
