"""The DNS I/O edge: UDP and TCP listeners on many (address, port) pairs, each answering from
its own view through the sans-IO engine.

* UDP: one datagram, one answer (or none); answers over the client's size limit are
  truncated by the engine. A full send buffer drops answers instead of queueing them.
* TCP (RFC 7766): length-prefixed messages, any number of queries per connection answered
  in order, an idle timeout, a bound on open connections (the newest is refused), and
  backpressure: reading pauses while the client does not read its answers.
* A token bucket bounds the queries answered per second across all listeners, so a flood
  costs the event loop a bounded share and no memory.

Listeners are added and removed at runtime (a VPC is created or deleted) in microseconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .engine import answer
from .view import View

log = logging.getLogger("privlink.dns")

ViewProvider = Callable[[], "View | None"]

MAX_TCP_MESSAGE = 65535


def _unephemeral_ports(n: int) -> list[int]:
    """``n`` random ports between 10000 and the start of the ephemeral port range."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    if low <= 10000 + n:
        return []
    return random.sample(range(10000, low), n)


@dataclass
class DnsLimits:
    max_udp_payload: int = 4096  # the largest UDP answer privlink sends (EDNS)
    tcp_idle_timeout: float = 10.0  # seconds without a query before a TCP connection closes
    max_tcp_connections: int = 256  # open TCP connections across all listeners
    max_qps: float = 50000.0  # queries answered per second across all listeners (0: no bound)
    udp_send_buffer: int = 256 * 1024  # bytes of UDP answers queued before answers are dropped
    tcp_write_buffer: int = 256 * 1024  # bytes queued to one TCP client before reading pauses


@dataclass
class DnsStats:
    queries: int = 0
    answers: int = 0
    dropped: int = 0  # no answer due (garbage, responses, silent view)
    rate_limited: int = 0
    overflow: int = 0  # answers dropped because the send buffer was full
    tcp_connections: int = 0
    tcp_refused: int = 0
    tcp_idle_closed: int = 0


@dataclass
class Listener:
    key: str
    address: str
    port: int
    view: ViewProvider
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.AbstractServer | None = None
    connections: set = field(default_factory=set)


