"""Helpers shared by the DNS tests: queries through the sans-IO engine, dig, a loop thread."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import struct
import subprocess
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from privlink.dns import answer
from privlink.server import new_event_loop


def query(name: str, rdtype: str = "A", *, edns: int | None = 0, payload: int = 1232, **kw):
    q = dns.message.make_query(
        name, rdtype, use_edns=edns if edns is not None else False, payload=payload, **kw
    )
    return q


def ask(
    view, name: str, rdtype: str = "A", *, tcp: bool = False, max_udp_payload: int = 4096, **kw
):
    """Ask ``view`` through the engine; returns (parsed response, raw bytes)."""
    q = query(name, rdtype, **kw)
    wire = answer(q.to_wire(), view, tcp=tcp, max_udp_payload=max_udp_payload)
    assert wire is not None, "the engine sent no answer"
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    return r, wire


def rcode(r) -> str:
    return dns.rcode.to_text(r.rcode())


def values(r, rdtype: str | None = None) -> list[str]:
    """The answer section's values, in order (of one type if given)."""
    out = []
    for rrset in r.answer:
        if rdtype is None or dns.rdatatype.to_text(rrset.rdtype) == rdtype:
            out.extend(rd.to_text() for rd in rrset)
    return out


def addresses(r) -> list[str]:
    return sorted(values(r, "A") + values(r, "AAAA"))


DIG = shutil.which("dig")


def need_dig():
    if DIG is None:
        pytest.skip("dig is not installed (Debian: apt-get install dnsutils)")


class DigResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.out = proc.stdout
        self.returncode = proc.returncode
        m = re.search(r"status: (\w+)", self.out)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]*);", self.out)
        self.flags = set(m.group(1).split()) if m else set()
        m = re.search(r"ANSWER: (\d+)", self.out)
        self.answer_count = int(m.group(1)) if m else None
        m = re.search(r"MSG SIZE\s+rcvd: (\d+)", self.out)
        self.size = int(m.group(1)) if m else None
        self.retried_tcp = "Truncated, retrying in TCP mode" in self.out
        self.over_tcp = bool(re.search(r";; SERVER: .*\(TCP\)", self.out))
        self.answers = re.findall(
            r"^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$", _section(self.out, "ANSWER"), re.M
        )
        self.authority = re.findall(
            r"^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$", _section(self.out, "AUTHORITY"), re.M
        )

    def values(self, rdtype: str = "A") -> list[str]:
        return sorted(v for _, _, t, v in self.answers if t == rdtype)


def _section(out: str, name: str) -> str:
    m = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return m.group(1) if m else ""


def dig(address: str, port: int, *args: str, timeout: float = 20) -> DigResult:
    need_dig()
    proc = subprocess.run(
        [DIG, f"@{address}", "-p", str(port), "+time=2", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return DigResult(proc)


class LoopThread:
    """An asyncio loop in a thread, for running a DnsServer the way privlink up does."""

    def __init__(self):
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        async def _call():
            return fn(*args)

        return self.run(_call())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def udp_ask(address: str, port: int, q: dns.message.Message, timeout: float = 2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), (address, port))
        data, _ = s.recvfrom(65535)
    return dns.message.from_wire(data)


def tcp_frame(wire: bytes) -> bytes:
    return struct.pack("!H", len(wire)) + wire


def tcp_read_message(s: socket.socket) -> bytes:
    head = _recv_exact(s, 2)
    return _recv_exact(s, struct.unpack("!H", head)[0])


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


__all__ = [
    "DIG",
    "DigResult",
    "LoopThread",
    "addresses",
    "ask",
    "dig",
    "dns",
    "need_dig",
    "query",
    "rcode",
    "tcp_frame",
    "tcp_read_message",
    "udp_ask",
    "values",
]
