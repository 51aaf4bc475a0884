"""An endpoint listener: accept, decide, pick a target, connect, relay, and report flows.

One :class:`EndpointListener` serves one (address, port) — for privlink, an endpoint ENI's
realm address and a listener port of the endpoint service. What happens to each connection
is decided by callbacks from the caller:

``policy(flow) -> Verdict``
    ``ALLOW``; ``HOLD`` (security-group deny: the client gets no bytes and no FIN/RST, the
    socket is held unread until the client gives up; the number held is bounded);
    ``RESET`` (the client gets a RST at once). ``flow.client`` / ``flow.local`` are the
    socket addresses; the callback may store its own data in ``flow.context``.
``pick_target(flow) -> Target | None``
    Where to connect (``Target.address``), optionally from which local address
    (``Target.bind``), with which bytes first (``Target.proxy_header``, e.g. a PROXY v2
    header from :mod:`privlink.dataplane.proxyv2`), and a ``tag`` naming the target so that
    :meth:`EndpointListener.close_flows` can find its flows. ``None`` → the client is reset.
``on_record(record: FlowRecord)``
    Called when a flow ends, and every ``record_interval`` seconds for flows that moved bytes
    since their last record (byte and packet counts in a record are the deltas since the
    previous record of that flow), and once for each held (rejected) connection.

The listener runs on the asyncio event loop it is started from; nothing in it blocks.
"""

from __future__ import annotations

import _socket
import asyncio
import collections
import enum
import errno
import logging
import math
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import relay
from .relay import (
    COPY_BUFFER_SIZE,
    END_CONNECT_FAILED,
    END_IDLE_TIMEOUT,
    END_NO_TARGET,
    END_REJECTED,
    END_RESET,
    END_TERMINATED,
    SPLICE_AVAILABLE,
    Flow,
    PipePool,
    abort_socket,
)

log = logging.getLogger("privlink.dataplane")

MSS = 1448  # a VPC's usual TCP payload per packet, for packet estimates
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
_TCP_ESTABLISHED = 1
# Linux: a socket bound to an address with port 0 gets its port at connect(), from the full
# (source, destination) 4-tuple, instead of at bind(), from the ports free on that address
# for every destination. Without it every flow's bind() to the NLB node's address searches
# the ephemeral range past the TIME_WAIT entries of earlier flows, and fails once they fill it.
_BIND_NO_PORT = (
    getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24) if sys.platform.startswith("linux") else None
)


class Verdict(enum.Enum):
    ALLOW = "allow"
    HOLD = "hold"
    RESET = "reset"


@dataclass(slots=True)
class Target:
    address: tuple  # (host, port) to connect to: a loopback/realm address
    proxy_header: bytes | None = None  # written to the target before any client byte
    bind: tuple | None = None  # local (host, port) for the target connection, e.g. NLB node
    tag: Any = None  # the caller's name for the target (close_flows matches on it)


@dataclass(slots=True)
class FlowRecord:
    """One flow's traffic over a window [start, end]; deltas since the previous record."""

    flow_id: int
    client: tuple
    local: tuple
    target: tuple | None
    tag: Any
    context: Any
    start: float
    end: float
    bytes_in: int  # client → target
    bytes_out: int  # target → client
    packets_in: int
    packets_out: int
    action: str  # ACCEPT | REJECT
    final: bool
    reason: str | None  # why the flow ended (relay.END_*), None while it goes on


@dataclass
class ListenerStats:
    """Counters, incremented on events (never per chunk)."""

    new_flows: int = 0
    ended_flows: int = 0
    rejected_flows: int = 0
    client_resets: int = 0  # TCP_Client_Reset_Count
    target_resets: int = 0  # TCP_Target_Reset_Count
    elb_resets: int = 0  # TCP_ELB_Reset_Count (idle timeout, no target, policy reset, …)
    connect_failures: int = 0
    idle_timeouts: int = 0
    terminated: int = 0
    bytes_in: int = 0  # of ended flows and of records already emitted
    bytes_out: int = 0
    held_evicted: int = 0
    accept_errors: int = 0
    extra: dict = field(default_factory=dict)


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1" or host == "localhost"


