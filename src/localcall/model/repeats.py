"""RepeatedCallFilter: no identical call twice in one message."""

from __future__ import annotations

from ..messages import ChatEvent, ToolCallDelta, ToolCallEnd, ToolCallStart


class RepeatedCallFilter:
    """Drops a call that repeats an earlier call of the same message (same name, same
    arguments) and tells the caller to stop generating there.

    Small models at low temperature write the same call until max_tokens; one call was meant.
    A call whose name and arguments so far could still be a repeat is held back, so a client
    of the stream never sees the start of a call that the whole answer then lacks; a call
    released once it differs is never dropped."""

    def __init__(self):
        self.finished: list[tuple[str, str]] = []  # (name, arguments text) of each call
        self.args: dict[int, str] = {}
        self.names: dict[int, str] = {}
        self.held: list[ChatEvent] | None = None  # the current call's events, while it may repeat
        self.repeated = 0

    def take(self, events) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        for event in events:
            if self.repeated:
                continue
            if isinstance(event, ToolCallStart):
                self.names[event.index], self.args[event.index] = event.name, ""
                if any(name == event.name for name, _ in self.finished):
                    self.held = [event]
                    continue
            elif isinstance(event, ToolCallDelta):
                self.args[event.index] += event.arguments
                if self.held is not None:
                    self.held.append(event)
                    if not self._may_repeat(event.index):
                        out.extend(self.held)
                        self.held = None
                    continue
            elif isinstance(event, ToolCallEnd):
                call = (self.names[event.index], self.args[event.index])
                if self.held is not None:
                    held, self.held = self.held, None
                    if call in self.finished:
                        self.repeated += 1
                        continue
                    out.extend(held)
                self.finished.append(call)
            out.append(event)
        return out

    def _may_repeat(self, index: int) -> bool:
        name, args = self.names[index], self.args[index]
        return any(n == name and a.startswith(args) for n, a in self.finished)
