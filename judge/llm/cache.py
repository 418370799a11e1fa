"""On-disk response cache (sqlite), keyed by model + messages + params + sample index."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from judge.ids import digest


def cache_key(model: str, messages: list[dict], params: dict[str, Any], sample: int,
              api_base: str | None = None) -> str:
    """Settings that don't change the output (timeouts, retries, concurrency) are excluded."""
    return digest([model, api_base, messages, params, sample])


class ResponseCache:
    """A tiny key-value store of successful responses. Safe to delete at any time."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)",
                         (key, json.dumps(value, ensure_ascii=False)))

    def close(self) -> None:
        self._db.close()
