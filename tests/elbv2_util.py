"""Helpers for the ELBv2 tests: a provider network, and small target servers listening at
the realm (loopback) address that stands for a VPC address."""

from __future__ import annotations

import socket
import socketserver
import ssl
import subprocess
import threading
import time
from pathlib import Path

PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def provider_network(ec2, cidr: str = "10.20.0.0/16") -> dict:
    """A VPC with two subnets in us-east-1a and us-east-1b (and a spare one in us-east-1c)."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.split(".")
    prefix = f"{base[0]}.{base[1]}"
    subnets = {}
    for i, az in enumerate(("us-east-1a", "us-east-1b", "us-east-1c"), 1):
        subnets[az] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{prefix}.{i}.0/24", AvailabilityZone=az
        )["Subnet"]["SubnetId"]
    return {
        "vpc": vpc,
        "a": subnets["us-east-1a"],
        "b": subnets["us-east-1b"],
        "c": subnets["us-east-1c"],
    }


def realm_address(server, vpc_id: str, ip: str) -> str:
    realm = server.app.runtime.hooks["realm"]
    return server.call(realm.to_host, vpc_id, ip)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        sock.settimeout(5)
        data = b""
        try:
            if srv.mode == "tcp":
                srv.connections += 1
                return
            if srv.expect_proxy:
                header = b""
                while len(header) < 16:
                    chunk = sock.recv(16 - len(header))
                    if not chunk:
                        return
                    header += chunk
                srv.proxy_headers.append(header)
                if not header.startswith(PROXY_V2_SIGNATURE):
                    return
            if srv.tls is not None:
                sock = srv.tls.wrap_socket(sock, server_side=True)
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
            srv.requests.append(data)
            srv.connections += 1
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(
                srv.status, "X"
            )
            body = b"ok"
            sock.sendall(
                f"HTTP/1.1 {srv.status} {reason}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
        except (OSError, ssl.SSLError):
            pass


class TargetServer(socketserver.ThreadingTCPServer):
    """A target: ``mode`` tcp (accept and close) or http (answer ``status``)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int = 0,
        mode: str = "tcp",
        status: int = 200,
        expect_proxy: bool = False,
        tls: ssl.SSLContext | None = None,
    ):
        self.mode = mode
        self.status = status
        self.expect_proxy = expect_proxy
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.proxy_headers: list[bytes] = []
        super().__init__((host, port), _Handler)
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


def free_port_on(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def self_signed(tmp: Path) -> ssl.SSLContext:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=target",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def wait_for(fn, timeout: float = 20.0, interval: float = 0.1):
    """Poll ``fn`` until it returns something truthy; return that, or fail with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
