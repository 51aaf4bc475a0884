"""Garbage in, never a crash: random and malformed DNS messages through the engine and over
UDP and TCP to a running server, which must keep answering valid queries."""

from __future__ import annotations

import logging
import random
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privlink.dns import Record, StaticZone, View, answer, vpc_view
from privlink.dns.server import DnsLimits, DnsServer

from .dns_support import LoopThread, tcp_frame, tcp_read_message, udp_ask


def make_view() -> View:
    z = StaticZone(
        "example.org",
        [
            Record("host.example.org", "A", 60, ("127.0.0.7",)),
            Record("host.example.org", "TXT", 60, [f'"{"t" * 200}{i}"' for i in range(10)]),
            Record("www.example.org", "CNAME", 60, ("host.example.org",)),
            Record("*.wild.example.org", "A", 60, ("127.0.0.8",)),
            Record("loop.example.org", "CNAME", 60, ("loop.example.org",)),
            Record("alias.example.org", "A", alias="www.example.org"),
            Record("cut.example.org", "NS", 60, ("ns.example.net.",)),
        ],
    )
    return vpc_view(private_zones=[z], public=View([[StaticZone("example.com", [])]]))


VIEW = make_view()
VALID = [
    dns.message.make_query(n, t, use_edns=e, want_dnssec=d).to_wire()
    for n in (
        "host.example.org",
        "www.example.org",
        "a.wild.example.org",
        "x.cut.example.org",
        "nope.example.com",
    )
    for t in ("A", "TXT", "ANY", "CNAME")
    for e, d in ((None, False), (0, True))
]


