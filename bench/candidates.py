"""What the data-plane benchmark measures: a direct connection, HAProxy, privlink's relay.

A candidate is started once (``start(env)``) with the addresses of the C sink and echo
servers (``env.sink``, ``env.echo``: every candidate has its own echo server), and says
where the load generators should connect (``bulk_addr``, ``echo_addr``) and which
processes are the proxy (``bulk_pids()``/``echo_pids()``, for CPU and memory).

The privlink endpoint candidates (a whole privlink server and PrivateLink path) are in
:mod:`bench.endpoint`. More candidates plug in with ``--candidate NAME=module:factory``: ``factory()`` returns an
unstarted object with the same attributes and methods (subclass :class:`Candidate`). A full
privlink endpoint candidate would start a privlink server, create the VPCs, NLB, target
group and endpoint with boto3, and run its targets with
``env.start_server("sink"|"echo", "127.x.y.z")`` at the targets' realm addresses (it then
sets ``echo_server_pid`` to the pid that call returned, so that latency runs pin the right
server). It is started afresh for each memory measurement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class BenchEnv:
    workdir: str
    loadgen: str  # path of the compiled C load generator
    sink: tuple  # (host, port) of the C sink server (bulk)
    echo: tuple  # (host, port) of the C echo server (conn/s, latency, idle flows)
    fd_limit: int
    port_base: int
    servers: list | None = None  # processes the bench stops at the end

    def start_server(self, mode: str, host: str = "127.0.0.1", port: int = 0) -> tuple:
        """Start a C "sink" or "echo" server at host (127.0.0.0/8); ((host, port), pid)."""
        port = port or free_port(host)
        p = subprocess.Popen([self.loadgen, mode, str(port), host], stdout=subprocess.DEVNULL)
        if self.servers is not None:
            self.servers.append(p)
        wait_listening((host, port))
        return (host, port), p.pid


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(addr: tuple, timeout: float = 10.0) -> None:
    import socket

    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection(addr, timeout=1):
                return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"nothing listens at {addr[0]}:{addr[1]}") from None
            time.sleep(0.05)


def stop_processes(procs: list) -> None:
    """Terminate every process that still runs, then wait for each (kill after 10 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


class Candidate:
    name = "?"
    label = "?"
    proxied = True

    def start(self, env: BenchEnv) -> None:
        raise NotImplementedError

    bulk_addr: tuple = ("127.0.0.1", 0)
    echo_addr: tuple = ("127.0.0.1", 0)

    def pids(self) -> list[int]:
        return []

    def bulk_pids(self) -> list[int]:
        """The proxy processes that carry the bulk stream (CPU per GB)."""
        return self.pids()

    def echo_pids(self) -> list[int]:
        """The proxy processes that carry the echo flows (CPU per 1,000 conns, memory)."""
        return self.pids()

    def stop(self) -> None:
        pass


class Direct(Candidate):
    name = "direct"
    label = "direct"
    proxied = False

    def start(self, env: BenchEnv) -> None:
        self.bulk_addr = env.sink
        self.echo_addr = env.echo


class HAProxy(Candidate):
    def __init__(self, bufsize: int | None):
        self.bufsize = bufsize
        self.name = "haproxy" if bufsize else "haproxy-default"
        self.label = f"HAProxy bufsize {bufsize}" if bufsize else "HAProxy default"
        self.proc = None

    def start(self, env: BenchEnv) -> None:
        bp, ep = free_port(), free_port()
        maxconn = max(1000, (env.fd_limit - 64) // 2)
        tune = f"    tune.bufsize {self.bufsize}\n" if self.bufsize else ""
        cfg = (
            "global\n"
            f"    maxconn {maxconn}\n"
            f"{tune}"
            "defaults\n"
            "    mode tcp\n"
            f"    maxconn {maxconn}\n"
            "    timeout connect 5s\n"
            "    timeout client 600s\n"
            "    timeout server 600s\n"
            f"listen bulk\n    bind 127.0.0.1:{bp}\n    server s 127.0.0.1:{env.sink[1]}\n"
            f"listen echo\n    bind 127.0.0.1:{ep}\n    server s 127.0.0.1:{env.echo[1]}\n"
        )
        path = os.path.join(env.workdir, f"{self.name}.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        errlog = os.path.join(env.workdir, f"{self.name}.stderr")
        with open(errlog, "wb") as err:  # a file, never a pipe nobody reads
            self.proc = subprocess.Popen(
                ["haproxy", "-f", path, "-db"], stdout=subprocess.DEVNULL, stderr=err
            )
        self.bulk_addr, self.echo_addr = ("127.0.0.1", bp), ("127.0.0.1", ep)
        try:
            wait_listening(self.echo_addr)
        except RuntimeError:
            with open(errlog) as f:
                raise RuntimeError(f"{self.label} did not start: {f.read().strip()}") from None

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        if self.proc:
            stop_processes([self.proc])


class CProxy(Candidate):
    """The reference proxy of bench/loadgen.c: one thread, epoll, nothing but the relay (no
    policy, no records, no PROXY header). Not a product: it shows what this machine allows a
    proxy that adds a second TCP connection per flow, the ceiling for every proxied row."""

    def __init__(self, splice: bool = False):
        self.splice = splice
        self.name = "cproxy" + ("-splice" if splice else "")
        self.label = "C proxy (splice)" if splice else "C proxy"
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, env: BenchEnv, target: tuple) -> tuple:
        port = free_port()
        args = [env.loadgen, "proxy", f"{target[0]}:{target[1]}", str(port)]
        if self.splice:
            args.append("splice")
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        wait_listening(("127.0.0.1", port))
        return ("127.0.0.1", port)

    def start(self, env: BenchEnv) -> None:
        self.bulk_addr = self._spawn(env, env.sink)
        self.echo_addr = self._spawn(env, env.echo)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def bulk_pids(self) -> list[int]:
        return [self.procs[0].pid] if self.procs else []

    def echo_pids(self) -> list[int]:
        return [self.procs[1].pid] if len(self.procs) > 1 else []

    def stop(self) -> None:
        stop_processes(self.procs)
        self.procs = []


class PrivlinkRelay(Candidate):
    """privlink's EndpointListener in its own process (bench/relayproc.py), one listener per
    destination, trivial allow policy, fixed target, flow records aggregated."""

    def __init__(self, ppv2: bool = False, mode: str = "auto", processes: int = 1):
        self.ppv2, self.mode, self.processes = ppv2, mode, processes
        self.name = (
            "privlink"
            + ("-ppv2" if ppv2 else "")
            + ("" if mode == "auto" else f"-{mode}")
            + (f"-x{processes}" if processes > 1 else "")
        )
        self.label = (
            "privlink relay"
            + (" PPv2" if ppv2 else "")
            + {
                "auto": "",
                "splice": " (splice only)",
                "copy": " (copy only)",
            }[mode]
            + (f" ×{processes} processes (SO_REUSEPORT)" if processes > 1 else "")
        )
        self.procs: list[subprocess.Popen] = []
        self.bulk_procs: list[subprocess.Popen] = []
        self.echo_procs: list[subprocess.Popen] = []

    def _spawn_all(self, target: tuple, into: list) -> tuple:
        port = free_port()
        for _ in range(self.processes):
            into.append(self._spawn(target, port))
        return ("127.0.0.1", port)

    def _spawn(self, target: tuple, port: int) -> subprocess.Popen:
        args = [
            sys.executable,
            "-m",
            "bench.relayproc",
            "--listen",
            f"127.0.0.1:{port}",
            "--target",
            f"{target[0]}:{target[1]}",
        ]
        if self.ppv2:
            args.append("--ppv2")
        if self.mode != "auto":
            args.append(f"--{self.mode}")
        if self.processes > 1:
            args.append("--reuse-port")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "src"), ROOT])
        errlog = os.path.join(self.workdir, f"{self.name}-{port}-{len(self.procs)}.stderr")
        with open(errlog, "wb") as err:  # a file, never a pipe nobody reads
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT)
        line = p.stdout.readline().decode()
        p.stdout.close()
        if not line.startswith("ready"):
            with open(errlog) as f:
                raise RuntimeError(f"{self.label} did not start: {f.read().strip()}")
        self.procs.append(p)
        return p

    def start(self, env: BenchEnv) -> None:
        self.workdir = env.workdir
        # One process serves one listener, as one privlink server would serve one endpoint
        # port; the bulk and echo listeners are separate processes so that each figure
        # measures one listener and the memory figure counts one process.
        self.bulk_addr = self._spawn_all(env.sink, self.bulk_procs)
        self.echo_addr = self._spawn_all(env.echo, self.echo_procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def bulk_pids(self) -> list[int]:
        return [p.pid for p in self.bulk_procs]

    def echo_pids(self) -> list[int]:
        return [p.pid for p in self.echo_procs]

    def stop(self) -> None:
        stop_processes(self.procs)
        self.procs, self.bulk_procs, self.echo_procs = [], [], []


def default_factories(quick: bool = False, extra: bool = False) -> list:
    """Zero-argument factories: each call makes a fresh, unstarted candidate.

    The default rows: direct, HAProxy tuned and default, the C reference proxy (the
    machine's ceiling for a proxy), privlink's relay alone (the listener without the rest of
    privlink), and a real privlink endpoint with PROXY v2 off and on. ``quick`` drops HAProxy
    default; ``extra`` adds the C proxy's splice row and the relay's PPv2, splice-only,
    copy-only and two-process rows."""
    from .endpoint import PrivlinkEndpoint

    out = [Direct, lambda: HAProxy(262144)]
    if not quick:
        out.append(lambda: HAProxy(None))
    out.append(CProxy)
    if extra:
        out.append(lambda: CProxy(splice=True))
    out.append(PrivlinkRelay)
    if extra:
        out += [
            lambda: PrivlinkRelay(ppv2=True),
            lambda: PrivlinkRelay(mode="splice"),
            lambda: PrivlinkRelay(mode="copy"),
            # not the integrated design (one server process): how far spreading flows over
            # processes would go
            lambda: PrivlinkRelay(processes=2),
        ]
    out += [PrivlinkEndpoint, lambda: PrivlinkEndpoint(ppv2=True)]
    return out


def load_factory(spec: str):
    """``NAME=module:factory`` → a factory whose candidates are called NAME."""
    import importlib

    name, _, target = spec.partition("=")
    mod, _, fn = target.partition(":")
    if not (name and mod and fn):
        raise SystemExit(f"--candidate must be NAME=module:factory, not {spec!r}")
    make = getattr(importlib.import_module(mod), fn)

    def factory():
        cand = make()
        cand.name = name
        if not getattr(cand, "label", None) or cand.label == "?":
            cand.label = name
        return cand

    return factory
