"""The store's change feed: published after commit (durably written, visible to reads),
with the old and new object of each change, and nothing for a rolled-back transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest

from privlink.state import Resource, Store, resource
from privlink.state.backend import SqliteBackend


@resource("test.feeditem")
@dataclass(kw_only=True)
class Item(Resource):
    n: int = 0


def test_changes_are_published_after_commit_with_old_and_new(tmp_path):
    path = str(tmp_path / "s.db")
    store = Store(SqliteBackend(path))
    seen = []

    def on_change(changes):
        # by the time subscribers hear of a change it is committed: in memory and on disk
        other = sqlite3.connect(path)
        try:
            on_disk = {r[0] for r in other.execute("SELECT id FROM resources")}
        finally:
            other.close()
        seen.append(
            [(c.kind, c.id, c.old, c.new, store.get(Item, c.id), c.id in on_disk) for c in changes]
        )

    unsubscribe = store.subscribe(on_change)
    with store.transaction() as tx:
        tx.put(Item(id="i1", account="a", region="r", n=1))
        tx.put(Item(id="i2", account="a", region="r", n=2))
        assert seen == []  # nothing before commit
    assert len(seen) == 1
    created = {row[1]: row for row in seen[0]}
    assert set(created) == {"i1", "i2"}
    for kind, _, old, new, live, durable in created.values():
        assert kind == "test.feeditem" and old is None and new == live and durable

    with store.transaction() as tx:
        tx.edit(tx.get(Item, "i1")).n = 10
        tx.delete(tx.get(Item, "i2"))
    (edit, gone) = sorted(seen[1], key=lambda row: row[1])
    assert edit[2].n == 1 and edit[3].n == 10 and edit[4].n == 10
    assert gone[2].n == 2 and gone[3] is None and gone[4] is None and not gone[5]

    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put(Item(id="i3", account="a", region="r"))
        raise RuntimeError("bad input")
    assert len(seen) == 2 and store.get(Item, "i3") is None

    unsubscribe()
    with store.transaction() as tx:
        tx.put(Item(id="i4", account="a", region="r"))
    assert len(seen) == 2
    store.close()
