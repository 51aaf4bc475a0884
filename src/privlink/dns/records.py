"""What a DNS view is made of: records as Route 53 shows them, compiled once into wire-ready
RRsets.

A :class:`Record` is the integration's currency: name, type, TTL and values in presentation
form, exactly like a Route 53 ``ResourceRecordSet`` (``Value`` strings; TXT values keep their
quotes), or an alias to another name in the same view (Route 53 alias records: the answer is
the target's records under the alias's own name).

Internally a name is its *key*: the uncompressed wire form, lower-cased (``b"\\x03www\\x07
example\\x03com\\x00"``), so lookups are dict accesses on bytes and ancestors are suffixes.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

IN = dns.rdataclass.IN
MAX_TTL = 2**31 - 1
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS

# The SOA AWS puts in every private hosted zone (and privlink in zones it makes up: managed
# private zones, AWS-provided names). Negative answers are cached for min(TTL, minimum) = 900 s.
DEFAULT_SOA_VALUE = (
    "ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
)
DEFAULT_SOA_TTL = 900

# Types that never live in a zone (they only appear in queries or transport).
_META_TYPES = frozenset(
    {
        dns.rdatatype.OPT,
        dns.rdatatype.ANY,
        dns.rdatatype.AXFR,
        dns.rdatatype.IXFR,
        dns.rdatatype.TSIG,
        dns.rdatatype.TKEY,
        dns.rdatatype.MAILA,
        dns.rdatatype.MAILB,
        dns.rdatatype.NONE,
    }
)


class RecordError(ValueError):
    """A record that cannot be served (bad name, type or value)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record set: ``Record("db.example.com", "A", 300, ("10.0.0.5",))``.

    ``name`` is absolute, in any case, with or without the final dot. ``type`` is a type
    mnemonic (``"A"``, ``"TXT"`` …). ``values`` are in presentation form (as Route 53's
    ``ResourceRecords[].Value``). ``alias`` names another name in the view whose records of
    the same type answer for this one (Route 53 alias); an alias record has no values and its
    TTL is the target's.
    """

    name: str
    type: str
    ttl: int = 300
    values: tuple[str, ...] = ()
    alias: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.values, str):
            object.__setattr__(self, "values", (self.values,))
        elif not isinstance(self.values, tuple):
            object.__setattr__(self, "values", tuple(self.values))


# -- names ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def text_key(text: str) -> bytes:
    """The key of a name given as text (``RecordError`` if it is not a valid name)."""
    if not isinstance(text, str) or not text or len(text) > 1024:
        raise RecordError(f"invalid DNS name {text!r}")
    if "\\" not in text and text.isascii():
        # Fast path: plain ASCII names (all names privlink itself makes).
        body = text[:-1] if text.endswith(".") else text
        if body == "":
            return b"\x00"
        out = bytearray()
        for label in body.split("."):
            if not 0 < len(label) < 64:
                raise RecordError(f"invalid DNS name {text!r}: empty or over-long label")
            out.append(len(label))
            out += label.lower().encode()
        out.append(0)
        if len(out) > 255:
            raise RecordError(f"invalid DNS name {text!r}: longer than 255 bytes")
        return bytes(out)
    try:
        name = dns.name.from_text(text, origin=dns.name.root)
        return name.to_wire().lower()
    except (dns.exception.DNSException, ValueError, UnicodeError) as e:
        raise RecordError(f"invalid DNS name {text!r}: {e}") from None


def parse_name(text: str) -> dns.name.Name:
    return key_name(text_key(text))


def key_name(key: bytes) -> dns.name.Name:
    return dns.name.from_wire(key, 0)[0]


def key_text(key: bytes) -> str:
    """``b"\\x03www\\x07example\\x03com\\x00"`` → ``"www.example.com"`` (``"."`` for the root)."""
    if key == b"\x00":
        return "."
    return key_name(key).to_text(omit_final_dot=True)


def ancestors(key: bytes):
    """``key`` and each of its ancestors up to the root, most specific first."""
    i = 0
    while True:
        yield key[i:] if i else key
        n = key[i]
        if n == 0:
            return
        i += n + 1


def is_subdomain(key: bytes, origin: bytes) -> bool:
    if not key.endswith(origin):
        return False
    return any(len(a) == len(origin) for a in ancestors(key))


# -- types, TTLs, values ----------------------------------------------------------------------


def parse_type(text: str | int) -> int:
    try:
        rdtype = dns.rdatatype.from_text(text) if isinstance(text, str) else int(text)
    except (dns.exception.DNSException, ValueError, TypeError) as e:
        raise RecordError(f"unknown record type {text!r}: {e}") from None
    if rdtype in _META_TYPES or not 0 < rdtype < 65536:
        raise RecordError(f"record type {text!r} cannot be served from a zone")
    return rdtype


def clamp_ttl(ttl) -> int:
    if isinstance(ttl, bool):
        raise RecordError(f"invalid TTL {ttl!r}")
    try:
        ttl = int(ttl)
    except (TypeError, ValueError):
        raise RecordError(f"invalid TTL {ttl!r}") from None
    return min(max(ttl, 0), MAX_TTL)


@functools.lru_cache(maxsize=65536)
def rdata_wire(rdtype: int, value: str) -> bytes:
    """One value in presentation form → its uncompressed rdata wire form (memoised, so
    rebuilding a view after a change re-parses nothing it has seen)."""
    if not isinstance(value, str):
        raise RecordError(f"record value {value!r} is not text")
    if rdtype in (A, AAAA):
        try:
            addr = ipaddress.ip_address(value.strip())
        except ValueError:
            raise RecordError(
                f"invalid {dns.rdatatype.to_text(rdtype)} value {value!r}: not an address"
            ) from None
        if addr.version != (4 if rdtype == A else 6):
            raise RecordError(f"invalid {dns.rdatatype.to_text(rdtype)} value {value!r}")
        return addr.packed
    try:
        rd = dns.rdata.from_text(IN, rdtype, value, origin=dns.name.root, relativize=False)
        return rd.to_wire()
    except (dns.exception.DNSException, ValueError, UnicodeError, TypeError) as e:
        raise RecordError(f"invalid {dns.rdatatype.to_text(rdtype)} value {value!r}: {e}") from None


class RRset:
    """The records of one type at one name, wire-ready.

    ``key`` is the owner's key, ``wires`` the rdata of each record (uncompressed), ``ttl``
    the TTL served. ``target`` is the key of a CNAME's target.
    """

    __slots__ = ("key", "rdtype", "ttl", "wires", "fixed", "target")

    def __init__(self, key: bytes, rdtype: int, ttl: int, wires):
        self.key = key
        self.rdtype = rdtype
        self.ttl = ttl
        self.wires: tuple[bytes, ...] = tuple(dict.fromkeys(wires))  # duplicates collapse
        self.fixed = struct.pack("!HHI", rdtype, IN, ttl)
        self.target = self.wires[0].lower() if rdtype == CNAME and self.wires else None

    def reown(self, key: bytes, ttl: int | None = None) -> RRset:
        """The same records under another owner (wildcards, aliases) or TTL."""
        return RRset(key, self.rdtype, self.ttl if ttl is None else ttl, self.wires)

    @property
    def name(self) -> str:
        return key_text(self.key)

    @property
    def type(self) -> str:
        return dns.rdatatype.to_text(self.rdtype)

    def rdatas(self) -> list[dns.rdata.Rdata]:
        return [dns.rdata.from_wire(IN, self.rdtype, w, 0, len(w)) for w in self.wires]

    def values(self) -> list[str]:
        return [rd.to_text() for rd in self.rdatas()]

    def __len__(self) -> int:
        return len(self.wires)

    def __repr__(self) -> str:
        return f"<RRset {self.name} {self.ttl} {self.type} {self.values()}>"


def compile_rrset(key: bytes, rdtype: int, ttl: int, values) -> RRset:
    values = list(values)
    if not values:
        raise RecordError(f"{dns.rdatatype.to_text(rdtype)} record without values")
    if rdtype == CNAME and len(values) > 1:
        raise RecordError("a CNAME record has exactly one value")
    return RRset(key, rdtype, clamp_ttl(ttl), [rdata_wire(rdtype, v) for v in values])


def soa_rrset(origin: bytes, soa: Record | None) -> RRset:
    if soa is None:
        return compile_rrset(origin, SOA, DEFAULT_SOA_TTL, [DEFAULT_SOA_VALUE])
    return compile_rrset(origin, SOA, soa.ttl, list(soa.values)[:1])


def negative_soa(soa: RRset) -> RRset:
    """The SOA for the authority section of NXDOMAIN/NODATA: TTL = min(TTL, minimum)
    (RFC 2308 §3). The minimum is the last 32 bits of the SOA rdata."""
    minimum = struct.unpack("!I", soa.wires[0][-4:])[0]
    return soa.reown(soa.key, min(soa.ttl, minimum))