def estimate_packets(nbytes: int, control: int = 0) -> int:
    return (math.ceil(nbytes / MSS) if nbytes else 0) + control


class EndpointListener:
    """Accept TCP connections at ``address`` and relay them to targets the callbacks pick.

    Example::

        lst = EndpointListener(("127.3.1.50", 443), policy=lambda f: Verdict.ALLOW,
                               pick_target=lambda f: Target(("127.4.0.20", 8443)),
                               on_record=records.append, idle_timeout=350)
        await lst.start()
        ...
        await lst.stop()
    """

    def __init__(
        self,
        address: tuple,
        *,
        pick_target: Callable[[Flow], Target | tuple | None],
        policy: Callable[[Flow], Verdict] | None = None,
        on_record: Callable[[FlowRecord], None] | None = None,
        idle_timeout: float = 350.0,
        record_interval: float = 60.0,
        connect_timeout: float = 10.0,
        zero_copy: bool | None = None,
        max_held: int = 1024,
        hold_timeout: float = 600.0,
        max_expired: int = 100_000,
        backlog: int = 4096,
        reuse_port: bool = False,
        loopback_only: bool = True,
        name: str | None = None,
    ):
        self.address = (address[0], int(address[1]))
        self.pick_target = pick_target
        self.policy = policy
        self.on_record = on_record
        self.idle_timeout = float(idle_timeout)
        self.record_interval = float(record_interval)
        self.connect_timeout = float(connect_timeout)
        if zero_copy and not SPLICE_AVAILABLE:
            raise ValueError("zero-copy relay (splice) is not available on this platform")
        # None: auto (copy small chunks, splice once a flow moves large ones) where splice
        # exists; True: always splice; False: always copy (the portable path).
        self.zero_copy = zero_copy if SPLICE_AVAILABLE else False
        self.max_held = max_held
        self.hold_timeout = hold_timeout
        self.max_expired = max_expired
        self.backlog = backlog
        self.reuse_port = reuse_port
        # privlink's network rule: from the host's namespace only loopback is ever dialled
        # (a target outside 127.0.0.0/8 and ::1 is refused: the client is reset)
        self.loopback_only = loopback_only
        self.name = name or f"{self.address[0]}:{self.address[1]}"
        self.stats = ListenerStats()
        self.flows: dict[int, Flow] = {}
        self._expired: collections.OrderedDict[int, Flow] = collections.OrderedDict()
        self._held: collections.OrderedDict[int, tuple] = collections.OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.poller = None
        self._lsock: socket.socket | None = None
        self._next_id = 1
        self._clock = 0.0
        self._sweep_handle = None
        self._last_records = 0.0
        # one pipe pool and one copy buffer per listener, shared by all its flows (the loop
        # runs one callback at a time)
        if self.zero_copy is None:
            self._pipes = PipePool()
            self._copy_buffer = memoryview(bytearray(relay.AUTO_BUFFER_SIZE))
            self._direction_class = relay._AutoDirection
        elif self.zero_copy:
            self._pipes = PipePool()
            self._copy_buffer = None
            self._direction_class = relay._SpliceDirection
        else:
            self._pipes = None
            self._copy_buffer = memoryview(bytearray(COPY_BUFFER_SIZE))
            self._direction_class = relay._CopyDirection
        self._family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET

    # ------------------------------------------------------------------ life cycle
    @property
    def bound_address(self) -> tuple:
        """The address actually bound (port filled in when 0 was asked)."""
        if self._lsock is None:
            return self.address
        return self._lsock.getsockname()[:2]

    async def start(self) -> None:
        """Bind and listen. Raises OSError (e.g. EADDRINUSE) when the address cannot be bound."""
        self.loop = asyncio.get_running_loop()
        s = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(self.address)
            s.listen(self.backlog)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self._lsock = s
        self.address = self.bound_address
        self._clock = time.monotonic()
        self._last_records = self._clock
        self.poller = relay.make_poller(self.loop)
        self.loop.add_reader(s.fileno(), self._on_accept)
        self._schedule_sweep()

    async def stop(self, close_flows: bool = True) -> None:
        """Stop accepting; with ``close_flows`` reset every flow and held connection."""
        if self._lsock is not None:
            self.loop.remove_reader(self._lsock.fileno())
            self._lsock.close()
            self._lsock = None
        if close_flows and self._sweep_handle is not None:
            # (without close_flows the sweeper goes on until the last flow has ended, so
            # idle timeouts and records still apply to the flows left running)
            self._sweep_handle.cancel()
            self._sweep_handle = None
        if close_flows:
            for f in list(self.flows.values()):
                f.terminate()
            for f in list(self._expired.values()):
                self._drop_expired(f, elb_reset=False)
            for key in list(self._held):
                self._drop_held(key)
            if self._pipes is not None:
                self._pipes.close()
            if self.poller is not self.loop:
                self.poller.close()
                self.poller = self.loop

    @property
    def active_flows(self) -> int:
        return len(self.flows)

    @property
    def held_connections(self) -> int:
        return len(self._held)

    def set_idle_timeout(self, seconds: float) -> None:
        self.idle_timeout = float(seconds)
        self._reschedule_sweep()

    def close_flows(self, predicate: Callable[[Flow], bool] | None = None, *, tag=None) -> int:
        """Reset the flows ``predicate`` selects (or whose target tag equals ``tag``).

        For deregistration-delay expiry with connection termination on. Returns how many."""
        n = 0
        for f in list(self.flows.values()):
            if (predicate is not None and predicate(f)) or (
                predicate is None and tag is not None and f.tag == tag
            ):
                f.terminate()
                n += 1
        return n

    def processed_bytes(self) -> tuple[int, int]:
        """(client→target, target→client) bytes so far, including live flows."""
        bi, bo = self.stats.bytes_in, self.stats.bytes_out
        for f in self.flows.values():
            bi += f.bytes_in - f.rec_in
            bo += f.bytes_out - f.rec_out
        return bi, bo

    # ------------------------------------------------------------------ accept
    def _on_accept(self) -> None:
        lsock = self._lsock
        family = self._family
        for _ in range(64):
            try:
                fd, addr = lsock._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.stats.accept_errors += 1
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("%s: cannot accept: %s", self.name, e)
                return
            except AttributeError:  # closed while accepting
                return
            # the C-level socket type: no Python-level __init__/close on the hot path
            sock = _socket.socket(family, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            fid = self._next_id
            self._next_id = fid + 1
            self._new_flow(Flow(self, sock, addr[:2], self.address, fid))

    def _new_flow(self, flow: Flow) -> None:
        stats = self.stats
        sock = flow.client_sock
        verdict = Verdict.ALLOW
        try:
            if self.policy is not None:
                verdict = self.policy(flow)
            if verdict is Verdict.ALLOW or verdict == "allow":
                target = self.pick_target(flow)
            else:
                target = None
        except Exception:
            log.exception("%s: policy or target callback failed; resetting the client", self.name)
            verdict, target = Verdict.RESET, None
        if verdict is Verdict.HOLD or verdict == "hold":
            self._hold(flow)
            return
        stats.new_flows += 1
        if verdict is Verdict.RESET or verdict == "reset" or target is None:
            stats.elb_resets += 1  # counted before the RST: whoever sees the RST sees the count
            abort_socket(sock)
            allowed = verdict is Verdict.ALLOW or verdict == "allow"
            self._record_unconnected(flow, END_NO_TARGET if allowed else END_RESET)
            return
        if not isinstance(target, Target):
            target = Target(tuple(target))
        if self.loopback_only and not _is_loopback(target.address[0]):
            log.warning(
                "%s: refusing to dial %s: not a loopback address", self.name, target.address
            )
            stats.elb_resets += 1
            abort_socket(sock)
            self._record_unconnected(flow, END_NO_TARGET)
            return
        flow.target = target.address
        flow.tag = target.tag
        flow.proxy_header = target.proxy_header
        try:
            up = _socket.socket(
                socket.AF_INET6 if ":" in target.address[0] else socket.AF_INET,
                socket.SOCK_STREAM,
            )
        except OSError as e:
            self._connect_failed(flow, e)
            return
        flow.target_sock = up
        up.setblocking(False)
        try:
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.bind is not None:
                if _BIND_NO_PORT is not None and not target.bind[1]:
                    up.setsockopt(socket.IPPROTO_IP, _BIND_NO_PORT, 1)
                up.bind(target.bind)
            err = up.connect_ex(target.address)
        except OSError as e:
            self._connect_failed(flow, e)
            return
        self.flows[flow.id] = flow
        if err == errno.EINPROGRESS:
            # On loopback the handshake has usually completed inside connect(): check
            # before paying for an event-loop round trip.
            try:
                up.getpeername()
                err = 0
            except OSError:
                err = up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or errno.EINPROGRESS
        if err == 0:
            flow._connected()
        elif err == errno.EINPROGRESS:
            flow.connect_started = self._clock
            self.poller.add_writer(up.fileno(), flow._on_connect)
        else:
            del self.flows[flow.id]
            self._connect_failed(flow, OSError(err, "connect failed"))

    def _connect_failed(self, flow: Flow, e: OSError | None, reason: str = END_CONNECT_FAILED):
        self.flows.pop(flow.id, None)
        if flow.target_sock is not None:
            try:
                self.poller.remove_writer(flow.target_sock.fileno())
            except (OSError, ValueError):
                pass
            relay._close_quietly(flow.target_sock)
        if reason == END_CONNECT_FAILED:
            self.stats.connect_failures += 1
            self.stats.elb_resets += 1
            log.debug("%s: flow %s: cannot reach %s: %s", self.name, flow.id, flow.target, e)
        else:
            self.stats.terminated += 1
        abort_socket(flow.client_sock)
        self._record_unconnected(flow, reason)

    def _record_unconnected(self, flow: Flow, reason: str) -> None:
        flow.state = Flow.ENDED
        flow.reason = reason
        flow.end = time.time()
        self.stats.ended_flows += 1
        self._emit(flow, final=True, control_in=2, control_out=1)

    # ------------------------------------------------------------------ hold (deny)
    def _hold(self, flow: Flow) -> None:
        self.stats.rejected_flows += 1
        flow.action = "REJECT"
        flow.reason = END_REJECTED
        flow.end = flow.start
        self._held[flow.id] = (flow, self._clock)
        if len(self._held) > self.max_held:
            oldest = next(iter(self._held))
            self.stats.held_evicted += 1
            self._drop_held(oldest)
        self._emit(flow, final=True, control_in=1, control_out=0)

    def _drop_held(self, key) -> None:
        flow, _ = self._held.pop(key)
        abort_socket(flow.client_sock)

    def _check_held(self, now: float) -> None:
        peek = socket.MSG_PEEK | socket.MSG_DONTWAIT
        for key, (flow, since) in list(self._held.items()):
            if now - since >= self.hold_timeout:
                self._drop_held(key)
                continue
            if _TCP_INFO is not None:
                # The client gave up when its side is no longer established (FIN or RST),
                # even if bytes it sent are still unread.
                try:
                    state = flow.client_sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[0]
                except OSError:
                    state = -1
                if state != _TCP_ESTABLISHED:
                    self._drop_held(key)
                continue
            try:
                data = flow.client_sock.recv(1, peek)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:  # the client gave up (FIN or RST)
                self._drop_held(key)

    # ------------------------------------------------------------------ endings
    def _flow_ended(self, flow: Flow) -> None:
        self.flows.pop(flow.id, None)
        self.stats.ended_flows += 1
        if flow.reason == END_TERMINATED:
            self.stats.terminated += 1
        self._emit(flow, final=True)

    def _drop_expired(self, flow: Flow, elb_reset: bool) -> None:
        if self._expired.pop(flow.id, None) is None:
            return
        if elb_reset:  # counted before the RSTs go out, so whoever sees one sees the count
            self.stats.elb_resets += 1
        flow._close_expired()
        flow.state = Flow.ENDED

    # ------------------------------------------------------------------ records
    def _emit(self, flow: Flow, final: bool, control_in: int = 0, control_out: int = 0) -> None:
        bi = flow.bytes_in - flow.rec_in
        bo = flow.bytes_out - flow.rec_out
        flow.rec_in += bi
        flow.rec_out += bo
        self.stats.bytes_in += bi
        self.stats.bytes_out += bo
        now = flow.end if final and flow.end else time.time()
        start = flow.rec_start
        flow.rec_start = now
        if self.on_record is None:
            return
        if final and flow.action == "ACCEPT" and control_in == 0:
            control_in = control_out = 2  # handshake and close, estimated
        rec = FlowRecord(
            flow_id=flow.id,
            client=flow.client,
            local=flow.local,
            target=flow.target,
            tag=flow.tag,
            context=flow.context,
            start=start,
            end=now,
            bytes_in=bi if flow.action == "ACCEPT" else 60,
            bytes_out=bo,
            packets_in=estimate_packets(bi, control_in),
            packets_out=estimate_packets(bo, control_out),
            action=flow.action,
            final=final,
            reason=flow.reason if final else None,
        )
        try:
            self.on_record(rec)
        except Exception:
            log.exception("%s: flow record callback failed", self.name)

    # ------------------------------------------------------------------ sweeping
    def _sweep_interval(self) -> float:
        return max(0.01, min(1.0, self.idle_timeout / 10, self.record_interval / 4))

    def _schedule_sweep(self) -> None:
        self._sweep_handle = self.loop.call_later(self._sweep_interval(), self._sweep)

    def _reschedule_sweep(self) -> None:
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._schedule_sweep()

    def _sweep(self) -> None:
        """Idle timeouts, connect timeouts, periodic records, held sockets."""
        now = self._clock = time.monotonic()
        try:
            timeout = self.idle_timeout
            due_records = now - self._last_records >= self.record_interval
            if due_records:
                self._last_records = now
            expire = []
            for f in self.flows.values():
                if f.state == Flow.RELAYING:
                    total = f.c2t.nbytes + f.t2c.nbytes
                    if total != f.seen:
                        f.seen = total
                        f.idle_since = now
                    elif now - f.idle_since >= timeout:
                        expire.append(f)
                        continue
                    if due_records and (f.c2t.nbytes != f.rec_in or f.t2c.nbytes != f.rec_out):
                        self._emit(f, final=False)
                elif f.state == Flow.CONNECTING and now - f.connect_started > self.connect_timeout:
                    expire.append(f)
            for f in expire:
                if f.state == Flow.CONNECTING:
                    self._connect_failed(f, OSError(errno.ETIMEDOUT, "connect timed out"))
                else:
                    self._expire(f)
            if self._held:
                self._check_held(now)
        except Exception:
            log.exception("%s: sweep failed", self.name)
        finally:
            if self._lsock is not None or self.flows or self._expired or self._held:
                self._schedule_sweep()
            else:  # stopped, and the last flow has ended
                self._sweep_handle = None
                if self._pipes is not None:
                    self._pipes.close()
                if self.poller is not None and self.poller is not self.loop:
                    self.poller.close()
                    self.poller = self.loop

    def _expire(self, flow: Flow) -> None:
        self.flows.pop(flow.id, None)
        flow.expire()
        self.stats.idle_timeouts += 1
        self.stats.ended_flows += 1
        self._expired[flow.id] = flow
        if len(self._expired) > self.max_expired:
            self._drop_expired(next(iter(self._expired.values())), elb_reset=True)
        self._emit(flow, final=True)


__all__ = [
    "EndpointListener",
    "FlowRecord",
    "ListenerStats",
    "Target",
    "Verdict",
    "END_IDLE_TIMEOUT",
]
