"""The DNS views of a running privlink, built from the store (the :class:`ViewSource` the DNS
component serves).

* The **public view** (privlink's internet) answers the public hosted zones of every account
  (oldest zone first when two share a name) and the AWS-provided public names: endpoint
  regional and zonal names (``vpce-….vpce-svc-….<region>.vpce.amazonaws.com``) and load
  balancer names, which in AWS too are public names resolving to private addresses.
* Each **VPC view** listens at the realm form of the VPC's base+2 address and answers, in
  AWS's precedence: the private hosted zones associated with the VPC and the managed zone of
  each endpoint whose private DNS is effective (a private zone for the same name shadows the
  managed one); EC2 private hostnames where enableDnsHostnames is on; then the public view.
  A VPC with enableDnsSupport off gets no answers at all.

Answers carry realm addresses, what a client on this machine can dial: ENI, load balancer
node and hostname addresses, and A records of a private zone that fall inside the VPC.
Views are rebuilt from the change feed, a few milliseconds after a change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
from collections import defaultdict

from ..net.realm import RealmError, host_address
from ..state import Store
from ..state.aws_services import aws_service_by_name
from ..state.ec2 import NetworkInterface, Vpc
from ..state.elbv2 import LoadBalancer
from ..state.privatelink import EndpointService, VpcEndpoint
from ..state.route53 import HostedZone, RecordSet, presentation, zone_order
from .component import PUBLIC, InMemoryViewSource
from .records import Record
from .view import public_view, vpc_view
from .zones import CallbackZone, StaticZone

log = logging.getLogger("privlink.dns")

AWS_NAME_TTL = 60  # endpoint, load balancer and EC2 hostname records, as AWS serves them
RELEVANT = {
    Vpc.KIND,
    NetworkInterface.KIND,
    VpcEndpoint.KIND,
    EndpointService.KIND,
    LoadBalancer.KIND,
    HostedZone.KIND,
    RecordSet.KIND,
}
_HOSTNAME = re.compile(r"^ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$")


def resolver_address(vpc: Vpc) -> str:
    """The realm form of the VPC's base+2 address (AmazonProvidedDNS)."""
    net = ipaddress.IPv4Network(vpc.cidr_block)
    return host_address(vpc.realm_block, vpc.cidr_block, str(net.network_address + 2))


def ec2_domain(region: str) -> str:
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def effective_private_name(store, ep: VpcEndpoint, vpc: Vpc) -> str | None:
    """The private DNS name an endpoint answers in its VPC, when every condition holds:
    private DNS enabled, endpoint available, VPC DNS support and hostnames on, and the
    service's name verified."""
    if not (ep.private_dns_enabled and ep.state == "available"):
        return None
    if not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
        return None
    if ep.service_id:
        svc = store.get(EndpointService, ep.service_id)
        return svc.private_dns_name if svc is not None and svc.private_dns_verified else None
    aws = aws_service_by_name(ep.region, ep.service_name)
    return aws.private_dns_name if aws is not None else None


