"""``privlink up`` as a user meets it: help, bad flags and config files (one sentence and a
non-zero exit, never a traceback), the line saying where it listens, and clean stops."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess

import pytest

from privlink.cli.main import COMMANDS
from privlink.config import load_settings
from privlink.state.backend import SCHEMA_VERSION
from privlink.testing.embedded import free_port

from .procs import Processes, health, privlink_cmd, privlink_env, terminate, wait_healthy


@pytest.fixture
def procs():
    p = Processes()
    yield p
    p.stop_all()


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        privlink_cmd(*args), capture_output=True, text=True, env=privlink_env(), timeout=timeout
    )


def assert_one_sentence_failure(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("privlink: "), lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_help_has_an_example():
    for args in (("--help",), ("up", "--help")):
        p = run(*args)
        assert p.returncode == 0, p.stderr
        assert "example:" in p.stdout and "privlink up" in p.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help_with_an_example(command):
    p = run(command, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"usage: privlink {command}"), p.stdout
    after = p.stdout.split("example", 1)
    assert len(after) == 2 and f"privlink {command}" in after[1], p.stdout


def test_state_dir_defaults_to_the_per_user_xdg_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    expected = tmp_path / "home" / ".local" / "state" / "privlink" / "state.sqlite3"
    assert load_settings().state_path() == str(expected)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert load_settings().state_path() == str(tmp_path / "xdg" / "privlink" / "state.sqlite3")
    assert load_settings(state_dir=str(tmp_path / "mine")).state_path() == str(
        tmp_path / "mine" / "state.sqlite3"
    )
    assert load_settings(ephemeral=True).state_path() is None


def test_no_command_prints_help_and_fails():
    p = run()
    assert p.returncode == 2
    assert "usage: privlink" in p.stdout


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range(port):
    assert_one_sentence_failure(run("up", "--ephemeral", f"--port={port}"), "--port", "65535", port)


def test_port_not_a_number():
    p = run("up", "--ephemeral", "--port", "abc")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        "privlink up: error: argument --port: invalid int value: 'abc'"
    )


def test_dns_port_out_of_range():
    assert_one_sentence_failure(
        run("up", "--ephemeral", "--port", "0", "--dns-port", "99999"), "--dns-port"
    )


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert_one_sentence_failure(
            run("up", "--ephemeral", "--port", str(port)), "cannot listen", str(port)
        )


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["cannot read config file", "No such file"]),
        ("[[[broken\n", ["not valid TOML"]),
        ('port = "4566"\n', ["port", "integer"]),
        ("port = true\n", ["port", "integer"]),
        ("port = 70000\n", ["port", "65535"]),
        ("no_such_setting = 1\n", ["unknown setting", "no_such_setting"]),
        ('default_account = "12"\n', ["default_account", "12 digits"]),
        ('[[credentials]]\naccess_key_id = "AKIAX"\narn = "not-an-arn"\n', ["credentials[0]"]),
        ('[quotas]\ninterface_endpoints_per_vpc = "many"\n', ["interface_endpoints_per_vpc"]),
    ],
    ids=[
        "missing",
        "not-toml",
        "port-string",
        "port-bool",
        "port-range",
        "unknown",
        "account",
        "arn",
        "quota-type",
    ],
)
def test_bad_config_file(tmp_path, content, words):
    path = tmp_path / "privlink.toml"
    if content is not None:
        path.write_text(content)
    # no --port flag: it would override the file's port
    assert_one_sentence_failure(run("up", "--ephemeral", "--config", str(path)), *words)


def test_state_dir_that_is_a_file(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    assert_one_sentence_failure(
        run("up", "--port", "0", "--state-dir", str(f)), "cannot keep state", str(f)
    )


def test_state_file_that_is_not_a_database(tmp_path):
    (tmp_path / "state.sqlite3").write_bytes(b"this is not SQLite\n" * 100)
    assert_one_sentence_failure(
        run("up", "--port", "0", "--state-dir", str(tmp_path)), "cannot keep state", "database"
    )


def test_state_from_a_newer_privlink_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    assert_one_sentence_failure(
        run("up", "--port", "0", "--state-dir", str(tmp_path)), "newer privlink"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runs_says_where_and_stops_cleanly(procs, tmp_path, sig):
    proc, port = procs.up("--state-dir", str(tmp_path))
    h = wait_healthy(proc, port)
    assert h["status"] == "ok"
    assert h["endpoint"] == f"http://127.0.0.1:{port}"
    code, out, err = terminate(proc, sig)
    assert code == 0, err
    assert "Traceback" not in err
    first = out.splitlines()[0]
    assert first == (
        f"privlink listening on http://127.0.0.1:{port} (state: {tmp_path / 'state.sqlite3'})"
    )
    assert health(port, timeout=0.5) is None
    # the port is free again and the state directory opens again
    proc2, port2 = procs.up("--state-dir", str(tmp_path), port=port)
    wait_healthy(proc2, port2)
    assert terminate(proc2)[0] == 0


def test_listens_on_loopback_by_default(procs):
    proc, port = procs.up("--ephemeral")
    wait_healthy(proc, port)
    conns = [c for c in _listening(port)]
    assert conns and all(addr.startswith("127.") for addr in conns), conns
    assert terminate(proc)[0] == 0


def _listening(port: int) -> list[str]:
    """Local addresses with a TCP listener on ``port`` (from /proc/net/tcp)."""
    out = []
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        pytest.skip("no /proc/net/tcp")
    for row in rows:
        local, _, state = row.split()[1:4]
        hexaddr, hexport = local.split(":")
        if int(hexport, 16) == port and state == "0A":
            octets = bytes.fromhex(hexaddr)[::-1]
            out.append(".".join(str(b) for b in octets))
    return out


def test_port_zero_picks_a_free_port_and_says_which(procs):
    p = subprocess.Popen(
        privlink_cmd(
            "up", "--ephemeral", "--port", "0", "--dns-port", str(free_port(kind=socket.SOCK_DGRAM))
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=privlink_env(),
    )
    procs.started.append(p)
    line = p.stdout.readline().strip()
    assert line.startswith("privlink listening on http://127.0.0.1:"), line
    port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
    assert port != 0
    wait_healthy(p, port)
    assert terminate(p)[0] == 0


def _read_line_with(p: subprocess.Popen, words: str, timeout: float = 10.0) -> str:
    """The next line of ``p``'s output that contains ``words``."""
    import select
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        line = p.stdout.readline()
        if not line:
            break
        if words in line:
            return line.strip()
    raise AssertionError(f"privlink up printed no line with {words!r}")


def test_says_where_the_resolver_of_a_new_vpc_listens(procs):
    import boto3

    dns_port = free_port(kind=socket.SOCK_DGRAM)
    p = subprocess.Popen(
        privlink_cmd("up", "--ephemeral", "--port", "0", "--dns-port", str(dns_port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=privlink_env(),
    )
    procs.started.append(p)
    line = p.stdout.readline().strip()
    port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
    wait_healthy(p, port)
    ec2 = boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="111111111111",
        aws_secret_access_key="x",
    )
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    said = _read_line_with(p, vpc)
    where = run("dns", vpc, "--endpoint-url", f"http://127.0.0.1:{port}").stdout.split()
    assert said == f"DNS resolver of {vpc} on {where[0]} port {where[1]}"
    assert where[1] == str(dns_port)
    ec2.delete_vpc(VpcId=vpc)
    assert _read_line_with(p, vpc) == f"DNS resolver of {vpc} closed"
    assert terminate(p)[0] == 0