class Failures(logging.Handler):
    """Collects every error logged by privlink.dns (an engine failure is a bug)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def failures():
    handler = Failures()
    logger = logging.getLogger("privlink.dns")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def check_response(query: bytes, out: bytes | None) -> None:
    if out is None:
        return
    assert len(query) >= 12 and not query[2] & 0x80
    if (out[2] >> 3) & 0xF == 5:
        # dnspython parses UPDATE messages with UPDATE's own rules; check the framing only.
        out = out[:2] + bytes([out[2] & 0x87]) + out[3:]
    r = dns.message.from_wire(out)  # always a well-formed message
    assert r.id == struct.unpack("!H", query[:2])[0]
    assert r.flags & 0x8000


def mutate(rng: random.Random, wire: bytes) -> bytes:
    b = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        else:
            b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


# -- the engine ------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=700))
def test_engine_survives_random_bytes(failures, data):
    for tcp in (False, True):
        check_response(data, answer(data, VIEW, tcp=tcp))
    assert not failures.records


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(VALID), st.integers(0, 2**32 - 1))
def test_engine_survives_mutated_queries(failures, wire, seed):
    data = mutate(random.Random(seed), wire)
    check_response(data, answer(data, VIEW))
    assert not failures.records


labels = st.binary(min_size=0, max_size=70)
records = st.tuples(
    st.lists(labels, max_size=4),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=40),
)


def _name(parts) -> bytes:
    return b"".join(bytes([len(p) & 0xFF]) + p for p in parts) + b"\x00"


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.lists(labels, max_size=5),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.lists(records, max_size=3),
    st.booleans(),
)
def test_engine_survives_structured_garbage(failures, id, flags, qname, qtype, qclass, extra, lie):
    """Well-framed messages with arbitrary fields, label lengths that lie, random records."""
    body = _name(qname) + struct.pack("!HH", qtype, qclass)
    for owner, rtype, rclass, ttl, rdata in extra:
        rdlen = len(rdata) + (3 if lie else 0)
        body += _name(owner) + struct.pack("!HHIH", rtype, rclass, ttl, rdlen) + rdata
    header = struct.pack("!HHHHHH", id, flags & 0x7FFF, 1, 0, 0, len(extra))
    data = header + body
    out = answer(data, VIEW, tcp=bool(flags & 1))
    check_response(data, out)
    assert out is not None  # a query (QR clear) with a full header is always answered
    assert not failures.records


# -- a running server ---------------------------------------------------------------------------------

ADDRESS = "127.0.0.41"


@pytest.fixture(scope="module")
def live():
    lt = LoopThread()
    errors = []
    lt.loop.set_exception_handler(lambda loop, ctx: errors.append(ctx))
    server = DnsServer(DnsLimits(max_qps=0, tcp_idle_timeout=2.0))
    port = lt.run(server.add_listener("fuzz", ADDRESS, 0, lambda: VIEW))
    yield lt, server, port, errors
    lt.run(server.close())
    lt.close()


def still_answers(port: int) -> None:
    q = dns.message.make_query("www.example.org", "A")
    for attempt in range(5):  # UDP: a query may be lost while the server digests a flood
        try:
            r = udp_ask(ADDRESS, port, q, timeout=0.5)
            break
        except TimeoutError:
            if attempt == 4:
                raise
    assert r.id == q.id and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 2
    with socket.create_connection((ADDRESS, port), timeout=5) as s:
        s.sendall(tcp_frame(q.to_wire()))
        assert dns.message.from_wire(tcp_read_message(s)).id == q.id


def test_server_survives_udp_garbage(live, failures):
    lt, server, port, errors = live
    rng = random.Random(20261201)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for i in range(3000):
            kind = i % 3
            if kind == 0:
                data = rng.randbytes(rng.randrange(0, 600))
            elif kind == 1:
                data = mutate(rng, rng.choice(VALID))
            else:
                data = rng.randbytes(12) + rng.choice(VALID)[12:]
            try:
                s.sendto(data, (ADDRESS, port))
            except BlockingIOError:
                time.sleep(0.001)
            if i % 25 == 24:
                time.sleep(0.002)  # about 10,000 packets/s: most reach the server
            if i % 500 == 499:
                still_answers(port)
    still_answers(port)
    assert not errors and not failures.records
    assert server.stats.queries >= 1000  # most of the garbage was received and handled


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=1500))
def test_server_survives_hypothesis_udp_packets(live, failures, data):
    lt, server, port, errors = live
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        s.sendto(data, (ADDRESS, port))
        if len(data) >= 12 and not data[2] & 0x80:
            out, _ = s.recvfrom(65535)  # every query is answered
            check_response(data, out)
    assert not errors and not failures.records


tcp_streams = st.lists(
    st.one_of(
        st.binary(max_size=300),  # raw garbage, framing included
        st.binary(max_size=300).map(tcp_frame),  # well-framed garbage messages
        st.sampled_from(VALID).map(tcp_frame),  # real queries in between
        st.integers(0, 65535).map(lambda n: struct.pack("!H", n)),  # a length, then whatever
    ),
    max_size=8,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tcp_streams, st.booleans())
def test_server_survives_tcp_garbage(live, failures, chunks, read_some):
    lt, server, port, errors = live
    with socket.create_connection((ADDRESS, port), timeout=2) as s:
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except OSError:
                break
        if read_some:
            s.settimeout(0.05)
            try:
                s.recv(65535)
            except OSError:
                pass
    assert not errors and not failures.records


def test_server_still_answers_after_tcp_fuzzing(live, failures):
    lt, server, port, errors = live
    rng = random.Random(7)
    for _ in range(100):
        with socket.create_connection((ADDRESS, port), timeout=2) as s:
            stream = b"".join(
                rng.choice(
                    [
                        rng.randbytes(rng.randrange(50)),
                        tcp_frame(mutate(rng, rng.choice(VALID))),
                        tcp_frame(rng.choice(VALID)),
                    ]
                )
                for _ in range(rng.randrange(1, 6))
            )
            s.sendall(stream)
    still_answers(port)
    deadline = time.monotonic() + 3
    while lt.call(lambda: server._tcp_open) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lt.call(lambda: server._tcp_open) == 0  # every connection was accounted for
    assert not errors and not failures.records
