"""One health check against one target, as a Network Load Balancer node makes it: a TCP
connect, or an HTTP/HTTPS GET of the health-check path whose status must match the
matcher (HTTPS without certificate verification), optionally after a PROXY protocol v2
LOCAL header. Only loopback addresses are ever dialled.

The request building and response parsing are pure functions; :func:`probe` is the I/O.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass

MAX_STATUS_LINE = 8192


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str | None = (
        None  # Target.Timeout | Target.FailedHealthChecks | Target.ResponseCodeMismatch
    )
    description: str | None = None


OK = ProbeResult(True)


def failed(description: str = "Health checks failed") -> ProbeResult:
    return ProbeResult(False, "Target.FailedHealthChecks", description)


TIMED_OUT = ProbeResult(False, "Target.Timeout", "Request timed out")


# --- PROXY protocol v2 -------------------------------------------------------------------
# TEMPORARY: privlink.dataplane.proxyv2 (the PROXY v2 codec) is being written by the data-plane
# developer; until it lands, the LOCAL header is built here. Switch this one function over
# to the codec's LOCAL-header builder when it exists.
_PP2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2_local_header() -> bytes:
    """The 16-byte PROXY protocol v2 header with command LOCAL (no addresses), which NLB sends
    on health-check connections when ``proxy_protocol_v2.enabled`` is on."""
    return _PP2_SIGNATURE + bytes([0x20, 0x00]) + (0).to_bytes(2, "big")


# --- HTTP ----------------------------------------------------------------------------------


def http_request(path: str, host_header: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        "User-Agent: ELB-HealthChecker/2.0\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")


def parse_status_line(line: bytes) -> int | None:
    """The status code of an HTTP/1.x status line, or None if it is not one."""
    parts = line.decode("latin-1", "replace").strip().split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return None
    code = int(parts[1])
    return code if 100 <= code <= 999 else None


def matcher_accepts(matcher: str, status: int) -> bool:
    """``200``, ``200,202`` or ``200-399`` (the ELBv2 matcher syntax)."""
    for part in (matcher or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            if low <= status <= high:
                return True
        elif part.isdigit() and int(part) == status:
            return True
    return False


def http_result(status_line: bytes, matcher: str) -> ProbeResult:
    code = parse_status_line(status_line)
    if code is None:
        return failed("Health checks failed: the response was not HTTP")
    if matcher_accepts(matcher, code):
        return OK
    return ProbeResult(
        False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
    )


def _insecure_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_TLS = _insecure_tls()


@dataclass(frozen=True)
class ProbeSpec:
    host: str  # loopback address standing for the target (from the realm)
    port: int
    protocol: str  # TCP | HTTP | HTTPS
    timeout: float
    path: str = "/"
    matcher: str = "200-399"
    proxy_v2: bool = False
    host_header: str = ""
    source: str | None = None  # loopback address standing for the load balancer node


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, OSError, ssl.SSLError):
        pass


async def probe(spec: ProbeSpec) -> ProbeResult:
    """Run one health check; never raises for target-side failures."""
    if not _loopback(spec.host):
        return failed("Health checks failed: the target has no address privlink can reach")
    local = (spec.source, 0) if _loopback(spec.source) else None
    writer = None
    try:
        async with asyncio.timeout(spec.timeout):
            try:
                reader, writer = await asyncio.open_connection(
                    spec.host, spec.port, local_addr=local
                )
            except OSError as e:
                if local is None or e.errno not in (99, 49):  # EADDRNOTAVAIL
                    raise
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
            if spec.proxy_v2:
                writer.write(proxy_v2_local_header())
                await writer.drain()
            if spec.protocol == "TCP":
                return OK
            if spec.protocol == "HTTPS":
                await writer.start_tls(_TLS, server_hostname=None)
            writer.write(http_request(spec.path or "/", spec.host_header or spec.host))
            await writer.drain()
            line = await reader.readuntil(b"\n")
            return http_result(line[:MAX_STATUS_LINE], spec.matcher)
    except TimeoutError:
        return TIMED_OUT
    except asyncio.IncompleteReadError:
        return failed("Health checks failed: the target closed the connection")
    except asyncio.LimitOverrunError:
        return failed("Health checks failed: the response was not HTTP")
    except (OSError, ssl.SSLError, ValueError):
        return failed()
    finally:
        if writer is not None:
            await _close(writer)
