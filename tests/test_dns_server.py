"""The DNS server with real clients: dig against per-VPC resolvers on loopback addresses, TCP
fallback, EDNS sizes, TCP limits, runtime listeners, ``privlink dns`` and its API."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import dns.message
import pytest

from privlink.dns import Record, StaticZone, public_view, vpc_view
from privlink.dns.component import InMemoryViewSource
from privlink.dns.server import DnsLimits, DnsServer
from privlink.testing import EmbeddedPrivlink

from .conftest import make_settings
from .dns_support import (
    LoopThread,
    dig,
    tcp_frame,
    tcp_read_message,
    udp_ask,
)

FRIENDLY = "payments.internal.example.com"
VPC_A = "vpc-0aaaaaaaaaaaaaaa1"
VPC_B = "vpc-0bbbbbbbbbbbbbbb2"
VPC_C = "vpc-0ccccccccccccccc3"
PUBLIC_ADDR = "127.0.0.20"
ADDR_A = "127.0.0.21"
ADDR_B = "127.0.0.22"
ADDR_C = "127.0.0.23"
BIG_TXT = [f'"{"x" * 200}{i:02d}"' for i in range(14)]  # ~3 KB


def build_views():
    public_zone = StaticZone(
        "example.com",
        [
            Record(f"_a1b2c3d4.{FRIENDLY}", "TXT", 1800, ('"vpce:abc123XYZ"',)),
            Record("www.example.com", "A", 300, ("127.0.9.9",)),
        ],
        label="public:example.com",
    )
    big = StaticZone(
        "big.test",
        [
            Record("txt.big.test", "TXT", 60, BIG_TXT),
            *[Record(f"n{i}.big.test", "A", 60, (f"127.0.8.{i}",)) for i in range(1, 6)],
        ],
    )
    public = public_view(hosted_zones=[public_zone, big])

    def managed(*addrs):
        return StaticZone(FRIENDLY, [Record(FRIENDLY, "A", 60, addrs)], label="managed")

    a = vpc_view(managed_zones=[managed("127.3.1.10", "127.3.2.10")], public=public, label=VPC_A)
    b = vpc_view(managed_zones=[managed("127.4.1.10")], public=public, label=VPC_B)
    return public, a, b


@pytest.fixture(scope="module")
def pl():
    settings = make_settings(dns_port=0, dns_public_address=PUBLIC_ADDR)
    with EmbeddedPrivlink(settings) as pl:
        comp = pl.app.component("dns")
        public, a, b = build_views()

        def setup():
            comp.use_source(InMemoryViewSource(public_address=None))
            comp.source.set_resolver("public", PUBLIC_ADDR, public)
            comp.source.set_resolver(VPC_A, ADDR_A, a)
            comp.source.set_resolver(VPC_B, ADDR_B, b)

        pl.call(setup)
        wait_listening(pl, VPC_A, VPC_B)
        yield pl


def dns_component(pl):
    return pl.app.component("dns")


def wait_listening(pl, *keys, present=True, timeout=2.0) -> float:
    comp = dns_component(pl)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all((pl.call(comp.server.address_of, k) is not None) == present for k in keys):
            return time.monotonic() - t0
        time.sleep(0.005)
    raise AssertionError(f"resolvers {keys} not {'up' if present else 'down'} after {timeout}s")


def port(pl) -> int:
    return dns_component(pl).port


# -- split horizon through dig --------------------------------------------------------------------


def test_each_vpc_resolver_answers_from_its_own_view(pl):
    a = dig(ADDR_A, port(pl), FRIENDLY)
    assert a.status == "NOERROR" and a.values() == ["127.3.1.10", "127.3.2.10"]
    assert {"qr", "rd", "ra"} <= a.flags and "aa" not in a.flags
    b = dig(ADDR_B, port(pl), FRIENDLY)
    assert b.values() == ["127.4.1.10"]
    public = dig(PUBLIC_ADDR, port(pl), FRIENDLY)
    assert public.status == "NOERROR" and public.answer_count == 0  # NODATA: parent of the TXT
    assert public.authority and public.authority[0][2] == "SOA"
    token = dig(PUBLIC_ADDR, port(pl), f"_a1b2c3d4.{FRIENDLY}", "TXT")
    assert token.values("TXT") == ['"vpce:abc123XYZ"']
    # The VPC views fall back to the public view for everything else.
    assert dig(ADDR_A, port(pl), "www.example.com").values() == ["127.0.9.9"]
    assert dig(ADDR_B, port(pl), "nothing.example.com").status == "NXDOMAIN"
    assert dig(ADDR_A, port(pl), "example.net").status == "REFUSED"


def test_dig_falls_back_to_tcp_when_truncated(pl):
    for opts in (["+bufsize=512"], ["+noedns"]):
        r = dig(ADDR_A, port(pl), "txt.big.test", "TXT", *opts)
        assert r.retried_tcp and r.over_tcp, r.out
        assert r.status == "NOERROR" and r.answer_count == 14
        assert r.values("TXT") == sorted(BIG_TXT)


def test_edns_buffer_sizes(pl):
    r = dig(ADDR_A, port(pl), "txt.big.test", "TXT", "+bufsize=4096")
    assert not r.retried_tcp and not r.over_tcp and r.answer_count == 14 and r.size > 1232
    assert "udp: 4096" in r.out  # our OPT record
    r = dig(ADDR_A, port(pl), "txt.big.test", "TXT", "+bufsize=1232", "+ignore")
    assert "tc" in r.flags and r.size <= 1232 and r.answer_count < 14
    r = dig(ADDR_A, port(pl), "txt.big.test", "TXT", "+noedns", "+ignore")
    assert "tc" in r.flags and r.size <= 512 and "udp:" not in r.out
    r = dig(ADDR_A, port(pl), "txt.big.test", "TXT", "+tcp", "+noedns")
    assert r.over_tcp and "tc" not in r.flags and r.answer_count == 14


def test_several_queries_on_one_tcp_connection(pl):
    r = dig(ADDR_A, port(pl), "+tcp", "+keepopen", "n1.big.test", "n2.big.test", FRIENDLY)
    assert r.out.count("status: NOERROR") == 3
    assert "127.0.8.1" in r.out and "127.0.8.2" in r.out and "127.3.1.10" in r.out
    # Pipelined in one write, answered in order.
    queries = [dns.message.make_query(f"n{i}.big.test", "A") for i in range(1, 6)]
    with socket.create_connection((ADDR_B, port(pl)), timeout=5) as s:
        s.sendall(b"".join(tcp_frame(q.to_wire()) for q in queries))
        for i, q in enumerate(queries, 1):
            r = dns.message.from_wire(tcp_read_message(s))
            assert r.id == q.id and r.answer[0][0].address == f"127.0.8.{i}"


def test_view_changes_are_seen_by_the_next_query(pl):
    comp = dns_component(pl)
    _, a, _ = build_views()
    zone = StaticZone("fresh.test", [Record("x.fresh.test", "A", 5, ("127.0.7.1",))])
    assert dig(ADDR_A, port(pl), "x.fresh.test").status == "REFUSED"
    try:
        pl.call(comp.source.set_view, VPC_A, vpc_view(private_zones=[zone], public=a.fallback))
        r = dig(ADDR_A, port(pl), "x.fresh.test")
        assert r.values() == ["127.0.7.1"] and r.answers[0][1] == "5"
    finally:
        pl.call(comp.source.set_view, VPC_A, a)
    assert dig(ADDR_A, port(pl), "x.fresh.test").status == "REFUSED"


def test_resolver_added_and_removed_at_runtime(pl, capsys):
    comp = dns_component(pl)
    public, _, _ = build_views()
    zone = StaticZone(FRIENDLY, [Record(FRIENDLY, "A", 60, ("127.5.1.10",))])
    pl.call(comp.source.set_resolver, VPC_C, ADDR_C, vpc_view(managed_zones=[zone], public=public))
    up = wait_listening(pl, VPC_C)
    assert dig(ADDR_C, port(pl), FRIENDLY).values() == ["127.5.1.10"]
    assert privlink_dns(pl, VPC_C).stdout == f"{ADDR_C} {port(pl)}\n"
    pl.call(comp.source.remove_resolver, VPC_C)
    down = wait_listening(pl, VPC_C, present=False)
    r = dig(ADDR_C, port(pl), FRIENDLY, "+time=1")
    assert r.status is None  # nobody answers there any more
    gone = privlink_dns(pl, VPC_C)
    assert gone.returncode == 1 and f"no DNS resolver for VPC {VPC_C}" in gone.stderr
    with capsys.disabled():
        print(f"\n[dns server] resolver up in {up * 1000:.1f} ms, down in {down * 1000:.1f} ms")


def test_silent_view_never_answers(pl):
    comp = dns_component(pl)
    silent = vpc_view(managed_zones=[StaticZone(FRIENDLY, [])], dns_support=False)
    pl.call(comp.source.set_resolver, "vpc-0ddddddddddddddd4", "127.0.0.24", silent)
    try:
        wait_listening(pl, "vpc-0ddddddddddddddd4")
        r = dig("127.0.0.24", port(pl), FRIENDLY, "+time=1")
        assert r.status is None and "timed out" in r.out
    finally:
        pl.call(comp.source.remove_resolver, "vpc-0ddddddddddddddd4")


# -- privlink dns and GET /_privlink/dns ------------------------------------------------------------


def privlink_dns(pl, *args):
    return subprocess.run(
        [sys.executable, "-m", "privlink", "dns", *args, "--endpoint-url", pl.endpoint_url],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_privlink_dns_prints_address_and_port(pl):
    out = privlink_dns(pl, VPC_A)
    assert out.returncode == 0 and out.stdout == f"{ADDR_A} {port(pl)}\n"
    out = privlink_dns(pl, "--public")
    assert out.returncode == 0 and out.stdout == f"{PUBLIC_ADDR} {port(pl)}\n"
    address, p = out.stdout.split()
    assert dig(address, int(p), "www.example.com").values() == ["127.0.9.9"]


def test_privlink_dns_errors_are_one_sentence(pl):
    out = privlink_dns(pl, "vpc-0123456789abcdef0")
    assert out.returncode == 1
    assert out.stderr.strip() == "privlink: there is no DNS resolver for VPC vpc-0123456789abcdef0"
    out = privlink_dns(pl, "subnet-123")
    assert out.returncode == 1 and "is not a VPC id" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "privlink",
            "dns",
            "--public",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and "no privlink server answers" in out.stderr


def http_get(pl, query: str):
    try:
        with urllib.request.urlopen(f"{pl.endpoint_url}/_privlink/dns?{query}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_http_extension(pl):
    assert http_get(pl, f"vpc={VPC_B}") == (200, {"address": ADDR_B, "port": port(pl)})
    assert http_get(pl, "public=1") == (200, {"address": PUBLIC_ADDR, "port": port(pl)})
    status, body = http_get(pl, "")
    assert status == 400 and "vpc=VPC_ID or public=1" in body["error"]
    status, body = http_get(pl, f"vpc={VPC_B}&public=1")
    assert status == 400
    status, body = http_get(pl, "vpc=vpc-0000000000000000f")
    assert status == 404


def test_a_resolver_that_cannot_listen_is_reported(pl):
    comp = dns_component(pl)
    # An address on no local interface: bind() fails (nothing is sent anywhere).
    pl.call(comp.source.set_resolver, "vpc-0eeeeeeeeeeeeeee5", "192.0.2.77", vpc_view())
    try:
        t0 = time.monotonic()
        while "vpc-0eeeeeeeeeeeeeee5" not in comp.errors and time.monotonic() - t0 < 2:
            time.sleep(0.01)
        status, body = http_get(pl, "vpc=vpc-0eeeeeeeeeeeeeee5")
        assert status == 503 and "192.0.2.77" in body["error"]
        assert any("vpc-0eeeeeeeeeeeeeee5 is not listening" in line for line in comp.banner())
    finally:
        pl.call(comp.source.remove_resolver, "vpc-0eeeeeeeeeeeeeee5")
    assert "vpc-0eeeeeeeeeeeeeee5" not in comp.errors
    assert dig(ADDR_A, port(pl), FRIENDLY).status == "NOERROR"


def test_banner_lists_resolvers(pl):
    lines = dns_component(pl).banner()
    assert lines[0] == f"DNS public view on {PUBLIC_ADDR} port {port(pl)}"
    assert f"DNS resolver of {VPC_A} on {ADDR_A} port {port(pl)}" in lines


# -- the port ----------------------------------------------------------------------------------------


def can_bind_53(address: str) -> bool:
    socks = []
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, 53))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def test_port_53_when_permitted_else_a_free_port():
    address = "127.0.83.53"
    settings = make_settings(dns_public_address=address, dns_port=None)  # 53 if possible
    expect_53 = can_bind_53(address)
    with EmbeddedPrivlink(settings) as pl:
        p = dns_component(pl).port
        assert (p == 53) == expect_53 and p > 0
        assert dig(address, p, "example.com").status == "REFUSED"  # empty public view


def test_port_53_taken_falls_back_to_a_free_port():
    address = "127.0.84.53"
    if not can_bind_53(address):
        pytest.skip("this process may not bind port 53")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((address, 53))
    try:
        with EmbeddedPrivlink(make_settings(dns_public_address=address, dns_port=None)) as pl:
            p = dns_component(pl).port
            assert p not in (53, None)
            assert dig(address, p, "example.com").status == "REFUSED"
    finally:
        holder.close()


def test_a_free_port_lies_outside_the_ephemeral_range():
    """Resolvers share one port; a later VPC's resolver must not find it held by a client
    socket's wildcard-bound ephemeral port (dig's, a resolver library's)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    if low <= 10100:
        pytest.skip("the ephemeral port range starts too low to stay out of it")
    address = "127.0.85.53"
    with EmbeddedPrivlink(make_settings(dns_public_address=address, dns_port=0)) as pl:
        p = dns_component(pl).port
        assert 10000 <= p < low
        assert dig(address, p, "example.com").status == "REFUSED"


