"""CloudWatch metric storage: datapoints aggregated per bucket, in side tables.

A metric (a *series*) is (account, region, namespace, metric name, dimension set). Its data
is kept as buckets of SampleCount / Sum / Minimum / Maximum per (series, resolution,
bucket start, unit): one-minute buckets for every datum, plus one-second buckets for
high-resolution data (StorageResolution 1). Writing merges into a bucket with a single
``INSERT … ON CONFLICT DO UPDATE``, so an upsert costs the same however long the metric
has existed. Values published individually (PutMetricData Value / Values+Counts, or a
statistic set whose values are all equal) also feed a log-scale histogram per bucket
(about 1 % relative precision) from which percentiles (p50, p99.9 …) are estimated.

Retention (``Settings.metric_retention_days``, default 15 days, and
``metric_high_resolution_retention_hours``, default 3 hours, as AWS keeps 1-minute and
sub-minute data) is enforced by :func:`prune` and by every query.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..state import Store, Transaction
from ..state.sidetables import SideSchema

STANDARD = 60
HIGH = 1
_HIST_BASE = math.log(1.02)


def _v0_to_v1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE metric_series ("
        " key INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,"
        " namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL,"
        " last_put REAL NOT NULL)"
    )
    db.execute("CREATE INDEX metric_series_by_owner ON metric_series (account, region, namespace)")
    db.execute(
        "CREATE TABLE metric_points ("
        " series INTEGER NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " unit TEXT NOT NULL, n REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,"
        " max REAL NOT NULL, PRIMARY KEY (series, res, ts, unit)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX metric_points_by_age ON metric_points (res, ts)")
    db.execute(
        "CREATE TABLE metric_hist ("
        " series INTEGER NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " unit TEXT NOT NULL, bin INTEGER NOT NULL, count REAL NOT NULL,"
        " PRIMARY KEY (series, res, ts, unit, bin)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX metric_hist_by_age ON metric_hist (res, ts)")


METRICS = SideSchema("metrics", (_v0_to_v1,))

Dims = tuple[tuple[str, str], ...]  # dimensions, sorted by name


def dims_key(dimensions: dict[str, str] | Iterable[tuple[str, str]]) -> Dims:
    items = dimensions.items() if isinstance(dimensions, dict) else dimensions
    return tuple(sorted((str(k), str(v)) for k, v in items))


def series_key(account: str, region: str, namespace: str, name: str, dims: Dims) -> int:
    """A stable 63-bit id for a series (its rows' key)."""
    text = json.dumps([account, region, namespace, name, dims], separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def hist_bin(value: float) -> int | None:
    """The histogram bin of a value (None for negative values: AWS gives no percentiles for
    them). Bin 0 holds zero; bin k > 0 holds values near 1.02 ** (k - 2**30)."""
    if value < 0:
        return None
    if value == 0:
        return 0
    return int(round(math.log(value) / _HIST_BASE)) + 2**30


def bin_value(b: int) -> float:
    return 0.0 if b == 0 else math.exp((b - 2**30) * _HIST_BASE)


@dataclass
class Bucket:
    """Statistics of the values that fell into one bucket."""

    n: float
    sum: float
    min: float
    max: float

    def merge(self, other: Bucket) -> None:
        self.n += other.n
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)


@dataclass
class Datum:
    """One bucket's worth of data for a series, ready to be merged into the store."""

    account: str
    region: str
    namespace: str
    name: str
    dims: Dims
    ts: float  # any time inside the bucket (seconds)
    unit: str
    stats: Bucket
    hist: dict[int, float] | None = None  # bin -> count, when values were individual
    high_resolution: bool = False
    key: int | None = None  # series_key(...), when the caller has it cached


def write(tx: Transaction, data: Sequence[Datum], now: float) -> None:
    """Merge ``data`` into the stored buckets, committed with ``tx``."""
    if not data:
        return
    series: dict[int, tuple] = {}
    points: dict[tuple, Bucket] = {}
    hist: dict[tuple, float] = {}
    for d in data:
        key = (
            d.key
            if d.key is not None
            else series_key(d.account, d.region, d.namespace, d.name, d.dims)
        )
        if key not in series:
            series[key] = (key, d.account, d.region, d.namespace, d.name, json.dumps(d.dims), now)
        for res in (HIGH, STANDARD) if d.high_resolution else (STANDARD,):
            pk = (key, res, int(d.ts // res) * res, d.unit)
            b = points.get(pk)
            if b is None:
                points[pk] = Bucket(d.stats.n, d.stats.sum, d.stats.min, d.stats.max)
            else:
                b.merge(d.stats)
            if d.hist:
                for binno, count in d.hist.items():
                    hk = (*pk, binno)
                    hist[hk] = hist.get(hk, 0.0) + count
    tx.side_write(
        METRICS,
        "INSERT INTO metric_series (key, account, region, namespace, name, dims, last_put)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET last_put = MAX(last_put, excluded.last_put)",
        list(series.values()),
    )
    tx.side_write(
        METRICS,
        "INSERT INTO metric_points (series, res, ts, unit, n, sum, min, max)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (series, res, ts, unit) DO UPDATE SET n = n + excluded.n,"
        " sum = sum + excluded.sum, min = MIN(min, excluded.min), max = MAX(max, excluded.max)",
        [(*pk, b.n, b.sum, b.min, b.max) for pk, b in points.items()],
    )
    tx.side_write(
        METRICS,
        "INSERT INTO metric_hist (series, res, ts, unit, bin, count) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (series, res, ts, unit, bin) DO UPDATE SET count = count + excluded.count",
        [(*hk, c) for hk, c in hist.items()],
    )


def prune(store: Store, now: float, standard_days: float, high_hours: float) -> None:
    """Forget buckets older than the retention of their resolution."""
    limits = ((STANDARD, now - standard_days * 86400), (HIGH, now - high_hours * 3600))
    old = any(
        store.side.scalar(
            METRICS, "SELECT 1 FROM metric_points WHERE res = ? AND ts < ? LIMIT 1", (res, cut)
        )
        for res, cut in limits
    )
    if not old:
        return
    with store.transaction() as tx:
        for res, cut in limits:
            tx.side_write(METRICS, "DELETE FROM metric_points WHERE res = ? AND ts < ?", (res, cut))
            tx.side_write(METRICS, "DELETE FROM metric_hist WHERE res = ? AND ts < ?", (res, cut))
        tx.side_write(
            METRICS, "DELETE FROM metric_series WHERE last_put < ?", (now - standard_days * 86400,)
        )


# ------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Series:
    key: int
    namespace: str
    name: str
    dims: Dims
    last_put: float


def list_series(
    store: Store, account: str, region: str, namespace: str | None = None, name: str | None = None
) -> list[Series]:
    sql = "SELECT key, namespace, name, dims, last_put FROM metric_series WHERE account = ? AND region = ?"
    args: list = [account, region]
    if namespace is not None:
        sql += " AND namespace = ?"
        args.append(namespace)
    if name is not None:
        sql += " AND name = ?"
        args.append(name)
    return [
        Series(k, ns, n, tuple(tuple(p) for p in json.loads(d)), lp)
        for k, ns, n, d, lp in store.side.query(METRICS, sql, args)
    ]


@dataclass(frozen=True)
class Point:
    ts: int
    unit: str
    stats: Bucket
    hist: dict[int, float] | None


def read_points(
    store: Store,
    account: str,
    region: str,
    namespace: str,
    name: str,
    dims: Dims,
    *,
    res: int,
    start: float,
    end: float,
    unit: str | None = None,
    with_hist: bool = False,
) -> list[Point]:
    """Stored buckets of one series at resolution ``res`` with start <= ts < end."""
    key = series_key(account, region, namespace, name, dims)
    sql = "SELECT ts, unit, n, sum, min, max FROM metric_points WHERE series = ? AND res = ? AND ts >= ? AND ts < ?"
    args: list = [key, res, start, end]
    if unit is not None:
        sql += " AND unit = ?"
        args.append(unit)
    rows = store.side.query(METRICS, sql + " ORDER BY ts", args)
    hists: dict[tuple[int, str], dict[int, float]] = {}
    if with_hist and rows:
        hsql = "SELECT ts, unit, bin, count FROM metric_hist WHERE series = ? AND res = ? AND ts >= ? AND ts < ?"
        if unit is not None:
            hsql += " AND unit = ?"
        for ts, u, b, c in store.side.query(METRICS, hsql, args):
            hists.setdefault((ts, u), {})[b] = c
    return [
        Point(ts, u, Bucket(n, s, lo, hi), hists.get((ts, u)) if with_hist else None)
        for ts, u, n, s, lo, hi in rows
    ]


def percentile(
    hist: dict[int, float], total: float, p: float, lo: float, hi: float
) -> float | None:
    """The p-th percentile (0..100) from a histogram, clamped to [lo, hi]."""
    if not hist or total <= 0:
        return None
    counted = sum(hist.values())
    if counted < total:  # some values came without a histogram (statistic sets)
        return None
    rank = p / 100.0 * counted
    seen = 0.0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank - 1e-9:
            return min(max(bin_value(b), lo), hi)
    return hi
