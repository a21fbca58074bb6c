"""The endpoints the playground needs beside /v1, under /ui/api (same keys as /v1):

GET  /ui/api/info             who you are and what this server offers the page
GET  /ui/api/tools            the server-side tools you may use: schema, risk, approval
GET  /ui/api/approvals        your high-risk calls waiting for Approve / Deny
POST /ui/api/approvals/{id}   {"approved": true|false}
GET  /ui/api/audit            audit rows, filtered; from another machine only for an admin key
GET  /ui/api/bench            the latest `localcall bench` reports (--bench-dir)
GET  /ui/api/bench/files/...  one of their plots
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from ..auth import is_loopback
from ..errors import APIError
from ..tools import ServerTools
from . import benchview
from .auditview import MAX_ROWS, AuditQuery, read_audit

if TYPE_CHECKING:
    from ..app import ServerSettings

router = APIRouter(prefix="/ui/api", tags=["playground"])


class ApprovalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved: bool


def _settings(request: Request) -> ServerSettings:
    return request.app.state.server_settings


def _principal(request: Request) -> str:
    return _settings(request).auth.principal(request.headers.get("authorization"))


def _tools(request: Request) -> ServerTools:
    tools = _settings(request).tools
    if tools is None:
        raise APIError(404, "This server runs no tools of its own (start it with --tools), so it has no "
                            "server-side tools, approvals or audit log.")
    return tools


def _may_read_audit(request: Request, principal: str) -> bool:
    client = request.client.host if request.client else ""
    return is_loopback(client) or principal in _settings(request).ui.admins


def _approval_mode(tools: ServerTools, principal: str, name: str) -> str | None:
    """How a call to this tool is approved for this principal; None when it needs no approval."""
    tool = tools.registry.get(name)
    if not tool.needs_approval:
        return None
    if tools.high_risk.allows(principal, name):
        return "allowed"
    return "ask" if tools.approval is not None else "denied"


@router.get("/info")
async def info(request: Request, who: str = Depends(_principal)) -> dict:
    settings = _settings(request)
    tools = settings.tools
    return {"principal": who, "server_tools": len(tools.policy.visible(who, tools.registry)) if tools else 0,
            "approval": bool(tools and tools.approval is not None),
            "audit": bool(tools) and _may_read_audit(request, who),
            "bench": settings.ui.bench_dir is not None}


@router.get("/tools")
async def server_tools(request: Request, who: str = Depends(_principal)) -> dict:
    tools = _settings(request).tools
    if tools is None:
        return {"tools": []}
    return {"tools": [{"name": t.name, "description": t.description, "parameters": t.parameters, "risk": t.risk,
                       "timeout": t.timeout, "attempts": t.retry.attempts,
                       "approval": _approval_mode(tools, who, t.name)}
                      for t in tools.policy.visible(who, tools.registry)]}


@router.get("/approvals")
async def approvals(request: Request, who: str = Depends(_principal)) -> dict:
    pending = _tools(request).approval
    return {"pending": [p.view() for p in pending.waiting(who)] if pending else []}


@router.post("/approvals/{approval_id}")
async def answer_approval(approval_id: str, body: ApprovalAnswer, request: Request,
                          who: str = Depends(_principal)) -> dict:
    pending = _tools(request).approval
    if pending is None or not pending.answer(approval_id, who, body.approved):
        raise APIError(404, f"No call {approval_id!r} of yours is waiting for approval: it was answered, "
                            f"timed out, or its request ended.")
    return {"id": approval_id, "approved": body.approved}


@router.get("/audit")
async def audit(request: Request, who: str = Depends(_principal), principal: str | None = None,
                tool: str | None = None, outcome: str | None = None, call_id: str | None = None,
                limit: int = Query(200, ge=1, le=MAX_ROWS)) -> dict:
    tools = _tools(request)
    if not _may_read_audit(request, who):
        raise APIError(403, "Reading the audit log from another machine needs an admin key "
                            f"(one named {', '.join(sorted(_settings(request).ui.admins))}).")
    query = AuditQuery(principal=principal, tool=tool, outcome=outcome, call_id=call_id, limit=limit)
    return {"path": str(tools.audit.path), **await asyncio.to_thread(read_audit, tools.audit.path, query)}


def _bench_dir(request: Request) -> Path:
    folder = _settings(request).ui.bench_dir
    if folder is None:
        raise APIError(404, "No benchmark results are shown: start the server with --bench-dir DIR "
                            "(the --out folder of `localcall bench`).")
    return folder


@router.get("/bench")
async def bench(request: Request, _: str = Depends(_principal)) -> dict:
    folder = _bench_dir(request)
    return {"folder": str(folder), "reports": await asyncio.to_thread(benchview.reports, folder)}


@router.get("/bench/files/{relative:path}")
async def bench_file(relative: str, request: Request, _: str = Depends(_principal)) -> FileResponse:
    path = benchview.image_path(_bench_dir(request), relative)
    if path is None:
        raise APIError(404, f"No plot {relative!r} in the benchmark folder.")
    return FileResponse(path, media_type="image/png")
