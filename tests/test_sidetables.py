"""Side tables: SQL rows written with a transaction's resource changes, atomically."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest

from privlink.state import Resource, Store, resource
from privlink.state.backend import MemoryBackend, SqliteBackend
from privlink.state.sidetables import SideSchema, SideTablesTooNew


@resource("test.counter")
@dataclass(kw_only=True)
class Counter(Resource):
    n: int = 0


def _v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE t_rows (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")


def _v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE t_rows ADD COLUMN w INTEGER NOT NULL DEFAULT 0")


V1 = SideSchema("testrows", (_v1,))
V2 = SideSchema("testrows", (_v1, _v2))


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    backend = (
        SqliteBackend(str(tmp_path / "s.db")) if request.param == "sqlite" else MemoryBackend()
    )
    s = Store(backend)
    yield s
    s.close()


def rows(store, schema=V1):
    return store.side.query(schema, "SELECT k, v FROM t_rows ORDER BY k")


def test_side_writes_commit_with_the_resources(store):
    seen = []
    store.subscribe(seen.append)
    with store.transaction() as tx:
        tx.put(Counter(id="c1", account="a", region="r", n=1))
        tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", [(1, "one"), (2, "two")])
        tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", (3, "three"))
        assert rows(store) == []  # reads see committed rows only
    assert rows(store) == [(1, "one"), (2, "two"), (3, "three")]
    assert store.get(Counter, "c1").n == 1
    assert len(seen) == 1 and [c.id for c in seen[0]] == ["c1"]  # no change events for rows
    # a transaction with side writes only still commits them
    with store.transaction() as tx:
        tx.side_write(V1, "DELETE FROM t_rows WHERE k = ?", (2,))
        assert tx.dirty
    assert rows(store) == [(1, "one"), (3, "three")]
    assert len(seen) == 1


def test_rollback_and_failure_change_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put(Counter(id="c1", account="a", region="r"))
        tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", (1, "x"))
        raise RuntimeError("bad input")
    assert store.get(Counter, "c1") is None
    assert rows(store) == []
    # a side write that fails in SQL undoes the resource changes of its transaction too
    with store.transaction() as tx:
        tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", (1, "x"))
    tx = store.transaction()
    tx.put(Counter(id="c2", account="a", region="r"))
    tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", (1, "duplicate key"))
    with pytest.raises(sqlite3.IntegrityError):
        tx.commit()
    assert store.get(Counter, "c2") is None
    assert rows(store) == [(1, "x")]


def test_rows_survive_reopening_and_schemas_migrate(tmp_path):
    path = str(tmp_path / "s.db")
    s = Store(SqliteBackend(path))
    with s.transaction() as tx:
        tx.put(Counter(id="c1", account="a", region="r", n=5))
        tx.side_write(V1, "INSERT INTO t_rows (k, v) VALUES (?, ?)", (1, "kept"))
    s.close()
    s = Store(SqliteBackend(path))
    assert s.get(Counter, "c1").n == 5
    assert s.side.query(V2, "SELECT k, v, w FROM t_rows") == [(1, "kept", 0)]
    assert s.side.scalar(V2, "SELECT value FROM meta WHERE key = 'side:testrows'") == "2"
    s.close()
    s = Store(SqliteBackend(path))
    with pytest.raises(SideTablesTooNew):
        s.side.query(V1, "SELECT 1")
    s.close()
