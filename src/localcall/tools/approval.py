"""Human approval for high-risk tools.

The approver is a callback, sync or async, given an ApprovalRequest and answering True to
let the call run. A sync approver runs in a thread so a person at a prompt does not stall
the other calls of the turn; a lock keeps two prompts from being shown at once. No approver
means no approval: high-risk calls are denied.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Union

from .definition import Risk, is_async_callable
from .execution import run_in_thread


@dataclass(frozen=True)
class ApprovalRequest:
    principal: str
    call_id: str
    tool: str
    description: str
    arguments: dict[str, Any]
    risk: Risk


Approver = Callable[[ApprovalRequest], Union[bool, Awaitable[bool]]]

_prompt_lock = threading.Lock()


async def request_approval(approve: Approver | None, request: ApprovalRequest) -> bool:
    """True only for an explicit True from the approver; anything else denies."""
    if approve is None:
        return False
    if is_async_callable(approve):
        answer = await approve(request)
    else:
        answer = await run_in_thread(_one_at_a_time, approve, request)
    return answer is True


def _one_at_a_time(approve: Approver, request: ApprovalRequest) -> Any:
    with _prompt_lock:
        return approve(request)
