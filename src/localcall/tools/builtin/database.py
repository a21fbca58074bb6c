"""A read-only SQL tool over an SQLite database, and the demo database it ships with.

Writes are refused three times over: the statement must start as a query, an authorizer
lets SQLite only read (so "WITH ... DELETE" or ATTACH fail however they are spelt), and the
file is opened read-only (`mode=ro`). A progress handler stops a runaway query at its time
limit, so even a recursive CTE cannot hold the thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from ..definition import NO_RETRY, Tool, tool
from ..outcome import ToolError

DEMO_SQL = Path(__file__).with_name("demo.sql")
_QUERY_START = re.compile(r"^\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 sqlite3.SQLITE_RECURSIVE}


def build_database(path: str | os.PathLike, script: Path = DEMO_SQL) -> Path:
    """Create the database `script` describes at `path`, atomically (a reader never sees half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as db:
            db.executescript(script.read_text())
        db.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def demo_database() -> Path:
    """The demo database, built on first use in the user's cache, or the temp folder when the
    cache cannot be written. Named by the script's hash: a new script gets a new file."""
    name = f"demo-{hashlib.sha256(DEMO_SQL.read_bytes()).hexdigest()[:12]}.sqlite3"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "localcall"
    for folder in (cache, Path(tempfile.gettempdir()) / "localcall"):
        if (folder / name).exists():
            return folder / name
        try:
            return build_database(folder / name)
        except OSError:
            continue
    raise OSError(f"cannot create the demo database in {cache} nor in the temp folder")


def _open_read_only(path: str | os.PathLike) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)


def connect_read_only(path: str | os.PathLike, time_limit: float | None = None) -> sqlite3.Connection:
    """The connection a model's query runs on: read-only file, read-only authorizer."""
    db = _open_read_only(path)
    db.execute("PRAGMA query_only = ON")  # before the authorizer, which forbids PRAGMA
    db.set_authorizer(lambda action, *_: sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY)
    if time_limit is not None:
        deadline = time.monotonic() + time_limit
        db.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    return db


def describe(path: str | os.PathLike) -> str:
    """'table(column type, ...)' per table, for the tool description: the model must know
    the names to write a query."""
    with _open_read_only(path) as db:  # our own query: the model's restrictions are not needed
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        parts = []
        for table in tables:
            columns = db.execute(f"SELECT name, type FROM pragma_table_info('{table}')").fetchall()
            parts.append(f"{table}({', '.join(f'{n} {t}'.strip() for n, t in columns)})")
    db.close()
    return "; ".join(parts)


def sql_query_tool(path: str | os.PathLike, *, name: str = "query_database", max_rows: int = 100,
                   time_limit: float = 2.0) -> Tool:
    """A tool that runs one read-only SQL query against the SQLite file at `path`."""
    path = Path(path)
    schema = describe(path)

    def query(sql: str) -> dict:
        """
        Args:
            sql: One SELECT statement, e.g. "SELECT status FROM orders WHERE id = 4521".
        """
        if not _QUERY_START.match(sql):
            raise ToolError("only read-only queries (SELECT, WITH, VALUES) are allowed",
                            "write a single SELECT statement; this database cannot be changed")
        db = connect_read_only(path, time_limit)
        try:
            cursor = db.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [c[0] for c in cursor.description or ()]
        except (sqlite3.Error, sqlite3.Warning) as exc:
            message = str(exc)
            if "one statement at a time" in message:
                raise ToolError("only one statement can be run per call", "send exactly one SELECT") from None
            if "not authorized" in message or "readonly" in message:
                raise ToolError("the query tried to change the database or read outside it, which "
                                "is not allowed", "write a plain SELECT over the listed tables") from None
            if "interrupted" in message:
                raise ToolError(f"the query ran longer than {time_limit:g} s",
                                "add a WHERE clause or a LIMIT") from None
            raise ToolError(f"SQL error: {message}", f"the tables are: {schema}") from None
        finally:
            db.close()
        return {"columns": columns, "rows": [[_json_value(v) for v in row] for row in rows[:max_rows]],
                "row_count": min(len(rows), max_rows), "truncated": len(rows) > max_rows}

    return tool(query, name=name, retry=NO_RETRY, timeout=time_limit + 3,
                description=f"Run one read-only SQL query (SQLite) to look up data; it cannot "
                            f"change anything. Returns at most {max_rows} rows. Tables: {schema}.")


def _json_value(value):
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else value


query_database = sql_query_tool(demo_database())
