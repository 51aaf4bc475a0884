"""Persistence backends for the store: SQLite (WAL) on disk, or nothing (``--ephemeral``).

The schema carries a version in ``meta``; :data:`MIGRATIONS` take an older database to the
current one when it is opened. Resource bodies are JSON written by :mod:`.codec`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence

from .sidetables import SideWrite, execute_side_writes

SCHEMA_VERSION = 1


def _v0_to_v1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS resources ("
        " kind TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL,"
        " body TEXT NOT NULL, PRIMARY KEY (kind, id))"
    )
    db.execute("CREATE INDEX IF NOT EXISTS resources_owner ON resources (kind, account, region)")


# MIGRATIONS[n] takes a database at version n to n + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1}


class SchemaTooNew(RuntimeError):
    pass


class SqliteBackend:
    def __init__(self, path: str, *, synchronous: str = "NORMAL"):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process being killed (SIGKILL) at any
            # moment; FULL also survives power loss, at an fsync per write.
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the state in {self.path} was written by a newer privlink (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION})"
            )
        while version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[version](db)
                version += 1
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(version),),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def load_all(self) -> Iterable[tuple[str, str, str]]:
        return self.db.execute("SELECT kind, id, body FROM resources").fetchall()

    def side_db(self) -> sqlite3.Connection:
        """The connection side tables live on (the same database file)."""
        return self.db

    def write(
        self,
        upserts: list[tuple],
        deletes: list[tuple[str, str]],
        side: Sequence[SideWrite] = (),
    ) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if upserts:
                db.executemany(
                    "INSERT OR REPLACE INTO resources (kind, id, account, region, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    upserts,
                )
            if deletes:
                db.executemany("DELETE FROM resources WHERE kind=? AND id=?", deletes)
            execute_side_writes(db, side)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()


class MemoryBackend:
    """No persistence: for ``--ephemeral`` servers and tests. Side tables (log events,
    metric datapoints) live in a private in-memory SQLite database."""

    path = None

    def __init__(self) -> None:
        self._side_db: sqlite3.Connection | None = None

    def side_db(self) -> sqlite3.Connection:
        if self._side_db is None:
            self._side_db = sqlite3.connect(
                ":memory:", isolation_level=None, check_same_thread=False
            )
        return self._side_db

    def load_all(self):
        return []

    def write(self, upserts, deletes, side: Sequence[SideWrite] = ()) -> None:
        if not side:
            return
        db = self.side_db()
        db.execute("BEGIN IMMEDIATE")
        try:
            execute_side_writes(db, side)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._side_db is not None:
            self._side_db.close()
            self._side_db = None