# -- the server's bounds (standalone DnsServer) ------------------------------------------------------


@pytest.fixture
def standalone():
    lt = LoopThread()
    servers = []

    def start(limits: DnsLimits, address: str, view):
        server = DnsServer(limits)
        servers.append(server)
        p = lt.run(server.add_listener("x", address, 0, lambda: view))
        return server, p

    yield lt, start
    for s in servers:
        lt.run(s.close())
    lt.close()


def simple_view():
    public, a, _ = build_views()
    return a


def test_tcp_idle_timeout(standalone):
    lt, start = standalone
    server, p = start(DnsLimits(tcp_idle_timeout=0.3), "127.0.0.31", simple_view())
    with socket.create_connection(("127.0.0.31", p), timeout=5) as s:
        q = dns.message.make_query(FRIENDLY, "A")
        s.sendall(tcp_frame(q.to_wire()))
        assert dns.message.from_wire(tcp_read_message(s)).id == q.id
        t0 = time.monotonic()
        assert s.recv(10) == b""  # closed by the server
        waited = time.monotonic() - t0
    assert 0.2 < waited < 3
    assert server.stats.tcp_idle_closed == 1


def test_tcp_connections_are_bounded(standalone):
    lt, start = standalone
    server, p = start(DnsLimits(max_tcp_connections=3), "127.0.0.32", simple_view())
    held = [socket.create_connection(("127.0.0.32", p), timeout=5) for _ in range(3)]
    try:
        q = dns.message.make_query(FRIENDLY, "A")
        for s in held:  # all three work
            s.sendall(tcp_frame(q.to_wire()))
            assert dns.message.from_wire(tcp_read_message(s)).id == q.id
        with socket.create_connection(("127.0.0.32", p), timeout=5) as extra:
            extra.sendall(tcp_frame(q.to_wire()))
            with pytest.raises((ConnectionError, OSError)):
                tcp_read_message(extra)
        assert server.stats.tcp_refused >= 1
        assert udp_ask("127.0.0.32", p, q).answer  # UDP is unaffected
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 2
    while lt.call(lambda: server._tcp_open) and time.monotonic() < deadline:
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.32", p), timeout=5) as s:
        s.sendall(tcp_frame(q.to_wire()))
        assert dns.message.from_wire(tcp_read_message(s)).id == q.id


