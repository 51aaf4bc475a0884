"""The TCP relay: bytes between an accepted client socket and a target socket.

One :class:`Flow` owns two non-blocking sockets and two :class:`_Direction` pumps
(client→target and target→client). Pumps are driven straight from the event loop's
readiness callbacks (``add_reader``/``add_writer``), with no task or coroutine per flow.

Two ways to move bytes, chosen per listener:

* **splice** (Linux): ``os.splice`` from the source socket into a pipe and from the pipe into
  the destination socket. The bytes never enter Python: the kernel moves page references.
  Pipes come from a small pool and belong to a direction only while they hold bytes, so an
  idle flow owns no pipe.
* **copy** (portable): ``recv_into`` a single buffer shared by every flow of the loop (the
  loop is single-threaded, so one buffer is enough), then ``send``. Only the unsent rest of a
  chunk is copied out, and only when the destination is slow.

Either way a direction holds at most one chunk (a pipe's capacity, or the shared buffer's
size) and stops reading its source until that chunk is written: a slow reader makes the
kernel's receive window close on the fast writer instead of growing memory.

Half-close is passed through (EOF one way → ``shutdown(SHUT_WR)`` on the other socket, while
the other direction goes on). A reset is passed through: the peer's RST makes the other
socket close with ``SO_LINGER`` 0, which sends RST. Per-chunk work is one integer addition
per direction; records and statistics are computed elsewhere from those counters.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import socket
import struct
import sys
import time

log = logging.getLogger("privlink.dataplane")

SPLICE_AVAILABLE = sys.platform.startswith("linux") and hasattr(os, "splice")
_SPLICE_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if SPLICE_AVAILABLE else 0
_splice = os.splice if SPLICE_AVAILABLE else None
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (named only from Python 3.10 on Linux)

_LINGER_RST = struct.pack("ii", 1, 0)

COPY_BUFFER_SIZE = 1 << 20
AUTO_BUFFER_SIZE = 1 << 18  # the shared buffer in auto mode (copy until a chunk is large)
SPLICE_THRESHOLD = 1 << 16  # a chunk this large switches an auto direction to splice
PIPE_SIZE = 1 << 20

# Reasons a flow ended (FlowRecord.reason).
END_CLOSED = "closed"  # both sides finished with FIN
END_CLIENT_RESET = "client_reset"  # the client reset; the target got a RST
END_TARGET_RESET = "target_reset"  # the target reset; the client got a RST
END_IDLE_TIMEOUT = "idle_timeout"  # the flow expired; the next packet from a side gets RST
END_TERMINATED = "terminated"  # closed on demand (deregistration delay expiry, stop)
END_CONNECT_FAILED = "connect_failed"  # the target could not be reached; the client got RST
END_NO_TARGET = "no_target"  # no target to pick; the client got RST
END_RESET = "reset"  # the policy said reset
END_REJECTED = "rejected"  # held without service (security group deny)

_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ETIMEDOUT}


def abort_socket(sock: socket.socket) -> None:
    """Close a socket so that the peer gets a RST (SO_LINGER with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


_EPOLLIN = getattr(select, "EPOLLIN", 1)
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_READ_EVENTS = _EPOLLIN | getattr(select, "EPOLLHUP", 16) | getattr(select, "EPOLLERR", 8)
_WRITE_EVENTS = _EPOLLOUT | getattr(select, "EPOLLHUP", 16) | getattr(select, "EPOLLERR", 8)


class EpollPoller:
    """Readiness of many sockets through one ``epoll`` object that the event loop watches.

    Same methods as the loop's ``add_reader``/``remove_reader``/``add_writer``/
    ``remove_writer``, at a fraction of the per-call cost: registering is one ``epoll_ctl``
    and a list update, and dispatching is a loop over ``epoll.poll`` results, with no
    handle objects per callback. Callers must remove an fd's callbacks before closing it.
    """

    def __init__(self, loop):
        self.loop = loop
        self.ep = select.epoll()
        self.fds: dict[int, list] = {}  # fd -> [mask, reader, writer]
        loop.add_reader(self.ep.fileno(), self._dispatch)

    def _set(self, fd: int, entry: list, mask: int) -> None:
        old = entry[0]
        entry[0] = mask
        try:
            if not old:
                self.ep.register(fd, mask)
            elif not mask:
                self.ep.unregister(fd)
            else:
                self.ep.modify(fd, mask)
        except FileExistsError:
            self.ep.modify(fd, mask)
        except FileNotFoundError:
            if mask:
                self.ep.register(fd, mask)

    def add_reader(self, fd: int, cb) -> None:
        e = self.fds.get(fd)
        if e is None:
            e = self.fds[fd] = [0, None, None]
        e[1] = cb
        if not e[0] & _EPOLLIN:
            self._set(fd, e, e[0] | _EPOLLIN)

    def remove_reader(self, fd: int) -> bool:
        e = self.fds.get(fd)
        if e is None or e[1] is None:
            return False
        e[1] = None
        self._set(fd, e, e[0] & ~_EPOLLIN)
        if not e[0]:
            del self.fds[fd]
        return True

    def add_writer(self, fd: int, cb) -> None:
        e = self.fds.get(fd)
        if e is None:
            e = self.fds[fd] = [0, None, None]
        e[2] = cb
        if not e[0] & _EPOLLOUT:
            self._set(fd, e, e[0] | _EPOLLOUT)

    def remove_writer(self, fd: int) -> bool:
        e = self.fds.get(fd)
        if e is None or e[2] is None:
            return False
        e[2] = None
        self._set(fd, e, e[0] & ~_EPOLLOUT)
        if not e[0]:
            del self.fds[fd]
        return True

    def _dispatch(self) -> None:
        fds = self.fds
        for fd, ev in self.ep.poll(0, 256):
            e = fds.get(fd)
            if e is None:
                continue
            try:
                if ev & _READ_EVENTS and e[1] is not None:
                    e[1]()
                if ev & _WRITE_EVENTS and e[2] is not None:
                    e[2]()
            except Exception:
                log.exception("relay callback failed for fd %d", fd)

    def close(self) -> None:
        self.loop.remove_reader(self.ep.fileno())
        self.ep.close()
        self.fds.clear()


def make_poller(loop):
    """An :class:`EpollPoller` where epoll exists (Linux), else the loop itself."""
    if hasattr(select, "epoll"):
        return EpollPoller(loop)
    return loop


class PipePool:
    """Pipes for splice, reused: a direction takes one when bytes arrive and gives it back
    once the pipe is empty again. A pipe that still holds bytes is closed, never reused."""

    def __init__(self, size: int = PIPE_SIZE, keep: int = 64):
        self.size = size
        self.keep = keep
        self._free: list[tuple[int, int, int]] = []
        self.created = 0

    def acquire(self) -> tuple[int, int, int]:
        if self._free:
            return self._free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        cap = 65536
        try:
            cap = fcntl.fcntl(w, F_SETPIPE_SZ, self.size)
        except OSError:
            pass
        self.created += 1
        return (r, w, cap)

    def release(self, pipe: tuple[int, int, int], dirty: bool = False) -> None:
        if dirty or len(self._free) >= self.keep:
            os.close(pipe[0])
            os.close(pipe[1])
        else:
            self._free.append(pipe)

    def close(self) -> None:
        while self._free:
            r, w, _ = self._free.pop()
            os.close(r)
            os.close(w)


class _Direction:
    """Moves bytes one way: src socket → dst socket."""

    __slots__ = (
        "flow",
        "loop",
        "src",
        "dst",
        "sfd",
        "dfd",
        "nbytes",
        "pending",
        "pipe",
        "inpipe",
        "reading",
        "writing",
        "eof",
        "from_client",
        "pool",
        "buf",
    )

    def __init__(self, flow: Flow, src, dst, from_client: bool, splice_pool: PipePool | None):
        self.flow = flow
        self.loop = flow.loop
        self.src = src
        self.dst = dst
        self.sfd = src.fileno()
        self.dfd = dst.fileno()
        self.nbytes = 0
        self.pending = None  # unsent bytes (memoryview) that must go out before anything else
        self.pipe = None
        self.inpipe = 0
        self.reading = False
        self.writing = False
        self.eof = False
        self.from_client = from_client
        self.pool = splice_pool
        self.buf = flow.listener._copy_buffer

    # subclasses bind these to the splice or the copy path (no per-instance bound methods,
    # so a direction and its flow are freed by reference counting, not by the cyclic GC)
    def on_readable(self) -> None:  # pragma: no cover - replaced in subclasses
        raise NotImplementedError

    def on_writable(self) -> None:  # pragma: no cover - replaced in subclasses
        raise NotImplementedError

    # -- registration ---------------------------------------------------------------------
    def start_reading(self) -> None:
        if not self.reading:
            self.reading = True
            self.loop.add_reader(self.sfd, self.on_readable)

    def stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.sfd)

    def _wait_writable(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.sfd)
        if not self.writing:
            self.writing = True
            self.loop.add_writer(self.dfd, self.on_writable)

    def unregister(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.sfd)
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.dfd)

    def drop_buffers(self) -> None:
        self.pending = None
        if self.pipe is not None:
            self.pool.release(self.pipe, dirty=self.inpipe > 0)
            self.pipe = None
            self.inpipe = 0

    # -- splice path ------------------------------------------------------------------------
    def _splice_readable(self) -> None:
        pipe = self.pipe
        if pipe is None:
            pipe = self.pipe = self.pool.acquire()
        try:
            n = _splice(self.sfd, pipe[1], pipe[2], flags=_SPLICE_FLAGS)
        except BlockingIOError:
            self.pool.release(pipe)
            self.pipe = None
            return
        except OSError as e:
            self.flow._src_failed(self, e)
            return
        if not n:
            self.pool.release(pipe)
            self.pipe = None
            self._eof()
            return
        self.nbytes += n
        try:
            m = _splice(pipe[0], self.dfd, n, flags=_SPLICE_FLAGS)
        except BlockingIOError:
            m = 0
        except OSError as e:
            self.inpipe = n
            self.flow._dst_failed(self, e)
            return
        if m == n:
            self.pool.release(pipe)
            self.pipe = None
        else:
            self.inpipe = n - m
            self._wait_writable()

    def _splice_writable(self) -> None:
        if self.pending is not None and not self._send_pending():
            return
        if self.inpipe:
            try:
                self.inpipe -= _splice(self.pipe[0], self.dfd, self.inpipe, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                return
            except OSError as e:
                self.flow._dst_failed(self, e)
                return
            if self.inpipe:
                return
        if self.pipe is not None:
            self.pool.release(self.pipe)
            self.pipe = None
        self._drained()

    # -- copy path --------------------------------------------------------------------------
    def _copy_readable(self) -> int:
        """Read one chunk and send what the target takes; returns the chunk's size (0 when
        nothing was relayed: no data yet, end of stream, or an error already handled)."""
        buf = self.buf
        try:
            n = self.src.recv_into(buf)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.flow._src_failed(self, e)
            return 0
        if not n:
            self._eof()
            return 0
        self.nbytes += n
        try:
            m = self.dst.send(buf[:n])
        except BlockingIOError:
            m = 0
        except OSError as e:
            self.flow._dst_failed(self, e)
            return 0
        if m < n:
            self.pending = memoryview(bytes(buf[m:n]))
            self._wait_writable()
        return n

    def _copy_writable(self) -> None:
        if self._send_pending():
            self._drained()

    # -- shared -----------------------------------------------------------------------------
    def _send_pending(self) -> bool:
        """Send what is pending; True once nothing is left."""
        p = self.pending
        try:
            m = self.dst.send(p)
        except BlockingIOError:
            return False
        except OSError as e:
            self.flow._dst_failed(self, e)
            return False
        if m < len(p):
            self.pending = p[m:]
            return False
        self.pending = None
        return True

    def send_first(self, data: bytes) -> None:
        """Send bytes before anything read from src (a PROXY header).

        When the client has already sent bytes (the usual case by the time the target
        connection is up) they go out with the header in one ``sendmsg``; otherwise the
        header goes alone at once, so that a server-speaks-first target is not kept waiting.
        """
        n = 0
        eof = False
        buf = self.buf
        if buf is not None:
            try:
                n = self.src.recv_into(buf)
                eof = n == 0
            except BlockingIOError:
                n = 0
            except OSError as e:
                self.flow._src_failed(self, e)
                return
        try:
            m = self.dst.sendmsg([data, buf[:n]]) if n else self.dst.send(data)
        except BlockingIOError:
            m = 0
        except OSError as e:
            self.flow._dst_failed(self, e)
            return
        self.nbytes += n
        total = len(data) + n
        if m < total:
            rest = (data + bytes(buf[:n])) if n else data
            self.pending = memoryview(rest)[m:]
            if eof:
                self.eof = True
            self._wait_writable()
        elif eof:
            self._eof()
        else:
            self.start_reading()

    def _drained(self) -> None:
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.dfd)
        if self.eof:
            self._shutdown_dst()
        elif self.flow.state == Flow.RELAYING:
            self.start_reading()

    def _eof(self) -> None:
        self.eof = True
        self.stop_reading()
        if self.pending is None and not self.inpipe:
            self._shutdown_dst()

    def _shutdown_dst(self) -> None:
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.flow._direction_done()


