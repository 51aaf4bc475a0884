"""Running ``python -m privlink up`` as a real process in tests: start it on free ports, wait
until it is healthy, and always stop what was started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from privlink.testing.embedded import free_port

SRC = str(Path(__file__).resolve().parent.parent / "src")


def privlink_env() -> dict[str, str]:
    """The environment for a privlink subprocess: this checkout's sources first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PRIVLINK_STRICT_SERIALIZE", None)
    return env


def privlink_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "privlink", *args]


class Processes:
    """Every process a test starts; ``stop_all`` kills the ones still running (by pid)."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def up(self, *args: str, port: int | None = None) -> tuple[subprocess.Popen, int]:
        """Start ``privlink up`` on a free API port (and a free DNS port)."""
        port = port or free_port()
        dns_port = free_port(kind=socket.SOCK_DGRAM)
        proc = subprocess.Popen(
            privlink_cmd("up", "--port", str(port), "--dns-port", str(dns_port), *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=privlink_env(),
        )
        self.started.append(proc)
        return proc, port

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass


def health(port: int, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_privlink/health", timeout=timeout
        ) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate(timeout=5)
            raise AssertionError(f"privlink exited with {proc.returncode}: {err or out}")
        h = health(port)
        if h is not None:
            return h
        time.sleep(0.05)
    raise AssertionError(f"privlink did not become healthy on port {port} within {timeout}s")


def terminate(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0):
    """Send ``sig`` and wait; returns (returncode, stdout, stderr)."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
