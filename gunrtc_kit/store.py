"""Where a relay keeps its graph: SQLite on disk, so a restart loses no acknowledged write.

One row per (soul, key) with the value as JSON text and its HAM state. Writes made during one
turn of the loop are committed together (group commit) before their acks are sent, so an ack
always means "on disk". WAL mode keeps readers and the writer apart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gunrtc_kit.errors import GunError

__all__ = ["SQLiteStore"]


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS graph (soul TEXT NOT NULL, key TEXT NOT NULL, "
                "value TEXT NOT NULL, state REAL NOT NULL, PRIMARY KEY (soul, key))"
            )
        except sqlite3.Error as exc:
            raise GunError(f"store={str(path)!r}: cannot open SQLite file: {exc}") from exc
        self._in_tx = False

    def write(self, diff: Mapping[str, Mapping[str, Any]]) -> None:
        """Stage the accepted keys of one put (a graph with ``_['>']`` states)."""
        rows = []
        for soul, node in diff.items():
            states = node.get("_", {}).get(">", {})
            for key, value in node.items():
                if key == "_":
                    continue
                rows.append((soul, key, json.dumps(value, ensure_ascii=False), states[key]))
        if not rows:
            return
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True
        self.db.executemany(
            "INSERT INTO graph (soul, key, value, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (soul, key) DO UPDATE SET value = excluded.value, state = excluded.state",
            rows,
        )

    def commit(self) -> None:
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False

    def load(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored node, as graph nodes with their states."""
        nodes: dict[str, dict[str, Any]] = {}
        for soul, key, value, state in self.db.execute(
            "SELECT soul, key, value, state FROM graph ORDER BY soul"
        ):
            node = nodes.setdefault(soul, {"_": {"#": soul, ">": {}}})
            node[key] = json.loads(value)
            st = float(state)
            node["_"][">"][key] = int(st) if st.is_integer() else st
        yield from nodes.items()

    def close(self) -> None:
        self.commit()
        self.db.close()
