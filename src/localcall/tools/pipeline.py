"""The execution pipeline for one tool call, layer by layer:

1. permission scoping: an unknown tool and one outside the caller's allowlist get the same
   answer, so the model learns nothing about tools it may not use;
2. argument validation: JSON, schema, types, business rules;
3. human approval, for high-risk tools;
4. execution with the tool's timeout, retries with backoff for transient errors, then the
   fallback tool;
5. the audit log: a row for every attempt (and for a call stopped before it ran), committed
   before the outcome is returned.

Every path ends in a ToolOutcome; no failure of a tool escapes as an exception.
"""

from __future__ import annotations

import asyncio
import time
from typing import Iterable

from ..messages import ToolCall
from .approval import ApprovalRequest, Approver, request_approval
from .audit import AuditEntry, AuditLog, utc_now
from .definition import Tool
from .execution import call_with_timeout
from .outcome import Status, ToolError, ToolOutcome, ToolTimeout, to_content
from .policy import Policy
from .registry import ToolRegistry
from .validation import ArgumentError, validate_arguments


class ToolExecutor:
    def __init__(self, tools: ToolRegistry | Iterable[Tool], *, audit: AuditLog,
                 policy: Policy | None = None, approve: Approver | None = None):
        self.registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.audit = audit
        self.policy = policy or Policy.allow_all()
        self.approve = approve
        for t in self.registry:
            if isinstance(t.fallback, str) and t.fallback not in self.registry:
                raise ValueError(f"tool {t.name!r} falls back to {t.fallback!r}, which is not registered")

    def visible(self, principal: str) -> list[Tool]:
        return self.policy.visible(principal, self.registry)

    async def execute(self, call: ToolCall, principal: str) -> ToolOutcome:
        t = self.registry.get(call.name)
        if t is None or not self.policy.allows(principal, call.name):
            names = ", ".join(v.name for v in self.visible(principal)) or "none"
            return await self._stop(call, principal, call.name, "unknown_tool" if t is None else "refused",
                                    f"there is no tool named {call.name!r}",
                                    f"call one of the tools you were given ({names}), or answer directly")
        return await self._run(t, call, principal, fallback_for=None, tried={t.name})

    async def _run(self, t: Tool, call: ToolCall, principal: str, fallback_for: str | None,
                   tried: set[str]) -> ToolOutcome:
        try:
            kwargs = validate_arguments(t, call.arguments)
        except ArgumentError as exc:
            return await self._stop(call, principal, t.name, "invalid_arguments", exc.error,
                                    exc.suggestion, fallback_for)
        if t.needs_approval:
            denied = await self._deny_reason(t, call, principal, kwargs)
            if denied:
                return await self._stop(call, principal, t.name, "denied", denied,
                                        "do not call it again for this request; tell the user the "
                                        "action was not approved", fallback_for)
        outcome = await self._attempts(t, call, principal, kwargs, fallback_for)
        if outcome.ok:
            return outcome
        fallback = self._fallback(t)
        if fallback is None or fallback.name in tried or not self.policy.allows(principal, fallback.name):
            return outcome
        backup = await self._run(fallback, call, principal, t.name, tried | {fallback.name})
        if backup.ok:
            return backup
        return ToolOutcome.failure(call.id, call.name, outcome.status,
                                   f"{outcome.error}; the fallback {fallback.name} failed too: {backup.error}",
                                   outcome.suggestion, outcome.attempts)

    async def _deny_reason(self, t: Tool, call: ToolCall, principal: str, kwargs: dict) -> str | None:
        if self.approve is None:
            return f"{t.name} needs a person's approval and none can be asked here"
        request = ApprovalRequest(principal=principal, call_id=call.id, tool=t.name,
                                  description=t.description, arguments=kwargs, risk=t.risk)
        try:
            approved = await request_approval(self.approve, request)
        except Exception as exc:  # a broken approver must not run the tool, nor end the loop
            return f"the approval step failed ({type(exc).__name__}: {exc}), so {t.name} did not run"
        return None if approved else f"a person declined the call to {t.name}"

    async def _attempts(self, t: Tool, call: ToolCall, principal: str, kwargs: dict,
                        fallback_for: str | None) -> ToolOutcome:
        for attempt in range(1, t.retry.attempts + 1):
            at, start = utc_now(), time.perf_counter()
            retry = False
            try:
                value = await call_with_timeout(t, kwargs)
            except (Exception, SystemExit) as exc:  # SystemExit too: a tool calling exit() is a tool bug
                status: Status = "timeout" if isinstance(exc, ToolTimeout) else "error"
                error, suggestion = _explain(t, exc)
                retry = t.retry.is_transient(exc) and attempt < t.retry.attempts
            else:
                try:
                    content = to_content(value)
                except (TypeError, ValueError) as exc:
                    status, error = "not_serializable", (
                        f"{t.name} returned a {type(value).__name__}, which cannot be sent as JSON ({exc})")
                    suggestion = "this is a fault in the tool, not in the call: do not retry it; answer without it"
                else:
                    await self._record(at, principal, call, t.name, attempt, "ok", start, fallback_for,
                                       result=content)
                    return ToolOutcome(call.id, call.name, "ok", content, value=value, attempts=attempt,
                                       answered_by=t.name if fallback_for else None)
            await self._record(at, principal, call, t.name, attempt, status, start, fallback_for, error=error)
            if not retry:
                break
            await asyncio.sleep(t.retry.delay(attempt))
        if attempt > 1:
            error = f"{error} (after {attempt} attempts)"
        return ToolOutcome.failure(call.id, call.name, status, error, suggestion, attempt)

    def _fallback(self, t: Tool) -> Tool | None:
        if isinstance(t.fallback, str):
            return self.registry.get(t.fallback)
        return t.fallback

    async def _stop(self, call: ToolCall, principal: str, tool_name: str, status: Status, error: str,
                    suggestion: str | None, fallback_for: str | None = None) -> ToolOutcome:
        """A call that ends before the tool runs: one row with attempt 0."""
        await self._record(utc_now(), principal, call, tool_name, 0, status, time.perf_counter(),
                           fallback_for, error=error)
        return ToolOutcome.failure(call.id, call.name, status, error, suggestion)

    async def _record(self, at: str, principal: str, call: ToolCall, tool_name: str, attempt: int,
                      status: Status, start: float, fallback_for: str | None,
                      result: str | None = None, error: str | None = None) -> None:
        entry = AuditEntry(at=at, principal=principal, call_id=call.id, tool=tool_name,
                           arguments=call.arguments, attempt=attempt, outcome=status, result=result,
                           error=error, duration_ms=(time.perf_counter() - start) * 1000,
                           fallback_for=fallback_for)
        # In a thread: with synchronous=FULL the commit waits for the disk, and the other calls
        # of the turn should not wait with it.
        await asyncio.to_thread(self.audit.record, entry)


def _explain(t: Tool, exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ToolError):
        return exc.error, exc.suggestion or "try again differently, or answer without this tool"
    return (f"{t.name} failed: {type(exc).__name__}: {exc}",
            "check the arguments, or try another tool or approach")
