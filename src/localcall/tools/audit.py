"""The audit log: one SQLite row per execution attempt (and one for a call stopped before it ran).

An attempt's row is written twice. Before the tool runs it is inserted with outcome
"started" (duration_ms NULL); when the attempt ends it is completed with its outcome, result
or error and duration. Each write is its own committed transaction, in WAL mode with
synchronous=FULL, done before the tool starts and before the outcome goes back to the model:
once a tool has started, its row survives a crash of the process or of the machine, and a
row still "started" after a crash is a call that was running when the process died (it may
have done part or all of its work; the model never saw a result). `unfinished()` lists them.
The file can be read with any SQLite client while the agent runs.

Schema versions (PRAGMA user_version): 0 is the first layout (rows written once, at the end;
duration_ms NOT NULL, no pid); 2 is this one. Opening an older file migrates it in place, in
one transaction, keeping every row and its id.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Union

from .outcome import Status

log = logging.getLogger("localcall.tools.audit")

VERSION = 2
_TABLE = """
CREATE TABLE {name} (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,     -- when the attempt started, ISO 8601 UTC
    principal    TEXT NOT NULL,     -- who: the user or API key the call ran for
    call_id      TEXT NOT NULL,     -- the model's tool_call id
    tool         TEXT NOT NULL,     -- the tool that ran (the fallback's name for its rows)
    arguments    TEXT NOT NULL,     -- the arguments exactly as the model wrote them
    attempt      INTEGER NOT NULL,  -- 1, 2, ... per tool; 0 when stopped before running
    outcome      TEXT NOT NULL,     -- started (running, or cut short by a crash), then
                                    -- ok | error | timeout | not_serializable | cancelled;
                                    -- for attempt 0: invalid_arguments | unknown_tool
                                    -- | refused | denied | denied_by_policy
    result       TEXT,              -- what the model was given, on success (bounded, as the model saw it)
    error        TEXT,
    duration_ms  REAL,              -- NULL while the attempt runs
    fallback_for TEXT,              -- the tool that failed, when this row is its fallback
    pid          INTEGER            -- the process that wrote the row (NULL for rows of version 0)
)"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS tool_calls_call ON tool_calls (call_id);
CREATE INDEX IF NOT EXISTS tool_calls_who ON tool_calls (principal, at);
CREATE INDEX IF NOT EXISTS tool_calls_unfinished ON tool_calls (id) WHERE outcome = 'started';
"""
# The columns a version-0 file has, all of which version 2 keeps.
_V0_COLUMNS = ("id", "at", "principal", "call_id", "tool", "arguments", "attempt", "outcome", "result",
               "error", "duration_ms", "fallback_for")

# started: the tool is running (or was, when its process died). cancelled: the caller stopped
# waiting (the request was abandoned); a sync tool may still have run to its end.
AuditOutcome = Union[Status, Literal["started", "cancelled"]]


@dataclass(frozen=True)
class AuditEntry:
    at: str
    principal: str
    call_id: str
    tool: str
    arguments: str
    attempt: int
    outcome: AuditOutcome
    result: str | None
    error: str | None
    duration_ms: float | None
    fallback_for: str | None = None
    pid: int | None = None  # filled in with the writing process's id
    id: int | None = None  # the row's id, once written

    @property
    def finished(self) -> bool:
        return self.outcome != "started"


_COLUMNS = [f.name for f in fields(AuditEntry) if f.name != "id"]


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
        # Autocommit (isolation_level=None): every statement outside BEGIN is a transaction of
        # its own, durable when execute() returns. One connection shared by the threads that run tools.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        _use_wal(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")  # another process may be writing too
        self._running: set[int] = set()  # rows this log started and has not finished
        _create_or_migrate(self._db)
        self._warn_about_crashes()

    def record(self, entry: AuditEntry) -> int:
        """A finished row in one write (a call stopped before it ran). Returns its id."""
        return self._insert(entry)

    def start(self, entry: AuditEntry) -> int:
        """The row of an attempt about to run (its outcome is replaced by "started"). Returns
        its id, for finish()."""
        row = self._insert(dataclasses.replace(entry, outcome="started", result=None, error=None,
                                               duration_ms=None))
        with self._lock:
            self._running.add(row)
        return row

    def finish(self, row: int, outcome: AuditOutcome, duration_ms: float, *, result: str | None = None,
               error: str | None = None) -> None:
        """Complete a started row with how the attempt ended."""
        if outcome == "started":
            raise ValueError("finish() records how an attempt ended; 'started' is not an end")
        with self._lock:
            self._db.execute("UPDATE tool_calls SET outcome = ?, result = ?, error = ?, duration_ms = ? "
                             "WHERE id = ?", (outcome, result, error, duration_ms, row))
            self._running.discard(row)

    def entries(self, call_id: str | None = None) -> list[AuditEntry]:
        """Rows in the order they were written, all of them or one call's."""
        where, params = ("WHERE call_id = ?", (call_id,)) if call_id else ("", ())
        return self._select(where, params)

    def unfinished(self) -> list[AuditEntry]:
        """Rows of attempts that started and never finished, other than this log's own calls
        in flight: their process died during the call (or, for a pid that is still alive, is
        running it now)."""
        with self._lock:
            mine = set(self._running)
        return [e for e in self._select("WHERE outcome = 'started'", ()) if e.id not in mine]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _insert(self, entry: AuditEntry) -> int:
        if entry.pid is None:
            entry = dataclasses.replace(entry, pid=os.getpid())
        values = [getattr(entry, c) for c in _COLUMNS]
        with self._lock:
            cursor = self._db.execute(f"INSERT INTO tool_calls ({', '.join(_COLUMNS)}) "
                                      f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)
            return cursor.lastrowid

    def _select(self, where: str, params: tuple) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)}, id FROM tool_calls {where} ORDER BY id",
                                    params).fetchall()
        return [AuditEntry(*row) for row in rows]

    def _warn_about_crashes(self) -> None:
        dead = [e for e in self.unfinished() if not _alive(e.pid)]
        if dead:
            shown = ", ".join(f"#{e.id} {e.tool} (call {e.call_id}, started {e.at}, pid {e.pid})" for e in dead[:5])
            log.warning("audit log %s: %d tool call(s) started and never finished; the process running "
                        "them ended during the call, which may have done part or all of its work: %s%s",
                        self.path, len(dead), shown, " ..." if len(dead) > 5 else "")