class StoreViewSource:
    """Builds every view from the store and keeps them current from the change feed."""

    def __init__(self, app):
        self.store: Store = app.store
        self.settings = app.settings
        self.mem = InMemoryViewSource(public_address=None)
        self.rebuilds = 0
        self._pending: asyncio.TimerHandle | None = None
        self._last_rebuild = 0.0  # seconds the last rebuild took
        self._rebuilt_at = 0.0  # when it ended (monotonic)
        self._loop = asyncio.get_running_loop()
        self.store.subscribe(self._on_change)
        self.rebuild()

    # -- ViewSource
    def resolvers(self):
        return self.mem.resolvers()

    def view(self, key: str):
        return self.mem.view(key)

    def subscribe(self, callback) -> None:
        self.mem.subscribe(callback)

    # -- keeping current
    def _on_change(self, changes) -> None:
        if self._pending is None and any(c.kind in RELEVANT for c in changes):
            # 10 ms after a lone change; while changes keep coming (hundreds of endpoints
            # being created: a rebuild costs O(names)) 50 ms, or four times the last
            # rebuild's duration, after the last rebuild (at most 0.5 s), so that rebuilding
            # takes at most a fifth of the loop and the API keeps the rest
            delay = 0.01
            if time.monotonic() - self._rebuilt_at < 0.5:
                delay = min(0.5, max(0.05, 4 * self._last_rebuild))
            self._pending = self._loop.call_later(delay, self._rebuild_soon)

    def _rebuild_soon(self) -> None:
        self._pending = None
        started = time.monotonic()
        try:
            self.rebuild()
        except Exception:
            log.exception("rebuilding the DNS views failed")
        self._rebuilt_at = time.monotonic()
        self._last_rebuild = self._rebuilt_at - started

    def rebuild(self) -> None:
        store = self.store
        vpcs = {v.id: v for v in store.all(Vpc)}
        enis = {e.id: e for e in store.all(NetworkInterface)}

        def realm(vpc_id: str, ip: str) -> str | None:
            vpc = vpcs.get(vpc_id)
            if vpc is None:
                return None
            try:
                return host_address(vpc.realm_block, vpc.cidr_block, ip)
            except (RealmError, ValueError):
                return None

        provided: list[Record] = []
        managed: dict[str, list[StaticZone]] = defaultdict(list)
        for ep in store.all(VpcEndpoint):
            vpc = vpcs.get(ep.vpc_id)
            if (
                ep.endpoint_type != "Interface"
                or ep.state in ("deleting", "deleted")
                or vpc is None
            ):
                continue
            if not vpc.enable_dns_support:
                continue  # no DNS entries at all (runbook row 15)
            by_az: dict[str, list[str]] = defaultdict(list)
            for eid in ep.network_interface_ids:
                eni = enis.get(eid)
                addr = realm(eni.vpc_id, eni.private_ip_address) if eni else None
                if addr:
                    by_az[eni.availability_zone].append(addr)
            everything = sorted(a for addrs in by_az.values() for a in addrs)
            if not everything:
                continue
            provided.append(Record(ep.regional_dns_name, "A", AWS_NAME_TTL, tuple(everything)))
            for az, addrs in by_az.items():
                provided.append(
                    Record(ep.zonal_dns_name(az), "A", AWS_NAME_TTL, tuple(sorted(addrs)))
                )
            name = effective_private_name(store, ep, vpc)
            if name:
                origin = name.removeprefix("*.")
                managed[vpc.id].append(
                    StaticZone(
                        origin,
                        [Record(name, "A", AWS_NAME_TTL, tuple(everything))],
                        label=f"managed:{ep.id}",
                    )
                )
        for lb in store.all(LoadBalancer):
            addrs = []
            for node in lb.nodes:
                addr = realm(lb.vpc_id, node.private_ip)
                if addr:
                    addrs.append(addr)
                    provided.append(
                        Record(
                            f"{node.availability_zone}.{lb.dns_name}", "A", AWS_NAME_TTL, (addr,)
                        )
                    )
            if addrs:
                provided.append(Record(lb.dns_name, "A", AWS_NAME_TTL, tuple(sorted(addrs))))
        aws_zone = StaticZone("amazonaws.com", provided, label="aws-provided")

        zones = sorted(store.all(HostedZone), key=zone_order)
        rrsets: dict[str, list[RecordSet]] = defaultdict(list)
        for r in store.all(RecordSet):
            rrsets[r.zone_id].append(r)
        hosted = [
            StaticZone(presentation(z.name), self._records(rrsets[z.id]), label=f"public:{z.id}")
            for z in zones
            if not z.private
        ]
        public = public_view(provided=[aws_zone], hosted_zones=hosted)
        wanted = {PUBLIC: (self.settings.dns_public_address, public)}

        private_by_vpc: dict[str, list[HostedZone]] = defaultdict(list)
        for z in zones:
            if z.private:
                for assoc in z.vpcs:
                    private_by_vpc[assoc.vpc_id].append(z)
        for vpc in vpcs.values():
            try:
                address = resolver_address(vpc)
            except (RealmError, ValueError):
                continue
            private = [
                StaticZone(
                    presentation(z.name), self._records(rrsets[z.id], vpc), label=f"phz:{z.id}"
                )
                for z in private_by_vpc.get(vpc.id, [])
                if any(a.vpc_id == vpc.id and a.vpc_region == vpc.region for a in z.vpcs)
            ]
            hostnames = [self._hostname_zone(vpc)] if vpc.enable_dns_hostnames else []
            view = vpc_view(
                private_zones=private,
                managed_zones=managed.get(vpc.id, []),
                provided=hostnames,
                public=public,
                label=vpc.id,
                dns_support=vpc.enable_dns_support,
            )
            wanted[vpc.id] = (address, view)
        self.mem.replace(wanted)
        self.rebuilds += 1

    @staticmethod
    def _records(rrsets: list[RecordSet], vpc: Vpc | None = None) -> list[Record]:
        """Route 53 record sets as DNS records; in a VPC's private zone, A values inside the
        VPC's CIDR become the realm addresses a client can dial. TTLs are kept."""
        net = ipaddress.IPv4Network(vpc.cidr_block) if vpc is not None else None
        out = []
        for r in rrsets:
            name = presentation(r.name)
            if r.alias is not None:
                out.append(
                    Record(
                        name,
                        r.type,
                        r.ttl or AWS_NAME_TTL,
                        (),
                        alias=presentation(r.alias.dns_name),
                    )
                )
                continue
            values = list(r.values)
            if net is not None and r.type == "A":
                values = [_to_realm(vpc, net, v) for v in values]
            out.append(Record(name, r.type, r.ttl if r.ttl is not None else 300, tuple(values)))
        return out

    @staticmethod
    def _hostname_zone(vpc: Vpc) -> CallbackZone:
        """EC2 private hostnames (ip-10-20-1-5.ec2.internal) of addresses in the VPC."""
        domain = ec2_domain(vpc.region)
        net = ipaddress.IPv4Network(vpc.cidr_block)

        def lookup(name: str):
            label, _, rest = name.partition(".")
            m = _HOSTNAME.match(label)
            if rest != domain or not m:
                return [] if name == domain else None
            try:
                ip = ipaddress.IPv4Address(".".join(m.groups()))
            except ValueError:
                return None
            if ip not in net:
                return None
            return [
                Record(
                    name,
                    "A",
                    AWS_NAME_TTL,
                    (host_address(vpc.realm_block, vpc.cidr_block, str(ip)),),
                )
            ]

        return CallbackZone(domain, lookup, label=f"hostnames:{vpc.id}")


def _to_realm(vpc: Vpc, net: ipaddress.IPv4Network, value: str) -> str:
    try:
        ip = ipaddress.IPv4Address(value.strip())
    except ValueError:
        return value
    if ip in net:
        return host_address(vpc.realm_block, vpc.cidr_block, str(ip))
    return value
