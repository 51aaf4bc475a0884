"""CloudWatch Logs storage: log groups and streams as resources, events in side tables.

Log groups (``logs.group``) and log streams (``logs.stream``) are ordinary resources:
few, small, listed and changed through the store. Their events live in the ``logs`` side
tables (see :mod:`privlink.state.sidetables`): one row per event, indexed by (stream,
timestamp) and (group, timestamp), appended in the same SQLite transaction that updates the
stream's timestamps. Appending costs one indexed insert per event whatever the stream's
size, and an acknowledged PutLogEvents is on disk before the API answers.

In-process API for other layers (the flow-log writer)::

    from privlink.telemetry.logstore import append_events

    with store.transaction() as tx:
        append_events(tx, account, region, "/privlink/flowlogs", "eni-0abc-all",
                      [(1718000000000, "2 1111... ACCEPT OK"), ...])

It creates the log group and stream when missing (as flow-log delivery does), skips events
older than the group's retention, and commits with ``tx``.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..state import Resource, Store, Transaction, resource
from ..state.sidetables import SideSchema

DAY_MS = 86_400_000
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
EVENT_OVERHEAD = 26  # bytes AWS counts per event on top of its message


def _v0_to_v1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE log_events ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " grp INTEGER NOT NULL, stream INTEGER NOT NULL,"
        " ts INTEGER NOT NULL, ingest INTEGER NOT NULL, message TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX log_events_by_stream ON log_events (stream, ts, id)")
    db.execute("CREATE INDEX log_events_by_group ON log_events (grp, ts, id)")
    db.execute("CREATE TABLE log_group_bytes (grp INTEGER PRIMARY KEY, bytes INTEGER NOT NULL)")


LOGS = SideSchema("logs", (_v0_to_v1,))


def _new_key() -> int:
    return secrets.randbits(62) + 1


@resource("logs.group")
@dataclass(kw_only=True)
class LogGroup(Resource):
    """A log group; its id is its ARN (``arn:aws:logs:<region>:<account>:log-group:<name>``)."""

    name: str
    key: int  # the group's rows in the side tables
    created_ms: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    log_group_class: str = "STANDARD"
    deletion_protection: bool = False

    @property
    def arn(self) -> str:
        return self.id


@resource("logs.stream")
@dataclass(kw_only=True)
class LogStream(Resource):
    """A log stream; its id is its ARN (the group's ARN + ``:log-stream:<name>``)."""

    group_id: str
    name: str
    key: int
    created_ms: int
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    last_ingestion_ms: int | None = None
    sequence: int = 0

    @property
    def arn(self) -> str:
        return self.id

    @property
    def upload_sequence_token(self) -> str:
        return f"{self.sequence:056d}"


def group_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def stream_arn(group_id: str, name: str) -> str:
    return f"{group_id}:log-stream:{name}"


def new_group(account: str, region: str, name: str, now_ms: int, **kw) -> LogGroup:
    return LogGroup(
        id=group_arn(account, region, name),
        account=account,
        region=region,
        name=name,
        key=_new_key(),
        created_ms=now_ms,
        **kw,
    )


def new_stream(group: LogGroup, name: str, now_ms: int) -> LogStream:
    return LogStream(
        id=stream_arn(group.id, name),
        account=group.account,
        region=group.region,
        group_id=group.id,
        name=name,
        key=_new_key(),
        created_ms=now_ms,
    )


def streams_of(tx_or_store, group: LogGroup) -> list[LogStream]:
    return [
        s
        for s in tx_or_store.owned(LogStream, group.account, group.region)
        if s.group_id == group.id
    ]


def retention_cutoff(group: LogGroup, now_ms: int) -> int | None:
    """Events with a timestamp before this have expired (None: kept forever)."""
    if not group.retention_days:
        return None
    return now_ms - group.retention_days * DAY_MS


# ------------------------------------------------------------------------------ writes


def store_events(
    tx: Transaction,
    group: LogGroup,
    stream: LogStream,
    events: Sequence[tuple[int, str]],
    ingest_ms: int,
) -> None:
    """Append validated events (timestamp ms, message) to ``stream``, in the given order,
    and update the stream's timestamps. Committed with ``tx``."""
    if not events:
        return
    rows = [(group.key, stream.key, ts, ingest_ms, msg) for ts, msg in events]
    tx.side_write(
        LOGS,
        "INSERT INTO log_events (grp, stream, ts, ingest, message) VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    size = sum(len(msg.encode("utf-8", "surrogatepass")) for _, msg in events)
    tx.side_write(
        LOGS,
        "INSERT INTO log_group_bytes (grp, bytes) VALUES (?, ?)"
        " ON CONFLICT (grp) DO UPDATE SET bytes = bytes + excluded.bytes",
        (group.key, size),
    )
    first = min(ts for ts, _ in events)
    last = max(ts for ts, _ in events)
    s = tx.edit(stream)
    s.first_event_ms = first if s.first_event_ms is None else min(s.first_event_ms, first)
    s.last_event_ms = last if s.last_event_ms is None else max(s.last_event_ms, last)
    s.last_ingestion_ms = ingest_ms
    s.sequence += 1


def append_events(
    tx: Transaction,
    account: str,
    region: str,
    group: str,
    stream: str,
    events: Iterable[tuple[int, str]],
    *,
    now: float | None = None,
    create: bool = True,
) -> int:
    """Append ``events`` — (timestamp in ms, message) pairs — to log stream ``stream`` of
    log group ``group`` in (account, region), creating the group and the stream when
    missing (``create=False``: raise ``LookupError`` instead). Events are stored in
    timestamp order; empty messages and events older than the group's retention are
    skipped. Returns how many events were stored. Durable when ``tx`` commits."""
    now_ms = int((time.time() if now is None else now) * 1000)
    gid = group_arn(account, region, group)
    g = tx.get(LogGroup, gid)
    if g is None:
        if not create:
            raise LookupError(f"log group {group} does not exist in {account}/{region}")
        g = new_group(account, region, group, now_ms)
        tx.put(g)
    s = tx.get(LogStream, stream_arn(gid, stream))
    if s is None:
        if not create:
            raise LookupError(f"log stream {stream} does not exist in log group {group}")
        s = new_stream(g, stream, now_ms)
        tx.put(s)
    cutoff = retention_cutoff(g, now_ms)
    batch = sorted(
        ((int(ts), msg) for ts, msg in events if msg and (cutoff is None or ts >= cutoff)),
        key=lambda e: e[0],
    )
    store_events(tx, g, s, batch, now_ms)
    return len(batch)


def delete_group_events(tx: Transaction, group: LogGroup) -> None:
    tx.side_write(LOGS, "DELETE FROM log_events WHERE grp = ?", (group.key,))
    tx.side_write(LOGS, "DELETE FROM log_group_bytes WHERE grp = ?", (group.key,))


def delete_stream_events(store: Store, tx: Transaction, group: LogGroup, stream: LogStream) -> None:
    size = store.side.scalar(
        LOGS,
        "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events WHERE stream = ?",
        (stream.key,),
    )
    tx.side_write(LOGS, "DELETE FROM log_events WHERE stream = ?", (stream.key,))
    if size:
        tx.side_write(
            LOGS,
            "UPDATE log_group_bytes SET bytes = MAX(0, bytes - ?) WHERE grp = ?",
            (size, group.key),
        )


def prune_expired(store: Store, now_ms: int, batch: int = 50_000) -> int:
    """Delete events past their group's retention; returns how many went (at most
    ``batch`` per group per call, so one sweep never holds the loop for long)."""
    removed = 0
    groups = [g for g in store.all(LogGroup) if g.retention_days]
    for g in groups:
        cutoff = retention_cutoff(g, now_ms)
        rows = store.side.query(
            LOGS,
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM ("
            " SELECT message FROM log_events WHERE grp = ? AND ts < ? ORDER BY ts LIMIT ?)",
            (g.key, cutoff, batch),
        )
        count, size = rows[0]
        if not count:
            continue
        with store.transaction() as tx:
            tx.side_write(
                LOGS,
                "DELETE FROM log_events WHERE id IN ("
                " SELECT id FROM log_events WHERE grp = ? AND ts < ? ORDER BY ts LIMIT ?)",
                (g.key, cutoff, batch),
            )
            tx.side_write(
                LOGS,
                "UPDATE log_group_bytes SET bytes = MAX(0, bytes - ?) WHERE grp = ?",
                (size, g.key),
            )
        removed += count
    return removed


# ------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class EventRow:
    id: int
    stream: int
    ts: int
    ingest: int
    message: str


def stored_bytes(store: Store, group: LogGroup) -> int:
    return (
        store.side.scalar(LOGS, "SELECT bytes FROM log_group_bytes WHERE grp = ?", (group.key,))
        or 0
    )


def _range_sql(start: int | None, end: int | None, end_inclusive: bool) -> tuple[str, list]:
    sql, args = "", []
    if start is not None:
        sql += " AND ts >= ?"
        args.append(start)
    if end is not None:
        sql += " AND ts <= ?" if end_inclusive else " AND ts < ?"
        args.append(end)
    return sql, args


def read_stream(
    store: Store,
    stream: LogStream,
    *,
    start: int | None,
    end: int | None,
    after: tuple[int, int] | None = None,
    before: tuple[int, int] | None = None,
    newest_first: bool = False,
    limit: int,
) -> list[EventRow]:
    """Events of ``stream`` with start <= ts < end, strictly after ``after`` or before
    ``before`` in (timestamp, id) order; the first ``limit`` from the oldest end, or from
    the newest end when ``newest_first`` (returned newest first)."""
    where, args = _range_sql(start, end, end_inclusive=False)
    if after is not None:
        where += " AND (ts, id) > (?, ?)"
        args += list(after)
    if before is not None:
        where += " AND (ts, id) < (?, ?)"
        args += list(before)
    order = "DESC" if newest_first else "ASC"
    rows = store.side.query(
        LOGS,
        f"SELECT id, stream, ts, ingest, message FROM log_events WHERE stream = ?{where}"
        f" ORDER BY ts {order}, id {order} LIMIT ?",
        [stream.key, *args, limit],
    )
    return [EventRow(*r) for r in rows]


def scan_group(
    store: Store,
    group: LogGroup,
    *,
    streams: Sequence[int] | None,
    start: int | None,
    end: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[EventRow]:
    """Events of ``group`` (optionally only of the given stream keys) with
    start <= ts <= end, after position ``after``, oldest first."""
    where, args = _range_sql(start, end, end_inclusive=True)
    if after is not None:
        where += " AND (ts, id) > (?, ?)"
        args += list(after)
    if streams is not None and len(streams) == 1:  # one stream: walk that stream's index
        rows = store.side.query(
            LOGS,
            "SELECT id, stream, ts, ingest, message FROM log_events INDEXED BY log_events_by_stream"
            f" WHERE stream = ?{where} ORDER BY ts, id LIMIT ?",
            [streams[0], *args, limit],
        )
        return [EventRow(*r) for r in rows]
    if streams is not None:
        if not streams:
            return []
        where += f" AND stream IN ({','.join('?' * len(streams))})"
        args += list(streams)
    rows = store.side.query(
        LOGS,
        "SELECT id, stream, ts, ingest, message FROM log_events INDEXED BY log_events_by_group"
        f" WHERE grp = ?{where} ORDER BY ts, id LIMIT ?",
        [group.key, *args, limit],
    )
    return [EventRow(*r) for r in rows]
