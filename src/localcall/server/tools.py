"""Server-side tools (`localcall serve --tools`): the server runs them itself, through the
tools package's Agent loop and its pipeline (permissions per API key, argument validation,
approval, timeouts and retries, the SQLite audit log).

A request's own `tools` are client tools: a call to one ends the loop and goes back to the
client as an ordinary tool call. Calls to server tools never reach the client as tool calls;
they are run, their results fed back, and the model asked again, until it answers or calls
a client tool. What ran is reported in the response's extension field
`localcall.executed_tool_calls` (one entry per call: id, name, arguments, status, the
content the model read, the error if any), and in the audit log.

Approval: a high-risk tool runs at once for the principals a `high_risk` policy names for it.
Anyone else's call waits for a person's Approve/Deny in the playground when the server asks
for approval (`approval`, server/approvals.py; audited "denied" when declined); otherwise it
is denied by policy (status and audit outcome "denied_by_policy": nobody was asked).

Events for the client: content and reasoning deltas of every step as they are generated,
the client tool calls (renumbered from 0, as if they were the only calls), ToolExecuted as
each server call finishes, then Finished with the whole turn: content of every step joined,
the client calls, usage summed over the steps.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable

from ..messages import (ChatEvent, ChatResult, ContentDelta, Finished, Message, ReasoningDelta, ToolCall,
                        ToolCallDelta, ToolCallEnd, ToolCallStart, ToolSpec)
from ..tools import (Agent, AuditLog, CallFinished, Policy, RunFinished, RunResult, StepStarted, Tool,
                     ToolOutcome, ToolRegistry)
from .approvals import PendingApprovals
from .errors import bad_request
from .queue import Failure, ModelQueue, drain


@dataclass
class ToolExecuted:
    """An event: the server ran one of its tools."""

    call: ToolCall
    outcome: ToolOutcome


class ServerTools:
    def __init__(self, tools: ToolRegistry | Iterable[Tool], *, audit: AuditLog, policy: Policy | None = None,
                 high_risk: Policy | None = None, approval: PendingApprovals | None = None, max_steps: int = 8):
        """policy: which principal (API key name) may use which tool; everyone all by default.
        high_risk: which principal may run which high-risk tool unasked; nobody by default.
        approval: where the other high-risk calls wait for a person; without it they are denied."""
        self.registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.audit = audit
        self.policy = policy or Policy.allow_all()
        self.high_risk = high_risk or Policy()
        self.approval = approval
        self.max_steps = max_steps

    def available_to(self, principal: str) -> bool:
        return bool(self.policy.visible(principal, self.registry))

    async def run(self, queue: ModelQueue, messages: list[Message], *, principal: str, client_tools: list[dict],
                  tool_choice: Any, cancel: threading.Event, deadline: float,
                  options: dict[str, Any]) -> AsyncIterator[list[ChatEvent | ToolExecuted]]:
        """The loop for one request, as batches of events ending with Finished (see the module doc)."""
        events: asyncio.Queue = asyncio.Queue()
        specs = [ToolSpec.from_openai(t) for t in client_tools]
        model = _QueuedModel(asyncio.get_running_loop(), queue, cancel, deadline, events, {s.name for s in specs})
        agent = Agent(model, self.registry, policy=self.policy, high_risk=self.high_risk, approve=self.approval,
                      audit=self.audit, principal=principal, max_steps=self.max_steps)

        async def drive() -> None:
            started = False
            try:
                async for event in agent.astream(messages, client_tools=specs, tool_choice=tool_choice, **options):
                    if isinstance(event, StepStarted):
                        started = True
                    elif isinstance(event, CallFinished):
                        events.put_nowait([ToolExecuted(event.call, event.outcome)])
                    elif isinstance(event, RunFinished):
                        events.put_nowait([Finished(model.turn(event.result))])
            except ValueError as exc:
                # Before the first step the agent checks the offer (a client tool named like a
                # server tool, tool_choice naming a tool this key may not use): the client's fault.
                param = "tool_choice" if "tool_choice" in str(exc) else "tools"
                events.put_nowait(Failure(exc if started else bad_request(str(exc), param)))
            except Exception as exc:
                events.put_nowait(Failure(exc))

        task = asyncio.create_task(drive())
        finished = False
        try:
            async for batch in drain(events):
                finished = isinstance(batch[-1], Finished)
                yield batch
        finally:
            if not finished:
                cancel.set()
                model.abort()
                task.cancel()


@dataclass
class _QueuedModel:
    """What the Agent sees as its model: each step goes through the model's queue (slot,
    worker thread, cancellation, deadline), and its events are forwarded to the client."""

    loop: asyncio.AbstractEventLoop
    queue: ModelQueue
    cancel: threading.Event
    deadline: float
    events: asyncio.Queue
    client_names: set[str]
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    _step: Future | None = None

    def chat(self, messages: list[Message], *, tools=None, tool_choice="auto", **options) -> ChatResult:
        """Called by the Agent in a thread of its own: the step runs on the loop, and this
        thread waits for it."""
        if self.cancel.is_set() or self.loop.time() >= self.deadline:  # client gone, or out of time
            return ChatResult(content="", finish_reason="cancelled")
        self._step = asyncio.run_coroutine_threadsafe(self._generate(messages, tools, tool_choice, options), self.loop)
        try:
            return self._step.result()
        except FutureCancelled:
            return ChatResult(content="", finish_reason="cancelled")

    def abort(self) -> None:
        if self._step is not None:
            self._step.cancel()

    async def _generate(self, messages, tools, tool_choice, options) -> ChatResult:
        renumbered: dict[int, int] = {}  # the runtime's call index → the client's
        async for batch in self.queue.stream(messages, cancel=self.cancel, deadline=self.deadline, tools=tools,
                                             tool_choice=tool_choice, **options):
            forward = []
            for event in batch:
                if isinstance(event, Finished):
                    if forward:
                        self.events.put_nowait(forward)
                    return event.result
                event = self._for_client(event, renumbered)
                if event is not None:
                    forward.append(event)
            if forward:
                self.events.put_nowait(forward)
        raise AssertionError("the model's stream ended without Finished")

    def _for_client(self, event: ChatEvent, renumbered: dict[int, int]) -> ChatEvent | None:
        """The event as the client sees it; None for what it must not see."""
        if isinstance(event, ContentDelta):
            self.content.append(event.text)
            return event
        if isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
            return event
        if isinstance(event, ToolCallStart):
            if event.name not in self.client_names:
                return None  # a server tool: the client never sees it as a call
            renumbered[event.index] = len(renumbered)
            return ToolCallStart(renumbered[event.index], event.id, event.name)
        if isinstance(event, ToolCallDelta) and event.index in renumbered:
            return ToolCallDelta(renumbered[event.index], event.arguments)
        if isinstance(event, ToolCallEnd) and event.index in renumbered:
            return ToolCallEnd(renumbered[event.index])
        return None  # a server call's pieces, or a dropped call (MalformedToolCall)

    def turn(self, run: RunResult) -> ChatResult:
        """The whole turn as one result, the way the client sees it."""
        if run.status == "client_tool_calls":
            reason = "tool_calls"
        elif run.status == "max_steps":
            reason = "length"  # the step budget ran out, as a token budget would
        else:
            reason = run.finish_reason
        content = "".join(self.content)
        return ChatResult(content=content or (None if run.pending_calls else ""),
                          reasoning="".join(self.reasoning) or None, tool_calls=list(run.pending_calls),
                          finish_reason=reason, usage=run.usage)