class _SpliceDirection(_Direction):
    __slots__ = ()
    on_readable = _Direction._splice_readable
    on_writable = _Direction._splice_writable


class _CopyDirection(_Direction):
    __slots__ = ()
    on_readable = _Direction._copy_readable
    on_writable = _Direction._copy_writable


class _AutoDirection(_Direction):
    """Copy while chunks are small (no pipe to take and give back: cheapest for short
    flows and request/response), switch to splice for good at the first large chunk."""

    __slots__ = ()

    def on_readable(self) -> None:
        if self._copy_readable() >= SPLICE_THRESHOLD:
            self.__class__ = _SpliceDirection
            if self.reading:  # re-bind the registered callback to the splice path
                self.loop.add_reader(self.sfd, self.on_readable)

    on_writable = _Direction._splice_writable  # sends pending bytes, then any pipe


class Flow:
    """One client connection and, once connected, its target connection."""

    CONNECTING = 1
    RELAYING = 2
    EXPIRED = 3
    ENDED = 4

    __slots__ = (
        "id",
        "listener",
        "loop",
        "client_sock",
        "target_sock",
        "client",
        "local",
        "target",
        "tag",
        "context",
        "start",
        "end",
        "state",
        "c2t",
        "t2c",
        "done",
        "seen",
        "idle_since",
        "rec_in",
        "rec_out",
        "rec_start",
        "reason",
        "proxy_header",
        "connect_started",
        "action",
    )

    def __init__(self, listener, client_sock, client, local, fid: int):
        self.id = fid
        self.listener = listener
        self.loop = listener.poller  # add_reader/remove_reader/add_writer/remove_writer
        self.client_sock = client_sock
        self.target_sock = None
        self.client = client
        self.local = local
        self.target = None
        self.tag = None
        self.context = None  # the caller's own data (set by the policy / target callbacks)
        self.start = time.time()
        self.end = None
        self.state = Flow.CONNECTING
        self.c2t: _Direction | None = None
        self.t2c: _Direction | None = None
        self.done = 0
        self.seen = 0
        self.idle_since = 0.0
        self.rec_in = 0
        self.rec_out = 0
        self.rec_start = self.start
        self.reason = None
        self.proxy_header = None
        self.connect_started = 0.0
        self.action = "ACCEPT"

    # bytes so far, each way
    @property
    def bytes_in(self) -> int:
        return self.c2t.nbytes if self.c2t is not None else 0

    @property
    def bytes_out(self) -> int:
        return self.t2c.nbytes if self.t2c is not None else 0

    def __repr__(self) -> str:
        return f"<Flow {self.id} {self.client}->{self.local}->{self.target} state={self.state}>"

    # -- connect ------------------------------------------------------------------------------
    def _on_connect(self) -> None:
        sock = self.target_sock
        self.loop.remove_writer(sock.fileno())
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.listener._connect_failed(self, OSError(err, os.strerror(err)))
            return
        self._connected()

    def _connected(self) -> None:
        lst = self.listener
        pool = lst._pipes
        cls = lst._direction_class
        self.c2t = cls(self, self.client_sock, self.target_sock, True, pool)
        self.t2c = cls(self, self.target_sock, self.client_sock, False, pool)
        self.state = Flow.RELAYING
        self.idle_since = lst._clock
        c2t = self.c2t
        if self.proxy_header:
            c2t.send_first(self.proxy_header)
        else:
            c2t.start_reading()
            # The client has usually spoken by now: move its bytes without waiting for the
            # next event-loop round (one EAGAIN when it has not).
            c2t.on_readable()
        if self.state == Flow.RELAYING:
            self.t2c.start_reading()

    # -- endings --------------------------------------------------------------------------
    def _direction_done(self) -> None:
        self.done += 1
        if self.done == 2 and self.state == Flow.RELAYING:
            self._finish(END_CLOSED, reset=False)

    def _src_failed(self, d: _Direction, e: OSError) -> None:
        # the source peer reset (or the socket broke): reset the other side
        self._peer_reset(d.from_client, e)

    def _dst_failed(self, d: _Direction, e: OSError) -> None:
        # writing to the destination failed: its peer reset
        self._peer_reset(not d.from_client, e)

    def _peer_reset(self, client_side: bool, e: OSError) -> None:
        if self.state != Flow.RELAYING:
            return
        stats = self.listener.stats
        if client_side:
            stats.client_resets += 1
            reason = END_CLIENT_RESET
        else:
            stats.target_resets += 1
            reason = END_TARGET_RESET
        if e.errno not in _RESET_ERRNOS:
            log.debug("flow %s: socket error %s", self.id, e)
        self._finish(reason, reset=True)

    def _release(self) -> None:
        for d in (self.c2t, self.t2c):
            if d is not None:
                d.unregister()
                d.drop_buffers()

    def _break_cycles(self) -> None:
        for d in (self.c2t, self.t2c):
            if d is not None:
                d.flow = None

    def _finish(self, reason: str, reset: bool) -> None:
        """End the flow: close both sockets (RST when ``reset``) and report it."""
        if self.state == Flow.ENDED:
            return
        self._release()
        close = abort_socket if reset else _close_quietly
        close(self.client_sock)
        if self.target_sock is not None:
            close(self.target_sock)
        self.state = Flow.ENDED
        self.reason = reason
        self.end = time.time()
        self._break_cycles()
        self.listener._flow_ended(self)

    def terminate(self) -> None:
        """Close the flow now with a RST to both sides (deregistration delay expiry, stop)."""
        if self.state == Flow.EXPIRED:
            self.listener._drop_expired(self, elb_reset=False)
        elif self.state == Flow.CONNECTING:
            self.listener._connect_failed(self, None, reason=END_TERMINATED)
        else:
            self._finish(END_TERMINATED, reset=True)

    # -- idle timeout -----------------------------------------------------------------------
    def expire(self) -> None:
        """The flow was idle too long: drop it silently (no FIN, no RST now); the next
        packet from either side makes both sides get a RST."""
        self._release()
        self.state = Flow.EXPIRED
        self.reason = END_IDLE_TIMEOUT
        self.end = time.time()
        cb = self._poked
        self.loop.add_reader(self.client_sock.fileno(), cb)
        self.loop.add_reader(self.target_sock.fileno(), cb)

    def _poked(self) -> None:
        self.listener._drop_expired(self, elb_reset=True)

    def _close_expired(self) -> None:
        for s in (self.client_sock, self.target_sock):
            try:
                self.loop.remove_reader(s.fileno())
            except (OSError, ValueError):
                pass
            abort_socket(s)
        self._break_cycles()


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
