"""Running one attempt of a tool: async tools on the event loop, sync tools in a thread, both
under the tool's timeout.

A sync tool runs in a daemon thread of its own rather than in the loop's executor: Python
cannot stop a thread, so a hung tool is abandoned when its time is up. In a shared pool it
would hold a worker for ever, and `asyncio.run` (and interpreter exit) would wait for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Callable

from .definition import Tool
from .outcome import ToolTimeout


async def run_in_thread(fn: Callable[..., Any], /, *args, **kwargs) -> Any:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():  # the awaiting side may have given up (timeout, cancellation)
            future.set_result(value) if ok else future.set_exception(value)

    def target() -> None:
        try:
            result = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # forwarded to the awaiting side, which decides
            outcome = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting for this abandoned call any more

    threading.Thread(target=target, name=f"localcall-{getattr(fn, '__name__', 'call')}",
                     daemon=True).start()
    return await future


async def call_with_timeout(t: Tool, kwargs: dict[str, Any]) -> Any:
    """One attempt; ToolTimeout when it runs past t.timeout."""
    work = t.fn(**kwargs) if t.is_async else run_in_thread(t.fn, **kwargs)
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=t.timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        # An async tool may swallow the cancellation; read its end so it is not reported
        # as an exception nobody retrieved.
        task.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise ToolTimeout(f"{t.name} did not answer within {t.timeout:g} s",
                          "try again later or with a smaller request, or answer without this tool")
    return task.result()
