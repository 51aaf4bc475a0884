"""privlink's DNS: per-VPC views answered by a sans-IO engine, served over UDP and TCP.

How the pieces fit (the integration writes only the first step)::

    # 1. From the store, on each change (debounced), build zones and views:
    managed = StaticZone("payments.internal.example.com",
                         [Record("payments.internal.example.com", "A", 60, eni_addrs)],
                         label=f"managed:{endpoint_id}")
    phz = StaticZone(zone.name, [Record(r.name, r.type, r.ttl, r.values) ...],
                     label=f"phz:{zone.id}")       # keep zones that did not change
    provided = StaticZone("us-east-1.vpce.amazonaws.com", [...regional/zonal names...])
    public = public_view(provided=[provided_public], hosted_zones=public_zones)
    view = vpc_view(private_zones=[phz], managed_zones=[managed], provided=[provided],
                    public=public, dns_support=vpc.enable_dns_support)

    # 2. Hand them to the DNS component through a ViewSource, e.g. an InMemoryViewSource:
    source.replace({"public": ("127.0.2.53", public), vpc_id: ("127.3.0.2", view)})

    # 3. DnsComponent(settings, source) listens on every address, one shared port, and
    #    answers each query from source.view(key); GET /_privlink/dns tells where.

``answer(wire, view, tcp=...)`` is the whole engine (bytes in, bytes out);
``resolve(view, name, type)`` and ``View.explain(name)`` answer "what would this VPC see,
and from which zone" for the doctor.
"""

from .component import PUBLIC, DnsComponent, InMemoryViewSource, ResolverSpec, ViewSource
from .engine import MAX_CHAIN, Resolution, answer, resolve
from .records import DEFAULT_SOA_TTL, DEFAULT_SOA_VALUE, Record, RecordError, RRset
from .server import DnsLimits, DnsServer
from .view import View, public_view, vpc_view
from .zones import CallbackZone, Delegation, Node, StaticZone, ZoneSource

__all__ = [
    "DEFAULT_SOA_TTL",
    "DEFAULT_SOA_VALUE",
    "MAX_CHAIN",
    "PUBLIC",
    "CallbackZone",
    "Delegation",
    "DnsComponent",
    "DnsLimits",
    "DnsServer",
    "InMemoryViewSource",
    "Node",
    "RRset",
    "Record",
    "RecordError",
    "Resolution",
    "ResolverSpec",
    "StaticZone",
    "View",
    "ViewSource",
    "ZoneSource",
    "answer",
    "public_view",
    "resolve",
    "vpc_view",
]
