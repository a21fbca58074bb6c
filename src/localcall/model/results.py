"""ResultAssembler: a generation's events → the final ChatResult, every finished call checked
once more against its tool's schema."""

from __future__ import annotations

import json
import logging
from typing import Iterator

from ..grammars.schema import validate_instance
from ..messages import (ChatEvent, ChatResult, ContentDelta, MalformedToolCall, ReasoningDelta, ToolCall,
                        ToolCallDelta, ToolCallEnd, ToolCallStart, ToolSpec, Usage)

log = logging.getLogger("localcall")


class ResultAssembler:
    """Passes events through while building the final ChatResult; checks every finished call
    against its tool's schema (defence in depth: the grammar already guarantees it)."""

    def __init__(self, tools: list[ToolSpec], id_style: str):
        self.tools = {t.name: t for t in tools}
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, ToolCall] = {}  # finished and checked
        self.open: dict[int, ToolCall] = {}   # started, not finished
        self.args: dict[int, list[str]] = {}
        self.errors: list[MalformedToolCall] = []
        self.repeated_calls_dropped = 0

    def take(self, events) -> Iterator[ChatEvent]:
        for event in events:
            if isinstance(event, ContentDelta):
                self.content.append(event.text)
            elif isinstance(event, ReasoningDelta):
                self.reasoning.append(event.text)
            elif isinstance(event, ToolCallStart):
                self.open[event.index] = ToolCall(event.id, event.name, "")
                self.args[event.index] = []
            elif isinstance(event, ToolCallDelta):
                self.args[event.index].append(event.arguments)
            elif isinstance(event, ToolCallEnd):
                call = self.open.pop(event.index)
                call.arguments = "".join(self.args[event.index])
                problem = self._check(call)
                if problem:
                    log.error("tool call failed its check after constrained generation: %s", problem)
                    self.errors.append(MalformedToolCall(call.arguments, problem))
                else:
                    self.calls[event.index] = call
            elif isinstance(event, MalformedToolCall):
                self.errors.append(event)
            yield event

    def _check(self, call: ToolCall) -> str | None:
        tool = self.tools.get(call.name)
        if tool is None:
            return f"the model called {call.name!r}, which is not among the tools"
        try:
            args = json.loads(call.arguments)
        except json.JSONDecodeError as exc:
            return f"arguments of {call.name!r} are not JSON: {exc}"
        problem = validate_instance(args, tool.parameters)
        return f"arguments of {call.name!r} do not match its schema: {problem}" if problem else None

    def result(self, finish_reason: str, usage: Usage) -> ChatResult:
        calls = [self.calls[i] for i in sorted(self.calls)]
        if calls and finish_reason == "stop":
            finish_reason = "tool_calls"
        # A call generation stopped inside was streamed as far as it went; it stays visible as
        # such (stream and whole agree), but never as a finished call.
        incomplete = [ToolCall(c.id, c.name, "".join(self.args[i])) for i, c in sorted(self.open.items())]
        content = "".join(self.content)
        return ChatResult(content=content or (None if calls or incomplete else ""),
                          reasoning="".join(self.reasoning) or None, tool_calls=calls, finish_reason=finish_reason,
                          usage=usage, errors=self.errors, incomplete_calls=incomplete,
                          repeated_calls_dropped=self.repeated_calls_dropped)
