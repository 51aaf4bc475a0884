"""The in-process metrics sink: what the data plane and the health checker feed, aggregated
in memory and flushed to the CloudWatch metric store every few seconds, and exposed for
Prometheus at ``GET /_privlink/metrics``.

Calls are cheap (a dict update; no I/O, no lock — everything runs on privlink's event
loop) and are meant for flow events (open, close, reset, a periodic byte count), never for
each chunk relayed. How each AWS metric is fed and read is in :mod:`.catalog`.

In-process API (``sink = app.runtime.hooks["metrics"]``)::

    sink.add(account, region, "AWS/NetworkELB", "NewFlowCount",
             {"LoadBalancer": "net/web/0123456789abcdef"}, 1)            # counter
    sink.add(account, region, "AWS/NetworkELB", "ProcessedBytes", dims, nbytes, "Bytes")
    sink.gauge_add(account, region, "AWS/NetworkELB", "ActiveFlowCount", dims, +1)  # level
    sink.gauge_set(account, region, "AWS/NetworkELB", "HealthyHostCount", tg_dims, 2)
    sink.gauge_remove(account, region, "AWS/NetworkELB", "HealthyHostCount", tg_dims)
    sink.observe(account, region, "AWS/NetworkELB", "PeakBytesPerSecond", dims, bps,
                 "Bytes/Second")                                           # measured value

    # hot paths: resolve the series once, then feed the handle
    ref = sink.series(account, region, "AWS/NetworkELB", "ProcessedBytes", dims, "Bytes")
    sink.add_to(ref, nbytes)
    sink.add_collector(fn)   # fn() runs before every flush: report bytes of long-lived flows

Counters (``add``) land in the bucket of their timestamp (now by default). Gauges are
sampled at every flush tick: each sample is one value in the current minute's bucket. A
gauge moved by ``gauge_add`` disappears once it has been sampled at zero (AWS publishes no
datapoints without traffic); a gauge set by ``gauge_set`` is sampled until
``gauge_remove``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..api.protocol import HttpResponse
from . import metricstore
from .catalog import info
from .metricstore import Bucket, Datum, dims_key
from .prometheus import CONTENT_TYPE, Sample, render

log = logging.getLogger("privlink.metrics")


class SeriesRef:
    """One metric series the sink feeds (compare and hash by identity: cheap)."""

    __slots__ = (
        "account", "region", "namespace", "name", "dims", "unit",
        "kind", "total", "value", "sticky", "sampled_zero",
    )  # fmt: skip

    def __init__(self, account, region, namespace, name, dims, unit):
        self.account = account
        self.region = region
        self.namespace = namespace
        self.name = name
        self.dims = dims
        self.unit = unit
        self.kind = "counter"
        self.total = 0.0  # counters: running total since start (Prometheus)
        self.value = 0.0  # gauges / observed values: the current value
        self.sticky = False  # gauge_set gauges stay until gauge_remove
        self.sampled_zero = False

    def __repr__(self) -> str:
        return f"<series {self.namespace} {self.name} {dict(self.dims)} {self.unit}>"


class MetricsSink:
    name = "metrics"

    def __init__(self, settings):
        self.settings = settings
        self._refs: dict[tuple, SeriesRef] = {}
        self._pending: dict[tuple[SeriesRef, int], list[float]] = {}
        self._gauges: dict[SeriesRef, None] = {}
        self._collectors: list[Callable[[], None]] = []
        self.app = None
        self._task: asyncio.Task | None = None
        self._last_prune = 0.0
        self.flushes = 0

    # ------------------------------------------------------------------ feeding (cheap)
    def series(self, account, region, namespace, name, dimensions, unit="Count") -> SeriesRef:
        """The handle of a series (created on first use)."""
        dims = dimensions if isinstance(dimensions, tuple) else dims_key(dimensions)
        key = (account, region, namespace, name, dims, unit)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = SeriesRef(account, region, namespace, name, dims, unit)
        return ref

    def add(self, account, region, namespace, name, dimensions, value, unit="Count", ts=None):
        """Count ``value`` (an event, bytes moved …) into a counter."""
        self.add_to(self.series(account, region, namespace, name, dimensions, unit), value, ts)

    def add_to(self, ref: SeriesRef, value: float, ts: float | None = None) -> None:
        ref.total += value
        self._record(ref, value, time.time() if ts is None else ts)

    def observe(self, account, region, namespace, name, dimensions, value, unit="None", ts=None):
        """Record a measured value (e.g. PeakBytesPerSecond); read back with Maximum."""
        ref = self.series(account, region, namespace, name, dimensions, unit)
        ref.kind = "peak"
        ref.value = value
        self._record(ref, value, time.time() if ts is None else ts)

    def gauge_add(self, account, region, namespace, name, dimensions, delta, unit="Count"):
        """Move a level up or down (+1 when a flow opens, -1 when it closes)."""
        ref = self.series(account, region, namespace, name, dimensions, unit)
        ref.kind = "gauge"
        ref.value += delta
        ref.sampled_zero = False
        self._gauges[ref] = None

    def gauge_set(self, account, region, namespace, name, dimensions, value, unit="Count"):
        """Set a level that is reported every minute until :meth:`gauge_remove`."""
        ref = self.series(account, region, namespace, name, dimensions, unit)
        ref.kind = "gauge"
        ref.value = value
        ref.sticky = True
        ref.sampled_zero = False
        self._gauges[ref] = None

    def gauge_remove(self, account, region, namespace, name, dimensions, unit="Count"):
        dims = dimensions if isinstance(dimensions, tuple) else dims_key(dimensions)
        ref = self._refs.pop((account, region, namespace, name, dims, unit), None)
        if ref is not None:
            self._gauges.pop(ref, None)

    def add_collector(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Run ``fn()`` before each flush (to report what live flows moved since the last
        one). Returns a function that removes it."""
        self._collectors.append(fn)
        return lambda: self._collectors.remove(fn) if fn in self._collectors else None

    def _record(self, ref: SeriesRef, value: float, ts: float) -> None:
        k = (ref, int(ts) // 60 * 60)
        b = self._pending.get(k)
        if b is None:
            self._pending[k] = [1.0, value, value, value]
        else:
            b[0] += 1.0
            b[1] += value
            if value < b[2]:
                b[2] = value
            if value > b[3]:
                b[3] = value

    # --------------------------------------------------------------------- flushing
    def sample_gauges(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for ref in list(self._gauges):
            if ref.value == 0 and not ref.sticky:
                if ref.sampled_zero:
                    del self._gauges[ref]
                    continue
                ref.sampled_zero = True
            self._record(ref, ref.value, now)

    def flush(self, now: float | None = None) -> int:
        """Run the collectors, sample the gauges and write what accumulated to the store.
        Returns how many buckets were written."""
        now = time.time() if now is None else now
        for fn in list(self._collectors):
            try:
                fn()
            except Exception:
                log.exception("metrics collector failed")
        self.sample_gauges(now)
        if not self._pending or self.app is None:
            return 0
        pending, self._pending = self._pending, {}
        data = [
            Datum(
                ref.account, ref.region, ref.namespace, ref.name, ref.dims, float(ts),
                ref.unit, Bucket(*b),
            )
            for (ref, ts), b in pending.items()
        ]  # fmt: skip
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
        live_gauges = self._gauges
        for ref in self._refs.values():
            if ref.kind == "gauge" and ref not in live_gauges:
                continue
            meta = info(ref.namespace, ref.name)
            labels = (("account", ref.account), ("region", ref.region), *ref.dims)
            out.append(
                Sample(
                    ref.namespace,
                    ref.name,
                    "counter" if ref.kind == "counter" else "gauge",
                    labels,
                    ref.total if ref.kind == "counter" else ref.value,
                    meta.help if meta else f"{ref.namespace} {ref.name} ({ref.unit}).",
                )
            )
        return out

    def prometheus(self, req=None) -> HttpResponse:
        return HttpResponse(200, {"Content-Type": CONTENT_TYPE}, render(self.samples()).encode())

    # -------------------------------------------------------------------- component
    async def start(self, app) -> None:
        self.app = app
        app.runtime.hooks["metrics"] = self
        app.http.add_extension("GET", "metrics", self.prometheus)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="privlink-metrics")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.timing.metrics_flush_interval)
            try:
                self.flush()
            except Exception:
                log.exception("metrics flush failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            self.flush()
        except Exception:
            log.exception("final metrics flush failed")
        if self.app is not None and self.app.runtime.hooks.get("metrics") is self:
            del self.app.runtime.hooks["metrics"]

    def banner(self) -> list[str]:
        return []
