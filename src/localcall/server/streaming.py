"""Server-sent events, chunk by chunk as OpenAI sends them.

    role chunk ({"role": "assistant", "content": ""})
    content deltas, reasoning deltas (reasoning_content, as vLLM names it)
    per tool call: {"index", "id", "type": "function", "function": {"name", "arguments": ""}} once,
      then {"index", "function": {"arguments": FRAGMENT}} for each fragment
    the final chunk: empty delta, finish_reason (and the `localcall` extension field)
    with n > 1, the same again for each further choice, its "index" set (one after the other)
    with stream_options.include_usage: a chunk with "choices": [] and the usage
    data: [DONE]

With logprobs, a chunk carries the logprobs of the tokens generated since the previous
chunk: those of the text in its delta, and of tokens that produced no text of their own
(a tool call's markup, half a character).

The argument fragments are the runtime's own, so joining them gives exactly the arguments
of the non-streamed response. A failure after the first chunk (the status line is already
sent) goes out as a chunk {"error": {...}}, which the official clients raise as APIError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from pydantic_core import to_json

from ..messages import ChatEvent, ChatResult, ContentDelta, ReasoningDelta, ToolCallDelta, ToolCallStart
from ..runtime.sampling import TokenLogprob
from . import schemas as s
from .errors import APIError

DONE = "data: [DONE]\n\n"
_MARKER = "\u2063localcall-text\u2063"  # stands for the text in a rendered chunk (ChunkWriter._text_chunk)


def sse(payload: s.WireModel | dict) -> str:
    body = payload.model_dump_json() if isinstance(payload, s.WireModel) else json.dumps(payload)
    return f"data: {body}\n\n"


@dataclass
class ChunkWriter:
    id: str
    model: str
    created: int
    fingerprint: str | None = None
    token_bytes: Callable[[int], bytes] | None = None  # the backend's, to spell logprobs' tokens
    include_usage: bool = False  # stream_options.include_usage
    index: int = 0  # the choice being written
    _logprobs: list[TokenLogprob] = field(default_factory=list)  # not yet sent
    _templates: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    def _chunk(self, delta: s.Delta, finish_reason: str | None = None, **extra) -> str:
        logprobs = None
        if self._logprobs:
            logprobs = s.ChoiceLogprobs(content=s.logprob_entries(self._logprobs, self.token_bytes))
            self._logprobs = []
        choice = s.ChunkChoice(index=self.index, delta=delta, finish_reason=finish_reason, logprobs=logprobs)
        return sse(s.ChatCompletionChunk(id=self.id, created=self.created, model=self.model,
                                         system_fingerprint=self.fingerprint, choices=[choice], **extra))

    def _text_chunk(self, name: str, text: str) -> str:
        """A chunk whose delta is only text: most of a stream, so it is spliced into the chunk
        pydantic rendered once for this choice around a marker, with pydantic's own string
        encoding, instead of building the models again (~40 µs a token on the event loop)."""
        if self._logprobs:
            return self._chunk(s.Delta(**{name: text}))
        key = (name, self.index)
        if key not in self._templates:
            marker = to_json(_MARKER).decode()
            before, after = self._chunk(s.Delta(**{name: _MARKER})).split(marker)
            self._templates[key] = before, after
        before, after = self._templates[key]
        return before + to_json(text).decode() + after

    def begin(self, index: int = 0) -> str:
        """The first chunk of choice `index`."""
        self.index = index
        return self._chunk(s.Delta(role="assistant", content=""))

    def event(self, event: ChatEvent) -> str | None:
        """The chunk for one runtime event; None for events clients are not sent (call ends,
        dropped calls, Finished)."""
        if isinstance(event, TokenLogprob):
            self._logprobs.append(event)  # goes out with the next chunk
            return None
        if isinstance(event, ContentDelta):
            return self._text_chunk("content", event.text) if event.text else None
        if isinstance(event, ReasoningDelta):
            return self._text_chunk("reasoning_content", event.text) if event.text else None
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

    def executed(self, call) -> str:
        """A server-side call (server/tools.ToolExecuted) as soon as it has run: a chunk with an
        empty delta whose `localcall.executed_tool_calls` holds it; the final chunk lists every
        call again."""
        return self._chunk(s.Delta(), localcall=s.LocalcallExtension.of([], [call]))

    def finish(self, result: ChatResult, executed: list) -> str:
        """The last chunk of the current choice; `executed`: what the server ran so far."""
        return self._chunk(s.Delta(), s.client_finish_reason(result.finish_reason),
                           localcall=s.LocalcallExtension.of([result], executed))

    def end(self, results: list[ChatResult]) -> str:
        """After the last choice: the usage chunk (when asked for) and [DONE]."""
        if not self.include_usage:
            return DONE
        return sse(s.ChatCompletionChunk(id=self.id, created=self.created, model=self.model,
                                         system_fingerprint=self.fingerprint, choices=[],
                                         usage=s.ResponseUsage.of(s.total_usage(results)))) + DONE

    @staticmethod
    def error(exc: APIError) -> str:
        return sse(exc.body()) + DONE
