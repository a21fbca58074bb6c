"""`localcall chat --tools`: the agent loop in a terminal.

The reply is printed token by token as the model writes it (a model that cannot stream: when
it is done), each tool call with its arguments when it starts and its result when it ends, a
spinner runs while the model thinks, and a high-risk call waits for a y/n on the terminal.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm

from ..messages import ContentDelta, Message, ReasoningDelta
from .agent import (Agent, CallFinished, CallStarted, ChatModelLike, ModelDelta, ModelReplied, RepeatSkipped,
                    RunFinished, RunResult, StepStarted)
from .approval import ApprovalRequest, Approver
from .audit import AuditLog
from .definition import Tool
from .policy import Policy
from .registry import ToolRegistry, load_tools

_SHOWN = 600  # characters of a tool result printed; the model gets all of it


def load_terminal_tools(source: str, tool_choice: str | None = None) -> tuple[list[Tool], str | dict]:
    """The tools of `--tools SOURCE` and the tool_choice that `--tool-choice` means: auto,
    required, none, or a tool's name (that call is forced). ValueError, one line, otherwise."""
    tools = load_tools(source)
    choice = tool_choice or "auto"
    if choice in ("auto", "required", "none"):
        return tools, choice
    names = [t.name for t in tools]
    if choice not in names:
        raise ValueError(f"--tool-choice {choice!r} is neither auto, required, none nor one of the tools of "
                         f"{source} ({', '.join(names)})")
    return tools, {"type": "function", "function": {"name": choice}}


def terminal_approver(console: Console) -> Approver:
    def approve(request: ApprovalRequest) -> bool:
        args = json.dumps(request.arguments, ensure_ascii=False, default=str)
        console.print(f"[bold yellow]! {escape(request.tool)}[/] is marked {request.risk}-risk and "
                      f"wants to run with {escape(args)}")
        # No terminal to answer on (piped stdin) raises EOFError: the pipeline counts that as a denial.
        return Confirm.ask("  Allow this call?", console=console, default=False)
    return approve


def run_chat_with_tools(model: ChatModelLike, prompt: str | list[Message],
                        tools: ToolRegistry | Iterable[Tool | Callable], console: Console | None = None, *,
                        policy: Policy | None = None, audit: AuditLog | None = None,
                        max_steps: int = 8, **options: Any) -> list[Message]:
    """Run the loop, printing as it goes; options as for Agent.astream (tool_choice,
    temperature, max_tokens, seed...). Returns the transcript, to continue the chat from."""
    console = console or Console()
    agent = Agent(model, tools, policy=policy, approve=terminal_approver(console), audit=audit,
                  max_steps=max_steps)
    status = console.status("thinking…")
    streamed = False  # has this step's text been printed as it came?
    try:
        for event in agent.events(prompt, stream=True, **options):
            if isinstance(event, StepStarted):
                streamed = False
                status.start()
            elif isinstance(event, ModelDelta) and isinstance(event.event, (ContentDelta, ReasoningDelta)):
                status.stop()
                streamed = True
                style = "dim" if isinstance(event.event, ReasoningDelta) else None
                console.print(event.event.text, end="", style=style, markup=False, highlight=False)
            elif isinstance(event, RepeatSkipped):
                if streamed:
                    console.print()
                streamed = False
                console.print("[dim](it repeated calls already answered; asking for the answer)[/]")
                status.start()
            elif isinstance(event, ModelReplied):
                status.stop()
                if streamed:
                    console.print()  # end the streamed line
                elif event.result.tool_calls and event.result.content:
                    console.print(f"[dim]{escape(event.result.content)}[/]")
            elif isinstance(event, CallStarted):
                console.print(f"[bold cyan]→ {escape(event.call.name)}[/]({escape(event.call.arguments)})")
            elif isinstance(event, CallFinished):
                _show_outcome(console, event)
            elif isinstance(event, RunFinished):
                _show_end(console, event.result, agent.executor.audit, answer_shown=streamed)
    finally:
        status.stop()
    return event.result.messages


def _show_outcome(console: Console, event: CallFinished) -> None:
    outcome = event.outcome
    text = outcome.content if len(outcome.content) <= _SHOWN else outcome.content[:_SHOWN] + "…"
    via = f" (answered by {outcome.answered_by})" if outcome.answered_by else ""
    if outcome.ok:
        console.print(f"[green]← {escape(event.call.name)}{escape(via)}:[/] {escape(text)}")
    else:
        console.print(f"[red]✗ {escape(event.call.name)} {escape(f'[{outcome.status}]')}:[/] {escape(text)}")


def _show_end(console: Console, result: RunResult, audit: AuditLog, answer_shown: bool) -> None:
    if result.status == "max_steps":
        console.print(f"[yellow]Stopped after {result.steps} steps without a final answer.[/]")
    elif result.content:
        if not answer_shown:
            console.print(result.content, markup=False, highlight=False)
    else:
        console.print("[dim](no answer)[/]")
    if result.outcomes:
        console.print(f"[dim]tool calls logged in {escape(str(audit.path))}[/]")
