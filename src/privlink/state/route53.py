"""Route 53 resources (hosted zones, record sets, changes) and the read side other layers use.

Route 53 is global: every resource here is stored with region ``us-east-1`` and owned by the
account that created the hosted zone.

Names are kept the way Route 53 keeps them: lowercase, fully qualified with a trailing dot,
and with every character other than ``a-z0-9-_`` written as a three-digit octal escape
(``*.example.com.`` is stored and listed as ``\\052.example.com.``). :func:`presentation`
turns a stored name back into the form a DNS message carries.

Read helpers for the DNS server (issue 7) and the PrivateLink control plane (issue 5):

* :func:`public_zone_for` — the public zone that answers a name on privlink's "internet";
* :func:`private_zones_for_vpc` / :func:`private_zone_for` — private zones a VPC sees;
* :func:`record_sets_at` / :func:`zone_record_sets` — the record sets of a zone;
* :func:`find_public_txt` — TXT values at exactly a name in the public view (unquoted), used
  to verify a private DNS name.

All of them take either a :class:`~privlink.state.Store` or a transaction (anything with
``get``/``all``/``owned``), and never change anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import Resource, resource

GLOBAL_REGION = "us-east-1"

# Record types whose apex copy Route 53 creates and manages with the zone.
DEFAULT_TYPES = ("NS", "SOA")


@dataclass(kw_only=True)
class ZoneVpc:
    vpc_id: str
    vpc_region: str


@resource("route53.hostedzone")
@dataclass(kw_only=True)
class HostedZone(Resource):
    """A hosted zone. ``id`` is the bare zone id (``Z…``), without ``/hostedzone/``."""

    name: str  # canonical stored form, trailing dot
    caller_reference: str
    comment: str | None = None
    private: bool = False
    vpcs: list[ZoneVpc] = field(default_factory=list)
    name_servers: list[str] = field(default_factory=list)  # without trailing dots
    delegation_set_id: str | None = None
    record_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    create_change_id: str = ""

    @property
    def api_id(self) -> str:
        return "/hostedzone/" + self.id


@dataclass(kw_only=True)
class AliasTarget:
    hosted_zone_id: str
    dns_name: str
    evaluate_target_health: bool = False


@resource("route53.rrset")
@dataclass(kw_only=True)
class RecordSet(Resource):
    """One resource record set: (zone, name, type, set identifier) is its key."""

    zone_id: str
    name: str  # canonical stored form
    type: str
    set_identifier: str | None = None
    ttl: int | None = None
    values: list[str] = field(default_factory=list)  # RDATA as given (TXT stays quoted)
    alias: AliasTarget | None = None
    # routing-policy and other members, shaped as botocore's ResourceRecordSet members
    # (Weight, Region, GeoLocation, Failover, MultiValueAnswer, HealthCheckId, …)
    routing: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def key(zone_id: str, name: str, rtype: str, set_identifier: str | None) -> str:
        return f"{zone_id}|{rtype}|{name}|{set_identifier or ''}"


@resource("route53.change")
@dataclass(kw_only=True)
class ZoneChange(Resource):
    """A submitted change (id ``C…``); GetChange reports it INSYNC once propagated."""

    submitted_at: float
    insync_at: float
    comment: str | None = None
    zone_id: str | None = None


# -------------------------------------------------------------------------------- names


class BadName(ValueError):
    pass


_PLAIN = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def _decode_label_chars(label: str) -> list[str]:
    """Characters of one label of a name that may contain ``\\ddd`` or ``\\X`` escapes."""
    out: list[str] = []
    i = 0
    while i < len(label):
        c = label[i]
        if c == "\\":
            if label[i + 1 : i + 4].isdigit() and len(label[i + 1 : i + 4]) == 3:
                code = int(label[i + 1 : i + 4], 8)
                if code > 255:
                    raise BadName(f"bad escape in {label}")
                out.append(chr(code))
                i += 4
                continue
            if i + 1 < len(label):
                out.append(label[i + 1])
                i += 2
                continue
            raise BadName(f"dangling escape in {label}")
        out.append(c)
        i += 1
    return out


def _split_labels(name: str) -> list[str]:
    """Split on dots that are not escaped."""
    if "\\" not in name:
        return name.split(".")
    labels, cur, i = [], "", 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            if name[i + 1 : i + 4].isdigit():
                cur += name[i : i + 4]
                i += 4
            else:
                cur += name[i : i + 2]
                i += 2
            continue
        if c == ".":
            labels.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    labels.append(cur)
    return labels


def canonical_name(name: str) -> str:
    """Route 53's stored form of a domain name: lowercase, escaped, trailing dot.

    Raises :class:`BadName` for names no zone can hold (empty labels, labels over 63
    characters, names over 255, characters outside Latin-1)."""
    name = name.strip()
    if name in ("", "."):
        raise BadName("empty name")
    if name.endswith(".") and not name.endswith("\\."):
        name = name[:-1]
    labels = _split_labels(name)
    out_labels = []
    wire_len = 1
    for label in labels:
        chars = _decode_label_chars(label)
        if not chars:
            raise BadName("empty label")
        if len(chars) > 63:
            raise BadName("label longer than 63 characters")
        wire_len += len(chars) + 1
        enc = []
        for c in chars:
            lc = c.lower() if "A" <= c <= "Z" else c
            if lc in _PLAIN:
                enc.append(lc)
            elif ord(lc) < 256:
                enc.append(f"\\{ord(lc):03o}")
            else:
                raise BadName(f"character {c!r} must be given in punycode")
        out_labels.append("".join(enc))
    if wire_len > 255:
        raise BadName("name longer than 255 octets")
    return ".".join(out_labels) + "."


def presentation(name: str) -> str:
    """A stored name as a DNS library writes it: ``\\052`` becomes ``*``; other escapes stay
    as DNS presentation-format escapes."""
    labels = _split_labels(name[:-1] if name.endswith(".") else name)
    out = []
    for label in labels:
        chars = _decode_label_chars(label)
        s = []
        for c in chars:
            if c in _PLAIN or c == "*":
                s.append(c)
            elif c == "." or c == "\\":
                s.append("\\" + c)
            elif 32 < ord(c) < 127:
                s.append(c)
            else:
                s.append(f"\\{ord(c):03d}")
        out.append("".join(s))
    return ".".join(out) + "."


def labels_reversed(name: str) -> tuple[str, ...]:
    """The labels of a name, top-level first."""
    return tuple(reversed(_split_labels(name.rstrip("."))))


def reversed_key(name: str) -> str:
    """The sort key Route 53 uses for names: the stored (escaped) form with its labels
    reversed and a trailing dot (``www.example.com.`` → ``com.example.www.``). The trailing
    dot matters: ``example-a.com.`` sorts before ``example.com.``, as ``-`` < ``.``."""
    return ".".join(labels_reversed(name)) + "."


def within(name: str, zone_name: str) -> bool:
    """Is ``name`` at or below ``zone_name`` (both canonical)?"""
    return name == zone_name or name.endswith("." + zone_name)


def quoted_strings(value: str) -> list[str] | None:
    """The character-strings of a TXT/SPF value (``"a" "b"`` → ``["a", "b"]``), unescaped.
    None when the value is not a sequence of quoted strings."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == " ":
            i += 1
            continue
        if value[i] != '"':
            return None
        i += 1
        cur = []
        while True:
            if i >= n:
                return None
            c = value[i]
            if c == "\\":
                if value[i + 1 : i + 4].isdigit() and len(value[i + 1 : i + 4]) == 3:
                    cur.append(chr(int(value[i + 1 : i + 4], 8)))
                    i += 4
                    continue
                if i + 1 >= n:
                    return None
                cur.append(value[i + 1])
                i += 2
                continue
            if c == '"':
                i += 1
                break
            cur.append(c)
            i += 1
        out.append("".join(cur))
    return out if out else None