class _TokenBucket:
    def __init__(self, rate: float):
        self.rate = rate
        self.burst = max(rate, 1.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class DnsServer:
    def __init__(self, limits: DnsLimits | None = None):
        self.limits = limits or DnsLimits()
        self.listeners: dict[str, Listener] = {}
        self.stats = DnsStats()
        self._bucket = _TokenBucket(self.limits.max_qps)
        self._tcp_open = 0

    # -- the engine call shared by both transports ------------------------------------------

    def _answer(self, wire: bytes, listener: Listener, tcp: bool) -> bytes | None:
        self.stats.queries += 1
        if not self._bucket.take():
            self.stats.rate_limited += 1
            return None
        try:
            view = listener.view()
        except Exception:
            log.exception("the view of DNS resolver %s failed", listener.key)
            view = None
        out = answer(wire, view, tcp=tcp, max_udp_payload=self.limits.max_udp_payload)
        if out is None:
            self.stats.dropped += 1
        else:
            self.stats.answers += 1
        return out

    # -- listeners ---------------------------------------------------------------------------

    async def add_listener(self, key: str, address: str, port: int, view: ViewProvider) -> int:
        """Listen on UDP and TCP ``address``:``port`` (0: a free port, the same for both) and
        answer from ``view()``. Returns the port. Raises OSError when it cannot bind."""
        if key in self.listeners:
            await self.remove_listener(key)
        listener = Listener(key, address, port, view)
        # 0: a port below the kernel's ephemeral range first. Every resolver shares the port
        # the first one got, each on its own address, and a client socket bound to the
        # wildcard address (dig's, a resolver library's) may hold any ephemeral port at the
        # moment a later VPC's resolver opens; a port outside that range collides only with
        # another listener. The kernel's own choice is the last resort.
        candidates = [port] if port else [*_unephemeral_ports(20), 0, 0]
        for attempt, candidate in enumerate(candidates):
            try:
                await self._bind(listener, candidate)
                break
            except OSError as e:
                if port != 0 or e.errno != errno.EADDRINUSE or attempt == len(candidates) - 1:
                    raise
        self.listeners[key] = listener
        log.info("DNS resolver %s listening on %s port %d", key, address, listener.port)
        return listener.port

    async def _bind(self, listener: Listener, port: int) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in listener.address else socket.AF_INET
        udp_sock = socket.socket(family, socket.SOCK_DGRAM)
        tcp_sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp_sock.setblocking(False)
            udp_sock.bind((listener.address, port))
            listener.port = udp_sock.getsockname()[1]
            tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp_sock.setblocking(False)
            tcp_sock.bind((listener.address, listener.port))
            tcp_sock.listen(128)
        except OSError:
            udp_sock.close()
            tcp_sock.close()
            raise
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self, listener), sock=udp_sock
        )
        try:
            listener.tcp = await loop.create_server(
                lambda: _TcpProtocol(self, listener), sock=tcp_sock
            )
        except BaseException:
            udp.close()
            tcp_sock.close()
            raise
        listener.udp = udp

    async def remove_listener(self, key: str) -> None:
        """Stop answering for ``key``: its sockets and open TCP connections close now."""
        listener = self.listeners.pop(key, None)
        if listener is None:
            return
        if listener.udp is not None:
            listener.udp.close()
        if listener.tcp is not None:
            listener.tcp.close()
        for conn in list(listener.connections):
            conn.close()
        if listener.tcp is not None:
            await listener.tcp.wait_closed()
        log.info("DNS resolver %s stopped", key)

    async def close(self) -> None:
        for key in list(self.listeners):
            await self.remove_listener(key)

    def address_of(self, key: str) -> tuple[str, int] | None:
        listener = self.listeners.get(key)
        return (listener.address, listener.port) if listener else None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, listener: Listener):
        self.server = server
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        out = self.server._answer(data, self.listener, tcp=False)
        if out is None or self.transport is None:
            return
        if self.transport.get_write_buffer_size() > self.server.limits.udp_send_buffer:
            self.server.stats.overflow += 1
            return
        try:
            self.transport.sendto(out, addr)
        except (OSError, ValueError):
            pass

    def error_received(self, exc) -> None:  # ICMP errors from clients that went away
        pass


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, server: DnsServer, listener: Listener):
        self.server = server
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.counted = False
        self.paused = False
        self.last = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        server = self.server
        if server._tcp_open >= server.limits.max_tcp_connections:
            server.stats.tcp_refused += 1
            transport.abort()
            return
        server._tcp_open += 1
        server.stats.tcp_connections += 1
        self.counted = True
        self.listener.connections.add(self)
        transport.set_write_buffer_limits(high=server.limits.tcp_write_buffer)
        self._arm(server.limits.tcp_idle_timeout)

    def _arm(self, delay: float) -> None:
        self.timer = asyncio.get_running_loop().call_later(max(delay, 0.01), self._idle_check)

    def _idle_check(self) -> None:
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return
        idle = time.monotonic() - self.last
        timeout = self.server.limits.tcp_idle_timeout
        if idle >= timeout:
            self.server.stats.tcp_idle_closed += 1
            self.transport.close()
        else:
            self._arm(timeout - idle)

    def data_received(self, data: bytes) -> None:
        if not self.counted:
            return
        self.buf += data
        self._process()

    def _process(self) -> None:
        buf = self.buf
        transport = self.transport
        while not self.paused and len(buf) >= 2 and transport is not None:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < 2 + size:
                break  # at most one partial message (≤ 65537 bytes) is ever held
            wire = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            self.last = time.monotonic()
            if transport.is_closing():
                return
            out = self.server._answer(wire, self.listener, tcp=True) if size else None
            if out is not None:
                if len(out) > MAX_TCP_MESSAGE:  # cannot happen: the engine's limit is 65535
                    continue
                transport.write(len(out).to_bytes(2, "big") + out)

    def pause_writing(self) -> None:
        # The client is not reading its answers: stop reading its queries until it does.
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self._process()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.counted:
            self.counted = False
            self.server._tcp_open -= 1
            self.listener.connections.discard(self)
        self.buf = bytearray()
        self.transport = None
