"""PROXY protocol v2: building and parsing, against the specification's layout and HAProxy."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privlink.dataplane import proxyv2
from privlink.dataplane.proxyv2 import (
    TLV,
    ProxyProtocolError,
    aws_vpce_tlv,
    build_local_header,
    build_proxy_header,
    parse_header,
)

# Written by hand from the specification (section 2.2): an IPv4 TCP connection from
# 192.0.2.1:56324 to 198.51.100.2:443, no TLV.
SPEC_IPV4 = bytes.fromhex(
    "0d0a0d0a000d0a515549540a"  # signature
    "21"  # version 2, command PROXY
    "11"  # AF_INET, STREAM
    "000c"  # 12 bytes follow
    "c0000201"  # 192.0.2.1
    "c6336402"  # 198.51.100.2
    "dc04"  # 56324
    "01bb"  # 443
)

# The same with AWS's TLV as the NLB user guide describes it: type 0xEA, length 23 (the
# subtype byte + 22 ASCII characters), subtype 0x01, "vpce-08d2bf15fac5001c9".
SPEC_IPV4_AWS = (
    bytes.fromhex("0d0a0d0a000d0a515549540a21110026c0000201c6336402dc0401bb")
    + bytes.fromhex("ea001701")
    + b"vpce-08d2bf15fac5001c9"
)


def test_builds_the_specification_example_byte_for_byte():
    assert build_proxy_header("192.0.2.1", 56324, "198.51.100.2", 443) == SPEC_IPV4


def test_builds_the_aws_tlv_as_aws_encodes_it():
    tlv = aws_vpce_tlv("vpce-08d2bf15fac5001c9")
    assert tlv.encode()[:3] == b"\xea\x00\x17"  # length counts the subtype byte
    hdr = build_proxy_header("192.0.2.1", 56324, "198.51.100.2", 443, [tlv])
    assert hdr == SPEC_IPV4_AWS


def test_parses_the_specification_example():
    h = parse_header(SPEC_IPV4_AWS + b"GET / HTTP/1.1\r\n")
    assert h.command == proxyv2.CMD_PROXY and not h.is_local
    assert h.family == proxyv2.AF_INET and h.protocol == proxyv2.PROTO_STREAM
    assert str(h.source) == "192.0.2.1" and h.source_port == 56324
    assert str(h.destination) == "198.51.100.2" and h.destination_port == 443
    assert h.length == len(SPEC_IPV4_AWS)
    assert h.aws_vpce_id == "vpce-08d2bf15fac5001c9"
    d = h.to_dict()
    assert d["tlvs"][0]["type"] == 0xEA and d["tlvs"][0]["subtype"] == 1
    assert d["aws_vpce_id"] == "vpce-08d2bf15fac5001c9"


def test_ipv6_header():
    hdr = build_proxy_header("2001:db8::1", 1000, "2001:db8::2", 443)
    assert hdr[13] == 0x21 and len(hdr) == 16 + 36
    h = parse_header(hdr)
    assert h.source == ipaddress.ip_address("2001:db8::1") and h.destination_port == 443


def test_mixed_families_are_written_as_ipv6_mapped():
    h = parse_header(build_proxy_header("192.0.2.1", 1, "2001:db8::2", 2))
    assert h.family == proxyv2.AF_INET6
    assert h.source == ipaddress.ip_address("::ffff:192.0.2.1")


def test_local_header():
    hdr = build_local_header()
    assert hdr == proxyv2.SIGNATURE + b"\x20\x00\x00\x00"
    h = parse_header(hdr)
    assert h.is_local and h.source is None and h.length == 16
    assert h.to_dict()["command"] == "LOCAL"


def test_local_header_with_an_address_block_is_skipped():
    # A LOCAL header may carry addresses; a receiver ignores them.
    hdr = bytearray(SPEC_IPV4)
    hdr[12] = 0x20
    h = parse_header(bytes(hdr))
    assert h.is_local and h.source is None and h.tlvs == ()


def test_incremental_parse_needs_more_bytes_until_complete():
    data = SPEC_IPV4_AWS
    for n in range(len(data)):
        assert parse_header(data[:n]) is None, n
    assert parse_header(data).length == len(data)


def test_detect():
    assert proxyv2.detect(b"") is None
    assert proxyv2.detect(b"\r\n\r\n") is None
    assert proxyv2.detect(proxyv2.SIGNATURE) is True
    assert proxyv2.detect(b"GET / HTTP/1.1") is False
    assert proxyv2.detect(b"\x16\x03\x01") is False  # a TLS ClientHello


@pytest.mark.parametrize(
    "data, message",
    [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "signature"),
        (proxyv2.SIGNATURE + b"\x11\x11\x00\x00", "version"),
        (proxyv2.SIGNATURE + b"\x22\x11\x00\x00", "command"),
        (proxyv2.SIGNATURE + b"\x21\x51\x00\x00", "family"),
        (proxyv2.SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4, "shorter"),
        (SPEC_IPV4[:15] + b"\x0e" + SPEC_IPV4[16:] + b"\xea\x00", "truncated"),
        (SPEC_IPV4[:15] + b"\x10" + SPEC_IPV4[16:] + b"\xea\x00\x09\x01", "past the end"),
    ],
)
def test_invalid_headers_are_rejected(data, message):
    with pytest.raises(ProxyProtocolError, match=message):
        parse_header(data)


def test_crc32c_is_written_and_checked():
    assert proxyv2.crc32c_checksum(b"123456789") == 0xE3069283  # the standard check value
    hdr = build_proxy_header("192.0.2.1", 1, "192.0.2.2", 2, [aws_vpce_tlv("vpce-1")], crc32c=True)
    h = parse_header(hdr)
    assert h.tlv(proxyv2.PP2_TYPE_CRC32C) is not None and h.aws_vpce_id == "vpce-1"
    broken = bytearray(hdr)
    broken[20] ^= 0xFF
    with pytest.raises(ProxyProtocolError, match="CRC32C"):
        parse_header(bytes(broken))


def test_bad_ports_are_refused():
    with pytest.raises(ProxyProtocolError):
        build_proxy_header("192.0.2.1", 70000, "192.0.2.2", 1)


ipv4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
ipv6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
ports = st.integers(0, 65535)
tlvs = st.lists(
    st.builds(TLV, st.integers(0, 255).filter(lambda t: t != 0x03), st.binary(max_size=300)),
    max_size=5,
)


@given(
    st.one_of(st.tuples(ipv4, ipv4), st.tuples(ipv6, ipv6)),
    ports,
    ports,
    tlvs,
    st.binary(max_size=50),
)
def test_round_trip(addrs, sport, dport, tlv_list, trailing):
    src, dst = addrs
    hdr = build_proxy_header(src, sport, dst, dport, tlv_list)
    h = parse_header(hdr + trailing)
    assert (h.source, h.source_port, h.destination, h.destination_port) == (src, sport, dst, dport)
    assert list(h.tlvs) == tlv_list
    assert h.length == len(hdr)
    # every strict prefix needs more bytes
    assert parse_header(hdr[: len(hdr) // 2]) is None


@given(st.text(alphabet="0123456789abcdef", min_size=8, max_size=17))
def test_vpce_id_round_trip(suffix):
    vpce = "vpce-" + suffix
    h = parse_header(build_proxy_header("10.0.0.1", 1, "10.0.0.2", 2, [aws_vpce_tlv(vpce)]))
    assert h.aws_vpce_id == vpce
    assert h.tlvs[0].encode()[1:3] == (len(vpce) + 1).to_bytes(2, "big")


# --------------------------------------------------------------------------- HAProxy
HAPROXY = shutil.which("haproxy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Capture:
    """A one-shot server that keeps the first bytes of each connection."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(3)
            data = b""
            try:
                while b"hello" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            self.seen.append(data)
            c.close()


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_interoperates_with_haproxy():
    """Our header → HAProxy (accept-proxy) → HAProxy re-sends v2 → our parser sees our addresses."""
    cap = _Capture()
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "h.cfg")
        with open(cfg, "w") as f:
            f.write(
                "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n"
                "  timeout server 5s\n"
                f"listen t\n  bind 127.0.0.1:{port} accept-proxy\n"
                f"  server s 127.0.0.1:{cap.port} send-proxy-v2\n"
            )
        proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 5
            while True:
                try:
                    c = socket.create_connection(("127.0.0.1", port), timeout=2)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            hdr = build_proxy_header("198.51.100.7", 40000, "192.0.2.10", 443)
            c.sendall(hdr + b"hello")
            deadline = time.time() + 5
            while not cap.seen and time.time() < deadline:
                time.sleep(0.02)
            c.close()
        finally:
            proc.terminate()
            proc.wait(5)
            cap.sock.close()
    got = cap.seen[0]
    h = parse_header(got)
    assert (str(h.source), h.source_port) == ("198.51.100.7", 40000)
    assert (str(h.destination), h.destination_port) == ("192.0.2.10", 443)
    assert got[h.length :] == b"hello"
