"""``privlink target``: the test/demo target program, run as a real process."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from privlink.dataplane.proxyv2 import aws_vpce_tlv, build_local_header, build_proxy_header

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("AWS_ENDPOINT_URL", None)
    return e


def run_cli(*args, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "privlink", "target", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )


class TargetProc:
    def __init__(self, *args):
        self.p = subprocess.Popen(
            [sys.executable, "-u", "-m", "privlink", "target", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        line = self.p.stdout.readline()
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert m, (line, self.p.stderr.read() if self.p.poll() is not None else "")
        self.addr = (m.group(1), int(m.group(2)))
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(10)


@pytest.fixture
def target_proc():
    procs = []

    def start(*args):
        t = TargetProc(*args)
        procs.append(t)
        return t

    yield start
    for t in procs:
        if t.p.poll() is None:
            t.p.kill()
            t.p.wait(5)


def http_get(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    while True:
        d = sock.recv(65536)
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def tls_client():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_tls_health_path_with_proxy_header(target_proc):
    t = target_proc("--listen", "127.0.0.1:0", "--tls", "--health-path", "/healthz")
    raw = socket.create_connection(t.addr, timeout=10)
    raw.sendall(
        build_proxy_header(
            "10.20.1.7", 40001, "10.20.1.50", 443, [aws_vpce_tlv("vpce-0abc1234def567890")]
        )
    )
    client_port = raw.getsockname()[1]
    s = tls_client().wrap_socket(raw, server_hostname="localhost")
    status, body = http_get(s, "/healthz")
    assert status == 200 and body["tls"] is True
    assert body["peer"] == {"address": "127.0.0.1", "port": client_port}
    assert body["local"]["port"] == t.addr[1]
    pp = body["proxy_protocol"]
    assert pp["source"] == {"address": "10.20.1.7", "port": 40001}
    assert pp["destination"] == {"address": "10.20.1.50", "port": 443}
    assert pp["aws_vpce_id"] == "vpce-0abc1234def567890"
    tlv = pp["tlvs"][0]
    assert tlv["type"] == 0xEA and tlv["subtype"] == 1
    s.close()
    assert t.stop() == 0
    log = "".join(t.lines)
    assert "vpce=vpce-0abc1234def567890" in log and "tls=yes" in log and "status=200" in log


def test_tls_certificate_names(target_proc):
    t = target_proc("--listen", "127.0.0.1:0", "--tls", "--tls-name", "api.example.internal")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with ctx.wrap_socket(socket.create_connection(t.addr, timeout=10)) as s:
        der = s.getpeercert(binary_form=True)
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.internal"]
    t.stop()


def test_plain_http_404_echo_and_local_header(target_proc):
    t = target_proc("--listen", "127.0.0.1:0")
    with socket.create_connection(t.addr, timeout=10) as s:
        status, body = http_get(s, "/nope")
        assert status == 404 and body["path"] == "/nope" and body["proxy_protocol"] is None
    with socket.create_connection(t.addr, timeout=10) as s:
        s.sendall(b"hello, not http\n")
        assert s.recv(100) == b"hello, not http\n"
        s.sendall(b"again")
        assert s.recv(100) == b"again"
    with socket.create_connection(t.addr, timeout=10) as s:
        s.sendall(build_local_header())
        status, body = http_get(s, "/healthz")
        assert status == 200 and body["proxy_protocol"]["command"] == "LOCAL"
        assert body["tls"] is False
    assert t.stop() == 0
    deadline = time.time() + 5
    while len(t.lines) < 4 and time.time() < deadline:
        time.sleep(0.02)
    log = "".join(t.lines)
    assert "kind=echo" in log and "status=404" in log and "proxy=LOCAL" in log


def test_sigint_exits_cleanly(target_proc):
    t = target_proc("--listen", "127.0.0.1:0")
    t.p.send_signal(signal.SIGINT)
    assert t.p.wait(10) == 0


def test_port_in_use(target_proc):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("--listen", f"127.0.0.1:{port}")
    assert r.returncode == 1
    assert r.stderr.strip() == f"privlink: port {port} on 127.0.0.1 is already in use"
    assert r.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--listen", "10.0.0.1:80"], "loopback"),
        (["--listen", "127.0.0.1"], "HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "between"),
        (["--vpc", "vpc-1"], "give --vpc, --ip and --port"),
        (["--vpc", "vpc-1", "--ip", "nope", "--port", "80"], "IP address"),
        (["--vpc", "vpc-1", "--ip", "10.0.0.5", "--port", "0"], "between 1 and 65535"),
        (["--listen", "127.0.0.1:0", "--health-path", "healthz"], "start with '/'"),
    ],
)
def test_bad_arguments(args, message, capsys):
    from privlink.cli.main import main

    assert main(["target", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_no_server_to_ask():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli(
        "--vpc",
        "vpc-1",
        "--ip",
        "10.0.0.5",
        "--port",
        "80",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
    )
    assert r.returncode == 1 and "no privlink server answers" in r.stderr


def test_realm_lookup(target_proc):
    """The CLI asks GET /_privlink/addr?vpc=&ip= and listens at the answer's host_address.

    (The answering side is privlink's realm API, built elsewhere; this server gives the
    documented answer so that the client side is tested here.)"""
    asked = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = json.dumps(
                {"vpc_id": "vpc-1", "vpc_address": "10.20.1.20", "host_address": "127.0.0.1"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        t = target_proc(
            "--vpc", "vpc-1", "--ip", "10.20.1.20", "--port", str(port),
            "--endpoint-url", f"http://127.0.0.1:{api.server_port}",
        )  # fmt: skip
        assert t.addr == ("127.0.0.1", port)
        assert asked == ["/_privlink/addr?vpc=vpc-1&ip=10.20.1.20"]
        with socket.create_connection(t.addr, timeout=10) as s:
            status, body = http_get(s, "/healthz")
        assert body["target"]["vpc_address"] == "10.20.1.20"
        t.stop()
    finally:
        api.shutdown()
