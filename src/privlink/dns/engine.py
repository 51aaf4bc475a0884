"""The answer engine, sans-IO: query bytes in, response bytes out, for one view.

``answer(wire, view, tcp=...)`` never raises: garbage is dropped or answered FORMERR, an
internal failure becomes SERVFAIL. ``resolve(view, name, type)`` is the lookup itself, for
tests and for the doctor (``View.explain`` says which zone answers).

Rules (as a recursive resolver in front of authoritative zones would answer):

* CNAMEs are followed inside the view, across zones and into the fallback view, at most
  ``MAX_CHAIN`` links; a loop or an over-long chain is SERVFAIL. A chain that leaves the
  view ends with the CNAMEs found so far (NOERROR). The RCODE speaks for the last name.
* A name that exists (with other types only, or as an empty non-terminal) is NODATA:
  NOERROR, no answer, the zone's SOA in authority. A name that does not exist is NXDOMAIN
  with the SOA. The SOA's TTL there is min(SOA TTL, SOA minimum) (RFC 2308).
* ANY gets one RRset (RFC 8482). Route 53 alias records answer with the target's records
  under the alias name.
* Names outside every zone of a view without fallback: REFUSED. Opcodes other than QUERY:
  NOTIMP. Classes other than IN (and ANY): REFUSED. Zone transfers: REFUSED.
* EDNS: OPT echoed (DO bit copied), the client's payload honoured (at least 512, at most
  the server's), version > 0 is BADVERS. Without EDNS a UDP answer is at most 512 bytes.
  Too big for UDP: TC set, whole RRsets that fit are kept. TCP answers are never truncated
  (up to the 65535-byte message limit).
"""

from __future__ import annotations

import logging

import dns.rcode
import dns.rdataclass
import dns.rdatatype

from .records import RRset, parse_type, text_key
from .view import View
from .wire import (
    CD,
    MAX_MESSAGE,
    MIN_UDP,
    OPCODE_QUERY,
    QR,
    RD,
    FormError,
    parse_header_question,
    parse_query,
    peek_header,
    render,
    response_flags,
)
from .zones import Delegation

log = logging.getLogger("privlink.dns")

MAX_CHAIN = 12  # CNAME/alias links followed for one query

NOERROR = dns.rcode.NOERROR
NXDOMAIN = dns.rcode.NXDOMAIN
SERVFAIL = dns.rcode.SERVFAIL
REFUSED = dns.rcode.REFUSED
FORMERR = dns.rcode.FORMERR
NOTIMP = dns.rcode.NOTIMP
NOTAUTH = dns.rcode.NOTAUTH
BADVERS = dns.rcode.BADVERS

