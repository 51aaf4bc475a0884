"""DNS messages on the wire, sans-IO: parsing queries strictly and rendering responses
within a size limit (truncating whole RRsets and setting TC when they do not fit)."""

from __future__ import annotations

import struct

import dns.rdatatype

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010

OPCODE_QUERY = 0
DO_BIT = 0x8000
OPT_SIZE = 11  # an OPT RR without options: root name, type, class, ttl, rdlength
MIN_UDP = 512
MAX_MESSAGE = 65535

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")


class FormError(Exception):
    """The query is malformed; ``question`` holds its parsed question if it got that far."""

    def __init__(self, reason: str, question: tuple | None = None, edns: tuple | None = None):
        super().__init__(reason)
        self.question = question
        self.edns = edns


class Query:
    """A parsed query. ``qname`` is the name's wire form exactly as received (case kept);
    ``key`` is it lower-cased. ``edns`` is None or (payload, version, do)."""

    __slots__ = ("id", "flags", "opcode", "qname", "key", "qtype", "qclass", "edns", "tsig")

    def __init__(self, id, flags, opcode, qname, qtype, qclass, edns, tsig):
        self.id = id
        self.flags = flags
        self.opcode = opcode
        self.qname = qname
        self.key = qname.lower()
        self.qtype = qtype
        self.qclass = qclass
        self.edns = edns
        self.tsig = tsig

    @property
    def question(self) -> tuple[bytes, int, int]:
        return (self.qname, self.qtype, self.qclass)


def read_name(wire: bytes, off: int) -> tuple[bytes, int]:
    """Read a (possibly compressed) name at ``off``: its uncompressed wire form and the offset
    after it. Compression pointers must point strictly backwards of the segment they end, so a
    malicious message cannot loop; names are limited to 255 bytes."""
    out = bytearray()
    end = None
    pos = off
    segment = off
    size = len(wire)
    while True:
        if pos >= size:
            raise FormError("name runs past the end of the message")
        length = wire[pos]
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= size:
                raise FormError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | wire[pos + 1]
            if target >= segment:
                raise FormError("compression pointer does not point backwards")
            if end is None:
                end = pos + 2
            pos = segment = target
            continue
        if kind:
            raise FormError("unsupported label type")
        if length == 0:
            out.append(0)
            if len(out) > 255:
                raise FormError("name longer than 255 bytes")
            return bytes(out), (end if end is not None else pos + 1)
        if pos + 1 + length > size:
            raise FormError("label runs past the end of the message")
        out += wire[pos : pos + 1 + length]
        if len(out) > 254:
            raise FormError("name longer than 255 bytes")
        pos += 1 + length


def peek_header(wire: bytes) -> tuple[int, int] | None:
    if len(wire) < 12:
        return None
    return struct.unpack_from("!HH", wire, 0)


def parse_query(wire: bytes) -> Query:
    """Parse a query message. The caller has checked the header is 12 bytes and QR is 0.

    Raises :class:`FormError` for anything a server must answer with FORMERR.
    """
    id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire, 0)
    opcode = (flags >> 11) & 0xF
    if qdcount != 1:
        raise FormError(f"{qdcount} questions (exactly one expected)")
    qname, off = read_name(wire, 12)
    if off + 4 > len(wire):
        raise FormError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", wire, off)
    question = (qname, qtype, qclass)
    off += 4
    edns = None
    tsig = False
    try:
        for _ in range(ancount + nscount):
            _, off = read_name(wire, off)
            if off + 10 > len(wire):
                raise FormError("truncated record")
            rtype, _, _, rdlen = _RR_FIXED.unpack_from(wire, off)
            if rtype in (dns.rdatatype.OPT, dns.rdatatype.TSIG):
                raise FormError("OPT or TSIG outside the additional section")
            off += 10 + rdlen
            if off > len(wire):
                raise FormError("record data runs past the end of the message")
        for i in range(arcount):
            owner, off = read_name(wire, off)
            if off + 10 > len(wire):
                raise FormError("truncated record")
            rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(wire, off)
            off += 10
            if off + rdlen > len(wire):
                raise FormError("record data runs past the end of the message")
            if rtype == dns.rdatatype.OPT:
                if edns is not None:
                    raise FormError("more than one OPT record")
                if owner != b"\x00":
                    raise FormError("OPT record not owned by the root")
                _check_options(wire, off, off + rdlen)
                edns = (rclass, (ttl >> 16) & 0xFF, bool(ttl & DO_BIT))
            elif rtype == dns.rdatatype.TSIG:
                if i != arcount - 1:
                    raise FormError("TSIG is not the last record")
                tsig = True
            off += rdlen
    except FormError as e:
        raise FormError(str(e), question) from None
    if off != len(wire):
        raise FormError(f"{len(wire) - off} bytes after the last record", question, edns)
    if qtype == dns.rdatatype.OPT:
        raise FormError("question of type OPT", question, edns)
    return Query(id, flags, opcode, qname, qtype, qclass, edns, tsig)


