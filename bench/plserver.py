"""A privlink server for the benchmarks: ``python -m privlink up`` in its own process.

Ephemeral state, a free API port, a free DNS port, and a config file written for the run
(quotas raised, timings chosen by the caller). The bench then talks to it only through the
AWS API (boto3) and privlink's own ``/_privlink/`` extensions, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from .candidates import ROOT, free_port

PROVIDER = "111111111111"
CONSUMER = "222222222222"
REGION = "us-east-1"


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def write_config(path: str, settings: dict) -> str:
    """A privlink.toml from {key: value, table: {key: value}}."""
    top = [f"{k} = {toml_value(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    tables = []
    for name, body in settings.items():
        if isinstance(body, dict):
            tables.append(f"[{name}]")
            tables.extend(f"{k} = {toml_value(v)}" for k, v in body.items())
    with open(path, "w") as f:
        f.write("\n".join(top + tables) + "\n")
    return path


class PrivlinkServer:
    """``privlink up --ephemeral --port P --dns-port D --config FILE`` as a child process."""

    def __init__(self, workdir: str, name: str, settings: dict, src: str | None = None):
        self.src = src or os.path.join(ROOT, "src")  # another tree's src/ for A/B runs
        self.workdir = workdir
        self.name = name
        self.settings = settings
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0
        self.banner: list[str] = []

    def start(self, timeout: float = 60.0) -> PrivlinkServer:
        cfg = write_config(os.path.join(self.workdir, f"{self.name}.toml"), self.settings)
        self.port = free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([self.src, ROOT])
        errlog = os.path.join(self.workdir, f"{self.name}.stderr")
        outlog = os.path.join(self.workdir, f"{self.name}.stdout")
        args = [
            sys.executable,
            "-m",
            "privlink",
            "up",
            "--ephemeral",
            "--port",
            str(self.port),
            "--dns-port",
            str(free_port()),
            "--config",
            cfg,
        ]
        # files, never pipes nobody reads
        with open(errlog, "wb") as err, open(outlog, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=self.workdir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            with open(outlog) as f:
                self.banner = f.read().splitlines()
            m = re.search(r"listening on (http://\S+)", self.banner[0] if self.banner else "")
            if m:
                self.url = m.group(1)
                try:
                    with urllib.request.urlopen(self.url + "/_privlink/health", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        with open(errlog) as f:
            raise RuntimeError(f"privlink server did not start: {f.read().strip()[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def extension(self, path: str, **params) -> dict:
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/_privlink/{path}?{q}", timeout=10) as r:
            return json.loads(r.read())

    def realm_address(self, vpc_id: str, ip: str) -> str:
        return self.extension("addr", vpc=vpc_id, ip=ip)["host_address"]

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.proc = None


def clients(url: str, account: str, *services: str):
    """boto3 clients for ``account`` (a 12-digit access key id is that account's root)."""
    import boto3
    import botocore.config

    cfg = botocore.config.Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=4,
    )
    session = boto3.session.Session(
        aws_access_key_id=account, aws_secret_access_key="bench", region_name=REGION
    )
    out = tuple(session.client(s, endpoint_url=url, config=cfg) for s in services)
    return out if len(out) > 1 else out[0]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
