"""A small target server for tests and demos (``privlink target``).

Each connection may start with a PROXY protocol v2 header (detected by its signature and
consumed before anything else, including a TLS handshake, as an NLB sends it). Then:

* an HTTP request for the health path → 200 with a JSON description of the connection
  (peer and local addresses as the socket sees them, TLS or not, the PROXY v2 header with
  its TLVs and the AWS VPC endpoint id from TLV 0xEA/0x01);
* any other HTTP path → 404 with a JSON body;
* anything that is not HTTP → echoed back until the client closes.

One line per connection goes to stdout. Connections are served by threads (blocking
sockets), which keeps PROXY-header-then-TLS handling simple and exact.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time

from . import proxyv2

HTTP_REQUEST = re.compile(rb"^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) (\S+) HTTP/")
MAX_HEADER = 64 * 1024
SIGNATURE_WAIT = 1.0  # seconds to wait for the rest of a possible PROXY v2 signature
IDLE_LIMIT = 3600.0  # a connection with no byte for this long is closed


def make_self_signed(names: list[str]) -> tuple[bytes, bytes]:
    """A self-signed certificate (PEM) and its key (PEM) for ``names`` (DNS names or IPs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def server_tls_context(names: list[str]) -> ssl.SSLContext:
    cert, key = make_self_signed(names)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as d:
        cp, kp = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        with open(cp, "wb") as f:
            f.write(cert)
        with open(kp, "wb") as f:
            f.write(key)
        ctx.load_cert_chain(cp, kp)
    return ctx


class TargetServer:
    """Listen at ``address``; serve each connection in a thread."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        tls: ssl.SSLContext | None = None,
        health_path: str = "/healthz",
        info: dict | None = None,
        out=None,
    ):
        self.address = address
        self.tls = tls
        self.health_path = health_path
        self.info = info or {}
        self.out = out or sys.stdout
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self.connections = 0

    def bind(self) -> tuple[str, int]:
        """Bind and listen; raises OSError (EADDRINUSE …). Returns the bound address."""
        fam = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(self.address)
            s.listen(1024)
        except OSError:
            s.close()
            raise
        s.settimeout(0.2)
        self._sock = s
        self.address = s.getsockname()[:2]
        return self.address

    def serve_forever(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                time.sleep(0.05)
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()
        self._sock.close()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ one connection
    def _serve(self, conn: socket.socket, peer) -> None:
        started = time.time()
        entry: dict = {
            "peer": _addr(peer),
            "local": _addr(conn.getsockname()),
            "tls": False,
            "proxy_protocol": None,
            "kind": "none",
            "bytes_in": 0,
            "bytes_out": 0,
        }
        try:
            conn.settimeout(IDLE_LIMIT)
            header = self._read_proxy_header(conn, entry)
            stream = conn
            if self.tls is not None:
                stream = self.tls.wrap_socket(conn, server_side=True)
                entry["tls"] = True
                entry["tls_version"] = stream.version()
            if header is not None:
                entry["proxy_protocol"] = header.to_dict()
            self._converse(stream, entry)
        except proxyv2.ProxyProtocolError as e:
            entry["error"] = f"bad PROXY v2 header: {e}"
        except ssl.SSLError as e:
            entry["error"] = f"TLS: {e.reason or e}"
        except (OSError, ValueError) as e:
            entry["error"] = str(e) or type(e).__name__
        finally:
            try:
                conn.close()
            except OSError:
                pass
            entry["seconds"] = round(time.time() - started, 3)
            self._log(entry)

    def _read_proxy_header(self, conn: socket.socket, entry: dict):
        """Consume a PROXY v2 header if the connection starts with one (peeking first)."""
        deadline = time.monotonic() + SIGNATURE_WAIT
        while True:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                head = conn.recv(proxyv2.MAX_HEADER_LEN, socket.MSG_PEEK)
            except TimeoutError:
                conn.settimeout(IDLE_LIMIT)
                return None
            if not head:
                conn.settimeout(IDLE_LIMIT)
                return None
            found = proxyv2.detect(head)
            if found is False:
                conn.settimeout(IDLE_LIMIT)
                return None
            if found:
                hdr = proxyv2.parse_header(head)
                if hdr is not None:
                    _recv_exact(conn, hdr.length)
                    entry["bytes_in"] += hdr.length
                    conn.settimeout(IDLE_LIMIT)
                    return hdr
            if time.monotonic() > deadline:
                conn.settimeout(IDLE_LIMIT)
                if found is None:
                    return None  # a short prefix of the signature only: plain data
                raise proxyv2.ProxyProtocolError("the PROXY v2 header is incomplete")
            time.sleep(0.005)

    def _converse(self, s, entry: dict) -> None:
        first = s.recv(65536)
        if not first:
            return
        entry["bytes_in"] += len(first)
        if HTTP_REQUEST.match(first):
            entry["kind"] = "http"
            self._http(s, first, entry)
        else:
            entry["kind"] = "echo"
            data = first
            while data:
                s.sendall(data)
                entry["bytes_out"] += len(data)
                data = s.recv(65536)
                entry["bytes_in"] += len(data)

    def _http(self, s, data: bytes, entry: dict) -> None:
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEADER:
                self._respond(s, entry, 431, {"error": "request header too large"}, False)
                return
            more = s.recv(65536)
            if not more:
                return
            entry["bytes_in"] += len(more)
            data += more
        m = HTTP_REQUEST.match(data)
        method, target = m.group(1).decode(), m.group(2).decode("latin-1")
        path = target.split("?", 1)[0]
        entry["request"] = f"{method} {target}"
        head = method == "HEAD"
        if method in ("GET", "HEAD") and path == self.health_path:
            body = {"status": "healthy", "path": path}
            body.update(self.describe(entry))
            self._respond(s, entry, 200, body, head)
        else:
            body = {"error": "not found", "path": path}
            body.update(self.describe(entry))
            self._respond(s, entry, 404, body, head)

    def describe(self, entry: dict) -> dict:
        d = {
            "peer": entry["peer"],
            "local": entry["local"],
            "tls": entry["tls"],
            "proxy_protocol": entry["proxy_protocol"],
        }
        if entry.get("tls_version"):
            d["tls_version"] = entry["tls_version"]
        if self.info:
            d["target"] = self.info
        return d

    def _respond(self, s, entry: dict, status: int, body: dict, head: bool) -> None:
        payload = (json.dumps(body, indent=2) + "\n").encode()
        reason = {200: "OK", 404: "Not Found", 431: "Request Header Fields Too Large"}[status]
        out = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n"
            f"Server: privlink-target\r\n\r\n"
        ).encode() + (b"" if head else payload)
        s.sendall(out)
        entry["bytes_out"] += len(out)
        entry["status"] = status

    def _log(self, e: dict) -> None:
        parts = [
            time.strftime("%Y-%m-%dT%H:%M:%S"),
            f"peer={e['peer']['address']}:{e['peer']['port']}",
            f"local={e['local']['address']}:{e['local']['port']}",
            f"tls={'yes' if e['tls'] else 'no'}",
        ]
        pp = e.get("proxy_protocol")
        if pp:
            if pp["command"] == "LOCAL":
                parts.append("proxy=LOCAL")
            else:
                src, dst = pp["source"], pp["destination"]
                parts.append(
                    f"proxy=PROXY src={src['address']}:{src['port']} dst={dst['address']}:{dst['port']}"
                )
            if pp.get("aws_vpce_id"):
                parts.append(f"vpce={pp['aws_vpce_id']}")
        else:
            parts.append("proxy=none")
        parts.append(f"kind={e['kind']}")
        if "request" in e:
            parts.append(f'request="{e["request"]}" status={e.get("status")}')
        parts.append(f"in={e['bytes_in']} out={e['bytes_out']} seconds={e['seconds']}")
        if "error" in e:
            parts.append(f'error="{e["error"]}"')
        with self._lock:
            try:
                print(" ".join(parts), file=self.out, flush=True)
            except (OSError, ValueError):
                pass


def _addr(a) -> dict:
    return {"address": a[0], "port": a[1]}


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the connection closed inside the PROXY v2 header")
        buf += chunk
    return bytes(buf)
