"""PROXY protocol version 2, sans-IO: build headers, parse them from a byte buffer.

The layout follows the PROXY protocol specification (version 2, binary):

    12-byte signature  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
    1 byte             version (high nibble, always 2) | command (0 LOCAL, 1 PROXY)
    1 byte             address family (1 INET, 2 INET6, 3 UNIX) | transport (1 STREAM, 2 DGRAM)
    2 bytes            big-endian length of everything that follows
    addresses          IPv4: src(4) dst(4) sport(2) dport(2); IPv6: 16+16+2+2; UNIX: 108+108
    TLVs               type(1) length(2, big-endian) value(length)

AWS adds one TLV on connections that arrive through an interface endpoint: type 0xEA
(``PP2_TYPE_AWS``) whose value is the subtype byte 0x01 (``PP2_SUBTYPE_AWS_VPCE_ID``) followed
by the endpoint id in ASCII; the TLV length counts the subtype byte (a 22-character
``vpce-…`` id gives length 23).

Nothing here does I/O: :func:`build_proxy_header` / :func:`build_local_header` return bytes,
:func:`parse_header` reads a buffer and says whether it holds a complete header, needs more
bytes, or is not a valid one.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass, field

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_FIXED_LEN = 16  # signature + ver/cmd + fam/proto + length
MAX_HEADER_LEN = HEADER_FIXED_LEN + 0xFFFF

CMD_LOCAL = 0x0
CMD_PROXY = 0x1

AF_UNSPEC = 0x0
AF_INET = 0x1
AF_INET6 = 0x2
AF_UNIX = 0x3

PROTO_UNSPEC = 0x0
PROTO_STREAM = 0x1
PROTO_DGRAM = 0x2

# TLV types from the specification, and AWS's.
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_TYPE_NETNS = 0x30
PP2_TYPE_AWS = 0xEA
PP2_SUBTYPE_AWS_VPCE_ID = 0x01

TLV_NAMES = {
    PP2_TYPE_ALPN: "ALPN",
    PP2_TYPE_AUTHORITY: "AUTHORITY",
    PP2_TYPE_CRC32C: "CRC32C",
    PP2_TYPE_NOOP: "NOOP",
    PP2_TYPE_UNIQUE_ID: "UNIQUE_ID",
    PP2_TYPE_SSL: "SSL",
    PP2_TYPE_NETNS: "NETNS",
    PP2_TYPE_AWS: "AWS",
}

_ADDR_LEN = {AF_INET: 12, AF_INET6: 36, AF_UNIX: 216}
_FAMILY_NAMES = {AF_UNSPEC: "UNSPEC", AF_INET: "INET", AF_INET6: "INET6", AF_UNIX: "UNIX"}
_PROTO_NAMES = {PROTO_UNSPEC: "UNSPEC", PROTO_STREAM: "STREAM", PROTO_DGRAM: "DGRAM"}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address | str


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY protocol v2 header."""


@dataclass(frozen=True)
class TLV:
    type: int
    value: bytes

    @property
    def name(self) -> str:
        return TLV_NAMES.get(self.type, f"0x{self.type:02X}")

    def encode(self) -> bytes:
        if len(self.value) > 0xFFFF:
            raise ProxyProtocolError("a TLV value is at most 65535 bytes")
        return struct.pack("!BH", self.type, len(self.value)) + self.value