def _use_wal(db: sqlite3.Connection, patience: float = 5.0) -> None:
    """Switch the file to WAL. The switch needs the file to itself, and SQLite answers "database
    is locked" at once, without waiting, while another connection opens it: a second process
    (or thread) opening an old file at the same moment retries until it is done."""
    deadline = time.monotonic() + patience
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _create_or_migrate(db: sqlite3.Connection) -> None:
    """Bring the file to VERSION, in one transaction: a second process opening the same file
    at the same moment waits (busy_timeout), then finds it done."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tool_calls'").fetchone()
        if version > VERSION:
            raise RuntimeError(f"the audit log was written by a newer localcall (schema {version}; this one "
                               f"knows up to {VERSION})")
        if not exists:
            db.execute(_TABLE.format(name="tool_calls"))
        elif version < VERSION:
            # SQLite cannot drop NOT NULL from a column: build the new table, copy, swap.
            columns = ", ".join(_V0_COLUMNS)
            # AUTOINCREMENT's promise (an id is never reused, even a deleted row's) goes on.
            sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tool_calls'").fetchone()
            db.execute(_TABLE.format(name="tool_calls_v2"))
            db.execute(f"INSERT INTO tool_calls_v2 ({columns}) SELECT {columns} FROM tool_calls ORDER BY id")
            db.execute("DROP TABLE tool_calls")  # its indexes go with it
            db.execute("ALTER TABLE tool_calls_v2 RENAME TO tool_calls")
            if sequence:
                db.execute("DELETE FROM sqlite_sequence WHERE name = 'tool_calls'")
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('tool_calls', ?)", sequence)
        for statement in filter(str.strip, _INDEXES.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _alive(pid: int | None) -> bool:
    """Whether another process of that id runs on this machine. Our own pid on a row we did
    not start is an earlier process that had the same id (pid 1 in every container run); None
    is a row of version 0."""
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True