_CNAME = dns.rdatatype.CNAME
_ANY = dns.rdatatype.ANY
_IN = dns.rdataclass.IN
_ANY_CLASS = dns.rdataclass.ANY
_TRANSFERS = (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
_MAIL = (dns.rdatatype.MAILA, dns.rdatatype.MAILB)
# For ANY, the one RRset returned is the first of these the name has, else its lowest type.
_ANY_PREFERENCE = (_CNAME, dns.rdatatype.A, dns.rdatatype.AAAA)


class Resolution:
    """The outcome of a lookup: RCODE, answer and authority RRsets, the zone that answered
    last, and whether every zone consulted allows caching the rendered response."""

    __slots__ = ("rcode", "answer", "authority", "cacheable", "zone")

    def __init__(self, rcode, answer=None, authority=None, cacheable=True, zone=None):
        self.rcode = rcode
        self.answer = answer if answer is not None else []
        self.authority = authority if authority is not None else []
        self.cacheable = cacheable
        self.zone = zone

    @property
    def rcode_text(self) -> str:
        return dns.rcode.to_text(self.rcode)

    def values(self, rdtype: str | None = None) -> list[str]:
        """The answer's values (of one type), in presentation form."""
        return [v for r in self.answer if rdtype in (None, r.type) for v in r.values()]

    def __repr__(self) -> str:
        return f"Resolution({self.rcode_text}, answer={self.answer}, authority={self.authority})"


def resolve(view: View, name: str, rdtype: str | int = "A") -> Resolution:
    """Look ``name`` of type ``rdtype`` (mnemonic or number) up in ``view``."""
    key = text_key(name)
    if isinstance(rdtype, str):
        rdtype = _ANY if rdtype.upper() == "ANY" else parse_type(rdtype)
    return _resolve(view, key, rdtype, [MAX_CHAIN])


def _resolve(view: View, key: bytes, qtype: int, budget: list) -> Resolution:
    answer: list[RRset] = []
    cacheable = True
    seen = {key}
    first = True
    while True:
        zone = view.find_zone(key)
        if zone is None:
            if first:
                return Resolution(REFUSED, cacheable=cacheable)
            return Resolution(NOERROR, answer, cacheable=cacheable)  # the chain left the view
        first = False
        if not zone.cacheable:
            cacheable = False
        found = zone.lookup(key)
        if found is None:
            return Resolution(NXDOMAIN, answer, [zone.negative_soa], cacheable, zone)
        if isinstance(found, Delegation):
            # Delegated to name servers outside privlink: a resolver cannot reach them.
            return Resolution(SERVFAIL, cacheable=cacheable, zone=zone)
        rrsets = found.rrsets
        if qtype == _ANY:
            rrset = _pick_any(rrsets)
            if rrset is not None:
                answer.append(rrset)
                return Resolution(NOERROR, answer, cacheable=cacheable, zone=zone)
            if not found.aliases:
                return Resolution(NOERROR, answer, [zone.negative_soa], cacheable, zone)
            qtype = min(found.aliases)
        rrset = rrsets.get(qtype)
        if rrset is not None:
            answer.append(rrset)
            return Resolution(NOERROR, answer, cacheable=cacheable, zone=zone)
        target = found.aliases.get(qtype)
        if target is not None:
            budget[0] -= 1
            if budget[0] < 0 or target in seen:
                return Resolution(SERVFAIL, cacheable=cacheable)
            sub = _resolve(view, target, qtype, budget)
            cacheable = cacheable and sub.cacheable
            if sub.rcode == SERVFAIL:
                return Resolution(SERVFAIL, cacheable=cacheable)
            final = [r for r in sub.answer if r.rdtype == qtype]
            if final:
                answer.append(final[-1].reown(key))
                return Resolution(NOERROR, answer, cacheable=cacheable, zone=zone)
            return Resolution(NOERROR, answer, [zone.negative_soa], cacheable, zone)
        cname = rrsets.get(_CNAME) if qtype != _CNAME else None
        if cname is None:
            return Resolution(NOERROR, answer, [zone.negative_soa], cacheable, zone)
        answer.append(cname)
        budget[0] -= 1
        key = cname.target
        if budget[0] < 0 or key in seen:
            return Resolution(SERVFAIL, cacheable=cacheable)
        seen.add(key)


def _pick_any(rrsets: dict) -> RRset | None:
    if not rrsets:
        return None
    for t in _ANY_PREFERENCE:
        if t in rrsets:
            return rrsets[t]
    return rrsets[min(rrsets)]


def udp_limit(edns: tuple | None, max_udp_payload: int) -> int:
    if edns is None:
        return MIN_UDP
    return max(MIN_UDP, min(edns[0], max_udp_payload))


def answer(
    wire: bytes, view: View | None, *, tcp: bool = False, max_udp_payload: int = 4096
) -> bytes | None:
    """The response to query message ``wire`` from ``view``, or None when nothing must be
    sent (not a query, too short to answer, or a silent view). Never raises."""
    try:
        return _answer(wire, view, tcp, max_udp_payload)
    except Exception:  # a bug must cost one answer, never the server
        log.exception("DNS engine failure")
        try:
            header = peek_header(wire)
            if header is None or header[1] & QR:
                return None
            return render(header[0], response_flags(header[1], SERVFAIL), None)
        except Exception:
            return None


def _answer(wire: bytes, view: View | None, tcp: bool, max_udp_payload: int) -> bytes | None:
    header = peek_header(wire)
    if header is None:
        return None
    id, flags = header
    if flags & QR:
        return None  # never answer a response (no loops between servers)
    if view is not None and view.silent:
        return None
    max_udp_payload = max(MIN_UDP, min(max_udp_payload, MAX_MESSAGE))
    opcode = (flags >> 11) & 0xF
    if opcode != OPCODE_QUERY:
        return render(id, response_flags(flags, NOTIMP), parse_header_question(wire))
    try:
        q = parse_query(wire)
    except FormError as e:
        return render(
            id,
            response_flags(flags, FORMERR),
            e.question,
            edns=e.edns,
            edns_payload=max_udp_payload,
        )
    limit = MAX_MESSAGE if tcp else udp_limit(q.edns, max_udp_payload)

    def reply(rcode, answer=(), authority=(), aa=False):
        return render(
            id,
            response_flags(flags, rcode, aa=aa),
            q.question,
            answer,
            authority,
            edns=q.edns,
            limit=limit,
            rcode=rcode,
            edns_payload=max_udp_payload,
        )

    if q.edns is not None and q.edns[1] != 0:
        return reply(BADVERS)
    if q.tsig:
        return reply(NOTAUTH)  # privlink holds no TSIG keys
    if view is None:
        return reply(REFUSED)
    if q.qclass not in (_IN, _ANY_CLASS):
        return reply(REFUSED)
    if q.qtype in _TRANSFERS:
        return reply(REFUSED)
    if q.qtype in _MAIL:
        return reply(NOTIMP)

    edns_key = None if q.edns is None else q.edns[2]
    cache_key = (q.key, q.qtype, q.qclass, flags & (RD | CD), edns_key, limit)
    cached = view.cache.get(cache_key)
    if cached is not None:
        # Same answer; patch the ID and the question's letter case (same length, so
        # compression offsets stay valid).
        n = len(q.qname)
        return id.to_bytes(2, "big") + cached[2:12] + q.qname + cached[12 + n :]

    res = _resolve(view, q.key, q.qtype, [MAX_CHAIN])
    aa = view.authoritative and res.rcode in (NOERROR, NXDOMAIN) and res.zone is not None
    out = reply(res.rcode, res.answer, res.authority, aa)
    if res.cacheable and view.cache_size > 0:
        if len(view.cache) >= view.cache_size:
            view.cache.clear()
        view.cache[cache_key] = out
    return out