def unquote_txt(value: str) -> str:
    """A TXT value as the text it carries: character-strings joined without separator."""
    parts = quoted_strings(value)
    return "".join(parts) if parts is not None else value


# -------------------------------------------------------------------------------- reads


def _zones(source) -> list[HostedZone]:
    return list(source.all(HostedZone))


def zone_order(zone: HostedZone) -> tuple:
    """Deterministic precedence between zones of the same name: the oldest wins, then the
    lowest id."""
    return (zone.created_at, zone.id)


def public_zone_for(source, name: str) -> HostedZone | None:
    """The public hosted zone that is authoritative for ``name`` on privlink's "internet".

    Public zones of every account count (as on the internet). The most specific zone that
    contains the name wins; when several accounts host a public zone of the same name, the
    oldest one (then the lowest zone id) is the one "delegated to", deterministically."""
    try:
        cname = canonical_name(name)
    except BadName:
        return None
    best: HostedZone | None = None
    for z in _zones(source):
        if z.private or not within(cname, z.name):
            continue
        if best is None:
            best = z
            continue
        if len(z.name) > len(best.name) or (
            z.name == best.name and zone_order(z) < zone_order(best)
        ):
            best = z
    return best


def private_zones_for_vpc(source, vpc_id: str, region: str | None = None) -> list[HostedZone]:
    """Private hosted zones associated with a VPC (of any account), oldest first."""
    out = [
        z
        for z in _zones(source)
        if z.private
        and any(v.vpc_id == vpc_id and (region is None or v.vpc_region == region) for v in z.vpcs)
    ]
    out.sort(key=zone_order)
    return out


