"""The in-process metrics sink: what the data plane and the health checker feed, aggregated
in memory and flushed to the CloudWatch metric store every few seconds, and exposed for
Prometheus at ``GET /metrics`` (also ``GET /_privlink/metrics``).

Feeding is cheap and I/O-free (everything runs on privlink's event loop, so there is no
lock): a series handle accumulates count / sum / min / max in its own slots, and the sink
harvests every handle at each flush tick. Flush ticks also fall on every minute boundary,
so each minute's data lands in that minute's bucket. Feed it per flow event (open, close,
reset, bytes moved since the last report), never per chunk relayed. How each AWS metric is
fed and read back is in :mod:`.catalog`.

In-process API (``sink = app.runtime.hooks["metrics"]``)::

    # resolve a series once (e.g. when a listener starts), then feed the handle
    new_flows = sink.counter(account, region, "AWS/NetworkELB", "NewFlowCount",
                             {"LoadBalancer": "net/web/0123456789abcdef"})
    new_flows.add(1)                                   # ~ a few attribute updates
    nbytes = sink.counter(account, region, "AWS/NetworkELB", "ProcessedBytes", dims, "Bytes")
    nbytes.add(4096)
    active = sink.gauge(account, region, "AWS/NetworkELB", "ActiveFlowCount", dims)
    active.move(+1) ... active.move(-1)                # a level, sampled at every tick
    healthy = sink.gauge(account, region, "AWS/NetworkELB", "HealthyHostCount", tg_dims)
    healthy.set(2)                                     # reported every minute until removed
    sink.remove(healthy)
    peak = sink.counter(account, region, "AWS/NetworkELB", "PeakBytesPerSecond", dims,
                        "Bytes/Second")
    peak.observe(bps)                                  # a measured value (read: Maximum)

    # a metric published for each of its dimension sets, fed as one
    flows = sink.counters(account, region, "AWS/NetworkELB", "NewFlowCount",
                          [{"LoadBalancer": lb}, {"LoadBalancer": lb, "AvailabilityZone": az}])
    flows.add(1)                                       # sink.gauges(...) likewise

    # one-off calls (build the series key each time: fine off the hot path)
    sink.add(account, region, namespace, name, dimensions, value, unit="Count", ts=None)
    sink.gauge_add(account, region, namespace, name, dimensions, delta, unit="Count")
    sink.gauge_set(account, region, namespace, name, dimensions, value, unit="Count")
    sink.gauge_remove(account, region, namespace, name, dimensions, unit="Count")

    sink.add_collector(fn)   # fn() runs before every flush: report what live flows moved

A gauge moved with ``move`` / ``gauge_add`` stops being reported once it has been sampled
at zero (AWS publishes no datapoints without traffic) and comes back with the next move; a
gauge given a value with ``set`` / ``gauge_set`` is sampled until removed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from ..aio import cancel_and_wait
from ..api.protocol import HttpResponse
from . import metricstore
from .catalog import info
from .metricstore import Bucket, Datum, dims_key
from .prometheus import CONTENT_TYPE, Sample, render

log = logging.getLogger("privlink.metrics")

_INF = math.inf


class Series:
    """One metric series fed in-process. Hashes by identity."""

    __slots__ = (
        "sink", "account", "region", "namespace", "name", "dims", "unit", "kind",
        "n", "sum", "min", "max", "total", "value", "sticky", "sampled_zero", "live", "key",
    )  # fmt: skip

    def __init__(self, sink, account, region, namespace, name, dims, unit, kind):
        self.sink = sink
        self.account = account
        self.region = region
        self.namespace = namespace
        self.name = name
        self.dims = dims
        self.unit = unit
        self.kind = kind  # counter | gauge | peak
        self.n = 0.0  # values since the last harvest ...
        self.sum = 0.0
        self.min = _INF
        self.max = -_INF
        self.total = 0.0  # counters: harvested total since start (Prometheus)
        self.value = 0.0  # gauges and observed values: the current value
        self.sticky = False
        self.sampled_zero = False
        self.live = False  # gauges: sampled at each tick
        self.key = metricstore.series_key(account, region, namespace, name, dims)

    # counters and measured values
    def add(self, value: float) -> None:
        self.n += 1.0
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def observe(self, value: float) -> None:
        """A measured value (e.g. PeakBytesPerSecond): read back with Maximum; Prometheus
        shows the last one."""
        self.kind = "peak"
        self.value = value
        self.add(value)

    # gauges
    def move(self, delta: float) -> None:
        self.value += delta
        self.sampled_zero = False
        if not self.live:
            self.sink._watch(self)

    def set(self, value: float) -> None:
        self.value = value
        self.sticky = True
        self.sampled_zero = False
        if not self.live:
            self.sink._watch(self)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.namespace} {self.name} {dict(self.dims)} {self.unit}>"


class Fanout:
    """Several handles fed as one (a metric published for each of its dimension sets)."""

    __slots__ = ("series",)

    def __init__(self, *series: Series):
        self.series = series

    def add(self, value: float) -> None:
        for s in self.series:
            s.add(value)

    def observe(self, value: float) -> None:
        for s in self.series:
            s.observe(value)

    def move(self, delta: float) -> None:
        for s in self.series:
            s.move(delta)

    def set(self, value: float) -> None:
        for s in self.series:
            s.set(value)


class MetricsSink:
    name = "metrics"

    def __init__(self, settings):
        self.settings = settings
        self._series: dict[tuple, Series] = {}
        self._pending: dict[tuple[Series, int], list[float]] = {}
        self._gauges: dict[Series, None] = {}
        self._collectors: list[Callable[[], None]] = []
        self.app = None
        self._task: asyncio.Task | None = None
        self._last_prune = 0.0
        self._last_harvest = time.time()
        self.flushes = 0

    # ----------------------------------------------------------------- series handles
    def series(self, account, region, namespace, name, dimensions, unit="Count", kind="counter"):
        dims = dimensions if isinstance(dimensions, tuple) else dims_key(dimensions)
        key = (account, region, namespace, name, dims, unit)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = Series(self, account, region, namespace, name, dims, unit, kind)
        elif kind != "counter" and s.kind == "counter":
            s.kind = kind
        return s

    def counter(self, account, region, namespace, name, dimensions, unit="Count") -> Series:
        """A counter (or measured value) handle: ``.add(v)`` / ``.observe(v)``."""
        return self.series(account, region, namespace, name, dimensions, unit)

    def gauge(self, account, region, namespace, name, dimensions, unit="Count") -> Series:
        """A gauge handle: ``.move(delta)`` / ``.set(value)``."""
        return self.series(account, region, namespace, name, dimensions, unit, "gauge")

    def counters(self, account, region, namespace, name, dimension_sets, unit="Count") -> Fanout:
        """One counter per dimension set, fed together: ``.add(v)`` / ``.observe(v)``."""
        return Fanout(
            *(self.counter(account, region, namespace, name, d, unit) for d in dimension_sets)
        )

    def gauges(self, account, region, namespace, name, dimension_sets, unit="Count") -> Fanout:
        """One gauge per dimension set, fed together: ``.move(d)`` / ``.set(v)``."""
        return Fanout(
            *(self.gauge(account, region, namespace, name, d, unit) for d in dimension_sets)
        )

    def remove(self, s: Series | Fanout) -> None:
        if isinstance(s, Fanout):
            for one in s.series:
                self.remove(one)
            return
        """Forget a series (e.g. the target group went away): no more samples, and gone
        from the Prometheus page. What it already recorded is still flushed."""
        self._harvest_one(s, self._bucket(time.time()))
        self._gauges.pop(s, None)
        s.live = False
        self._series.pop((s.account, s.region, s.namespace, s.name, s.dims, s.unit), None)

    def _watch(self, s: Series) -> None:
        s.live = True
        self._gauges[s] = None

    # --------------------------------------------------------------- one-off helpers
    def add(self, account, region, namespace, name, dimensions, value, unit="Count", ts=None):
        s = self.series(account, region, namespace, name, dimensions, unit)
        if ts is None:
            s.add(value)
        else:  # a past (or future) timestamp goes straight to its own bucket
            s.total += value
            self._record(s, value, ts)

    def observe(self, account, region, namespace, name, dimensions, value, unit="None"):
        self.series(account, region, namespace, name, dimensions, unit, "peak").observe(value)

    def gauge_add(self, account, region, namespace, name, dimensions, delta, unit="Count"):
        self.gauge(account, region, namespace, name, dimensions, unit).move(delta)

    def gauge_set(self, account, region, namespace, name, dimensions, value, unit="Count"):
        self.gauge(account, region, namespace, name, dimensions, unit).set(value)

    def gauge_remove(self, account, region, namespace, name, dimensions, unit="Count"):
        dims = dimensions if isinstance(dimensions, tuple) else dims_key(dimensions)
        s = self._series.get((account, region, namespace, name, dims, unit))
        if s is not None:
            self.remove(s)

    def add_collector(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Run ``fn()`` before each flush (e.g. to report the bytes live flows moved since
        the last one). Returns a function that removes it."""
        self._collectors.append(fn)
        return lambda: self._collectors.remove(fn) if fn in self._collectors else None

    # --------------------------------------------------------------------- flushing
    @staticmethod
    def _bucket(ts: float) -> int:
        return int(ts) // 60 * 60

    def _record(self, s: Series, value: float, ts: float, n: float = 1.0, total: float | None = None, lo=None, hi=None) -> None:  # fmt: skip
        k = (s, self._bucket(ts))
        lo = value if lo is None else lo
        hi = value if hi is None else hi
        total = value if total is None else total
        b = self._pending.get(k)
        if b is None:
            self._pending[k] = [n, total, lo, hi]
        else:
            b[0] += n
            b[1] += total
            if lo < b[2]:
                b[2] = lo
            if hi > b[3]:
                b[3] = hi

    def _harvest_one(self, s: Series, bucket_ts: float) -> None:
        if not s.n:
            return
        self._record(s, 0.0, bucket_ts, n=s.n, total=s.sum, lo=s.min, hi=s.max)
        if s.kind == "counter":
            s.total += s.sum
        s.n, s.sum, s.min, s.max = 0.0, 0.0, _INF, -_INF

    def harvest(self, now: float | None = None) -> None:
        """Move what every handle accumulated since the last harvest into a pending bucket,
        and sample the gauges. The data is dated at the middle of the accumulation window
        (at most one flush interval long): ticks fall on minute boundaries, so a window
        never reaches into the next minute by more than a tick's lateness."""
        now = time.time() if now is None else now
        interval = max(0.01, self.settings.timing.metrics_flush_interval)
        at = (max(self._last_harvest, now - interval) + now) / 2
        self._last_harvest = now
        for s in list(self._series.values()):
            if s.n:
                self._harvest_one(s, at)
        for s in list(self._gauges):
            if s.value == 0 and not s.sticky:
                if s.sampled_zero:
                    del self._gauges[s]
                    s.live = False
                    continue
                s.sampled_zero = True
            self._record(s, s.value, at)

    def flush(self, now: float | None = None) -> int:
        """Run the collectors, harvest the handles, sample the gauges and write the
        buckets to the store. Returns how many buckets were written."""
        now = time.time() if now is None else now
        for fn in list(self._collectors):
            try:
                fn()
            except Exception:
                log.exception("metrics collector failed")
        self.harvest(now)
        if not self._pending or self.app is None:
            return 0
        pending, self._pending = self._pending, {}
        data = [
            Datum(
                s.account,
                s.region,
                s.namespace,
                s.name,
                s.dims,
                float(ts),
                s.unit,
                Bucket(*b),
                key=s.key,
            )  # fmt: skip
            for (s, ts), b in pending.items()
        ]
        store = self.app.store
        with store.transaction() as tx:
            metricstore.write(tx, data, now)
        self.flushes += 1
        if now - self._last_prune >= self.settings.timing.retention_sweep_interval:
            self._last_prune = now
            metricstore.prune(
                store,
                now,
                self.settings.metric_retention_days,
                self.settings.metric_high_resolution_retention_hours,
            )
        return len(data)

    # ------------------------------------------------------------------- Prometheus
    def samples(self) -> list[Sample]:
        out = []
        for s in self._series.values():
            if s.kind == "gauge" and not s.live:
                continue
            if s.kind == "counter":
                value = s.total + s.sum
            else:
                value = s.value
            meta = info(s.namespace, s.name)
            out.append(
                Sample(
                    s.namespace,
                    s.name,
                    "counter" if s.kind == "counter" else "gauge",
                    (("account", s.account), ("region", s.region), *s.dims),
                    value,
                    meta.help if meta else f"{s.namespace} {s.name} ({s.unit}).",
                )
            )
        return out

    def prometheus(self, req=None) -> HttpResponse:
        return HttpResponse(200, {"Content-Type": CONTENT_TYPE}, render(self.samples()).encode())

    # -------------------------------------------------------------------- component
    async def start(self, app) -> None:
        self.app = app
        app.runtime.hooks["metrics"] = self
        app.http.add_extension("GET", "metrics", self.prometheus, also_at="/metrics")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="privlink-metrics")

    async def _run(self) -> None:
        while True:
            now = time.time()
            interval = max(0.01, self.settings.timing.metrics_flush_interval)
            boundary = (int(now) // 60 + 1) * 60  # a tick on every minute boundary
            await asyncio.sleep(max(0.0, min(now + interval, boundary) - now))
            try:
                self.flush()
            except Exception:
                log.exception("metrics flush failed")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        try:
            self.flush()
        except Exception:
            log.exception("final metrics flush failed")
        if self.app is not None and self.app.runtime.hooks.get("metrics") is self:
            del self.app.runtime.hooks["metrics"]

    def banner(self) -> list[str]:
        if self.app is None or getattr(self.app, "port", None) is None:
            return []
        return [f"metrics for Prometheus at {self.app.endpoint_url}/metrics"]
