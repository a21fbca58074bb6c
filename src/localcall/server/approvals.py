"""Approval by a person for the server's high-risk tools (`localcall serve --ask-approval`).

PendingApprovals is an async Approver (tools/approval.py): each call that asks it waits here
until someone answers it through the playground (server/ui), or until the timeout, which
denies it. A person sees and answers only the calls made with their own API key (the same
principal), so one key's user cannot approve another's actions.

A call whose request ends while it waits (the client hung up, the deadline passed) is
cancelled and leaves the registry: it never runs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from ..tools import ApprovalRequest

DEFAULT_TIMEOUT = 120.0  # seconds a call waits for an answer before it is denied


@dataclass
class PendingApproval:
    id: str  # the registry's own id: a model's call ids need not be unique across requests
    request: ApprovalRequest
    asked_at: float  # Unix time
    answer: asyncio.Future = field(repr=False)

    def view(self) -> dict:
        """What the playground shows."""
        r = self.request
        return {"id": self.id, "call_id": r.call_id, "tool": r.tool, "description": r.description,
                "arguments": r.arguments, "risk": r.risk, "principal": r.principal, "asked_at": self.asked_at}


class PendingApprovals:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self._pending: dict[str, PendingApproval] = {}

    async def __call__(self, request: ApprovalRequest) -> bool:
        """Wait for a person's answer: True to run the call."""
        loop = asyncio.get_running_loop()
        pending = PendingApproval(secrets.token_hex(8), request, time.time(), loop.create_future())
        self._pending[pending.id] = pending
        try:
            return await asyncio.wait_for(pending.answer, self.timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            del self._pending[pending.id]

    def waiting(self, principal: str) -> list[PendingApproval]:
        """The calls made with this principal's key that wait for an answer, oldest first."""
        return sorted((p for p in self._pending.values() if p.request.principal == principal),
                      key=lambda p: p.asked_at)

    def answer(self, approval_id: str, principal: str, approved: bool) -> bool:
        """Answer one of this principal's calls; False when there is no such call waiting
        (unknown, answered already, timed out, or someone else's)."""
        pending = self._pending.get(approval_id)
        if pending is None or pending.request.principal != principal or pending.answer.done():
            return False
        pending.answer.get_loop().call_soon_threadsafe(_settle, pending.answer, approved)
        return True


def _settle(answer: asyncio.Future, approved: bool) -> None:
    if not answer.done():  # it may have timed out in between
        answer.set_result(approved)
