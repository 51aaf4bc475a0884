"""The data plane of ``privlink up``: real TCP through interface endpoints.

Reconciled from the store's change feed: one :class:`EndpointListener` per (endpoint ENI,
service listener port) while the endpoint is ``available``, at the ENI's realm address. A
flow, hop by hop (DESIGN.md):

1. the client's address maps to its VPC address (a client with no source address of its own
   — 127.0.0.x, outside every VPC block — counts as a client in the endpoint's VPC at the
   highest usable address of the ENI's subnet, e.g. 10.10.1.254 in a /24; a client of
   another VPC has no route to the ENI and gets nothing);
2. the ENI's security groups' ingress rules decide: denied → the connection is held with no
   bytes and a REJECT flow-log record, as when AWS drops the SYN;
3. the NLB node in the ENI's AZ (matched by AZ ID) picks a target: healthy targets of its
   zone, or of any enabled zone with cross-zone on, by flow hash; none healthy → fail open;
   no node or no target → the client is reset;
4. the target connection leaves from the node's realm address (without PROXY v2 the target
   sees the NLB, never the client); with ``proxy_protocol_v2.enabled`` a PROXY v2 header
   carries the client's VPC address, the ENI's address and listener port, and TLV 0xEA/0x01
   with the endpoint id;
5. bytes are relayed both ways; the listener's ``tcp.idle_timeout.seconds`` applies.

Flows feed flow logs (:mod:`.flowlogs`) and metrics (AWS/NetworkELB,
AWS/PrivateLinkEndpoints, AWS/PrivateLinkServices) through counters read once per metrics
tick, never per chunk.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from ..aio import cancel_and_wait
from ..net.realm import HOST_BLOCK, RealmError, block_of, host_address, vpc_address
from ..state import Change
from ..state.ec2 import NetworkInterface, SecurityGroup, Subnet, Vpc, ingress_allows
from ..state.elbv2 import Listener, LoadBalancer, TargetGroup, TargetHealth
from ..state.elbv2_health import routable_targets, unhealthy_flow_policy
from ..state.flowlogs import FlowLog
from ..state.privatelink import EndpointService, VpcEndpoint
from .flowlogs import EniView, FlowLogWriter, eni_view
from .listener import EndpointListener, FlowRecord, Target, Verdict
from .proxyv2 import aws_vpce_tlv, build_proxy_header

log = logging.getLogger("privlink.dataplane")

TLS_IDLE_TIMEOUT = 350  # TLS listeners are fixed at 350 s
_RELEVANT = {
    VpcEndpoint.KIND,
    EndpointService.KIND,
    NetworkInterface.KIND,
    LoadBalancer.KIND,
    Listener.KIND,
    Vpc.KIND,
}
_ROUTING = {TargetGroup.KIND, TargetHealth.KIND, LoadBalancer.KIND, Listener.KIND}
# what the per-binding data of the flow path (Prepared) is computed from: a change to any of
# these kinds drops it, and the next flow computes it again from the store
_PREPARED_FROM = _ROUTING | {
    NetworkInterface.KIND,
    SecurityGroup.KIND,
    Subnet.KIND,
    Vpc.KIND,
    VpcEndpoint.KIND,
    EndpointService.KIND,
}
_MAX_VERDICTS = 4096  # client addresses remembered per binding


class Binding(NamedTuple):
    """What one listener serves: an endpoint ENI and a listener port of the service's NLB.

    (A tuple: ``desired()`` makes one per endpoint ENI and port on every reconcile.)"""

    endpoint_id: str
    eni_id: str
    host: str  # the ENI's realm address
    port: int
    listener_arn: str
    lb_arn: str
    idle_timeout: float

    @property
    def key(self) -> tuple[str, int]:
        return (self.eni_id, self.port)


@dataclass(slots=True)
class TargetChoice:
    """Where a load balancer node may send new flows of one target group (precomputed)."""

    targets: list[Target]  # healthy (or fail-open) targets, realm addresses resolved
    proxy_v2: bool
    sticky: bool


@dataclass(slots=True)
class Prepared:
    """What every flow of one binding needs, computed once from the store (and again after
    a change to any kind in ``_PREPARED_FROM``): the flow path then does dict lookups only."""

    eni: NetworkInterface
    view: EniView
    groups: list[SecurityGroup]
    # client socket address -> (client's VPC address, has a route, security groups allow)
    verdicts: dict[str, tuple[str | None, bool, bool]]
    lb: LoadBalancer | None = None
    node: object = None  # the NLB node in the ENI's AZ
    tgs: list = field(default_factory=list)  # [(target group arn, weight)]
    total_weight: int = 0
    tlv: bytes = b""  # PROXY v2 TLV 0xEA with the endpoint id, encoded once
    choices: dict = field(default_factory=dict)  # target group arn -> TargetChoice | None
    key_suffix: str = ""  # ":<eni address>:<port>", the flow hash's constant part


@dataclass(slots=True)
class FlowInfo:
    """Per-flow context (``flow.context``): the client as its VPC sees it."""

    binding: Binding
    client_ip: str
    client_port: int
    prepared: Prepared | None = None
    route: bool = True

    @property
    def eni(self) -> NetworkInterface | None:
        return self.prepared.eni if self.prepared is not None else None


@dataclass
class Meters:
    """Metric handles for one listener, and the last counts already reported."""

    new: object
    active: object
    processed: object
    client_rst: object
    target_rst: object
    elb_rst: object
    ep_new: object
    ep_active: object
    ep_bytes: object
    ep_dropped: object
    ep_rst: object
    svc_new: object
    svc_active: object
    svc_bytes: object
    svc_rst: object
    peak: tuple = ()  # PeakBytesPerSecond series, one per dimension set of the load balancer
    last: dict = field(default_factory=dict)


class DataPlane:
    name = "dataplane"

    def __init__(self, settings):
        self.settings = settings
        self.listeners: dict[tuple[str, int], EndpointListener] = {}
        self.bindings: dict[tuple[str, int], Binding] = {}
        self.meters: dict[tuple[str, int], Meters] = {}
        self.errors: dict[tuple[str, int], str] = {}
        self._routes: dict[tuple, list] = {}
        self._prepared: dict[tuple[str, int], Prepared | None] = {}
        self._eni_hosts: dict[str, tuple[NetworkInterface, str]] = {}  # eni id -> (eni, host)
        self._dirty = False
        self._task: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        self.reconciles = 0
        # PeakBytesPerSecond: bytes per series in the current window, and when it began
        self._peak_bytes: dict[object, float] = {}
        self._peak_since = time.monotonic()
        # AWS/PrivateLinkServices EndpointsCount: service id -> (account, region) reported
        self._endpoint_counts: dict[str, tuple[str, str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, app) -> None:
        self.app = app
        self.store = app.store
        self.runtime = app.runtime
        self.loop = asyncio.get_running_loop()
        state_dir = app.settings.state_dir if not app.settings.ephemeral else None
        if app.settings.ephemeral or not app.store.backend.path:
            self._s3_tmp = tempfile.TemporaryDirectory(prefix="privlink-s3-")
            s3_root = self._s3_tmp.name
        else:
            s3_root = os.path.join(
                os.path.dirname(app.store.backend.path) or (state_dir or "."), "s3"
            )
        self.s3_root = app.settings.flow_log_s3_root or s3_root
        self.flowlogs = FlowLogWriter(self.store, app.settings, self.s3_root)
        app.runtime.hooks["dataplane"] = self
        self._unsubscribe = self.store.subscribe(self._on_change)
        sink = app.runtime.hooks.get("metrics")
        self.sink = sink
        if sink is not None:
            sink.add_collector(self.collect)
        period = max(0.2, min(5.0, self.flowlogs.record_interval() / 2))
        self._tasks.append(self.loop.create_task(self.flowlogs.run(period), name="flowlog-flush"))
        await self.reconcile()

    async def stop(self) -> None:
        self._stopped = True
        self._unsubscribe()
        await cancel_and_wait(*self._tasks, self._task)
        for key in list(self.listeners):
            await self._close(key)
        self.collect()
        self.flowlogs.flush(force=True)
        tmp = getattr(self, "_s3_tmp", None)
        if tmp is not None:
            tmp.cleanup()

    def banner(self) -> list[str]:
        lines = [f"data plane: {len(self.listeners)} endpoint listeners"] if self.listeners else []
        return lines + [f"flow logs to s3 destinations are written under {self.s3_root}"]

    # -- reconciling ----------------------------------------------------------------------------

    def _on_change(self, changes: list[Change]) -> None:
        kinds = {c.kind for c in changes}
        if kinds & _ROUTING:
            self._routes.clear()
        if kinds & _PREPARED_FROM:
            self._prepared.clear()
        if FlowLog.KIND in kinds:
            self.flowlogs.invalidate()
        if kinds & _ROUTING or kinds & {TargetHealth.KIND, TargetGroup.KIND}:
            self._terminate_flows(changes)
        if kinds & _RELEVANT and not self._stopped:
            self._dirty = True
            if self._task is None or self._task.done():
                self._task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        while self._dirty and not self._stopped:
            self._dirty = False
            started = time.monotonic()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling the data plane failed")
            spent = time.monotonic() - started
            if self._dirty:
                # changes keep coming (hundreds of endpoints being created): a reconcile costs
                # O(endpoints), so the next one waits 50 ms, or four times this one's duration
                # (at most 0.25 s): the API and the flows keep most of the loop, and a change
                # still takes effect within a fraction of a second. A lone change is
                # reconciled at once.
                await asyncio.sleep(min(0.25, max(0.05, 4 * spent)))

    def desired(self) -> dict[tuple[str, int], Binding]:
        store = self.store
        realm = self.runtime.hooks["realm"]
        out: dict[tuple[str, int], Binding] = {}
        hosts = self._eni_hosts
        if len(hosts) > 2 * len(self.bindings) + 1024:
            hosts.clear()
        listeners: dict[str, list[Listener]] = {}
        for ln in store.all(Listener):
            if ln.protocol in ("TCP", "TLS", "TCP_UDP"):
                listeners.setdefault(ln.load_balancer_arn, []).append(ln)
        for ep in store.all(VpcEndpoint):
            if ep.state != "available" or ep.endpoint_type != "Interface" or not ep.service_id:
                continue
            svc = store.get(EndpointService, ep.service_id)
            if svc is None or svc.state != "Available":
                continue
            for lb_arn in svc.network_load_balancer_arns:
                lb = store.get(LoadBalancer, lb_arn)
                if lb is None or lb.state not in ("active", "active_impaired"):
                    continue
                for ln in listeners.get(lb_arn, ()):
                    idle = TLS_IDLE_TIMEOUT if ln.protocol == "TLS" else ln.idle_timeout
                    for eni_id in ep.network_interface_ids:
                        eni = store.get(NetworkInterface, eni_id)
                        if eni is None:
                            continue
                        # (stored objects are replaced, never changed: the same ENI object
                        # has the same realm address)
                        cached = hosts.get(eni_id)
                        if cached is not None and cached[0] is eni:
                            host = cached[1]
                        else:
                            try:
                                host = realm.to_host(eni.vpc_id, eni.private_ip_address)
                            except (RealmError, ValueError):
                                continue
                            hosts[eni_id] = (eni, host)
                        key = (eni.id, ln.port)
                        if key not in out:  # two NLBs of one service on the same port: the first
                            out[key] = Binding(
                                ep.id, eni.id, host, ln.port, ln.id, lb_arn, float(idle)
                            )
        return out

    async def reconcile(self) -> None:
        if not self.settings.dataplane_enabled:
            return
        want = self.desired()
        for key in list(self.listeners):
            b = want.get(key)
            have = self.bindings[key]
            if b is None or (b.host, b.listener_arn, b.endpoint_id) != (
                have.host,
                have.listener_arn,
                have.endpoint_id,
            ):
                await self._close(key)
        for key, b in want.items():
            if key in self.listeners:
                if b.idle_timeout != self.bindings[key].idle_timeout:
                    self.listeners[key].set_idle_timeout(b.idle_timeout)
                self.bindings[key] = b
                continue
            await self._open(b)
        self._count_endpoints()
        self.reconciles += 1

    def _count_endpoints(self) -> None:
        """EndpointsCount per endpoint service: the endpoints connected to it (available),
        reported every minute while the service exists."""
        if self.sink is None:
            return
        counts: dict[str, int] = {}
        for ep in self.store.all(VpcEndpoint):
            if ep.service_id and ep.state == "available":
                counts[ep.service_id] = counts.get(ep.service_id, 0) + 1
        seen: dict[str, tuple[str, str]] = {}
        for svc in self.store.all(EndpointService):
            owner = (svc.account, svc.region)
            seen[svc.id] = owner
            self.sink.gauge_set(
                *owner,
                "AWS/PrivateLinkServices",
                "EndpointsCount",
                {"Service Id": svc.id},
                counts.get(svc.id, 0),
            )
        for sid, owner in self._endpoint_counts.items():
            if sid not in seen:
                self.sink.gauge_remove(
                    *owner, "AWS/PrivateLinkServices", "EndpointsCount", {"Service Id": sid}
                )
        self._endpoint_counts = seen

    async def _open(self, b: Binding) -> None:
        lst = EndpointListener(
            (b.host, b.port),
            policy=self._policy,
            pick_target=self._pick_target,
            on_record=self._on_record,
            idle_timeout=b.idle_timeout,
            record_interval=self.flowlogs.record_interval(),
            name=f"{b.endpoint_id}/{b.eni_id}:{b.port}",
        )
        lst.binding = b
        try:
            await lst.start()
        except OSError as e:
            self.errors[b.key] = f"{b.host}:{b.port}: {e.strerror or e}"
            log.warning(
                "endpoint listener %s cannot listen on %s:%s: %s", b.endpoint_id, b.host, b.port, e
            )
            return
        self.errors.pop(b.key, None)
        self.listeners[b.key] = lst
        self.bindings[b.key] = b
        if self.sink is not None:
            self.meters[b.key] = self._meters(b)

    async def _close(self, key) -> None:
        lst = self.listeners.pop(key, None)
        if lst is None:
            return
        await lst.stop()
        self._collect_one(key, lst)
        self.meters.pop(key, None)
        self.bindings.pop(key, None)

    # -- one flow ----------------------------------------------------------------------------

    def _client_vpc_address(self, eni: NetworkInterface, host_ip: str) -> tuple[str | None, bool]:
        """(client's VPC address, has a route to the ENI)."""
        block = block_of(host_ip)
        if block is None:
            # the host's own block (127.0.0.1 …): a client in the ENI's VPC, at the highest
            # usable address of the ENI's subnet
            subnet = self.store.get(Subnet, eni.subnet_id)
            net = ipaddress.IPv4Network(
                subnet.cidr_block if subnet else f"{eni.private_ip_address}/32", strict=False
            )
            return str(net.broadcast_address - 1) if net.num_addresses > 2 else str(
                net.network_address
            ), True
        vpc = self.store.get(Vpc, eni.vpc_id)
        if vpc is None or vpc.realm_block != block:
            return None, False  # another VPC: no route to this ENI
        try:
            return vpc_address(vpc.cidr_block, host_ip), True
        except RealmError:
            return None, False

    def _prepare(self, b: Binding) -> Prepared | None:
        """The binding's precomputed flow data (None: its ENI is gone)."""
        key = b.key
        try:
            return self._prepared[key]
        except KeyError:
            pass
        store = self.store
        eni = store.get(NetworkInterface, b.eni_id)
        if eni is None:
            p = None
        else:
            groups = [
                g
                for g in (store.get(SecurityGroup, gid) for gid in eni.security_group_ids)
                if g is not None
            ]
            p = Prepared(eni, eni_view(eni), groups, {})
            p.key_suffix = f":{eni.private_ip_address}:{b.port}"
            p.tlv = aws_vpce_tlv(b.endpoint_id).encode()
            lb = store.get(LoadBalancer, b.lb_arn)
            ln = store.get(Listener, b.listener_arn)
            if lb is not None and ln is not None:
                p.lb = lb
                p.node = next(
                    (n for n in lb.nodes if n.availability_zone_id == eni.availability_zone_id),
                    None,
                )
                p.tgs = list(ln.forward_target_groups())
                p.total_weight = sum(w for _, w in p.tgs) or 1
        if len(self._prepared) > 65536:
            self._prepared.clear()
        self._prepared[key] = p
        return p

    def _verdict(self, p: Prepared, port: int, host_ip: str) -> tuple[str | None, bool, bool]:
        """(client's VPC address, route, allowed) for a client socket address."""
        eni = p.eni
        client_ip, route = self._client_vpc_address(eni, host_ip)
        allowed = False
        if route:
            source_groups: set[str] = set()
            for other in self.store.owned(NetworkInterface, eni.account, eni.region):
                if other.vpc_id == eni.vpc_id and other.private_ip_address == client_ip:
                    source_groups.update(other.security_group_ids)
                    break
            allowed = ingress_allows(p.groups, "tcp", port, client_ip, source_groups)
        if len(p.verdicts) >= _MAX_VERDICTS:
            p.verdicts.clear()
        v = p.verdicts[host_ip] = (client_ip, route, allowed)
        return v

    def _policy(self, flow) -> Verdict:
        b: Binding = flow.listener.binding
        p = self._prepared.get(b.key) or self._prepare(b)
        if p is None:
            return Verdict.RESET
        host = flow.client[0]
        v = p.verdicts.get(host) or self._verdict(p, b.port, host)
        client_ip, route, allowed = v
        flow.context = FlowInfo(b, client_ip or host, flow.client[1], p, route)
        return Verdict.ALLOW if allowed else Verdict.HOLD

    def _routes_for(self, tg: TargetGroup, lb: LoadBalancer, zone_id: str) -> list:
        key = (tg.id, zone_id)
        got = self._routes.get(key)
        if got is None:
            got = self._routes[key] = routable_targets(self.store, tg, zone_id, lb)
        return got

    def _choice(self, p: Prepared, tg_arn: str) -> TargetChoice | None:
        """The targets a flow of this binding may go to in target group ``tg_arn``."""
        store = self.store
        tg = store.get(TargetGroup, tg_arn)
        choice = None
        if tg is not None and p.node is not None:
            node = p.node
            vpc = store.get(Vpc, tg.vpc_id)
            routes = self._routes_for(tg, p.lb, node.availability_zone_id)
            targets = []
            if vpc is not None:
                try:
                    bind = (host_address(vpc.realm_block, vpc.cidr_block, node.private_ip), 0)
                    for t in routes:
                        address = (host_address(vpc.realm_block, vpc.cidr_block, t.id), t.port)
                        targets.append(Target(address, bind=bind, tag=(tg.id, t.id, t.port)))
                except (RealmError, ValueError):
                    targets = []
            if targets:
                choice = TargetChoice(
                    targets,
                    tg.attributes.get("proxy_protocol_v2.enabled") == "true",
                    tg.attributes.get("stickiness.enabled") == "true",
                )
        p.choices[tg_arn] = choice
        return choice

    def _pick_target(self, flow) -> Target | None:
        info: FlowInfo = flow.context
        p = info.prepared
        if p is None or p.node is None or not p.tgs:
            return None  # no listener or load balancer, or no NLB node in the ENI's AZ
        tgs = p.tgs
        h = zlib.crc32(f"{info.client_ip}:{info.client_port}{p.key_suffix}".encode())
        if len(tgs) > 1:
            slot, acc = h % p.total_weight, 0
            tg_arn = None
            for arn, w in tgs:
                acc += w
                if slot < acc:
                    tg_arn = arn
                    break
            if tg_arn is None:
                return None  # every weight is 0
        else:
            tg_arn = tgs[0][0]
        try:
            choice = p.choices[tg_arn]
        except KeyError:
            choice = self._choice(p, tg_arn)
        if choice is None:
            return None
        targets = choice.targets
        if choice.sticky:
            h = zlib.crc32(info.client_ip.encode())
        t = targets[h % len(targets)]
        if not choice.proxy_v2:
            return t
        header = build_proxy_header(
            info.client_ip,
            info.client_port,
            p.eni.private_ip_address,
            info.binding.port,
            [p.tlv],
        )
        return Target(t.address, proxy_header=header, bind=t.bind, tag=t.tag)

    def _on_record(self, rec: FlowRecord) -> None:
        info = rec.context
        if info.__class__ is not FlowInfo or not info.route or info.prepared is None:
            return
        self.flowlogs.add(
            info.prepared.view, info.client_ip, info.client_port, info.binding.port, rec
        )

    # -- deregistration and unhealthy targets ---------------------------------------------------

    def _terminate_flows(self, changes: list[Change]) -> None:
        for ch in changes:
            if ch.kind == TargetGroup.KIND and ch.old is not None:
                tg_old, tg_new = ch.old, ch.new
                if tg_new is None:
                    continue
                before = {(t.id, t.port) for t in tg_old.targets}
                after = {(t.id, t.port) for t in tg_new.targets}
                if (
                    tg_new.attributes.get("deregistration_delay.connection_termination.enabled")
                    == "true"
                ):
                    for tid, port in before - after:
                        self._close_flows((tg_new.id, tid, port))
            elif (
                ch.kind == TargetHealth.KIND and ch.new is not None and ch.new.state == "unhealthy"
            ):
                if ch.old is not None and ch.old.state == "unhealthy":
                    continue
                tg = self.store.get(TargetGroup, ch.new.target_group_arn)
                if tg is None:
                    continue
                tag = (tg.id, ch.new.target_id, ch.new.port)
                close_now, drain = unhealthy_flow_policy(tg)
                if close_now:
                    self._close_flows(tag)
                elif drain > 0:  # the flows run on for the unhealthy draining interval
                    self.loop.call_later(drain, self._drained_unhealthy, ch.new.id, tag)

    def _drained_unhealthy(self, health_id: str, tag) -> None:
        """The unhealthy draining interval is over: close the target's flows if it is still
        unhealthy."""
        rec = self.store.get(TargetHealth, health_id)
        if not self._stopped and rec is not None and rec.state == "unhealthy":
            self._close_flows(tag)

    def _close_flows(self, tag) -> int:
        return sum(lst.close_flows(tag=tag) for lst in self.listeners.values())

    # -- metrics ---------------------------------------------------------------------------

    def _meters(self, b: Binding) -> Meters:
        sink = self.sink
        store = self.store
        lb = store.get(LoadBalancer, b.lb_arn)
        eni = store.get(NetworkInterface, b.eni_id)
        ep = store.get(VpcEndpoint, b.endpoint_id)
        svc = store.get(EndpointService, ep.service_id)
        node = next(
            (n for n in lb.nodes if n.availability_zone_id == eni.availability_zone_id), None
        )
        az = node.availability_zone if node else None
        p_acct, p_reg = lb.account, lb.region
        nlb_dims = [{"LoadBalancer": lb.arn_suffix}] + (
            [{"LoadBalancer": lb.arn_suffix, "AvailabilityZone": az}] if az else []
        )
        ep_base = {
            "Endpoint Type": "Interface",
            "Service Name": svc.service_name,
            "VPC Endpoint Id": ep.id,
            "VPC Id": ep.vpc_id,
        }
        ep_dims = [ep_base, {**ep_base, "Subnet Id": eni.subnet_id}]
        svc_dims = [
            {"Service Id": svc.id},
            {"Service Id": svc.id, "Load Balancer Arn": lb.arn},
            {"Service Id": svc.id, "VPC Endpoint Id": ep.id},
        ]
        if az:
            svc_dims += [
                {"Service Id": svc.id, "Az": az},
                {"Service Id": svc.id, "Az": az, "Load Balancer Arn": lb.arn},
            ]
        e_acct, e_reg = ep.account, ep.region
        nlb, epn, svn = "AWS/NetworkELB", "AWS/PrivateLinkEndpoints", "AWS/PrivateLinkServices"
        return Meters(
            new=sink.counters(p_acct, p_reg, nlb, "NewFlowCount", nlb_dims),
            active=sink.gauges(p_acct, p_reg, nlb, "ActiveFlowCount", nlb_dims),
            processed=sink.counters(p_acct, p_reg, nlb, "ProcessedBytes", nlb_dims, "Bytes"),
            client_rst=sink.counters(p_acct, p_reg, nlb, "TCP_Client_Reset_Count", nlb_dims),
            target_rst=sink.counters(p_acct, p_reg, nlb, "TCP_Target_Reset_Count", nlb_dims),
            elb_rst=sink.counters(p_acct, p_reg, nlb, "TCP_ELB_Reset_Count", nlb_dims),
            ep_new=sink.counters(e_acct, e_reg, epn, "NewConnections", ep_dims),
            ep_active=sink.gauges(e_acct, e_reg, epn, "ActiveConnections", ep_dims),
            ep_bytes=sink.counters(e_acct, e_reg, epn, "BytesProcessed", ep_dims, "Bytes"),
            ep_dropped=sink.counters(e_acct, e_reg, epn, "PacketsDropped", ep_dims),
            ep_rst=sink.counters(e_acct, e_reg, epn, "RstPacketsReceived", ep_dims),
            svc_new=sink.counters(p_acct, p_reg, svn, "NewConnections", svc_dims),
            svc_active=sink.gauges(p_acct, p_reg, svn, "ActiveConnections", svc_dims),
            svc_bytes=sink.counters(p_acct, p_reg, svn, "BytesProcessed", svc_dims, "Bytes"),
            svc_rst=sink.counters(p_acct, p_reg, svn, "RstPacketsSent", svc_dims),
            peak=tuple(
                sink.counter(p_acct, p_reg, nlb, "PeakBytesPerSecond", d, "Bytes/Second")
                for d in nlb_dims
            ),
        )

    def collect(self) -> None:
        """Feed the metrics sink from the listeners' event counters (runs before each flush)."""
        for key, lst in list(self.listeners.items()):
            self._collect_one(key, lst)
        self._report_peaks()

    def _report_peaks(self) -> None:
        """PeakBytesPerSecond: each window's average rate per load balancer (and per its
        zone), reported once the window is over; CloudWatch users read its Maximum."""
        now = time.monotonic()
        spent = now - self._peak_since
        if spent < self.settings.timing.peak_bytes_window:
            return
        for series, nbytes in self._peak_bytes.items():
            if nbytes:
                series.observe(nbytes / spent)
        self._peak_bytes.clear()
        self._peak_since = now

    def _collect_one(self, key, lst: EndpointListener) -> None:
        m = self.meters.get(key)
        if m is None:
            return
        s = lst.stats
        bytes_in, bytes_out = lst.processed_bytes()
        now = {
            "new": s.new_flows,
            "bytes": bytes_in + bytes_out,
            "client_rst": s.client_resets,
            "target_rst": s.target_resets,
            "elb_rst": s.elb_resets,
            "dropped": s.rejected_flows,
        }
        last = dict(m.last)
        d = {k: v - last.get(k, 0) for k, v in now.items()}
        m.last = now
        if d["new"]:
            m.new.add(d["new"])
            m.ep_new.add(d["new"])
            m.svc_new.add(d["new"])
        if d["bytes"]:
            m.processed.add(d["bytes"])
            acc = self._peak_bytes
            for series in m.peak:  # listeners of one load balancer share these series
                acc[series] = acc.get(series, 0.0) + d["bytes"]
            m.ep_bytes.add(d["bytes"])
            m.svc_bytes.add(d["bytes"])
        if d["client_rst"]:
            m.client_rst.add(d["client_rst"])
        if d["target_rst"]:
            m.target_rst.add(d["target_rst"])
            m.ep_rst.add(d["target_rst"])
            m.svc_rst.add(d["target_rst"])
        if d["elb_rst"]:
            m.elb_rst.add(d["elb_rst"])
        if d["dropped"]:
            m.ep_dropped.add(d["dropped"])
        # gauges are shared by the listeners of one load balancer / endpoint / service: each
        # listener moves them by its own change
        active = lst.active_flows
        moved = active - last.get("active", 0)
        m.last["active"] = active
        if moved:
            m.active.move(moved)
            m.ep_active.move(moved)
            m.svc_active.move(moved)
        elif d["new"]:
            # flows came and went between two ticks: the level is sampled all the same, so
            # a minute with traffic has its ActiveFlowCount datapoint (AWS: always reported)
            m.active.move(0)
            m.ep_active.move(0)
            m.svc_active.move(0)


__all__ = ["DataPlane", "HOST_BLOCK"]
