"""The bench's C load generator and its reference proxy carry every byte (the ceiling row of
docs/benchmarks.md is only meaningful if the reference proxy really relays)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from bench.__main__ import build_loadgen
from bench.candidates import free_port, wait_listening

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") or shutil.which("cc")), reason="needs a C compiler"
)


@pytest.fixture
def loadgen(tmp_path):
    exe = build_loadgen(str(tmp_path))
    procs: list[subprocess.Popen] = []

    def start(*args) -> None:
        procs.append(subprocess.Popen([exe, *map(str, args)], stdout=subprocess.DEVNULL))

    def run(*args) -> list[str]:
        r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    yield exe, start, run
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)


@pytest.mark.parametrize("mode", ["copy", "splice"])
def test_reference_proxy_relays_bulk_and_short_connections(loadgen, mode):
    _exe, start, run = loadgen
    sink, echo, pbulk, pecho = (free_port() for _ in range(4))
    start("sink", sink)
    start("echo", echo)
    wait_listening(("127.0.0.1", sink))
    wait_listening(("127.0.0.1", echo))
    extra = ["splice"] if mode == "splice" else []
    start("proxy", f"127.0.0.1:{sink}", pbulk, *extra)
    start("proxy", f"127.0.0.1:{echo}", pecho, *extra)
    wait_listening(("127.0.0.1", pbulk))
    wait_listening(("127.0.0.1", pecho))

    nbytes = 64 << 20
    sent, confirmed, _secs = run("bulk", f"127.0.0.1:{pbulk}", nbytes)
    assert int(sent) == nbytes and int(confirmed) == nbytes  # the sink counted every byte

    done, errors, _secs = run("connrate", f"127.0.0.1:{pecho}", 8, 0.3, 2000)
    assert int(errors) == 0 and int(done) > 0  # 100 bytes each way echoed through the proxy

    p50, _p99, _mean = run("pingpong", f"127.0.0.1:{pecho}", 200)
    assert int(p50) > 0


def test_reference_proxy_dials_loopback_only(loadgen):
    exe, _start, _run = loadgen
    r = subprocess.run([exe, "proxy", "10.0.0.1:80", str(free_port())], capture_output=True)
    assert r.returncode == 2 and b"127.0.0.0/8 only" in r.stderr
