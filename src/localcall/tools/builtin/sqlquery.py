"""Read-only SQL queries under bounds, run in a child process (see sqlworkers.py).

Why a process: SQLite can interrupt a query only between the steps of its virtual machine,
and one step can last for ever (`printf('%.*c', 2000000000, 'x')` loops two billion times in
a single step on SQLite 3.40, whatever the length limit). A thread cannot be stopped; a
process can be killed. The parent gives each query its time limit plus a margin, then kills
the process, so no query outlives its call.

Inside the child, the bounds that give a clean answer first: a progress handler interrupts
the query at its time limit, SQLite's length limit caps every value it makes or reads (which
keeps the quadratic functions, instr and replace, to tens of milliseconds), the address
space is capped, and the result is cut to max_rows rows and max_bytes of JSON.

This file imports only the standard library and runs as a script (`python -I -S
sqlquery.py`), without the package. Each request is one line of JSON on stdin (run_query's
arguments), each answer one line of JSON on stdout: {"columns", "rows", "truncated"} or
{"error": SQLite's message}. It ends at the end of its input.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import quote

MAX_VALUE_BYTES = 100_000  # any string or blob SQLite makes or reads for the query
MAX_SQL_BYTES = 100_000
MAX_COLUMNS = 256
MAX_CELL_CHARS = 1_000  # of one text cell in the result
MAX_MEMORY = 1 << 30  # address space of the child process
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 sqlite3.SQLITE_RECURSIVE}


def open_read_only(path: str | os.PathLike) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)


def connect_read_only(path: str | os.PathLike, time_limit: float | None = None,
                      max_value_bytes: int = MAX_VALUE_BYTES) -> sqlite3.Connection:
    """The connection a model's query runs on: read-only file, read-only authorizer, bounded
    values and columns, interrupted at time_limit seconds."""
    db = open_read_only(path)
    db.execute("PRAGMA query_only = ON")  # before the authorizer, which forbids PRAGMA
    db.set_authorizer(lambda action, *_: sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY)
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
    db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    db.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
    if time_limit is not None:
        deadline = time.monotonic() + time_limit
        db.set_progress_handler(lambda: time.monotonic() > deadline, 1_000)
    return db


def run_query(path: str, sql: str, *, time_limit: float, max_rows: int, max_bytes: int,
              max_value_bytes: int) -> dict:
    """The bounded result, or {"error": message} when SQLite refuses or interrupts the query."""
    db = connect_read_only(path, time_limit, max_value_bytes)
    try:
        cursor = db.execute(sql)
        columns = [_cell(c[0]) for c in cursor.description or ()]
        rows, truncated = _bounded_rows(cursor, max_rows, max_bytes - _json_size(columns))
    except (sqlite3.Error, sqlite3.Warning) as exc:
        return {"error": str(exc)}
    finally:
        db.close()
    return {"columns": columns, "rows": rows, "truncated": truncated}


def _bounded_rows(cursor: sqlite3.Cursor, max_rows: int, budget: int) -> tuple[list[list], bool]:
    """Rows as JSON values while they fit max_rows and `budget` bytes of JSON, and whether
    any were left out. Fetched one at a time, so rows past the budget are never held."""
    rows: list[list] = []
    for row in cursor:
        cells = [_cell(v) for v in row]
        budget -= _json_size(cells) + 2  # ", " between rows
        if len(rows) == max_rows or budget < 0:
            return rows, True
        rows.append(cells)
    return rows, False


def _cell(value):
    """A value as the model reads it: a blob as its size, a long text cut with a note."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return f"{value[:MAX_CELL_CHARS]}... [truncated: {len(value)} characters, showing the first {MAX_CELL_CHARS}]"
    return value


def _json_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass"))


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # no such limit here (Windows); the parent's time limit still holds
    for line in sys.stdin:
        try:
            answer = run_query(**json.loads(line))
        except MemoryError:
            answer = {"error": "out of memory"}
        sys.stdout.write(json.dumps(answer) + "\n")  # ASCII, whatever the locale's encoding
        sys.stdout.flush()


if __name__ == "__main__":
    main()
