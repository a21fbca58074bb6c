"""A read-only SQL tool over an SQLite database, and the demo database it ships with.

Writes are refused three times over: the statement must start as a query, an authorizer
lets SQLite only read (so "WITH ... DELETE" or ATTACH fail however they are spelt), and the
file is opened read-only (`mode=ro`).

Bounds, so that no query can hold a thread or flood the model's context: each query runs in
a child process (sqlquery.py, kept between calls by sqlworkers.py) where SQLite interrupts it
at the time limit, and the process is killed a second later if a single step of SQLite's
runs on; every value SQLite makes or reads is
at most max_value_bytes; the result is at most max_rows rows and max_bytes of JSON, a long
text cell cut with a note, a blob shown as its size, `truncated` saying rows were left out.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path

from ..definition import NO_RETRY, Tool, tool
from ..outcome import ToolError
from .sqlquery import MAX_COLUMNS, MAX_VALUE_BYTES, connect_read_only, open_read_only
from .sqlworkers import QueryWorkers

__all__ = ["build_database", "connect_read_only", "demo_database", "describe", "query_database", "sql_query_tool"]

DEMO_SQL = Path(__file__).with_name("demo.sql")
KILL_MARGIN = 1.0  # seconds past the time limit before the query process is killed
_WORKERS = QueryWorkers()
_QUERY_START = re.compile(r"^\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)


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


def describe(path: str | os.PathLike) -> str:
    """'table(column type, ...)' per table, for the tool description: the model must know
    the names to write a query."""
    with open_read_only(path) as db:  # our own query: the model's restrictions are not needed
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        parts = []
        for table in tables:
            columns = db.execute(f"SELECT name, type FROM pragma_table_info('{table}')").fetchall()
            parts.append(f"{table}({', '.join(f'{n} {t}'.strip() for n, t in columns)})")
    db.close()
    return "; ".join(parts)


def sql_query_tool(path: str | os.PathLike, *, name: str = "query_database", max_rows: int = 100,
                   max_bytes: int = 12_000, time_limit: float = 2.0,
                   max_value_bytes: int = MAX_VALUE_BYTES) -> Tool:
    """A tool that runs one read-only SQL query against the SQLite file at `path`: at most
    max_rows rows and max_bytes of JSON back, time_limit seconds, values of max_value_bytes."""
    path = Path(path).resolve()
    schema = describe(path)
    limits = {"time_limit": time_limit, "max_rows": max_rows, "max_bytes": max_bytes,
              "max_value_bytes": max_value_bytes}

    def query(sql: str) -> dict:
        """
        Args:
            sql: One SELECT statement, e.g. "SELECT status FROM orders WHERE id = 4521".
        """
        if not _QUERY_START.match(sql):
            raise ToolError("only read-only queries (SELECT, WITH, VALUES) are allowed",
                            "write a single SELECT statement; this database cannot be changed")
        answer = _WORKERS.run({"path": str(path), "sql": sql, **limits}, time_limit + KILL_MARGIN)
        if "error" in answer:
            raise _explain(answer["error"], time_limit, max_value_bytes, schema)
        return {"columns": answer["columns"], "rows": answer["rows"], "row_count": len(answer["rows"]),
                "truncated": answer["truncated"]}

    return tool(query, name=name, retry=NO_RETRY, timeout=time_limit + KILL_MARGIN + 2,
                max_result_bytes=max_bytes + 1024,
                description=f"Run one read-only SQL query (SQLite) to look up data; it cannot "
                            f"change anything. Returns at most {max_rows} rows. Tables: {schema}.")


def _explain(message: str, time_limit: float, max_value_bytes: int, schema: str) -> ToolError:
    """SQLite's message → what the model is told."""
    if "one statement at a time" in message:
        return ToolError("only one statement can be run per call", "send exactly one SELECT")
    if "not authorized" in message or "readonly" in message:
        return ToolError("the query tried to change the database or read outside it, which "
                         "is not allowed", "write a plain SELECT over the listed tables")
    if "interrupted" in message:
        return ToolError(f"the query ran longer than {time_limit:g} s", "add a WHERE clause or a LIMIT")
    if "too big" in message:
        return ToolError(f"a value in the query is longer than {max_value_bytes} bytes, the most this tool handles",
                         "select length() of a long column, or build shorter values")
    if "too many columns" in message:
        return ToolError(f"the query has more than {MAX_COLUMNS} columns", "select fewer columns")
    if "out of memory" in message:
        return ToolError("the query needed more memory than this tool allows", "select less data")
    return ToolError(f"SQL error: {message}", f"the tables are: {schema}")


query_database = sql_query_tool(demo_database())
