"""The relay and EndpointListener with real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
import struct
import threading
import time

import pytest

from privlink.dataplane import relay
from privlink.dataplane.listener import EndpointListener, FlowRecord, Target, Verdict
from privlink.dataplane.proxyv2 import aws_vpce_tlv, build_proxy_header
from privlink.dataplane.target import TargetServer
from privlink.server import new_event_loop

MODES = [pytest.param(False, id="copy")]
if relay.SPLICE_AVAILABLE:
    MODES[:0] = [pytest.param(True, id="splice"), pytest.param(None, id="auto")]


class LoopThread:
    def __init__(self):
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *a):
        async def _c():
            return fn(*a)

        return self.run(_c())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def lt():
    t = LoopThread()
    yield t
    t.close()


class Server:
    """A threaded test target; ``handler(conn)`` serves one connection."""

    def __init__(self, handler):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.handler = handler
        self.conns: list[socket.socket] = []
        self.errors: list[BaseException] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            self.handler(c)
        except BaseException as e:  # noqa: BLE001 - recorded for the test to look at
            self.errors.append(e)
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def make_listener(lt, target_addr, records=None, **kw):
    kw.setdefault("policy", lambda f: Verdict.ALLOW)
    if "pick_target" not in kw:
        kw["pick_target"] = lambda f: Target(target_addr, tag="t1")
    lst = EndpointListener(
        ("127.0.0.1", 0), on_record=(records.append if records is not None else None), **kw
    )
    lt.run(lst.start())
    return lst


def connect(lst, timeout=5):
    c = socket.create_connection(lst.bound_address, timeout=timeout)
    return c


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("zero_copy", MODES)
def test_large_transfer_is_intact_both_ways(lt, zero_copy):
    srv = Server(echo)
    records: list[FlowRecord] = []
    lst = make_listener(lt, srv.addr, records, zero_copy=zero_copy)
    data = os.urandom(1 << 20) * 24  # 24 MiB
    want = hashlib.sha256(data).hexdigest()
    c = connect(lst)

    def send():
        mv = memoryview(data)
        for i in range(0, len(mv), 1 << 18):
            c.sendall(mv[i : i + (1 << 18)])
        c.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    h = hashlib.sha256()
    got = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
    t.join()
    c.close()
    assert got == len(data) and h.hexdigest() == want
    assert wait_for(lambda: any(r.final for r in records))
    final = [r for r in records if r.final][0]
    assert (final.bytes_in, final.bytes_out) == (len(data), len(data))
    assert final.action == "ACCEPT" and final.reason == relay.END_CLOSED
    assert final.packets_in >= len(data) // 1448
    assert lt.call(lambda: lst.processed_bytes()) == (len(data), len(data))
    lt.run(lst.stop())
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_half_close_is_passed_through(lt, zero_copy):
    def count_then_answer(c):
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
        # the client's FIN arrived; this direction still works
        for _ in range(3):
            c.sendall(f"got {n}\n".encode())
            time.sleep(0.05)

    srv = Server(count_then_answer)
    lst = make_listener(lt, srv.addr, zero_copy=zero_copy)
    c = connect(lst)
    c.sendall(b"x" * 100_000)
    c.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        buf += d
    assert buf == b"got 100000\n" * 3
    c.close()
    lt.run(lst.stop())
    srv.close()


def test_target_half_close_while_client_keeps_sending(lt):
    def speak_first_then_read(c):
        c.sendall(b"banner\n")
        c.shutdown(socket.SHUT_WR)
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
        srv.total = n

    srv = Server(speak_first_then_read)
    srv.total = None
    lst = make_listener(lt, srv.addr)
    c = connect(lst)
    assert c.recv(100) == b"banner\n"
    assert c.recv(100) == b""  # the target's FIN
    c.sendall(b"y" * 50_000)  # the other way still flows
    c.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: srv.total == 50_000)
    c.close()
    lt.run(lst.stop())
    srv.close()


def abort(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_client_reset_reaches_the_target(lt, zero_copy):
    outcome = {}

    def wait_reset(c):
        c.settimeout(5)
        try:
            while c.recv(65536):
                pass
            outcome["target"] = "fin"
        except ConnectionResetError:
            outcome["target"] = "rst"

    srv = Server(wait_reset)
    records = []
    lst = make_listener(lt, srv.addr, records, zero_copy=zero_copy)
    c = connect(lst)
    c.sendall(b"hello")
    assert wait_for(lambda: len(srv.conns) == 1)
    time.sleep(0.05)
    abort(c)
    assert wait_for(lambda: "target" in outcome)
    assert outcome["target"] == "rst"
    assert wait_for(lambda: lst.stats.client_resets == 1)
    assert lst.stats.target_resets == 0
    assert wait_for(lambda: any(r.reason == relay.END_CLIENT_RESET for r in records))
    lt.run(lst.stop())
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_target_reset_reaches_the_client(lt, zero_copy):
    def reset_after_hello(c):
        c.recv(100)
        abort_sock = c.dup()
        c.close()
        abort(abort_sock)

    srv = Server(reset_after_hello)
    lst = make_listener(lt, srv.addr, zero_copy=zero_copy)
    c = connect(lst)
    c.sendall(b"hello")
    with pytest.raises(ConnectionResetError):
        while c.recv(100):
            pass
    assert wait_for(lambda: lst.stats.target_resets == 1)
    assert lst.stats.client_resets == 0
    c.close()
    lt.run(lst.stop())
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
@pytest.mark.parametrize("who", ["client", "target"])
def test_idle_timeout_resets_on_next_packet(lt, zero_copy, who):
    conns = []

    def hold(c):
        conns.append(c)
        c.settimeout(5)
        d = c.recv(100)
        c.sendall(d)
        outcome = "?"
        try:
            while True:
                d = c.recv(100)
                if not d:
                    outcome = "fin"
                    break
        except ConnectionResetError:
            outcome = "rst"
        except TimeoutError:
            outcome = "timeout"
        srv.outcome = outcome

    srv = Server(hold)
    srv.outcome = None
    records = []
    lst = make_listener(lt, srv.addr, records, idle_timeout=0.3, zero_copy=zero_copy)
    c = connect(lst)
    c.sendall(b"ping")
    assert c.recv(100) == b"ping"
    time.sleep(0.8)
    # expired: dropped silently, no FIN or RST yet
    assert wait_for(lambda: lst.stats.idle_timeouts == 1)
    c.setblocking(False)
    with pytest.raises(BlockingIOError):
        c.recv(1, socket.MSG_PEEK)
    c.settimeout(5)
    assert srv.outcome is None
    assert lst.active_flows == 0
    # the next packet from either side makes both sides get a RST
    if who == "client":
        c.sendall(b"late")
    else:
        conns[0].sendall(b"late")
    with pytest.raises(ConnectionResetError):
        c.settimeout(5)
        while c.recv(100):
            pass
    assert wait_for(lambda: srv.outcome is not None)
    assert srv.outcome == "rst"
    assert lst.stats.elb_resets == 1
    assert lst.stats.client_resets == 0 and lst.stats.target_resets == 0
    assert any(r.reason == relay.END_IDLE_TIMEOUT and r.final for r in records)
    c.close()
    lt.run(lst.stop())
    srv.close()


def test_activity_keeps_a_flow_alive(lt):
    srv = Server(echo)
    lst = make_listener(lt, srv.addr, idle_timeout=0.4)
    c = connect(lst)
    for _ in range(8):
        c.sendall(b"k")
        assert c.recv(10) == b"k"
        time.sleep(0.15)
    assert lst.stats.idle_timeouts == 0
    c.close()
    lt.run(lst.stop())
    srv.close()


def test_hold_policy_gives_no_bytes_and_no_close(lt):
    srv = Server(echo)
    records = []
    lst = make_listener(lt, srv.addr, records, policy=lambda f: Verdict.HOLD)
    c = connect(lst)
    c.sendall(b"anyone there?")
    c.settimeout(0.7)
    with pytest.raises(TimeoutError):
        c.recv(100)  # no bytes, no FIN, no RST
    assert srv.conns == []  # the target never heard of it
    assert lst.held_connections == 1 and lst.stats.rejected_flows == 1
    rec = [r for r in records if r.action == "REJECT"]
    assert len(rec) == 1 and rec[0].packets_in >= 1
    c.close()  # the client gives up: the held socket is released
    assert wait_for(lambda: lt.call(lambda: lst.held_connections) == 0, 5)
    lt.run(lst.stop())
    srv.close()


def test_held_connections_are_bounded(lt):
    lst = make_listener(lt, ("127.0.0.1", 9), policy=lambda f: Verdict.HOLD, max_held=2)
    cs = [connect(lst) for _ in range(3)]
    assert wait_for(lambda: lst.stats.rejected_flows == 3)
    assert lst.held_connections == 2 and lst.stats.held_evicted == 1
    cs[0].settimeout(2)
    with pytest.raises(ConnectionResetError):
        cs[0].recv(10)  # the oldest was dropped
    for c in cs:
        c.close()
    lt.run(lst.stop())


def test_reset_policy_no_target_and_unreachable_target(lt):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_addr = closed.getsockname()
    closed.close()  # nothing listens there
    for kw in (
        {"policy": lambda f: Verdict.RESET},
        {"pick_target": lambda f: None},
        {"pick_target": lambda f: Target(dead_addr)},
    ):
        records = []
        lst = make_listener(lt, dead_addr, records, **kw)
        with pytest.raises(ConnectionResetError):
            c = socket.socket()
            c.connect(lst.bound_address)  # may already see the RST
            c.settimeout(3)
            c.sendall(b"x")
            c.recv(10)
        c.close()
        assert wait_for(lambda r=records: r and r[-1].final)
        assert records[-1].reason in (
            relay.END_RESET,
            relay.END_NO_TARGET,
            relay.END_CONNECT_FAILED,
        )
        lt.run(lst.stop())


def test_close_flows_on_demand(lt):
    srv = Server(echo)
    records = []
    tags = iter(["old", "new"])
    lst = make_listener(
        lt, srv.addr, records, pick_target=lambda f: Target(srv.addr, tag=next(tags))
    )
    c_old, c_new = connect(lst), connect(lst)
    for c in (c_old, c_new):
        c.sendall(b"a")
        assert c.recv(1) == b"a"
    assert lt.call(lambda: lst.close_flows(tag="old")) == 1
    c_old.settimeout(3)
    with pytest.raises(ConnectionResetError):
        c_old.recv(10)
    c_new.sendall(b"b")  # the other flow goes on
    assert c_new.recv(1) == b"b"
    assert any(r.reason == relay.END_TERMINATED for r in records)
    c_new.close()
    c_old.close()
    lt.run(lst.stop())
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_slow_reader_backpressure_bounds_memory(lt, zero_copy):
    release = threading.Event()

    def never_read(c):
        release.wait(10)

    srv = Server(never_read)
    lst = make_listener(lt, srv.addr, zero_copy=zero_copy)
    c = connect(lst)
    c.setblocking(False)
    chunk = b"z" * 65536
    sent = 0
    deadline = time.time() + 5
    stalled_since = None
    while time.time() < deadline and sent < 256 << 20:
        try:
            sent += c.send(chunk)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.time()
            if time.time() - stalled_since > 0.5:
                break
            time.sleep(0.01)
    # socket buffers on both hops plus one relay chunk, nowhere near unbounded
    assert sent < 96 << 20, sent
    assert stalled_since is not None
    release.set()
    c.close()
    lt.run(lst.stop())
    srv.close()


def test_periodic_records_for_long_flows(lt):
    srv = Server(echo)
    records = []
    lst = make_listener(lt, srv.addr, records, record_interval=0.2)
    c = connect(lst)
    for _ in range(5):
        c.sendall(b"0123456789")
        assert c.recv(10) == b"0123456789"
        time.sleep(0.12)
    c.close()
    assert wait_for(lambda: any(r.final for r in records))
    partial = [r for r in records if not r.final]
    assert partial, records
    assert sum(r.bytes_in for r in records) == 50 and sum(r.bytes_out for r in records) == 50
    lt.run(lst.stop())
    srv.close()


def test_proxy_header_reaches_the_target_program(lt):
    ts = TargetServer(("127.0.0.1", 0), out=io.StringIO())
    taddr = ts.bind()
    threading.Thread(target=ts.serve_forever, daemon=True).start()

    def pick(flow):
        flow.context = {"vpc_client": ("10.20.1.99", flow.client[1])}
        hdr = build_proxy_header(
            "10.20.1.99",
            flow.client[1],
            "10.20.1.50",
            443,
            [aws_vpce_tlv("vpce-0abc1234def567890")],
        )
        return Target(taddr, proxy_header=hdr)

    lst = make_listener(lt, taddr, pick_target=pick)
    c = connect(lst)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        resp += d
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    info = json.loads(body)
    pp = info["proxy_protocol"]
    assert pp["command"] == "PROXY"
    assert pp["source"] == {"address": "10.20.1.99", "port": c.getsockname()[1]}
    assert pp["destination"] == {"address": "10.20.1.50", "port": 443}
    assert pp["aws_vpce_id"] == "vpce-0abc1234def567890"
    # the target's socket sees the relay, not the client's socket
    assert info["peer"]["port"] != c.getsockname()[1]
    c.close()
    ts.stop()
    lt.run(lst.stop())


def test_port_in_use_raises(lt):
    srv = Server(echo)
    lst = make_listener(lt, srv.addr)
    other = EndpointListener(lst.bound_address, pick_target=lambda f: None)
    with pytest.raises(OSError):
        lt.run(other.start())
    lt.run(lst.stop())
    srv.close()


def test_stop_without_closing_flows_lets_them_finish(lt):
    srv = Server(echo)
    lst = make_listener(lt, srv.addr, idle_timeout=0.5)
    c = connect(lst)
    c.sendall(b"a")
    assert c.recv(1) == b"a"
    lt.run(lst.stop(close_flows=False))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(lst.bound_address, timeout=2)
    c.sendall(b"b")  # the running flow goes on
    assert c.recv(1) == b"b"
    time.sleep(1.0)  # and its idle timeout still applies
    assert lst.stats.idle_timeouts == 1
    c.sendall(b"c")
    c.settimeout(3)
    with pytest.raises(ConnectionResetError):
        c.recv(1)
    c.close()
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_proxy_header_is_not_held_back_for_a_server_speaks_first_target(lt, zero_copy):
    from privlink.dataplane.proxyv2 import parse_header

    hdr = build_proxy_header("10.1.1.1", 1111, "10.1.1.2", 22, [aws_vpce_tlv("vpce-1")])

    def banner_after_header(c):
        c.settimeout(5)
        got = b""
        while parse_header(got) is None:
            got += c.recv(4096)
        c.sendall(b"SSH-2.0-target\r\n")
        srv.rest = got[parse_header(got).length :] + c.recv(100)

    srv = Server(banner_after_header)
    lst = make_listener(
        lt, srv.addr, pick_target=lambda f: Target(srv.addr, proxy_header=hdr), zero_copy=zero_copy
    )
    c = connect(lst)
    assert c.recv(100) == b"SSH-2.0-target\r\n"  # the client said nothing yet
    c.sendall(b"SSH-2.0-client\r\n")
    assert wait_for(lambda: getattr(srv, "rest", None) is not None)
    assert srv.rest == b"SSH-2.0-client\r\n"
    c.close()
    lt.run(lst.stop())
    srv.close()


@pytest.mark.parametrize("zero_copy", MODES)
def test_proxy_header_then_client_bytes_in_order(lt, zero_copy):
    from privlink.dataplane.proxyv2 import parse_header

    hdr = build_proxy_header("10.1.1.1", 1111, "10.1.1.2", 80)
    payload = os.urandom(300_000)

    def collect(c):
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        srv.got = got

    srv = Server(collect)
    srv.got = None
    lst = make_listener(
        lt, srv.addr, pick_target=lambda f: Target(srv.addr, proxy_header=hdr), zero_copy=zero_copy
    )
    c = socket.create_connection(lst.bound_address)
    c.sendall(payload)  # before the relay has even accepted, usually
    c.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: srv.got is not None)
    h = parse_header(srv.got)
    assert h.source_port == 1111 and srv.got[h.length :] == payload
    c.close()
    lt.run(lst.stop())
    srv.close()


def test_only_loopback_targets_are_dialled(lt):
    records = []
    # a documentation address: must never be dialled from the host
    lst = make_listener(lt, None, records, pick_target=lambda f: Target(("192.0.2.10", 443)))
    with pytest.raises(ConnectionResetError):
        c = socket.socket()
        c.connect(lst.bound_address)
        c.settimeout(3)
        c.sendall(b"x")
        c.recv(10)
    c.close()
    assert wait_for(lambda: records and records[-1].reason == relay.END_NO_TARGET)
    assert records[-1].target is None
    lt.run(lst.stop())


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_loopback(lt):
    try:
        srv_sock = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("::1 is not available")
    srv_addr = srv_sock.getsockname()[:2]

    def serve():
        c, _ = srv_sock.accept()
        echo(c)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    lst = EndpointListener(("::1", 0), pick_target=lambda f: Target(srv_addr))
    lt.run(lst.start())
    c = socket.create_connection(lst.bound_address, timeout=5)
    c.sendall(b"six")
    assert c.recv(10) == b"six"
    c.close()
    lt.run(lst.stop())
    srv_sock.close()
