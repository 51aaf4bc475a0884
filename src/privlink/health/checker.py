"""The health checker: a live component that probes every registered target of every target
group an active load balancer forwards to, at the target group's interval, timeout and
thresholds, and records what it saw as :class:`~privlink.state.elbv2.TargetHealth`.

* Which targets to probe is reconciled from the store's change feed (load balancers, target
  groups, listeners), so probing starts when a listener appears and stops promptly when a
  target, target group, listener or load balancer goes away.
* Targets are reached through the address realm: the probe dials the loopback address that
  stands for the target's VPC address, from the loopback address of a load balancer node.
* Consecutive successes and failures are counted in memory; a ``TargetHealth`` is written
  only when a target's state or reason changes, batched into one transaction per flush.
* Each target has its own asyncio task; a semaphore bounds how many probes are in flight, and
  nothing blocks the event loop, so probing a thousand targets leaves the API responsive.
* ``HealthyHostCount``/``UnHealthyHostCount`` (namespace ``AWS/NetworkELB``) go to the
  metrics sink at ``runtime.hooks["metrics"]`` when one is installed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from ..aio import cancel_and_wait
from ..state import Change
from ..state.elbv2 import Listener, LoadBalancer, TargetGroup, TargetHealth
from ..state.elbv2_health import serving_load_balancer, zone_enabled
from .probes import ProbeResult, ProbeSpec, probe

log = logging.getLogger("privlink.health")

WATCHED = {LoadBalancer.KIND, TargetGroup.KIND, Listener.KIND, "ec2.vpc"}
Key = tuple[str, str, int]  # target group ARN, target id, port


@dataclass
class Check:
    """What to probe for one target, and how (rebuilt on every reconcile)."""

    tg_arn: str
    target_id: str
    port: int
    probe: ProbeSpec
    interval: float
    healthy_threshold: int
    unhealthy_threshold: int
    tg_suffix: str
    lb_suffix: str
    zone: str | None
    account: str = ""
    region: str = ""


@dataclass
class Tracked:
    check: Check
    state: str | None = None  # None: nothing observed yet
    reason: str | None = None
    description: str | None = None
    ok: int = 0
    fail: int = 0
    probes: int = 0
    last_result: ProbeResult | None = None
    task: asyncio.Task | None = field(default=None, repr=False)


class HealthChecker:
    name = "health-checks"

    def __init__(self, max_concurrency: int = 256, flush_delay: float = 0.05):
        self.max_concurrency = max_concurrency
        self.flush_delay = flush_delay
        self.tracked: dict[Key, Tracked] = {}
        self.probes_run = 0
        self._emitted: set = set()
        self._pending: dict[Key, tuple | None] = {}
        self._tasks: list[asyncio.Task] = []
        self._unsubscribe = None

    # -- lifecycle
    async def start(self, app) -> None:
        self.app = app
        self.store = app.store
        self.runtime = app.runtime
        self.settings = app.settings
        self._sem = asyncio.Semaphore(self.max_concurrency)
        self._dirty = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._unsubscribe = self.store.subscribe(self._on_change)
        self.runtime.hooks["health_checker"] = self
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reconcile_loop(), name="health-reconcile"),
            loop.create_task(self._flush_loop(), name="health-flush"),
            loop.create_task(self._metrics_loop(), name="health-metrics"),
        ]
        self._dirty.set()

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        await cancel_and_wait(*self._tasks, *(t.task for t in self.tracked.values()))
        self._flush()
        self.tracked.clear()

    def banner(self) -> list[str]:
        return []

    # -- what to probe
    def _on_change(self, changes: list[Change]) -> None:
        if any(ch.kind in WATCHED for ch in changes):
            self._dirty.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                self.reconcile()
            except Exception:  # a bug here must not stop health checking
                log.exception("health-check reconcile failed")

    def time_scale(self) -> float:
        """1.0 as AWS; below 1 when ``timing.health_check_interval_floor`` is under AWS's 5 s."""
        floor = self.settings.timing.health_check_interval_floor
        return min(1.0, max(floor, 0.01) / 5.0)

    def desired(self) -> dict[Key, Check]:
        realm = self.runtime.hooks.get("realm")
        scale = self.time_scale()
        out: dict[Key, Check] = {}
        for tg in self.store.all(TargetGroup):
            if tg.target_type != "ip" or not tg.health_check_enabled or not tg.targets:
                continue
            lb = serving_load_balancer(self.store, tg)
            if lb is None or lb.state != "active":
                continue
            listener_port = next(
                (
                    ln.port
                    for ln in self.store.owned(Listener, tg.account, tg.region)
                    if ln.load_balancer_arn == lb.arn
                    and any(a == tg.id for a, _ in ln.forward_target_groups())
                ),
                tg.port,
            )
            pp2 = tg.attributes.get("proxy_protocol_v2.enabled") == "true"
            protocol = tg.health_check_protocol or "TCP"
            for t in tg.targets:
                if t.deregistered_at is not None or not zone_enabled(lb, t):
                    continue
                node = next(
                    (n for n in lb.nodes if n.availability_zone_id == t.availability_zone_id),
                    lb.nodes[0] if lb.nodes else None,
                )
                host = source = None
                if realm is not None:
                    try:
                        host = realm.to_host(tg.vpc_id, t.id)
                    except ValueError:
                        host = None  # outside the VPC's CIDR: nothing privlink can reach
                    if node is not None:
                        try:
                            source = realm.to_host(lb.vpc_id, node.private_ip)
                        except ValueError:
                            source = None
                port = (
                    t.port if tg.health_check_port == "traffic-port" else int(tg.health_check_port)
                )
                spec = ProbeSpec(
                    host=host or "",
                    port=port,
                    protocol=protocol,
                    timeout=max(0.5, tg.health_check_timeout * scale)
                    if scale < 1
                    else float(tg.health_check_timeout),
                    path=tg.health_check_path or "/",
                    matcher=tg.matcher_http_code or "200-399",
                    proxy_v2=pp2,
                    host_header=f"{node.private_ip}:{listener_port}" if node else "",
                    source=source,
                )
                out[(tg.id, t.id, t.port)] = Check(
                    tg_arn=tg.id,
                    target_id=t.id,
                    port=t.port,
                    probe=spec,
                    interval=tg.health_check_interval * scale,
                    healthy_threshold=tg.healthy_threshold,
                    unhealthy_threshold=tg.unhealthy_threshold,
                    tg_suffix=tg.arn_suffix,
                    lb_suffix=lb.arn_suffix,
                    zone=t.availability_zone,
                    account=tg.account,
                    region=tg.region,
                )
        return out

    def reconcile(self) -> None:
        want = self.desired()
        for key in list(self.tracked):
            if key not in want:
                tr = self.tracked.pop(key)
                if tr.task:
                    tr.task.cancel()
                self._queue(key, None)  # a target no longer probed starts afresh next time
        loop = asyncio.get_running_loop()
        for key, check in want.items():
            tr = self.tracked.get(key)
            if tr is not None:
                tr.check = check
                continue
            tr = Tracked(check=check)
            rec = self.store.get(TargetHealth, TargetHealth.key(*key))
            if rec is not None and rec.state in ("initial", "healthy", "unhealthy"):
                tr.state, tr.reason, tr.description = rec.state, rec.reason, rec.description
            self.tracked[key] = tr
            tr.task = loop.create_task(self._run(key, tr), name=f"health {key[1]}:{key[2]}")

    # -- probing
    async def _run(self, key: Key, tr: Tracked) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(random.uniform(0, min(tr.check.interval, 1.0)))
        if tr.state is None:
            self._transition(key, tr, "initial", "Elb.InitialHealthChecking", None)
        while True:
            check = tr.check
            started = loop.time()
            if not check.probe.host:
                # an address outside the VPC: no route from privlink, so the check times out
                await asyncio.sleep(check.probe.timeout)
                result = ProbeResult(False, "Target.Timeout", "Request timed out")
            else:
                async with self._sem:
                    result = await probe(check.probe)
            self.probes_run += 1
            self._observe(key, tr, result)
            await asyncio.sleep(max(0.0, check.interval - (loop.time() - started)))

    def _observe(self, key: Key, tr: Tracked, result: ProbeResult) -> None:
        tr.probes += 1
        tr.last_result = result
        check = tr.check
        if result.ok:
            tr.ok, tr.fail = tr.ok + 1, 0
            if tr.state != "healthy" and tr.ok >= check.healthy_threshold:
                self._transition(key, tr, "healthy", None, None)
        else:
            tr.ok, tr.fail = 0, tr.fail + 1
            if tr.state == "unhealthy" or tr.fail >= check.unhealthy_threshold:
                self._transition(key, tr, "unhealthy", result.reason, result.description)

    def _transition(self, key: Key, tr: Tracked, state: str, reason, description) -> None:
        if (tr.state, tr.reason, tr.description) == (state, reason, description):
            return
        tr.state, tr.reason, tr.description = state, reason, description
        self._queue(key, (state, reason, description, tr.ok, tr.fail))

    # -- writing observed state
    def _queue(self, key: Key, value: tuple | None) -> None:
        self._pending[key] = value
        self._flush_needed.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_needed.wait()
            await asyncio.sleep(self.flush_delay)
            self._flush_needed.clear()
            try:
                self._flush()
            except Exception:
                log.exception("writing target health failed")

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        now = time.time()
        with self.store.transaction() as tx:
            for key, value in pending.items():
                rid = TargetHealth.key(*key)
                rec = tx.get(TargetHealth, rid)
                if value is None:
                    if rec is not None:
                        tx.delete(rec)
                    continue
                tg = tx.get(TargetGroup, key[0])
                registered = tg is not None and any(
                    t.id == key[1] and t.port == key[2] and t.deregistered_at is None
                    for t in tg.targets
                )
                if not registered or key not in self.tracked:
                    continue
                state, reason, description, ok, fail = value
                if rec is None:
                    rec = TargetHealth(
                        id=rid,
                        account=tg.account,
                        region=tg.region,
                        target_group_arn=key[0],
                        target_id=key[1],
                        port=key[2],
                    )
                    tx.put(rec)
                else:
                    rec = tx.edit(rec)
                rec.state, rec.reason, rec.description = state, reason, description
                rec.consecutive_ok, rec.consecutive_fail = ok, fail
                rec.last_checked = rec.last_change = now

    # -- metrics
    def counts(self) -> dict[tuple, tuple[int, int]]:
        """(account, region, target group suffix, load balancer suffix, AZ or None) ->
        (healthy, unhealthy)."""
        out: dict[tuple, list[int]] = {}
        for tr in self.tracked.values():
            c = tr.check
            for zone in (None, c.zone):
                if zone == "all":
                    continue
                slot = out.setdefault((c.account, c.region, c.tg_suffix, c.lb_suffix, zone), [0, 0])
                if tr.state == "healthy":
                    slot[0] += 1
                elif tr.state == "unhealthy":
                    slot[1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def emit_metrics(self) -> int:
        """HealthyHostCount / UnHealthyHostCount as gauges (sampled by the sink every tick,
        so a minute's Average/Minimum/Maximum mean what they mean in CloudWatch)."""
        sink = self.runtime.hooks.get("metrics")
        if sink is None:
            return 0
        n = 0
        seen = set()
        for (account, region, tg, lb, zone), (healthy, unhealthy) in self.counts().items():
            dims = {"TargetGroup": tg, "LoadBalancer": lb}
            if zone:
                dims["AvailabilityZone"] = zone
            for name, value in (("HealthyHostCount", healthy), ("UnHealthyHostCount", unhealthy)):
                key = (account, region, name, tuple(sorted(dims.items())))
                seen.add(key)
                sink.gauge_set(account, region, "AWS/NetworkELB", name, dims, value)
                n += 1
        for account, region, name, dims in self._emitted - seen:
            sink.gauge_remove(account, region, "AWS/NetworkELB", name, dict(dims))
        self._emitted = seen
        return n

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.timing.health_metrics_period)
            self.emit_metrics()
