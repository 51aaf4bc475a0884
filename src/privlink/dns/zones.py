"""Zone sources: the parts a view is assembled from.

A zone source is authoritative for every name at or below its ``origin``. Asked about one of
those names it says one of three things:

* ``None`` — the name does not exist (NXDOMAIN);
* a :class:`Node` — the name exists; its RRsets by type, possibly none (an empty
  non-terminal, or a name with other types only: NODATA for the missing types);
* a :class:`Delegation` — the name is below a zone cut to servers privlink does not run.

Two ready-made sources cover the integration's needs: :class:`StaticZone` (records compiled
once into a dict keyed by name; rebuild it when the store changes) and :class:`CallbackZone`
(records computed per lookup by a function, never cached). Names are keys (see
:mod:`privlink.dns.records`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import dns.rdatatype

from .records import (
    NS,
    SOA,
    Record,
    RecordError,
    RRset,
    ancestors,
    clamp_ttl,
    compile_rrset,
    is_subdomain,
    key_text,
    negative_soa,
    parse_type,
    rdata_wire,
    soa_rrset,
    text_key,
)

log = logging.getLogger("privlink.dns")

WILDCARD_LABEL = b"\x01*"


class Node:
    """The records at one name: ``rrsets`` by type, Route 53 ``aliases`` (type → target
    key) by type."""

    __slots__ = ("key", "rrsets", "aliases", "synthesized")

    def __init__(
        self,
        key: bytes,
        rrsets: dict[int, RRset] | None = None,
        aliases: dict[int, bytes] | None = None,
        synthesized: bool = False,
    ):
        self.key = key
        self.rrsets = rrsets if rrsets is not None else {}
        self.aliases = aliases if aliases is not None else {}
        self.synthesized = synthesized

    def __repr__(self) -> str:
        types = [dns.rdatatype.to_text(t) for t in (*self.rrsets, *self.aliases)]
        return f"Node({key_text(self.key)}, {types})"


class Delegation:
    """The name is below ``ns.key``, delegated by ``ns`` to servers outside privlink."""

    __slots__ = ("ns",)

    def __init__(self, ns: RRset):
        self.ns = ns


class ZoneSource:
    """Base of every zone source. Subclasses implement :meth:`lookup`.

    ``origin`` is the apex (text); ``key`` its key; ``label`` says where the zone comes from
    (for logs and ``View.explain``: ``"phz:Z0123…"``, ``"managed:vpce-…"``); ``cacheable``
    is False when answers may change without the view being rebuilt (callback zones).
    ``soa`` is the zone's SOA RRset, ``negative_soa`` the one negative answers carry.
    """

    cacheable = True

    def __init__(self, origin: str, *, label: str = "", soa: Record | None = None):
        self.key = text_key(origin)
        self.origin = key_text(self.key)
        self.label = label or self.origin
        self.soa = soa_rrset(self.key, soa)
        self.negative_soa = negative_soa(self.soa)

    def contains(self, key: bytes) -> bool:
        return is_subdomain(key, self.key)

    def lookup(self, key: bytes) -> Node | Delegation | None:
        """What the zone says about the name ``key`` (lower case, inside the zone)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"


