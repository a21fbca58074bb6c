"""The execution pipeline for one tool call, layer by layer:

1. permission scoping: an unknown tool and one outside the caller's allowlist get the same
   answer, so the model learns nothing about tools it may not use;
2. argument validation: JSON, schema, types, business rules;
3. approval, for high-risk tools: by a high-risk policy (the server: no one to ask), else by
   a person (an Approver);
4. execution with the tool's timeout, retries with backoff for transient errors, then the
   fallback tool; the result the model reads is bounded (Tool.max_result_bytes);
5. the audit log: a row for every attempt, written as "started" before the tool runs and
   completed when it ends (and one row for a call stopped before it ran), each write
   committed before the pipeline goes on.

Every path ends in a ToolOutcome; no failure of a tool escapes as an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any, Callable, Iterable

from ..messages import ToolCall
from .approval import ApprovalRequest, Approver, request_approval
from .audit import AuditEntry, AuditLog, AuditOutcome, utc_now
from .definition import Tool
from .execution import call_with_timeout
from .outcome import Status, ToolError, ToolOutcome, ToolTimeout, bounded, to_content
from .policy import Policy
from .registry import ToolRegistry
from .validation import ArgumentError, validate_arguments


class ToolExecutor:
    def __init__(self, tools: ToolRegistry | Iterable[Tool], *, audit: AuditLog,
                 policy: Policy | None = None, approve: Approver | None = None,
                 high_risk: Policy | None = None):
        """policy: which principal may use which tool (all of them by default).
        approve: asks a person about each high-risk call. high_risk: which principal may run
        which high-risk tool without asking anyone; with it, a call it does not allow is
        asked of `approve` if there is one, else denied by policy."""
        self.registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.audit = audit
        self.policy = policy or Policy.allow_all()
        self.approve = approve
        self.high_risk = high_risk
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
            refusal = await self._refusal(t, call, principal, kwargs)
            if refusal is not None:
                return await self._stop(call, principal, t.name, *refusal, fallback_for)
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

    async def _refusal(self, t: Tool, call: ToolCall, principal: str,
                       kwargs: dict) -> tuple[Status, str, str] | None:
        """None when a high-risk call may run, else (status, error, suggestion): the high-risk
        policy allows it, or else a person approves it; with a policy and no one to ask, the
        policy's no is final and said to be the policy's."""
        if self.high_risk is not None:
            if self.high_risk.allows(principal, t.name):
                return None
            if self.approve is None:
                return ("denied_by_policy",
                        f"{t.name} is high-risk and the policy does not allow this caller to run it "
                        "(no person was asked)",
                        "do not call it again for this request; tell the user this action is not permitted for them")
        reason = await self._deny_reason(t, call, principal, kwargs)
        if reason is None:
            return None
        return "denied", reason, "do not call it again for this request; tell the user the action was not approved"

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
            start = time.perf_counter()
            entry = self._entry(utc_now(), principal, call, t.name, attempt, "started", fallback_for)
            row = await _durably(self.audit.start, entry,
                                 if_cancelled=lambda row: self.audit.finish(row, "cancelled", _ms(start)))
            retry = False
            try:
                value = await call_with_timeout(t, kwargs)
            except asyncio.CancelledError:
                # The caller gave up (a client that left): say so in the row, then stop.
                await _durably(self.audit.finish, row, "cancelled", _ms(start))
                raise
            except (Exception, SystemExit) as exc:  # SystemExit too: a tool calling exit() is a tool bug
                status: Status = "timeout" if isinstance(exc, ToolTimeout) else "error"
                error, suggestion = _explain(t, exc)
                retry = t.retry.is_transient(exc) and attempt < t.retry.attempts
            else:
                try:
                    content = bounded(to_content(value), t.max_result_bytes)
                except (TypeError, ValueError) as exc:
                    status, error = "not_serializable", (
                        f"{t.name} returned a {type(value).__name__}, which cannot be sent as JSON ({exc})")
                    suggestion = "this is a fault in the tool, not in the call: do not retry it; answer without it"
                else:
                    await self._finish(row, "ok", start, result=content)
                    return ToolOutcome(call.id, call.name, "ok", content, value=value, attempts=attempt,
                                       answered_by=t.name if fallback_for else None)
            outcome = ToolOutcome.failure(call.id, call.name, status, error, suggestion, attempt)
            await self._finish(row, status, start, error=outcome.error)
            if not retry:
                break
            await asyncio.sleep(t.retry.delay(attempt))
        if attempt > 1:
            outcome = ToolOutcome.failure(call.id, call.name, status, f"{outcome.error} (after {attempt} attempts)",
                                          outcome.suggestion, attempt)
        return outcome

    def _fallback(self, t: Tool) -> Tool | None:
        if isinstance(t.fallback, str):
            return self.registry.get(t.fallback)
        return t.fallback

    async def _stop(self, call: ToolCall, principal: str, tool_name: str, status: Status, error: str,
                    suggestion: str | None, fallback_for: str | None = None) -> ToolOutcome:
        """A call that ends before the tool runs: one finished row with attempt 0."""
        outcome = ToolOutcome.failure(call.id, call.name, status, error, suggestion)
        entry = dataclasses.replace(self._entry(utc_now(), principal, call, tool_name, 0, status, fallback_for),
                                    error=outcome.error, duration_ms=0.0)
        await _durably(self.audit.record, entry)
        return outcome

    @staticmethod
    def _entry(at: str, principal: str, call: ToolCall, tool_name: str, attempt: int, status: AuditOutcome,
               fallback_for: str | None) -> AuditEntry:
        return AuditEntry(at=at, principal=principal, call_id=call.id, tool=tool_name, arguments=call.arguments,
                          attempt=attempt, outcome=status, result=None, error=None, duration_ms=None,
                          fallback_for=fallback_for)

    async def _finish(self, row: int, status: Status, start: float, *, result: str | None = None,
                      error: str | None = None) -> None:
        await _durably(self.audit.finish, row, status, _ms(start), result=result, error=error)


async def _durably(write: Callable[..., Any], *args: Any, if_cancelled: Callable[[Any], Any] | None = None,
                   **kwargs: Any) -> Any:
    """An audit write, in a thread: with synchronous=FULL the commit waits for the disk, and the
    other calls of the turn should not wait with it. A cancellation of the caller does not
    abandon the write: the caller waits for it to be committed (and for if_cancelled(its
    result), which completes a row just started), then is cancelled."""
    job = asyncio.ensure_future(asyncio.to_thread(functools.partial(write, *args, **kwargs)))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait({job})
        if if_cancelled is not None and job.exception() is None:
            await asyncio.to_thread(if_cancelled, job.result())
        raise


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _explain(t: Tool, exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ToolError):
        return exc.error, exc.suggestion or "try again differently, or answer without this tool"
    return (f"{t.name} failed: {type(exc).__name__}: {exc}",
            "check the arguments, or try another tool or approach")
