"""What privlink acknowledged survives SIGKILL; the SQLite schema migrates forward and
refuses a newer one."""

from __future__ import annotations

import http.client
import random
import signal
import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from privlink.identity import RoleSession
from privlink.state import Store, backend
from privlink.state.backend import SCHEMA_VERSION, SchemaTooNew, SqliteBackend

from .procs import Processes, wait_healthy
from .rawaws import call

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
ROLE_ACCOUNT = "222222222222"


@pytest.fixture
def procs():
    p = Processes()
    yield p
    p.stop_all()


def _text(root: ET.Element, name: str) -> str:
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == name:
            return el.text or ""
    raise AssertionError(f"no <{name}> in {ET.tostring(root)[:500]!r}")


class MutationStream:
    """Client threads calling sts:AssumeRole as fast as the server answers, remembering
    every call that was acknowledged (HTTP 200 with credentials)."""

    def __init__(self, port: int, threads: int = 2, max_calls: int = 2000):
        self.base = f"http://127.0.0.1:{port}"
        self.acked: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.max_calls = max_calls
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads)

    def _run(self, worker: int):
        conn = http.client.HTTPConnection("127.0.0.1", int(self.base.rsplit(":", 1)[1]), timeout=10)
        n = 0
        try:
            while not self.stop.is_set() and n < self.max_calls:
                n += 1
                session = f"w{worker}-{n}"
                role = f"arn:aws:iam::{ROLE_ACCOUNT}:role/durable-{worker}"
                body = (
                    f"Action=AssumeRole&Version=2011-06-15&RoleArn={quote(role, safe='')}"
                    f"&RoleSessionName={session}"
                ).encode()
                try:
                    resp = call(self.base, "sts", body=body, headers=FORM, conn=conn)
                except (OSError, http.client.HTTPException):
                    return  # the server died mid-call: that call was never acknowledged
                if resp.status != 200:
                    raise AssertionError(f"AssumeRole failed: {resp.status} {resp.body[:300]!r}")
                root = ET.fromstring(resp.body)
                with self.lock:
                    self.acked.append(
                        {
                            "key": _text(root, "AccessKeyId"),
                            "secret": _text(root, "SecretAccessKey"),
                            "token": _text(root, "SessionToken"),
                            "arn": _text(root, "Arn"),
                        }
                    )
        finally:
            conn.close()

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_acknowledged_sessions_survive_sigkill(procs, tmp_path, seed):
    rng = random.Random(seed)
    state = str(tmp_path / "state")
    proc, port = procs.up("--state-dir", state)
    wait_healthy(proc, port)

    stream = MutationStream(port)
    stream.start()
    deadline = time.monotonic() + 20
    while stream.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert stream.count() >= 5, "no AssumeRole call was acknowledged"
    # kill at a random moment while calls are in flight
    time.sleep(rng.uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    stream.join()
    acked = list(stream.acked)
    assert acked

    proc2, port2 = procs.up("--state-dir", state)
    wait_healthy(proc2, port2)
    base = f"http://127.0.0.1:{port2}"
    conn = http.client.HTTPConnection("127.0.0.1", port2, timeout=10)
    lost = []
    try:
        for c in acked:
            resp = call(
                base,
                "sts",
                body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers=FORM,
                key=c["key"],
                secret=c["secret"],
                token=c["token"],
                conn=conn,
            )
            if resp.status != 200 or _text(ET.fromstring(resp.body), "Arn") != c["arn"]:
                lost.append((c["arn"], resp.status, resp.body[:200]))
    finally:
        conn.close()
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged sessions lost: {lost[:3]}"


# ---- schema versions ---------------------------------------------------------------


def _version(path) -> int | None:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else None
    finally:
        db.close()


def _session(i: int) -> RoleSession:
    return RoleSession(
        id=f"ASIATESTSESSION{i:05d}",
        account=ROLE_ACCOUNT,
        region="aws-global",
        secret_access_key="s",
        session_token="t",
        role_arn=f"arn:aws:iam::{ROLE_ACCOUNT}:role/r",
        session_name=f"s{i}",
        expires_at=2e9,
        created_at=1e9,
    )


def test_a_database_from_before_versioning_is_migrated(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    # version 0: a database privlink wrote before it had any schema (here: only an
    # unrelated table), with no version recorded
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (x TEXT)")
    db.execute("INSERT INTO notes VALUES ('kept')")
    db.commit()
    db.close()

    b = SqliteBackend(path)
    store = Store(b)
    with store.transaction() as tx:
        tx.put(_session(1))
    b.close()
    assert _version(path) == SCHEMA_VERSION

    b2 = SqliteBackend(path)
    try:
        again = Store(b2)
        assert again.get(RoleSession, "ASIATESTSESSION00001").session_name == "s1"
        assert b2.db.execute("SELECT x FROM notes").fetchall() == [("kept",)]
    finally:
        b2.close()


def test_each_migration_runs_once_in_order_and_keeps_the_data(tmp_path, monkeypatch):
    path = str(tmp_path / "state.sqlite3")
    b = SqliteBackend(path)
    store = Store(b)
    with store.transaction() as tx:
        tx.put(_session(1))
        tx.put(_session(2))
    b.close()

    ran = []

    def next_version(db):
        ran.append(SCHEMA_VERSION)
        db.execute("ALTER TABLE resources ADD COLUMN note TEXT")
        db.execute("UPDATE resources SET note = 'migrated'")

    monkeypatch.setattr(backend, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(backend.MIGRATIONS, SCHEMA_VERSION, next_version)
    b = SqliteBackend(path)
    try:
        assert ran == [SCHEMA_VERSION]
        assert _version(path) == SCHEMA_VERSION + 1
        store = Store(b)
        assert {s.id for s in store.all(RoleSession)} == {
            "ASIATESTSESSION00001",
            "ASIATESTSESSION00002",
        }
        assert b.db.execute("SELECT DISTINCT note FROM resources").fetchall() == [("migrated",)]
    finally:
        b.close()
    SqliteBackend(path).close()  # already current: nothing runs again
    assert ran == [SCHEMA_VERSION]


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "state.sqlite3")
    b = SqliteBackend(path)
    with Store(b).transaction() as tx:
        tx.put(_session(1))
    b.close()

    def broken(db):
        db.execute("DELETE FROM resources")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(backend, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(backend.MIGRATIONS, SCHEMA_VERSION, broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        SqliteBackend(path)
    monkeypatch.undo()
    assert _version(path) == SCHEMA_VERSION
    b = SqliteBackend(path)
    try:
        assert Store(b).get(RoleSession, "ASIATESTSESSION00001") is not None
    finally:
        b.close()


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    SqliteBackend(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 3),))
    db.commit()
    db.close()
    with pytest.raises(SchemaTooNew) as e:
        SqliteBackend(path)
    msg = str(e.value)
    assert "newer privlink" in msg and str(SCHEMA_VERSION + 3) in msg and path in msg
    assert _version(path) == SCHEMA_VERSION + 3  # left as it was


def test_acknowledged_resources_survive_sigkill(procs, tmp_path):
    """EC2 resources and their tags: every create that answered 200 is there after SIGKILL."""
    import boto3
    import botocore.config
    from botocore.exceptions import BotoCoreError, ClientError

    state = str(tmp_path / "state")
    proc, port = procs.up("--state-dir", state)
    wait_healthy(proc, port)
    cfg = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    ec2 = boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="111111111111",
        aws_secret_access_key="x",
        config=cfg,
    )
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    acked: list[str] = []
    stop = threading.Event()

    def churn():
        for i in range(5000):
            if stop.is_set():
                return
            try:
                gid = ec2.create_security_group(GroupName=f"g{i}", Description="d", VpcId=vpc)[
                    "GroupId"
                ]
                ec2.create_tags(Resources=[gid], Tags=[{"Key": "n", "Value": str(i)}])
                acked.append((gid, str(i)))
            except (BotoCoreError, ClientError, OSError):
                return

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    deadline = time.time() + 10
    while len(acked) < 30 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(7).uniform(0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    t.join(timeout=20)
    assert len(acked) >= 30
    proc2, port2 = procs.up("--state-dir", state)
    wait_healthy(proc2, port2)
    ec2b = boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{port2}",
        region_name="us-east-1",
        aws_access_key_id="111111111111",
        aws_secret_access_key="x",
        config=cfg,
    )
    groups = {
        g["GroupId"]: {t["Key"]: t["Value"] for t in g.get("Tags", [])}
        for g in ec2b.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "SecurityGroups"
        ]
    }
    for gid, n in acked:
        assert groups.get(gid, {}).get("n") == n, f"acknowledged group {gid} (tag n={n}) lost"
