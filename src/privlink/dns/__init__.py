"""privlink's DNS: per-VPC views answered by a sans-IO engine, served over UDP and TCP.

The integration builds :class:`View` objects from the store (zones of :class:`Record`) and
hands them to the DNS component through a :class:`ViewSource`.
"""

from .engine import MAX_CHAIN, Resolution, answer, resolve
from .records import DEFAULT_SOA_TTL, DEFAULT_SOA_VALUE, Record, RecordError
from .view import View, public_view, vpc_view
from .zones import CallbackZone, Delegation, Node, StaticZone, ZoneSource

__all__ = [
    "MAX_CHAIN",
    "DEFAULT_SOA_TTL",
    "DEFAULT_SOA_VALUE",
    "CallbackZone",
    "Delegation",
    "Node",
    "Record",
    "RecordError",
    "Resolution",
    "StaticZone",
    "View",
    "ZoneSource",
    "answer",
    "public_view",
    "resolve",
    "vpc_view",
]
