"""Stored responses of the Responses API (`store`, `previous_response_id`, GET/DELETE
/v1/responses/{id}): one SQLite file, by default next to the audit log.

Each row keeps the response as sent and the conversation it ends (chat messages, without
the request's instructions: OpenAI does not carry instructions over to the next response),
so that a request naming it as `previous_response_id` continues from there. A response
belongs to the principal (API key name) that made it: others see 404.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from ..messages import Message
from ..tools.audit import default_audit_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    conversation TEXT NOT NULL,
    response TEXT NOT NULL
)
"""


def default_store_path() -> Path:
    """$LOCALCALL_RESPONSES_DB, else responses.sqlite3 beside the audit log."""
    if os.environ.get("LOCALCALL_RESPONSES_DB"):
        return Path(os.environ["LOCALCALL_RESPONSES_DB"])
    return default_audit_path().with_name("responses.sqlite3")


@dataclass
class Stored:
    response: dict
    conversation: list[Message]


class ResponseStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def put(self, principal: str, response: dict, conversation: list[Message]) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                             (response["id"], principal, int(response["created_at"]), json.dumps(conversation),
                              json.dumps(response)))

    def get(self, principal: str, response_id: str) -> Stored | None:
        with self._lock:
            row = self._db.execute("SELECT response, conversation FROM responses WHERE id = ? AND principal = ?",
                                   (response_id, principal)).fetchone()
        return Stored(json.loads(row[0]), json.loads(row[1])) if row else None

    def delete(self, principal: str, response_id: str) -> bool:
        with self._lock, self._db:
            cursor = self._db.execute("DELETE FROM responses WHERE id = ? AND principal = ?", (response_id, principal))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
