"""Side tables: plain SQL tables beside the resources, for data that is too large or too
write-heavy to be resources (log events, metric datapoints).

Why not resources: every resource lives in memory and is rewritten whole when it changes.
A log stream that grows by a line per flow, or a metric that gains a bucket a minute,
would cost O(size) per append and hold every event in memory. A side table row is written
once (an ``INSERT``, or an ``INSERT … ON CONFLICT DO UPDATE`` merge for aggregates) and read
with SQL, so an append costs O(log n) whatever the stream's size and nothing stays in
memory.

Consistency with the resources: a side write is staged on the :class:`~.store.Transaction`
(``tx.side_write(schema, sql, rows)``) and executed inside the same SQLite transaction as
the resource changes staged beside it, so a PutLogEvents that appends events and updates its
stream's ``lastEventTimestamp`` commits both or neither, and is durable before the API
answers. A rollback drops it. Side writes emit no change events; reads
(``store.side.query``) see committed rows only, not the open transaction's staged ones.

Each set of tables is a :class:`SideSchema` with its own list of migrations, versioned in
the ``meta`` table under ``side:<name>`` and applied on first use, so one layer's tables
evolve without touching the resource schema's version. Ephemeral servers keep their side
tables in an in-memory SQLite database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SideSchema:
    """A named set of side tables. ``migrations[n]`` takes the tables from version n to
    n + 1 (version 0: they do not exist)."""

    name: str
    migrations: tuple[Callable[[sqlite3.Connection], None], ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


class SideTablesTooNew(RuntimeError):
    pass


def _ensure_meta(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


class SideTables:
    """The side tables of one database connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self._ready: set[str] = set()

    def ensure(self, schema: SideSchema) -> None:
        """Create or migrate ``schema``'s tables (once per process)."""
        if schema.name in self._ready:
            return
        db = self.db
        _ensure_meta(db)
        key = f"side:{schema.name}"
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            version = int(row[0]) if row else 0
            if version > schema.version:
                raise SideTablesTooNew(
                    f"the {schema.name} tables were written by a newer privlink "
                    f"(version {version}, this one reads up to {schema.version})"
                )
            while version < schema.version:
                schema.migrations[version](db)
                version += 1
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(version))
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._ready.add(schema.name)

    def query(self, schema: SideSchema, sql: str, params: Sequence = ()) -> list[tuple]:
        """Rows of a read-only statement, from committed data."""
        self.ensure(schema)
        return self.db.execute(sql, params).fetchall()

    def scalar(self, schema: SideSchema, sql: str, params: Sequence = ()):
        rows = self.query(schema, sql, params)
        return rows[0][0] if rows else None


@dataclass(frozen=True)
class SideWrite:
    schema: SideSchema
    sql: str
    rows: list[Sequence]  # executemany() parameter rows; [()] for a statement without any


def execute_side_writes(db: sqlite3.Connection, writes: Iterable[SideWrite]) -> None:
    """Run staged side writes (the caller holds the database transaction)."""
    for w in writes:
        if len(w.rows) == 1:
            db.execute(w.sql, w.rows[0])
        else:
            db.executemany(w.sql, w.rows)


__all__ = ["SideSchema", "SideTables", "SideWrite", "SideTablesTooNew", "execute_side_writes"]
