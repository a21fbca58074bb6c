"""The audit log: one SQLite row per execution attempt (and one for a call stopped before it ran).

Each row is its own committed transaction, written before the outcome goes back to the
model, in WAL mode with synchronous=FULL: once a result has been returned, its row survives
a crash of the process or of the machine. The file can be read with any SQLite client while
the agent runs.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from .outcome import Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_calls (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,     -- when the attempt started, ISO 8601 UTC
    principal    TEXT NOT NULL,     -- who: the user or API key the call ran for
    call_id      TEXT NOT NULL,     -- the model's tool_call id
    tool         TEXT NOT NULL,     -- the tool that ran (the fallback's name for its rows)
    arguments    TEXT NOT NULL,     -- the arguments exactly as the model wrote them
    attempt      INTEGER NOT NULL,  -- 1, 2, ... per tool; 0 when stopped before running
    outcome      TEXT NOT NULL,     -- ok | error | timeout | not_serializable | invalid_arguments
                                    -- | unknown_tool | refused | denied
    result       TEXT,              -- what the model was given, on success
    error        TEXT,
    duration_ms  REAL NOT NULL,
    fallback_for TEXT               -- the tool that failed, when this row is its fallback
);
CREATE INDEX IF NOT EXISTS tool_calls_call ON tool_calls (call_id);
CREATE INDEX IF NOT EXISTS tool_calls_who ON tool_calls (principal, at);
"""


@dataclass(frozen=True)
class AuditEntry:
    at: str
    principal: str
    call_id: str
    tool: str
    arguments: str
    attempt: int
    outcome: Status
    result: str | None
    error: str | None
    duration_ms: float
    fallback_for: str | None = None


_COLUMNS = [f.name for f in fields(AuditEntry)]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def default_audit_path() -> Path:
    """$LOCALCALL_AUDIT_DB, else $XDG_STATE_HOME/localcall/audit.sqlite3 (~/.local/state)."""
    if os.environ.get("LOCALCALL_AUDIT_DB"):
        return Path(os.environ["LOCALCALL_AUDIT_DB"])
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "localcall" / "audit.sqlite3"


class AuditLog:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_audit_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): every INSERT is a transaction of its own, durable
        # when execute() returns. One connection shared by the threads that run tools.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")  # another process may be writing too
        self._db.executescript(_SCHEMA)

    def record(self, entry: AuditEntry) -> None:
        values = [getattr(entry, c) for c in _COLUMNS]
        with self._lock:
            self._db.execute(f"INSERT INTO tool_calls ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)

    def entries(self, call_id: str | None = None) -> list[AuditEntry]:
        """Rows in the order they were written, all of them or one call's."""
        where, params = ("WHERE call_id = ?", (call_id,)) if call_id else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM tool_calls {where} "
                                    "ORDER BY id", params).fetchall()
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