def private_zone_for(source, vpc_id: str, name: str, region: str | None = None):
    """The most specific private zone associated with the VPC that contains ``name``."""
    try:
        cname = canonical_name(name)
    except BadName:
        return None
    best = None
    for z in private_zones_for_vpc(source, vpc_id, region):
        if within(cname, z.name) and (best is None or len(z.name) > len(best.name)):
            best = z
    return best


def authoritative_zone(source, name: str, vpc_id: str | None = None, region: str | None = None):
    """The hosted zone that answers ``name`` for a resolver in ``vpc_id`` (None: the public
    view). As Route 53 Resolver does: the most specific private zone associated with the VPC
    that contains the name wins, and then it alone answers (a name it lacks is NXDOMAIN, with
    no fall-through to public DNS); with no such private zone, the public zone answers.
    (Endpoint-managed private zones are the DNS layer's to weigh against these.)"""
    if vpc_id is not None:
        zone = private_zone_for(source, vpc_id, name, region)
        if zone is not None:
            return zone
    return public_zone_for(source, name)


def zone_record_sets(source, zone: HostedZone, *, ordered: bool = True) -> list[RecordSet]:
    """Every record set of a zone, in Route 53's listing order (or unordered, faster)."""
    rows = [r for r in source.owned(RecordSet, zone.account, zone.region) if r.zone_id == zone.id]
    if ordered:
        rows.sort(key=record_order)
    return rows


def record_sets_at(source, zone: HostedZone, name: str, rtype: str | None = None):
    """The record sets of a zone at exactly ``name`` (optionally of one type)."""
    try:
        cname = canonical_name(name)
    except BadName:
        return []
    return [
        r
        for r in source.owned(RecordSet, zone.account, zone.region)
        if r.zone_id == zone.id and r.name == cname and (rtype is None or r.type == rtype)
    ]


def record_order(r: RecordSet) -> tuple:
    return (reversed_key(r.name), r.type, r.set_identifier or "")


def find_public_txt(source, fqdn: str, _depth: int = 0) -> list[str]:
    """Values (unquoted) of the TXT records at exactly ``fqdn`` in privlink's public DNS.

    The answering zone is :func:`public_zone_for`; a CNAME at the name is followed (up to 8
    hops) as a resolver would. Alias records are not followed. Empty list: no such record."""
    zone = public_zone_for(source, fqdn)
    if zone is None:
        return []
    sets = record_sets_at(source, zone, fqdn)
    txt = [v for r in sets if r.type == "TXT" for v in r.values]
    if txt:
        return [unquote_txt(v) for v in txt]
    cnames = [r for r in sets if r.type == "CNAME" and r.values]
    if cnames and _depth < 8:
        return find_public_txt(source, cnames[0].values[0], _depth + 1)
    return []


__all__ = [
    "AliasTarget",
    "authoritative_zone",
    "BadName",
    "HostedZone",
    "RecordSet",
    "ZoneChange",
    "ZoneVpc",
    "canonical_name",
    "find_public_txt",
    "labels_reversed",
    "reversed_key",
    "presentation",
    "private_zone_for",
    "private_zones_for_vpc",
    "public_zone_for",
    "quoted_strings",
    "record_sets_at",
    "unquote_txt",
    "within",
    "zone_record_sets",
]