class StaticZone(ZoneSource):
    """A zone compiled once from records: a dict by name, so a lookup is one dict access.

    Records that cannot be served (bad value, name outside the zone, unknown type) are left
    out and described in ``errors``; building a zone never raises for bad records. An SOA
    record at the apex is used for negative answers; without one, AWS's private-zone SOA.
    Records of one name and type are merged (lowest TTL). Wildcards (``*.example.com``)
    follow RFC 4592; NS records below the apex are zone cuts.
    """

    def __init__(
        self,
        origin: str,
        records: Iterable[Record] = (),
        *,
        label: str = "",
        soa: Record | None = None,
    ):
        records = list(records)
        origin_key = text_key(origin)
        if soa is None:
            for r in records:
                if r.alias is None and str(r.type).upper() == "SOA":
                    try:
                        if text_key(r.name) == origin_key:
                            soa = r
                            break
                    except RecordError:
                        pass
        try:
            super().__init__(origin, label=label, soa=soa)
        except RecordError as e:
            if soa is None:
                raise
            super().__init__(origin, label=label)
            self.errors = [f"{soa.name} SOA: {e}"]
        else:
            self.errors: list[str] = []
        groups: dict[tuple[bytes, int], tuple[int, list[bytes]]] = {}
        aliases: dict[tuple[bytes, int], bytes] = {}
        for rec in records:
            try:
                key = text_key(rec.name)
                if not self.contains(key):
                    raise RecordError(f"not in zone {self.origin}")
                rdtype = parse_type(rec.type)
                if rec.alias is not None:
                    aliases[(key, rdtype)] = text_key(rec.alias)
                    continue
                if rdtype == SOA and key != self.key:
                    raise RecordError("an SOA record belongs at the zone apex")
                ttl = clamp_ttl(rec.ttl)
                if not rec.values:
                    raise RecordError("a record without values")
                wires = [rdata_wire(rdtype, v) for v in rec.values]
                if rdtype == SOA:
                    wires = wires[:1]
                old = groups.get((key, rdtype))
                if old is not None:
                    groups[(key, rdtype)] = (min(old[0], ttl), old[1] + wires)
                else:
                    groups[(key, rdtype)] = (ttl, wires)
            except RecordError as e:
                self.errors.append(f"{rec.name} {rec.type}: {e}")
        self.nodes: dict[bytes, Node] = {self.key: Node(self.key)}
        for (key, rdtype), (ttl, wires) in groups.items():
            if rdtype == dns.rdatatype.CNAME and len(set(wires)) > 1:
                self.errors.append(f"{key_text(key)} CNAME: more than one value")
                continue
            self._node(key).rrsets[rdtype] = RRset(key, rdtype, ttl, wires)
        for (key, rdtype), target in aliases.items():
            self._node(key).aliases[rdtype] = target
        apex = self.nodes[self.key]
        apex.rrsets[SOA] = self.soa
        # Empty non-terminals: every ancestor of a name, up to the apex, exists.
        origin_len = len(self.key)
        for key in list(self.nodes):
            for anc in ancestors(key):
                if len(anc) <= origin_len:
                    break
                if anc not in self.nodes:
                    self.nodes[anc] = Node(anc)
        self.cuts: dict[bytes, RRset] = {
            key: node.rrsets[NS]
            for key, node in self.nodes.items()
            if key != self.key and NS in node.rrsets
        }
        self.has_wildcards = any(k.startswith(WILDCARD_LABEL) for k in self.nodes)
        if self.errors:
            log.debug("zone %s: %d records left out: %s", self.label, len(self.errors), self.errors)

    def _node(self, key: bytes) -> Node:
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = Node(key)
        return node

    def __len__(self) -> int:
        """The number of RRsets (aliases included)."""
        return sum(len(n.rrsets) + len(n.aliases) for n in self.nodes.values())

    def lookup(self, key: bytes) -> Node | Delegation | None:
        if self.cuts:
            origin_len = len(self.key)
            for anc in ancestors(key):
                if len(anc) <= origin_len:
                    break
                ns = self.cuts.get(anc)
                if ns is not None and len(anc) != len(key):
                    return Delegation(ns)
        node = self.nodes.get(key)
        if node is not None:
            return node
        if not self.has_wildcards:
            return None
        # RFC 4592: the closest encloser is the longest existing ancestor; only its own
        # wildcard child can synthesise an answer.
        for anc in ancestors(key):
            if anc in self.nodes:
                wild = self.nodes.get(WILDCARD_LABEL + anc)
                if wild is None:
                    return None
                return Node(
                    key,
                    {t: rr.reown(key) for t, rr in wild.rrsets.items()},
                    dict(wild.aliases),
                    synthesized=True,
                )
        return None


RecordsCallback = Callable[[str], "Iterable[Record] | None"]


class CallbackZone(ZoneSource):
    """A zone whose records are computed at each lookup: ``fn(name)`` gets the lower-case
    name without the final dot and returns the records at that name (their ``name`` field is
    ignored), ``[]`` when the name exists without records, or ``None`` when it does not exist.

    Use it for names derived on the fly (EC2 private hostnames from an address, say). Answers
    from a callback zone are never cached, so ``fn`` must be fast and must not block. Invalid
    records it returns are skipped (and logged).
    """

    cacheable = False

    def __init__(
        self, origin: str, fn: RecordsCallback, *, label: str = "", soa: Record | None = None
    ):
        super().__init__(origin, label=label, soa=soa)
        self.fn = fn

    def lookup(self, key: bytes) -> Node | Delegation | None:
        records = self.fn(key_text(key))
        if records is None:
            if key == self.key:
                return Node(key, {SOA: self.soa})
            return None
        node = Node(key)
        groups: dict[int, tuple[int, list]] = {}
        for rec in records:
            try:
                rdtype = parse_type(rec.type)
                if rec.alias is not None:
                    node.aliases[rdtype] = text_key(rec.alias)
                    continue
                ttl = clamp_ttl(rec.ttl)
                values = list(rec.values)
                if not values:
                    raise RecordError("a record without values")
                old = groups.get(rdtype)
                if old is not None:
                    groups[rdtype] = (min(old[0], ttl), old[1] + values)
                else:
                    groups[rdtype] = (ttl, values)
            except RecordError as e:
                log.warning("zone %s: record %r left out: %s", self.label, rec, e)
        for rdtype, (ttl, values) in groups.items():
            try:
                node.rrsets[rdtype] = compile_rrset(key, rdtype, ttl, values)
            except RecordError as e:
                log.warning("zone %s: %s records left out: %s", self.label, key_text(key), e)
        if key == self.key:
            node.rrsets.setdefault(SOA, self.soa)
        return node