def test_a_client_that_does_not_read_cannot_fill_memory(standalone):
    lt, start = standalone
    limit = 64 * 1024
    server, p = start(DnsLimits(tcp_write_buffer=limit), "127.0.0.33", simple_view())
    q = tcp_frame(dns.message.make_query("txt.big.test", "TXT").to_wire())  # ~3 KB answers
    sent = 0
    with socket.create_connection(("127.0.0.33", p), timeout=5) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(0.5)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 10 and sent < 200_000:
                s.sendall(q * 100)
                sent += 100
        except TimeoutError:
            pass
        time.sleep(0.2)

        def state():
            (listener,) = server.listeners.values()
            (conn,) = listener.connections
            return conn.paused, conn.transport.get_write_buffer_size(), len(conn.buf)

        paused, queued, pending = lt.call(state)
        # Reading paused; what privlink holds for this client stays bounded.
        assert paused
        assert queued <= limit + 4096
        assert pending <= 256 * 1024 + 65537
        assert server.stats.answers < sent
        # ... and everyone else is still answered.
        assert udp_ask("127.0.0.33", p, dns.message.make_query(FRIENDLY, "A")).answer


def test_query_rate_is_bounded(standalone):
    lt, start = standalone
    server, p = start(DnsLimits(max_qps=200), "127.0.0.34", simple_view())
    wire = dns.message.make_query(FRIENDLY, "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(0.3)
        t0 = time.monotonic()
        for _ in range(2000):
            s.sendto(wire, ("127.0.0.34", p))
        got = 0
        try:
            while True:
                s.recvfrom(4096)
                got += 1
        except TimeoutError:
            pass
        elapsed = time.monotonic() - t0
    assert 0 < got <= 200 + 200 * elapsed + 10
    assert server.stats.rate_limited > 0


def test_udp_query_rate(standalone, capsys):
    """Performance sanity: answers per second over UDP from one Python client (printed)."""
    lt, start = standalone
    server, p = start(DnsLimits(max_qps=0), "127.0.0.35", simple_view())
    wires = [dns.message.make_query(f"n{i % 5 + 1}.big.test", "A").to_wire() for i in range(64)]
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(1.0)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            for w in wires:
                s.sendto(w, ("127.0.0.35", p))
            for _ in wires:
                try:
                    s.recvfrom(4096)
                    got += 1
                except TimeoutError:
                    break
        elapsed = time.monotonic() - t0
    assert got > 0
    with capsys.disabled():
        print(f"\n[dns server] {got / elapsed:,.0f} answers/s over UDP (one client, windows of 64)")


def test_listeners_share_a_port_across_addresses(standalone):
    lt, start = standalone
    server = DnsServer()
    p = lt.run(server.add_listener("a", "127.0.0.36", 0, simple_view))
    try:
        for i, addr in enumerate(("127.0.0.37", "127.0.0.38")):
            assert lt.run(server.add_listener(f"b{i}", addr, p, simple_view)) == p
        with pytest.raises(OSError) as e:
            lt.run(server.add_listener("dup", "127.0.0.36", p, simple_view))
        assert e.value.errno == errno.EADDRINUSE
        q = dns.message.make_query(FRIENDLY, "A")
        for addr in ("127.0.0.36", "127.0.0.37", "127.0.0.38"):
            assert udp_ask(addr, p, q).answer
        t0 = time.perf_counter()
        lt.run(server.remove_listener("b0"))
        lt.run(server.add_listener("b0", "127.0.0.37", p, simple_view))
        assert time.perf_counter() - t0 < 0.5
    finally:
        lt.run(server.close())
    _ = asyncio  # the server is driven from its own loop thread


def test_in_memory_source_replace_swaps_views_and_reopens_only_what_moved():
    from privlink.dns.component import PUBLIC, InMemoryViewSource, ResolverSpec

    calls = []
    source = InMemoryViewSource("127.0.0.50")
    source.subscribe(lambda: calls.append(1))
    public, a, b = build_views()
    source.replace({PUBLIC: ("127.0.0.50", public), VPC_A: ("127.0.0.51", a)})
    assert calls == [1]
    assert sorted(source.resolvers(), key=lambda s: s.key) == [
        ResolverSpec(PUBLIC, "127.0.0.50"),
        ResolverSpec(VPC_A, "127.0.0.51"),
    ]
    source.replace({PUBLIC: ("127.0.0.50", public), VPC_A: ("127.0.0.51", b)})
    assert calls == [1] and source.view(VPC_A) is b  # same resolvers: no reconcile needed
    source.replace({PUBLIC: ("127.0.0.50", public)})
    assert calls == [1, 1] and source.view(VPC_A) is None


def test_privlink_dns_against_a_server_without_dns():
    with EmbeddedPrivlink(make_settings(dns_enabled=False)) as pl:
        assert pl.app.component("dns") is None
        out = privlink_dns(pl, "--public")
    assert out.returncode == 1 and "runs without DNS" in out.stderr


def test_dns_port_is_validated():
    from privlink.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="dns_port must be between 0 and 65535"):
        load_settings(None, dns_port=70000)