def aws_vpce_tlv(vpce_id: str) -> TLV:
    """The TLV AWS adds through an interface endpoint: 0xEA, subtype 0x01 + the endpoint id."""
    return TLV(PP2_TYPE_AWS, bytes([PP2_SUBTYPE_AWS_VPCE_ID]) + vpce_id.encode("ascii"))


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed (or to-be-built) PROXY v2 header."""

    command: int = CMD_PROXY
    family: int = AF_INET
    protocol: int = PROTO_STREAM
    source: Address | None = None
    source_port: int | None = None
    destination: Address | None = None
    destination_port: int | None = None
    tlvs: tuple[TLV, ...] = field(default=())
    length: int = 0  # total bytes of the header on the wire, once parsed

    @property
    def is_local(self) -> bool:
        return self.command == CMD_LOCAL

    def tlv(self, type_: int) -> TLV | None:
        for t in self.tlvs:
            if t.type == type_:
                return t
        return None

    @property
    def aws_vpce_id(self) -> str | None:
        """The endpoint id from TLV 0xEA subtype 0x01, if present and well formed."""
        for t in self.tlvs:
            if t.type == PP2_TYPE_AWS and t.value[:1] == bytes([PP2_SUBTYPE_AWS_VPCE_ID]):
                try:
                    return t.value[1:].decode("ascii")
                except UnicodeDecodeError:
                    return None
        return None

    def to_dict(self) -> dict:
        """A JSON-friendly description (what the target program reports)."""
        d: dict = {
            "version": 2,
            "command": "LOCAL" if self.is_local else "PROXY",
            "family": _FAMILY_NAMES.get(self.family, str(self.family)),
            "protocol": _PROTO_NAMES.get(self.protocol, str(self.protocol)),
        }
        if self.source is not None:
            d["source"] = {"address": str(self.source), "port": self.source_port}
            d["destination"] = {"address": str(self.destination), "port": self.destination_port}
        tlvs = []
        for t in self.tlvs:
            item: dict = {"type": t.type, "name": t.name, "value_hex": t.value.hex()}
            if t.type == PP2_TYPE_AWS and t.value[:1] == b"\x01":
                item["subtype"] = PP2_SUBTYPE_AWS_VPCE_ID
                item["vpce_id"] = t.value[1:].decode("ascii", "replace")
            elif t.type in (PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NETNS):
                item["value"] = t.value.decode("utf-8", "replace")
            tlvs.append(item)
        d["tlvs"] = tlvs
        vpce = self.aws_vpce_id
        if vpce is not None:
            d["aws_vpce_id"] = vpce
        return d


# --------------------------------------------------------------------------- building


def build_proxy_header(
    source: str | Address,
    source_port: int,
    destination: str | Address,
    destination_port: int,
    tlvs: list[TLV | bytes] | tuple[TLV | bytes, ...] = (),
    *,
    protocol: int = PROTO_STREAM,
    crc32c: bool = False,
) -> bytes:
    """A PROXY command header for a TCP (or UDP) connection over IPv4 or IPv6.

    Both addresses must be of the same family (an IPv4 source with an IPv6 destination is
    written as IPv6 with the IPv4 address mapped, as the specification suggests). A TLV may
    be given pre-encoded as bytes (built once per endpoint, reused for every connection).
    """
    src = _packed(source)
    dst = _packed(destination)
    if len(src) != len(dst):
        src = src if len(src) == 16 else _V4_MAPPED + src
        dst = dst if len(dst) == 16 else _V4_MAPPED + dst
    if not (0 <= source_port <= 0xFFFF and 0 <= destination_port <= 0xFFFF):
        raise ProxyProtocolError(f"port {source_port} or {destination_port} is out of range")
    family = AF_INET if len(src) == 4 else AF_INET6
    addr = src + dst + struct.pack("!HH", source_port, destination_port)
    return _assemble(CMD_PROXY, family, protocol, addr, tlvs, crc32c)


_V4_MAPPED = b"\0" * 10 + b"\xff\xff"


def _packed(a) -> bytes:
    if isinstance(a, str):
        try:
            return socket.inet_pton(socket.AF_INET, a)
        except OSError:
            try:
                return socket.inet_pton(socket.AF_INET6, a)
            except OSError:
                raise ProxyProtocolError(f"{a!r} is not an IP address") from None
    return a.packed


def build_local_header(tlvs: list[TLV] | tuple[TLV, ...] = ()) -> bytes:
    """A LOCAL command header (no addresses): what a health checker sends."""
    return _assemble(CMD_LOCAL, AF_UNSPEC, PROTO_UNSPEC, b"", tlvs, False)


def _assemble(cmd: int, family: int, proto: int, addr: bytes, tlvs, crc32c: bool) -> bytes:
    body = addr + b"".join(t if isinstance(t, bytes) else t.encode() for t in tlvs)
    if crc32c:
        body += struct.pack("!BH", PP2_TYPE_CRC32C, 4)
        total = len(body) + 4
        if total > 0xFFFF:
            raise ProxyProtocolError("a PROXY v2 header carries at most 65535 bytes")
        head = SIGNATURE + struct.pack("!BBH", 0x20 | cmd, (family << 4) | proto, total)
        crc = crc32c_checksum(head + body + b"\0\0\0\0")
        return head + body + struct.pack("!I", crc)
    if len(body) > 0xFFFF:
        raise ProxyProtocolError("a PROXY v2 header carries at most 65535 bytes")
    return SIGNATURE + struct.pack("!BBH", 0x20 | cmd, (family << 4) | proto, len(body)) + body


# --------------------------------------------------------------------------- parsing


def detect(data: bytes | bytearray | memoryview) -> bool | None:
    """Whether ``data`` starts a PROXY v2 header: True, False, or None (too short to say)."""
    n = min(len(data), len(SIGNATURE))
    if bytes(data[:n]) != SIGNATURE[:n]:
        return False
    return True if n == len(SIGNATURE) else None


def parse_header(data: bytes | bytearray | memoryview) -> ProxyHeader | None:
    """Parse a header at the start of ``data``.

    Returns the header (its ``length`` says how many bytes it took), or None when more bytes
    are needed. Raises :class:`ProxyProtocolError` when the bytes cannot be a valid header.
    """
    mv = memoryview(data)
    found = detect(mv)
    if found is False:
        raise ProxyProtocolError("the PROXY v2 signature is missing")
    if len(mv) < HEADER_FIXED_LEN:
        return None
    ver_cmd, fam_proto, body_len = struct.unpack_from("!BBH", mv, 12)
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError(f"unsupported PROXY protocol version {ver_cmd >> 4}")
    cmd = ver_cmd & 0x0F
    if cmd not in (CMD_LOCAL, CMD_PROXY):
        raise ProxyProtocolError(f"unknown PROXY v2 command {cmd}")
    family, proto = fam_proto >> 4, fam_proto & 0x0F
    if family not in _FAMILY_NAMES or proto not in _PROTO_NAMES:
        raise ProxyProtocolError(f"unknown PROXY v2 address family/protocol 0x{fam_proto:02X}")
    total = HEADER_FIXED_LEN + body_len
    if len(mv) < total:
        return None
    body = mv[HEADER_FIXED_LEN:total]
    addr_len = _ADDR_LEN.get(family, 0)
    src = dst = None
    sport = dport = None
    if cmd == CMD_PROXY and family != AF_UNSPEC:
        if body_len < addr_len:
            raise ProxyProtocolError("the PROXY v2 header is shorter than its address block")
        if family == AF_INET:
            src = ipaddress.IPv4Address(bytes(body[0:4]))
            dst = ipaddress.IPv4Address(bytes(body[4:8]))
            sport, dport = struct.unpack_from("!HH", body, 8)
        elif family == AF_INET6:
            src = ipaddress.IPv6Address(bytes(body[0:16]))
            dst = ipaddress.IPv6Address(bytes(body[16:32]))
            sport, dport = struct.unpack_from("!HH", body, 32)
        else:
            src = bytes(body[0:108]).split(b"\0", 1)[0].decode("utf-8", "replace")
            dst = bytes(body[108:216]).split(b"\0", 1)[0].decode("utf-8", "replace")
    elif cmd == CMD_LOCAL:
        # A LOCAL header may still carry an address block; the receiver skips it.
        addr_len = min(addr_len, body_len)
    tlvs = _parse_tlvs(body[addr_len:])
    for t in tlvs:
        if t.type == PP2_TYPE_CRC32C:
            _check_crc(mv[:total], body, addr_len, t)
    return ProxyHeader(
        command=cmd,
        family=family,
        protocol=proto,
        source=src,
        source_port=sport,
        destination=dst,
        destination_port=dport,
        tlvs=tuple(tlvs),
        length=total,
    )


def _parse_tlvs(mv: memoryview) -> list[TLV]:
    out = []
    i = 0
    n = len(mv)
    while i < n:
        if n - i < 3:
            raise ProxyProtocolError("a PROXY v2 TLV is truncated")
        t, ln = struct.unpack_from("!BH", mv, i)
        if i + 3 + ln > n:
            raise ProxyProtocolError(f"PROXY v2 TLV 0x{t:02X} runs past the end of the header")
        out.append(TLV(t, bytes(mv[i + 3 : i + 3 + ln])))
        i += 3 + ln
    return out


def _check_crc(whole: memoryview, body: memoryview, addr_len: int, tlv: TLV) -> None:
    if len(tlv.value) != 4:
        raise ProxyProtocolError("the PROXY v2 CRC32C TLV must be 4 bytes")
    # Find the CRC value's offset in the header and checksum with it zeroed.
    raw = bytearray(whole)
    i = HEADER_FIXED_LEN + addr_len
    while i < len(raw):
        t, ln = struct.unpack_from("!BH", raw, i)
        if t == PP2_TYPE_CRC32C:
            raw[i + 3 : i + 7] = b"\0\0\0\0"
            break
        i += 3 + ln
    if crc32c_checksum(bytes(raw)) != struct.unpack("!I", tlv.value)[0]:
        raise ProxyProtocolError("the PROXY v2 CRC32C checksum does not match")


# CRC32C (Castagnoli), table driven; headers are small so speed does not matter.
def _crc32c_table() -> list[int]:
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c_checksum(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


__all__ = [
    "SIGNATURE",
    "TLV",
    "ProxyHeader",
    "ProxyProtocolError",
    "aws_vpce_tlv",
    "build_local_header",
    "build_proxy_header",
    "detect",
    "parse_header",
    "crc32c_checksum",
]
