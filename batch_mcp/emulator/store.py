"""SQLite persistence for every entity the emulator keeps.

One table holds all entities: the wire JSON the API returns (`body`), our own bookkeeping
(`internal`: process ids, retry counters, pending transitions), and a few indexed columns the
clock and the scheduler query by (`state`, `ready`, `due`, `ref`). Ids compare without case,
as the service's do. Nothing here knows about HTTP: the store never sees a request.

A file database runs in WAL mode, so a killed emulator loses nothing it had committed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL,
    parent TEXT NOT NULL COLLATE NOCASE,
    id TEXT NOT NULL COLLATE NOCASE,
    seq INTEGER NOT NULL,
    state TEXT,
    ready INTEGER NOT NULL DEFAULT 0,
    due REAL,
    ref TEXT COLLATE NOCASE,
    body TEXT NOT NULL,
    internal TEXT NOT NULL,
    PRIMARY KEY (kind, parent, id)
);
CREATE INDEX IF NOT EXISTS ix_entities_seq ON entities (kind, parent, seq);
CREATE INDEX IF NOT EXISTS ix_entities_state ON entities (kind, parent, state, ready, seq);
CREATE INDEX IF NOT EXISTS ix_entities_due ON entities (due) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_entities_ref ON entities (kind, ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

COLUMNS = "kind, parent, id, seq, state, ready, due, ref, body, internal"


@dataclass
class Entity:
    """One stored entity. `body` is what the API shows; `internal` is ours alone."""

    kind: str
    parent: str
    id: str
    body: dict[str, Any]
    internal: dict[str, Any] = field(default_factory=dict)
    ready: int = 0
    due: float | None = None
    ref: str | None = None
    seq: int = 0

    @property
    def state(self) -> str | None:
        return self.body.get("state")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.parent, self.id)


class DuplicateEntity(Exception):
    """An insert whose (kind, parent, id) already exists."""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._depth = 0
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM entities").fetchone()
        self._seq = int(row[0])

    def close(self) -> None:
        self.db.close()

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit; nests (only the outermost commits)."""
        if self._depth == 0:
            self.db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _row(row: tuple[Any, ...]) -> Entity:
        kind, parent, ident, seq, _state, ready, due, ref, body, internal = row
        return Entity(kind, parent, ident, json.loads(body), json.loads(internal), ready, due, ref, seq)

    def get(self, kind: str, parent: str, ident: str) -> Entity | None:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM entities WHERE kind=? AND parent=? AND id=?", (kind, parent, ident)
        ).fetchone()
        return self._row(row) if row else None

    def list(
        self,
        kind: str,
        parent: str | None = "",
        *,
        states: Iterable[str] | None = None,
        ready: int | None = None,
        ref: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[Entity]:
        """Entities of a kind in creation order (parent=None: across all parents)."""
        sql = f"SELECT {COLUMNS} FROM entities WHERE kind=?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent=?"
            args.append(parent)
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        if ready is not None:
            sql += " AND ready=?"
            args.append(ready)
        if ref is not None:
            sql += " AND ref=?"
            args.append(ref)
        if after_seq:
            sql += " AND seq>?"
            args.append(after_seq)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._row(r) for r in self.db.execute(sql, args)]

    def ids(self, kind: str, parent: str | None = "") -> list[str]:
        if parent is None:
            return [r[0] for r in self.db.execute("SELECT id FROM entities WHERE kind=? ORDER BY seq", (kind,))]
        return [
            r[0]
            for r in self.db.execute("SELECT id FROM entities WHERE kind=? AND parent=? ORDER BY seq", (kind, parent))
        ]

    def count_by_state(self, kind: str, parent: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM entities WHERE kind=? AND parent=? GROUP BY state", (kind, parent)
        )
        return {state: n for state, n in rows}

    def due(self, now: float) -> list[Entity]:
        """Entities with a pending transition whose time has come, oldest first."""
        rows = self.db.execute(f"SELECT {COLUMNS} FROM entities WHERE due IS NOT NULL AND due<=? ORDER BY due", (now,))
        return [self._row(r) for r in rows]

    def next_due(self) -> float | None:
        row = self.db.execute("SELECT MIN(due) FROM entities WHERE due IS NOT NULL").fetchone()
        return row[0]

    # -- writes ------------------------------------------------------------------------------

    def _values(self, e: Entity) -> tuple[Any, ...]:
        return (
            e.kind,
            e.parent,
            e.id,
            e.seq,
            e.body.get("state"),
            e.ready,
            e.due,
            e.ref,
            json.dumps(e.body, separators=(",", ":")),
            json.dumps(e.internal, separators=(",", ":")),
        )

    def insert(self, entity: Entity) -> None:
        self._seq += 1
        entity.seq = self._seq
        try:
            self.db.execute(f"INSERT INTO entities ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", self._values(entity))
        except sqlite3.IntegrityError as exc:
            raise DuplicateEntity(entity.key) from exc

    def insert_many(self, entities: list[Entity]) -> list[bool]:
        """Insert in one transaction; returns, per entity, whether it was new."""
        results: list[bool] = []
        with self.transaction():
            for entity in entities:
                try:
                    self.insert(entity)
                    results.append(True)
                except DuplicateEntity:
                    results.append(False)
        return results

    def update(self, entity: Entity) -> None:
        values = self._values(entity)
        self.db.execute(
            "UPDATE entities SET seq=?, state=?, ready=?, due=?, ref=?, body=?, internal=? "
            "WHERE kind=? AND parent=? AND id=?",
            (*values[3:], *values[:3]),
        )

    def delete(self, kind: str, parent: str, ident: str) -> None:
        self.db.execute("DELETE FROM entities WHERE kind=? AND parent=? AND id=?", (kind, parent, ident))

    def delete_children(self, kind: str, parent: str) -> None:
        self.db.execute("DELETE FROM entities WHERE kind=? AND parent=?", (kind, parent))

    # -- small key/value facts (counters, first-start marker) ---------------------------------

    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )
