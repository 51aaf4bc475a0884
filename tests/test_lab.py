"""``privlink lab``: every step passes against an embedded privlink, and a dead target fails
the health step with one sentence."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from privlink.cli.lab import lab_settings
from privlink.testing import EmbeddedPrivlink

from .conftest import Clients
from .procs import privlink_env


def _lab(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "privlink", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=privlink_env(),
    )


def _targets_of(endpoint: str) -> list[int]:
    """The pids of ``privlink target`` processes serving ``endpoint``'s lab."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"target" in argv and endpoint.encode() in argv:
            pids.append(int(d.name))
    return pids


def _paste_lines(stdout: str) -> list[str]:
    """The shell lines ``--keep`` prints after "Paste these lines"."""
    tail = stdout.split("Paste these lines", 1)[1].split("\n", 1)[1]
    return [
        ln.strip()
        for ln in tail.split("privlink lab: every step passed")[0].splitlines()
        if ln.strip()
    ]


def _run_pasted(lines: list[str], extra: list[str], home: Path) -> str:
    env = {k: v for k, v in privlink_env().items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)  # the aws CLI's credential cache goes there
    script = "set -e\n" + "\n".join(lines + extra) + "\n"
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_lab_passes_every_step():
    out = _lab("--json")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["ok"] is True
    steps = {s["step"]: s for s in report["steps"]}
    for n in (
        "1",
        "2",
        "3",
        "3b",
        "4",
        "5",
        "6",
        "check 1",
        "check 2",
        "check 3",
        "check 4",
        "check 5",
        "check 6",
        "7",
    ):
        assert steps[n]["ok"] is True, steps.get(n)
        assert steps[n]["cli"], n  # each step names its aws CLI equivalent
    assert "pendingAcceptance" in steps["5"]["saw"]
    assert "PROXY v2" in steps["check 5"]["saw"] and "vpce-" in steps["check 5"]["saw"]
    assert "all ACCEPT" in steps["check 6"]["saw"]
    # teardown in the right order: the endpoint before the service
    assert steps["7"]["saw"].startswith("deleted endpoint, service, ")
    assert report["seconds"] < 60


def test_lab_walkthrough_prints_commands_expectations_and_results():
    out = _lab()
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "$ aws ec2 accept-vpc-endpoint-connections" in text
    assert text.count("expect:") == text.count("saw:") >= 15
    assert "every step passed" in text


def test_lab_names_the_health_step_when_the_target_dies():
    out = _lab("--fault", "kill-target")
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "step 2 (target health) failed" in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_lab_refuses_an_endpoint_where_nothing_answers():
    out = _lab("--endpoint-url", "http://127.0.0.1:1", timeout=60)
    assert out.returncode != 0 and "no privlink server answers" in out.stderr


