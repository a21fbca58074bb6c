"""The agent loop: one engine for the Python API, `localcall chat --tools` and the server.

messages + tools → model.chat → if it called tools: append the assistant message (with its
tool_calls) first, run the calls concurrently through the pipeline, append one `tool`
message per call in call order, and ask the model again. It stops at an answer, at
max_steps, or (for the server) at a call to a tool the caller runs itself. A step whose calls
all repeat calls already answered in this run is not executed again: the model is asked for
its answer (tool_choice="none") from the results it already has.

The loop is an async generator of events (astream); everything else is a view of it: run
and arun return its last event's RunResult, events() iterates it from sync code. With
stream=True and a model that can stream (ChatModel.stream), each reply's pieces come as
ModelDelta events while it is generated (the terminal prints the answer token by token).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from contextlib import aclosing
from dataclasses import dataclass, field, fields
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Literal, Protocol, Sequence, Union

from ..messages import ChatEvent, ChatResult, Finished, Message, ToolCall, ToolChoice, ToolSpec, Usage
from .approval import Approver
from .audit import AuditLog
from .definition import Tool
from .outcome import ToolOutcome
from .pipeline import ToolExecutor
from .policy import Policy
from .registry import ToolRegistry


class ChatModelLike(Protocol):
    """What the loop needs from a model: model.ChatModel, a remote client, a test double.
    A model that also has ChatModel's `stream(messages, *, cancel, **request)` can be streamed."""

    def chat(self, messages: list[Message], *, tools: list[ToolSpec] | None = None,
             tool_choice: Any = "auto", **options: Any) -> ChatResult: ...


# final: the model answered. max_steps: the step budget ran out, the last step's tool results
# are in the transcript. client_tool_calls: the model called tools the caller executes; they
# are in pending_calls, and the transcript ends with the results of the server's own calls.
RunStatus = Literal["final", "max_steps", "client_tool_calls"]


@dataclass
class RunResult:
    status: RunStatus
    message: Message  # the last assistant message
    messages: list[Message]  # the transcript: the input, then everything the run added
    steps: int  # model calls made
    outcomes: list[ToolOutcome] = field(default_factory=list)  # every executed call, in order
    pending_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"  # of the last model call
    usage: Usage = field(default_factory=Usage)  # summed over the steps
    input_length: int = 0

    @property
    def content(self) -> str | None:
        return self.message.get("content")

    @property
    def new_messages(self) -> list[Message]:
        return self.messages[self.input_length:]


@dataclass
class StepStarted:
    step: int  # 1-based; the model is about to be asked


@dataclass
class ModelDelta:
    """A piece of the reply being generated (stream=True): ContentDelta, ReasoningDelta or a
    tool call's ToolCallStart/Delta/End. ModelReplied follows with the whole reply."""

    step: int
    event: ChatEvent


@dataclass
class RepeatSkipped:
    """The reply only repeated calls already answered in this run: they are not run again,
    and the model is asked for its answer (its pieces, when streaming, follow anew)."""

    step: int
    result: ChatResult


@dataclass
class ModelReplied:
    step: int
    result: ChatResult


@dataclass
class CallStarted:
    step: int
    index: int  # the call's position in the assistant message's tool_calls
    call: ToolCall


@dataclass
class CallFinished:
    step: int
    index: int
    call: ToolCall
    outcome: ToolOutcome


@dataclass
class RunFinished:
    result: RunResult


AgentEvent = Union[StepStarted, ModelDelta, RepeatSkipped, ModelReplied, CallStarted, CallFinished, RunFinished]