def parse_header_question(wire: bytes) -> tuple | None:
    """The question of a message we will not otherwise parse (to echo it), or None."""
    try:
        if struct.unpack_from("!H", wire, 4)[0] != 1:
            return None
        qname, off = read_name(wire, 12)
        if off + 4 > len(wire):
            return None
        qtype, qclass = struct.unpack_from("!HH", wire, off)
        return (qname, qtype, qclass)
    except (FormError, struct.error):
        return None


def _check_options(wire: bytes, off: int, end: int) -> None:
    while off < end:
        if off + 4 > end:
            raise FormError("truncated EDNS option")
        _, length = struct.unpack_from("!HH", wire, off)
        off += 4 + length
        if off > end:
            raise FormError("EDNS option runs past its record")


def response_flags(query_flags: int, rcode: int, *, aa: bool = False) -> int:
    """Header flags of a response: QR, the query's opcode, RD and CD; RA (privlink's
    resolvers recurse, as far as clients can tell); AA when authoritative."""
    flags = QR | RA | (query_flags & (0x7800 | RD | CD)) | (rcode & 0xF)
    if aa:
        flags |= AA
    return flags


def _write_name(buf: bytearray, key: bytes, comp: dict[bytes, int]) -> None:
    """Append name ``key`` compressed against the names already written (RFC 1035 §4.1.4)."""
    start = len(buf)
    i = 0
    while key[i]:
        ptr = comp.get(key[i:] if i else key)
        if ptr is not None:
            buf += key[:i]
            buf += (0xC000 | ptr).to_bytes(2, "big")
            break
        i += key[i] + 1
    else:
        buf += key
    j = 0
    while j < i:
        off = start + j
        if off < 0x4000:
            comp[key[j:] if j else key] = off
        j += key[j] + 1


def _write_rrset(buf: bytearray, rrset, comp: dict[bytes, int]) -> None:
    owner_at = len(buf)
    _write_name(buf, rrset.key, comp)
    if len(buf) - owner_at <= 2:  # already a pointer (or the root)
        owner = bytes(buf[owner_at:])
    elif owner_at < 0x4000:
        owner = (0xC000 | owner_at).to_bytes(2, "big")
    else:
        owner = rrset.key
    fixed = rrset.fixed
    first = True
    for rdata in rrset.wires:
        if not first:
            buf += owner
        first = False
        buf += fixed
        buf += len(rdata).to_bytes(2, "big")
        buf += rdata


def render(
    id: int,
    flags: int,
    question: tuple | None,
    answer=(),
    authority=(),
    *,
    edns: tuple | None = None,
    limit: int = MAX_MESSAGE,
    rcode: int = 0,
    edns_payload: int = 4096,
) -> bytes:
    """Render a response of at most ``limit`` bytes.

    ``question`` is (name as received, type, class) and is echoed byte for byte (so the
    client's letter case is kept). ``answer``/``authority`` are :class:`~privlink.dns.records.
    RRset`s. When they do not fit, whole RRsets are kept while they fit and the rest are
    dropped, with TC set: a UDP client then retries over TCP. ``edns`` is the query's
    (payload, version, do); with it the response carries an OPT record (DO echoed, our own
    payload size, the extended RCODE bits).
    """
    buf = bytearray(12)
    comp: dict[bytes, int] = {}
    qd = an = ns = ar = 0
    if question is not None:
        qname, qtype, qclass = question
        key = qname.lower()
        j = 0
        while key[j]:
            comp[key[j:] if j else key] = 12 + j
            j += key[j] + 1
        buf += qname
        buf += struct.pack("!HH", qtype, qclass)
        qd = 1
    room = max(limit, 12) - (OPT_SIZE if edns is not None else 0)
    truncated = False
    for section, rrsets in ((1, answer), (2, authority)):
        for rrset in rrsets:
            start = len(buf)
            _write_rrset(buf, rrset, comp)
            if len(buf) > room:
                del buf[start:]
                truncated = True
                break
            if section == 1:
                an += len(rrset.wires)
            else:
                ns += len(rrset.wires)
        if truncated:
            break
    if edns is not None:
        ttl = (((rcode >> 4) & 0xFF) << 24) | (DO_BIT if edns[2] else 0)
        buf += b"\x00" + struct.pack("!HHIH", 41, edns_payload, ttl, 0)
        ar = 1
    if truncated:
        flags |= TC
    buf[0:12] = _HEADER.pack(id, flags, qd, an, ns, ar)
    return bytes(buf)