class _NotPrivlink(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_lab_refuses_a_url_that_is_not_privlink_in_one_sentence():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NotPrivlink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cases = [
            ("notaurl", "is not a privlink endpoint URL"),
            (f"http://127.0.0.1:{httpd.server_address[1]}", "is not privlink"),
        ]
        for url, words in cases:
            out = _lab("--endpoint-url", url, timeout=60)
            lines = out.stderr.strip().splitlines()
            assert out.returncode == 1 and len(lines) == 1 and words in lines[0], out.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def settings():
    return lab_settings()


def test_lab_keep_prints_lines_that_work_and_runs_again_on_the_same_server(server, tmp_path):
    url = server.endpoint_url
    workdir = None
    try:
        kept = _lab("--endpoint-url", url, "--keep")
        assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-3000:]
        lines = _paste_lines(kept.stdout)
        config = next(ln for ln in lines if "AWS_CONFIG_FILE=" in ln)
        workdir = Path(config.split("=", 1)[1].split()[0]).parent
        # the pasted lines give the profiles and variables the printed step commands use
        extra = [
            "aws elbv2 describe-target-health $PROFILE_P --target-group-arn $TG"
            " --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text",
        ]
        if shutil.which("curl"):
            extra.append(next(ln for ln in lines if ln.startswith("curl ")))
        got = _run_pasted(
            [ln for ln in lines if not ln.startswith(("dig ", "curl ", "tail "))], extra, tmp_path
        )
        out = got.split("\n")
        assert out[0].startswith("arn:aws:sts::222222222222:assumed-role/lab-consumer-role/")
        assert out[1].split() == [kept.stdout.split(" EP=")[-1].split()[0], "available"]
        assert out[2].split() == ["available", "True"]
        assert out[3] == "healthy"
        if shutil.which("curl"):
            assert json.loads("\n".join(out[4:]))["status"] == "healthy"
        tail = next(ln for ln in lines if ln.startswith("tail "))
        assert "status=200" in Path(tail.split()[1]).read_text()  # the target logs to a file
        assert _targets_of(url) == [int(tail.split("(pid ")[1].split(")")[0])]
        # a second run against the server that keeps the first: names and the public zone
        # do not collide, and its teardown leaves the kept run alone
        again = _lab("--endpoint-url", url, "--json")
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert json.loads(again.stdout)["ok"] is True
        assert _run_pasted(lines[:4], extra[:1], tmp_path).strip() == "healthy"
    finally:
        for pid in _targets_of(url):
            os.kill(pid, signal.SIGTERM)
        if workdir is not None:  # what --keep leaves for a running server's lab
            shutil.rmtree(workdir, ignore_errors=True)


def test_lab_keep_stops_its_target_and_server_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "privlink", "lab", "--keep", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=privlink_env(),
    )
    try:
        deadline = time.monotonic() + 120
        waiting = ""
        while "privlink is running" not in waiting and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            waiting += line
        assert "privlink is running" in waiting, waiting
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        report = json.loads(stdout)  # stdout stays one JSON document with --keep
        assert report["ok"] is True and report["keep"]
        assert not _targets_of(report["endpoint"])
        workdir = next(ln for ln in report["keep"] if "AWS_CONFIG_FILE=" in ln)
        assert not Path(workdir.split("=", 1)[1].split()[0]).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def slow_verification_server():
    """The lab's timings, except that private DNS verification takes a minute: a lab run
    against it has not passed step 3b when the test interrupts it, so a lab that let Ctrl-C
    pass cannot finish in time and hide it (nothing in the teardown waits for
    verification)."""
    s = lab_settings()
    s.timing.private_dns_verification = 60.0
    with EmbeddedPrivlink(s) as pl:
        yield pl


@pytest.mark.parametrize("at", ["[3] ", "waiting for the private DNS name"])
def test_ctrl_c_half_way_tears_down_and_stops_the_target(slow_verification_server, at):
    server = slow_verification_server
    clients = Clients(server.endpoint_url)
    url = server.endpoint_url
    # A user's Ctrl-C: the lab must start with SIGINT at its default even when this test
    # process runs where SIGINT is ignored (a background job, nohup), which a child inherits.
    ignored = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "privlink", "lab", "--endpoint-url", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=privlink_env(),
        )
    finally:
        if ignored is not None:  # None: a handler not set from Python, left as it was
            signal.signal(signal.SIGINT, ignored)
    try:
        seen = ""
        deadline = time.monotonic() + 120
        while at not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline() if at.startswith("[") else proc.stdout.read(1)
            if not line:
                break
            seen += line
        assert at in seen, seen + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, seen + out + err
        assert "Traceback" not in out + err and "interrupted" in out
        assert not _targets_of(url)
        for account in ("111111111111", "222222222222"):
            assert (
                clients("elbv2", account=account).describe_load_balancers()["LoadBalancers"] == []
            )
            assert clients("ec2", account=account).describe_vpcs()["Vpcs"] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for pid in _targets_of(url):
            os.kill(pid, signal.SIGTERM)
