"""The store: every resource privlink knows, in memory for reads, in SQLite for durability.

A change is made inside a :class:`Transaction`. ``commit`` writes the staged resources to
the backend in one database transaction (durable before the API answers), then swaps them
into the in-memory view, then tells subscribers what changed. ``rollback`` (or an
exception) leaves everything as it was: bad input changes nothing.

Objects returned by the store are shared and must not be mutated; to change one, call
``tx.edit(obj)``, which hands out a private copy that replaces the stored one at commit.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from . import codec
from .sidetables import SideSchema, SideTables, SideWrite

log = logging.getLogger("privlink.state")

KINDS: dict[str, type[Resource]] = {}

R = TypeVar("R", bound="Resource")


@dataclass(kw_only=True)
class Resource:
    """Base of every stored resource: an id unique within its kind, owned by an
    (account, region)."""

    KIND: ClassVar[str] = ""

    id: str
    account: str
    region: str

    @property
    def owner(self) -> tuple[str, str]:
        return (self.account, self.region)


def resource(kind: str):
    """Class decorator registering a resource dataclass under a stable kind name."""

    def wrap(cls):
        if kind in KINDS and KINDS[kind] is not cls:
            raise ValueError(f"resource kind {kind} registered twice")
        cls.KIND = kind
        KINDS[kind] = cls
        return cls

    return wrap


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    old: Resource | None
    new: Resource | None

    @property
    def cls(self) -> type[Resource]:
        return KINDS[self.kind]


_DELETED = object()


class Store:
    def __init__(self, backend):
        self.backend = backend
        self._by_kind: dict[str, dict[str, Resource]] = {}
        self._by_owner: dict[str, dict[tuple[str, str], dict[str, Resource]]] = {}
        self._subscribers: list[Callable[[list[Change]], None]] = []
        self._open: Transaction | None = None
        self._side: SideTables | None = None
        for kind, _rid, body in backend.load_all():
            cls = KINDS.get(kind)
            if cls is None:
                log.warning("stored resource of unknown kind %s ignored", kind)
                continue
            obj = codec.loads(cls, body)
            self._put_live(kind, obj)

    # -- reads (shared objects: do not mutate)
    def get(self, cls: type[R], rid: str) -> R | None:
        return self._by_kind.get(cls.KIND, {}).get(rid)  # type: ignore[return-value]

    def all(self, cls: type[R]) -> Iterable[R]:
        return self._by_kind.get(cls.KIND, {}).values()  # type: ignore[return-value]

    def owned(self, cls: type[R], account: str, region: str) -> Iterable[R]:
        return self._by_owner.get(cls.KIND, {}).get((account, region), {}).values()  # type: ignore[return-value]

    def count(self, cls: type[Resource]) -> int:
        return len(self._by_kind.get(cls.KIND, {}))

    @property
    def side(self) -> SideTables:
        """The side tables (see :mod:`.sidetables`): ``store.side.query(schema, sql, params)``."""
        if self._side is None:
            self._side = SideTables(self.backend.side_db())
        return self._side

    # -- changes
    def subscribe(self, callback: Callable[[list[Change]], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def transaction(self) -> Transaction:
        return Transaction(self)

    def _put_live(self, kind: str, obj: Resource) -> None:
        self._by_kind.setdefault(kind, {})[obj.id] = obj
        self._by_owner.setdefault(kind, {}).setdefault(obj.owner, {})[obj.id] = obj

    def _drop_live(self, kind: str, obj: Resource) -> None:
        self._by_kind.get(kind, {}).pop(obj.id, None)
        part = self._by_owner.get(kind, {}).get(obj.owner)
        if part is not None:
            part.pop(obj.id, None)
            if not part:
                del self._by_owner[kind][obj.owner]

    def _commit(
        self, staged: dict[tuple[str, str], object], side: list[SideWrite] | None = None
    ) -> list[Change]:
        upserts, deletes, changes = [], [], []
        for (kind, rid), obj in staged.items():
            old = self._by_kind.get(kind, {}).get(rid)
            if obj is _DELETED:
                if old is None:
                    continue
                deletes.append((kind, rid))
                changes.append(Change(kind, rid, old, None))
            else:
                upserts.append((kind, rid, obj.account, obj.region, codec.dumps(obj)))
                changes.append(Change(kind, rid, old, obj))  # type: ignore[arg-type]
        if not changes and not side:
            return []
        if side:
            for schema in {w.schema.name: w.schema for w in side}.values():
                self.side.ensure(schema)
            self.backend.write(upserts, deletes, side)
        else:
            self.backend.write(upserts, deletes)
        for ch in changes:
            if ch.old is not None:
                self._drop_live(ch.kind, ch.old)
            if ch.new is not None:
                self._put_live(ch.kind, ch.new)
        return changes

    def _notify(self, changes: list[Change]) -> None:
        for cb in list(self._subscribers):
            try:
                cb(changes)
            except Exception:  # a subscriber's bug must not break the API
                log.exception("change subscriber failed")

    def close(self) -> None:
        self.backend.close()


class Transaction:
    """A unit of change. Reads see the transaction's own staged writes."""

    def __init__(self, store: Store):
        self.store = store
        self._staged: dict[tuple[str, str], object] = {}
        self._side: list[SideWrite] = []
        self._after: list[Callable[[], None]] = []
        self.done = False

    # -- reads
    def get(self, cls: type[R], rid: str) -> R | None:
        st = self._staged.get((cls.KIND, rid))
        if st is not None:
            return None if st is _DELETED else st  # type: ignore[return-value]
        return self.store.get(cls, rid)

    def _overlay(self, cls, live: Iterable[Resource], keep) -> list:
        if not self._staged:
            return list(live)
        kind = cls.KIND
        mine = {rid: obj for (k, rid), obj in self._staged.items() if k == kind}
        if not mine:
            return list(live)
        out = [o for o in live if o.id not in mine]
        out.extend(o for o in mine.values() if o is not _DELETED and keep(o))
        return out

    def all(self, cls: type[R]) -> list[R]:
        return self._overlay(cls, self.store.all(cls), lambda o: True)

    def owned(self, cls: type[R], account: str, region: str) -> list[R]:
        return self._overlay(
            cls, self.store.owned(cls, account, region), lambda o: o.owner == (account, region)
        )

    # -- writes
    def edit(self, obj: R) -> R:
        """A private, mutable copy of ``obj`` that replaces it at commit."""
        key = (obj.KIND, obj.id)
        st = self._staged.get(key)
        if st is not None and st is not _DELETED:
            return st  # type: ignore[return-value]
        mine = copy.deepcopy(obj)
        self._staged[key] = mine
        return mine

    def put(self, obj: Resource) -> Resource:
        if not obj.KIND:
            raise TypeError(f"{type(obj).__name__} is not a registered resource")
        if self.store.get(type(obj), obj.id) is obj:
            raise RuntimeError("a stored object was passed to put(); change a copy from edit()")
        self._staged[(obj.KIND, obj.id)] = obj
        return obj

    def delete(self, obj: Resource) -> None:
        self._staged[(obj.KIND, obj.id)] = _DELETED

    def side_write(self, schema: SideSchema, sql: str, rows: list | tuple = ()) -> None:
        """Stage a write to a side table, run in the same database transaction as this
        transaction's resource changes. ``rows`` is one parameter tuple, or a list of them
        (``executemany``); an empty list stages nothing."""
        if isinstance(rows, list):
            if not rows:
                return
            batch = rows
        else:
            batch = [rows]
        self._side.append(SideWrite(schema, sql, batch))

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the transaction is committed (never on rollback)."""
        self._after.append(fn)

    @property
    def dirty(self) -> bool:
        return bool(self._staged) or bool(self._side)

    def commit(self) -> list[Change]:
        if self.done:
            raise RuntimeError("transaction already finished")
        self.done = True
        changes = self.store._commit(self._staged, self._side)
        if changes:
            self.store._notify(changes)
        for fn in self._after:
            try:
                fn()
            except Exception:
                log.exception("after-commit hook failed")
        return changes

    def rollback(self) -> None:
        self.done = True
        self._staged.clear()
        self._side.clear()
        self._after.clear()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def replace(obj: R, **changes) -> R:
    return dataclasses.replace(obj, **changes)


__all__ = ["Resource", "resource", "Store", "Transaction", "Change", "KINDS", "field"]
