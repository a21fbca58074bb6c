"""The audit log as the playground reads it: a read-only SQLite connection to the file the
server's tools write, rows newest first, filtered by who, which tool and what outcome.

Rows are read by column name (`SELECT *`), so a column the log gains later shows up in the
page without a change here.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

FILTERS = ("principal", "tool", "outcome", "call_id")  # columns the page filters on
MAX_ROWS = 1000


@dataclass(frozen=True)
class AuditQuery:
    principal: str | None = None
    tool: str | None = None
    outcome: str | None = None
    call_id: str | None = None
    limit: int = 200

    def where(self) -> tuple[str, list[str]]:
        given = [(column, getattr(self, column)) for column in FILTERS if getattr(self, column)]
        clause = " AND ".join(f"{column} = ?" for column, _ in given)
        return (f"WHERE {clause}" if clause else ""), [value for _, value in given]


def read_audit(path: Path, query: AuditQuery) -> dict:
    """{"columns", "rows" (dicts, newest first), "facets" (the values each filter can take)}."""
    # mode=ro: the page can never write to the log, whatever the query.
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        where, params = query.where()
        cursor = db.execute(f"SELECT * FROM tool_calls {where} ORDER BY id DESC LIMIT ?",
                            [*params, min(query.limit, MAX_ROWS)])
        columns = [d[0] for d in cursor.description]
        rows = [dict(row) for row in cursor.fetchall()]
        facets = {column: [v for (v,) in db.execute(f"SELECT DISTINCT {column} FROM tool_calls ORDER BY 1")]
                  for column in FILTERS if column != "call_id"}
    return {"columns": columns, "rows": rows, "facets": facets}