class Agent:
    def __init__(self, model: ChatModelLike, tools: ToolRegistry | Iterable[Tool | Callable] = (), *,
                 policy: Policy | None = None, approve: Approver | None = None,
                 high_risk: Policy | None = None, audit: AuditLog | None = None, principal: str = "local",
                 max_steps: int = 8):
        """tools: Tools, plain functions (wrapped with @tool) or a registry. policy, approve,
        high_risk: see ToolExecutor. audit: where the calls are logged; by default the file
        default_audit_path() names."""
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.model = model
        registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.executor = ToolExecutor(registry, audit=audit or AuditLog(), policy=policy, approve=approve,
                                     high_risk=high_risk)
        self.principal = principal
        self.max_steps = max_steps

    def run(self, messages: list[Message] | str, **options: Any) -> RunResult:
        """Sync: the loop to its end. Options as for astream."""
        for event in self.events(messages, **options):
            pass
        return event.result

    async def arun(self, messages: list[Message] | str, **options: Any) -> RunResult:
        async for event in self.astream(messages, **options):
            pass
        return event.result

    def events(self, messages: list[Message] | str, **options: Any) -> Iterator[AgentEvent]:
        """astream for sync code: each event as it happens, on an event loop of its own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("Agent.run/events cannot run inside an event loop; use arun/astream")
        loop = asyncio.new_event_loop()
        stream = self.astream(messages, **options)
        try:
            while True:
                try:
                    event = loop.run_until_complete(stream.__anext__())
                except StopAsyncIteration:
                    return
                yield event
        finally:
            loop.run_until_complete(stream.aclose())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def astream(self, messages: list[Message] | str, *, principal: str | None = None,
                      client_tools: Sequence[ToolSpec] = (), tool_choice: Any = "auto",
                      max_steps: int | None = None, stream: bool = False,
                      **chat_options: Any) -> AsyncIterator[AgentEvent]:
        """The loop, as events; the last one is RunFinished.

        principal: who the calls run for (policy, approval, audit); the agent's by default.
        client_tools: tools offered to the model that the caller executes itself (the server's
          client-defined tools); a call to one ends the run with status "client_tool_calls".
        tool_choice: for the first step only; later steps use "auto", or "required" would
          never let the model answer.
        stream: yield ModelDelta events as each reply is generated, if the model can stream.
        chat_options: passed to model.chat (temperature, max_tokens, seed, parallel_tool_calls...).
        """
        principal = principal or self.principal
        transcript = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        input_length = len(transcript)
        specs = [t.spec() for t in self.executor.visible(principal)] + list(client_tools)
        client_names = {s.name for s in client_tools}
        _check_offer(specs, client_names, ToolChoice.parse(tool_choice), principal)
        budget = max_steps or self.max_steps
        outcomes: list[ToolOutcome] = []
        usage = Usage()

        def finish(status: RunStatus, pending: list[ToolCall] = ()) -> RunFinished:
            return RunFinished(RunResult(status, message, transcript, step, outcomes, list(pending),
                                         result.finish_reason, usage, input_length))

        answered: set[tuple[str, str]] = set()
        streaming = stream and callable(getattr(self.model, "stream", None))
        for step in range(1, budget + 1):
            yield StepStarted(step)
            ask = functools.partial(self._reply, step, transcript, specs, streaming, chat_options)
            async with aclosing(ask(tool_choice if step == 1 else "auto")) as reply:
                async for result in reply:
                    if isinstance(result, ModelDelta):
                        yield result
            if result.tool_calls and all(_key(c) in answered for c in result.tool_calls):
                # Every call repeats one already answered: small models loop like this. The
                # results are in the transcript; ask for the answer instead of running them again.
                usage = _add(usage, result.usage)
                yield RepeatSkipped(step, result)
                async with aclosing(ask("none")) as reply:
                    async for result in reply:
                        if isinstance(result, ModelDelta):
                            yield result
            usage = _add(usage, result.usage)
            yield ModelReplied(step, result)
            message = result.message()
            transcript.append(message)  # before any tool message: results must follow their call
            if not result.tool_calls:
                yield finish("final")
                return
            answered.update(_key(c) for c in result.tool_calls)
            ours = [(i, c) for i, c in enumerate(result.tool_calls) if c.name not in client_names]
            theirs = [c for c in result.tool_calls if c.name in client_names]
            step_outcomes: dict[int, ToolOutcome] = {}
            async with aclosing(self._execute(step, ours, principal)) as calls:
                async for event in calls:
                    if isinstance(event, CallFinished):
                        step_outcomes[event.index] = event.outcome
                    yield event
            for i, _ in ours:
                outcomes.append(step_outcomes[i])
                transcript.append(step_outcomes[i].message())
            if theirs:
                yield finish("client_tool_calls", theirs)
                return
        yield finish("max_steps")

    async def _reply(self, step: int, transcript: list[Message], specs: list[ToolSpec], streaming: bool,
                     options: dict[str, Any], tool_choice: Any) -> AsyncIterator[ModelDelta | ChatResult]:
        """One model call: ModelDelta events while it generates (when streaming), then its ChatResult."""
        request = {"tools": specs or None, "tool_choice": tool_choice, **options}
        if not streaming:
            yield await asyncio.to_thread(self.model.chat, list(transcript), **request)
            return
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def generate() -> None:  # in a thread: the model's stream is a blocking iterator
            try:
                for event in self.model.stream(list(transcript), cancel=cancel, **request):
                    loop.call_soon_threadsafe(pieces.put_nowait, event)
                    if isinstance(event, Finished):
                        return
                raise RuntimeError("the model's stream ended without its result")
            except BaseException as exc:  # handed to the loop, which raises it
                loop.call_soon_threadsafe(pieces.put_nowait, exc)

        worker = asyncio.ensure_future(asyncio.to_thread(generate))
        try:
            while True:
                event = await pieces.get()
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, Finished):
                    yield event.result
                    return
                yield ModelDelta(step, event)
        finally:
            cancel.set()  # a consumer that stopped early stops the generation between tokens
            await asyncio.wait({worker})

    async def _execute(self, step: int, calls: list[tuple[int, ToolCall]],
                       principal: str) -> AsyncIterator[CallStarted | CallFinished]:
        """Start every call of the step at once; report each as it finishes."""
        for i, call in calls:
            yield CallStarted(step, i, call)
        tasks = {asyncio.create_task(self.executor.execute(call, principal)): (i, call) for i, call in calls}
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: tasks[t][0]):
                    i, call = tasks[task]
                    yield CallFinished(step, i, call, task.result())
        finally:
            for task in pending:  # the consumer stopped early: do not leave calls running
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _key(call: ToolCall) -> tuple[str, str]:
    """A call's identity for the repeat guard: its name and its arguments, key order ignored."""
    try:
        return call.name, json.dumps(json.loads(call.arguments), sort_keys=True)
    except ValueError:
        return call.name, call.arguments


def _check_offer(specs: list[ToolSpec], client_names: set[str], choice: ToolChoice, principal: str) -> None:
    names = [s.name for s in specs]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise ValueError(f"tool names offered twice (a client tool named like a server tool?): "
                         f"{sorted(clash)}")
    if choice.mode == "required" and not specs:
        raise ValueError(f"tool_choice='required' but no tool is available to {principal!r}")
    if choice.mode == "named" and choice.name not in names:
        raise ValueError(f"tool_choice names {choice.name!r}, which is not available to {principal!r}")


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(Usage)})
