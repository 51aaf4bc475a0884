"""CloudWatch Logs against an embedded privlink, with boto3 and the aws CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from privlink.telemetry.logstore import append_events
from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, PROVIDER, Clients, make_settings
from .stacks import error_code as code_of

DAY = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def logs(clients):
    return clients("logs")


def put(logs, group, stream, messages, start=None, step=1):
    start = now_ms() - 60_000 if start is None else start
    events = [{"timestamp": start + i * step, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


# ------------------------------------------------------------------------------ groups


def test_log_group_lifecycle_and_describe_fields(logs):
    logs.create_log_group(logGroupName="/privlink/app", tags={"team": "net"})
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="/privlink/app")
    assert code_of(e) == "ResourceAlreadyExistsException"
    (g,) = logs.describe_log_groups(logGroupNamePrefix="/privlink/")["logGroups"]
    arn = f"arn:aws:logs:us-east-1:{PROVIDER}:log-group:/privlink/app"
    assert g["logGroupName"] == "/privlink/app"
    assert g["arn"] == arn + ":*"
    assert g["logGroupArn"] == arn
    assert g["storedBytes"] == 0 and g["metricFilterCount"] == 0
    assert g["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in g
    assert abs(g["creationTime"] - now_ms()) < 60_000
    logs.delete_log_group(logGroupName="/privlink/app")
    assert logs.describe_log_groups()["logGroups"] == []
    with pytest.raises(ClientError) as e:
        logs.delete_log_group(logGroupName="/privlink/app")
    assert code_of(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_log_group_names_are_validated(logs):
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="bad name")
    assert code_of(e) == "InvalidParameterException"
    assert "failed to satisfy constraint" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="aws/mine")
    assert code_of(e) == "InvalidParameterException"
    assert logs.describe_log_groups()["logGroups"] == []


def test_describe_log_groups_pages_in_ascii_order(logs, clients):
    names = ["b", "A", "a/1", "a/2", "a-3", "_z"]
    for n in names:
        logs.create_log_group(logGroupName=n)
    clients("logs", account=CONSUMER).create_log_group(logGroupName="a/other-account")
    page = logs.describe_log_groups(limit=4)
    assert [g["logGroupName"] for g in page["logGroups"]] == sorted(names)[:4]
    rest = logs.describe_log_groups(limit=4, nextToken=page["nextToken"])
    assert [g["logGroupName"] for g in rest["logGroups"]] == sorted(names)[4:]
    assert "nextToken" not in rest
    every = [
        g["logGroupName"]
        for p in logs.get_paginator("describe_log_groups").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for g in p["logGroups"]
    ]
    assert every == sorted(names)
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="a/")["logGroups"]
    ] == ["a/1", "a/2"]
    pattern = logs.describe_log_groups(logGroupNamePattern="/")["logGroups"]
    assert [g["logGroupName"] for g in pattern] == ["a/1", "a/2"]
    assert set(pattern[0]) == {"logGroupName", "creationTime", "arn"}
    with pytest.raises(ClientError) as e:
        logs.describe_log_groups(logGroupNamePrefix="a", logGroupNamePattern="b")
    assert code_of(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.describe_log_groups(nextToken="garbage!")
    assert code_of(e) == "InvalidParameterException"


# ----------------------------------------------------------------------------- streams


def test_log_streams_order_paging_and_event_times(logs):
    logs.create_log_group(logGroupName="g")
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName="missing", logStreamName="s")
    assert code_of(e) == "ResourceNotFoundException"
    for n in ["s-c", "s-a", "s-b", "t-1"]:
        logs.create_log_stream(logGroupName="g", logStreamName=n)
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName="g", logStreamName="s-a")
    assert code_of(e) == "ResourceAlreadyExistsException"
    base = now_ms() - 100_000
    put(logs, "g", "s-b", ["x"], start=base + 3000)
    put(logs, "g", "s-a", ["x", "y"], start=base + 1000, step=5000)
    put(logs, "g", "t-1", ["x"], start=base + 9000)

    by_name = logs.describe_log_streams(logGroupName="g")["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["s-a", "s-b", "s-c", "t-1"]
    a = by_name[0]
    assert a["firstEventTimestamp"] == base + 1000
    assert a["lastEventTimestamp"] == base + 6000
    assert abs(a["lastIngestionTime"] - now_ms()) < 60_000
    assert a["arn"] == f"arn:aws:logs:us-east-1:{PROVIDER}:log-group:g:log-stream:s-a"
    assert a["storedBytes"] == 0
    assert "firstEventTimestamp" not in by_name[2]  # s-c has no events

    desc = logs.describe_log_streams(logGroupName="g", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in desc] == ["t-1", "s-c", "s-b", "s-a"]
    by_time = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["t-1", "s-a", "s-b", "s-c"]
    prefixed = logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="s-")
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == ["s-a", "s-b", "s-c"]
    with pytest.raises(ClientError) as e:
        logs.describe_log_streams(
            logGroupName="g", orderBy="LastEventTime", logStreamNamePrefix="s"
        )
    assert code_of(e) == "InvalidParameterException"

    p1 = logs.describe_log_streams(logGroupName="g", limit=3, orderBy="LastEventTime")
    p2 = logs.describe_log_streams(
        logGroupName="g", limit=3, orderBy="LastEventTime", nextToken=p1["nextToken"]
    )
    assert [s["logStreamName"] for s in p1["logStreams"] + p2["logStreams"]] == [
        "s-c", "s-b", "s-a", "t-1",
    ]  # fmt: skip
    assert "nextToken" not in p2
    ident = logs.describe_log_streams(
        logGroupIdentifier=f"arn:aws:logs:us-east-1:{PROVIDER}:log-group:g", limit=1
    )
    assert ident["logStreams"][0]["logStreamName"] == "s-a"

    logs.delete_log_stream(logGroupName="g", logStreamName="s-a")
    with pytest.raises(ClientError) as e:
        logs.delete_log_stream(logGroupName="g", logStreamName="s-a")
    assert code_of(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log stream does not exist."
    # the deleted stream's events are gone from the group
    msgs = [ev["message"] for ev in logs.filter_log_events(logGroupName="g")["events"]]
    assert sorted(msgs) == ["x", "x"]


# ------------------------------------------------------------------------------ events


def test_put_log_events_rules(logs):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    with pytest.raises(ClientError) as e:
        logs.put_log_events(
            logGroupName="g", logStreamName="nope", logEvents=[{"timestamp": now, "message": "m"}]
        )
    assert code_of(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        logs.put_log_events(
            logGroupName="g",
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}],
        )
    assert code_of(e) == "InvalidParameterException"
    assert "chronological order" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        logs.put_log_events(
            logGroupName="g",
            logStreamName="s",
            logEvents=[
                {"timestamp": now - 2 * DAY, "message": "a"},
                {"timestamp": now, "message": "b"},
            ],
        )
    assert code_of(e) == "InvalidParameterException"
    assert "24 hours" in e.value.response["Error"]["Message"]
    # nothing from the refused batches was stored
    assert logs.get_log_events(logGroupName="g", logStreamName="s")["events"] == []

    out = logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 15 * DAY, "message": "too old"},
            {"timestamp": now - 1000, "message": "kept 1"},
            {"timestamp": now - 1000, "message": "kept 2"},
            {"timestamp": now + 3 * 3_600_000, "message": "too new"},
        ],
    )
    assert out["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 1,
        "tooNewLogEventStartIndex": 3,
    }
    assert len(out["nextSequenceToken"]) == 56
    got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["kept 1", "kept 2"]
    # the sequence token is ignored, as AWS does now
    logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        sequenceToken="49590302423837192683750236713948272",
        logEvents=[{"timestamp": now, "message": "later"}],
    )
    (g,) = logs.describe_log_groups()["logGroups"]
    assert g["storedBytes"] == len("kept 1kept 2later")


def test_get_log_events_tokens(logs):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    base = now_ms() - 100_000
    put(logs, "g", "s", [f"m{i}" for i in range(10)], start=base, step=1000)

    def msgs(r):
        return [e["message"] for e in r["events"]]

    tail = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3)
    assert msgs(tail) == ["m7", "m8", "m9"]
    older = logs.get_log_events(
        logGroupName="g", logStreamName="s", limit=3, nextToken=tail["nextBackwardToken"]
    )
    assert msgs(older) == ["m4", "m5", "m6"]
    head = logs.get_log_events(logGroupName="g", logStreamName="s", limit=4, startFromHead=True)
    assert msgs(head) == ["m0", "m1", "m2", "m3"]
    assert head["events"][0]["timestamp"] == base and "ingestionTime" in head["events"][0]
    nxt = logs.get_log_events(
        logGroupName="g",
        logStreamName="s",
        limit=4,
        startFromHead=True,
        nextToken=head["nextForwardToken"],
    )
    assert msgs(nxt) == ["m4", "m5", "m6", "m7"]
    # at the end of the stream the forward token comes back unchanged ...
    end = logs.get_log_events(
        logGroupName="g", logStreamName="s", startFromHead=True, nextToken=tail["nextForwardToken"]
    )
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]
    # ... until new events arrive
    put(logs, "g", "s", ["m10"], start=base + 10_000)
    new = logs.get_log_events(
        logGroupName="g", logStreamName="s", startFromHead=True, nextToken=tail["nextForwardToken"]
    )
    assert msgs(new) == ["m10"]
    # the start is inclusive, the end exclusive
    window = logs.get_log_events(
        logGroupName="g",
        logStreamName="s",
        startTime=base + 2000,
        endTime=base + 5000,
        startFromHead=True,
    )
    assert msgs(window) == ["m2", "m3", "m4"]
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="g", logStreamName="s", nextToken="f/123")
    assert code_of(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="g", logGroupIdentifier="g", logStreamName="s")
    assert code_of(e) == "InvalidParameterException"


FLOW_FIELDS = (
    '[version, account, eni, source, destination, srcport, destport="8443", protocol="6", '
    'packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]'
)


def flow_record(action: str, port: int, src: str = "10.0.1.5") -> str:
    return f"2 {CONSUMER} eni-0abc {src} 10.0.2.9 49152 {port} 6 3 180 1700000000 1700000060 {action} OK"


def test_filter_log_events(logs):
    logs.create_log_group(logGroupName="flows")
    for s in ("eni-a-all", "eni-b-all", "other"):
        logs.create_log_stream(logGroupName="flows", logStreamName=s)
    base = now_ms() - 300_000
    put(
        logs,
        "flows",
        "eni-a-all",
        [flow_record("ACCEPT", 8443), flow_record("REJECT", 8443)],
        start=base,
        step=10,
    )
    put(
        logs,
        "flows",
        "eni-b-all",
        [flow_record("REJECT", 8443), flow_record("REJECT", 22)],
        start=base + 5,
        step=10,
    )
    put(
        logs,
        "flows",
        "other",
        ["ERROR something", '{"level": "error", "code": 503}'],
        start=base + 1,
    )

    out = logs.filter_log_events(logGroupName="flows", filterPattern=FLOW_FIELDS)
    assert [(e["logStreamName"], e["timestamp"] - base) for e in out["events"]] == [
        ("eni-b-all", 5),
        ("eni-a-all", 10),
    ]
    assert out["searchedLogStreams"] == []
    assert "nextToken" not in out
    assert len({e["eventId"] for e in out["events"]}) == 2
    everything = logs.filter_log_events(logGroupName="flows")["events"]
    assert [e["timestamp"] - base for e in everything] == [
        0,
        1,
        2,
        5,
        10,
        15,
    ]  # interleaved in time
    only_a = logs.filter_log_events(
        logGroupName="flows", logStreamNames=["eni-a-all"], filterPattern="REJECT"
    )
    assert [e["message"] for e in only_a["events"]] == [flow_record("REJECT", 8443)]
    prefixed = logs.filter_log_events(
        logGroupName="flows", logStreamNamePrefix="eni-", filterPattern='?ACCEPT ?" 22 6 "'
    )
    assert len(prefixed["events"]) == 2
    ranged = logs.filter_log_events(logGroupName="flows", startTime=base + 2, endTime=base + 10)
    assert [e["timestamp"] - base for e in ranged["events"]] == [2, 5, 10]  # end inclusive
    js = logs.filter_log_events(logGroupName="flows", filterPattern="{ $.code >= 500 }")
    assert [e["logStreamName"] for e in js["events"]] == ["other"]
    text = logs.filter_log_events(logGroupName="flows", filterPattern='ERROR -"{"')
    assert [e["message"] for e in text["events"]] == ["ERROR something"]

    page = logs.filter_log_events(logGroupName="flows", limit=4)
    assert len(page["events"]) == 4 and "nextToken" in page
    rest = logs.filter_log_events(logGroupName="flows", limit=4, nextToken=page["nextToken"])
    assert [e["timestamp"] - base for e in rest["events"]] == [10, 15]
    paged = [
        e["timestamp"] - base
        for p in logs.get_paginator("filter_log_events").paginate(
            logGroupName="flows", PaginationConfig={"PageSize": 1}
        )
        for e in p["events"]
    ]
    assert paged == [0, 1, 2, 5, 10, 15]

    for bad in (
        dict(logStreamNames=["a"], logStreamNamePrefix="a"),
        dict(filterPattern="[a, b"),
        dict(nextToken="not-a-token"),
    ):
        with pytest.raises(ClientError) as e:
            logs.filter_log_events(logGroupName="flows", **bad)
        assert code_of(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName="nope")
    assert code_of(e) == "ResourceNotFoundException"


def test_aws_cli_filter_log_events_with_a_flow_log_pattern(logs, aws):
    logs.create_log_group(logGroupName="/vpc/flows")
    logs.create_log_stream(logGroupName="/vpc/flows", logStreamName="eni-0abc-all")
    base = now_ms() - 60_000
    records = [
        flow_record("ACCEPT", 8443),
        flow_record("REJECT", 8443, "10.0.1.77"),
        flow_record("REJECT", 443),
    ]
    put(logs, "/vpc/flows", "eni-0abc-all", records, start=base)
    out = aws(
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/vpc/flows",
        "--filter-pattern",
        FLOW_FIELDS,
    )
    assert [e["message"] for e in out["events"]] == [records[1]]
    out = aws(
        "logs", "filter-log-events", "--log-group-name", "/vpc/flows",
        "--log-stream-names", "eni-0abc-all", "--start-time", str(base + 1),
    )  # fmt: skip
    assert [e["message"] for e in out["events"]] == records[1:]
    out = aws(
        "logs",
        "get-log-events",
        "--log-group-name",
        "/vpc/flows",
        "--log-stream-name",
        "eni-0abc-all",
        "--start-from-head",
    )
    assert [e["message"] for e in out["events"]] == records
    assert out["nextForwardToken"].startswith("f/")


# ---------------------------------------------------------------------------- retention


def test_retention_hides_and_prunes_old_events(server, logs):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    put(logs, "g", "s", ["three days old", "two days old"], start=now - 3 * DAY, step=DAY)
    put(logs, "g", "s", ["fresh"], start=now - 1000)
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName="g", retentionInDays=2)
    assert code_of(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName="nope", retentionInDays=1)
    assert code_of(e) == "ResourceNotFoundException"
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 1
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g")["events"]] == ["fresh"]
    got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["fresh"]
    out = logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": now - 2 * DAY, "message": "expired"}],
    )
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}

    before = logs.describe_log_groups()["logGroups"][0]["storedBytes"]
    pruned = server.call(lambda: server.app.component("logs").sweep())
    assert pruned == 2
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == before - len(
        "three days oldtwo days old"
    )
    logs.delete_retention_policy(logGroupName="g")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]
    # pruned events stay gone once the policy is lifted
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g")["events"]] == ["fresh"]


# --------------------------------------------------------------------------------- tags


def test_tags_both_apis(logs, clients):
    logs.create_log_group(logGroupName="g", tags={"a": "1"})
    arn = f"arn:aws:logs:us-east-1:{PROVIDER}:log-group:g"
    logs.tag_log_group(logGroupName="g", tags={"b": "2"})
    assert logs.list_tags_log_group(logGroupName="g")["tags"] == {"a": "1", "b": "2"}
    logs.tag_resource(resourceArn=arn, tags={"c": "3", "a": "one"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one", "b": "2", "c": "3"}
    logs.untag_resource(resourceArn=arn, tagKeys=["b"])
    logs.untag_log_group(logGroupName="g", tags=["c"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one"}
    with pytest.raises(ClientError) as e:
        logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert code_of(e) == "TooManyTagsException"
    with pytest.raises(ClientError) as e:
        logs.list_tags_for_resource(resourceArn=arn.replace(":g", ":nope"))
    assert code_of(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        logs.list_tags_for_resource(resourceArn="arn:aws:s3:::bucket")
    assert code_of(e) == "InvalidParameterException"
    # another account cannot reach the group through its ARN
    with pytest.raises(ClientError) as e:
        clients("logs", account=CONSUMER).list_tags_for_resource(resourceArn=arn)
    assert code_of(e) == "ResourceNotFoundException"


# ---------------------------------------------------------------- durability, in-process


def test_events_survive_a_restart_and_append_events_creates_streams(tmp_path):
    settings = make_settings(ephemeral=False, state_dir=str(tmp_path))
    base = now_ms() - 10_000
    with EmbeddedPrivlink(settings) as pl:
        logs = Clients(pl.endpoint_url)("logs")
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        put(logs, "g", "s", ["acknowledged 1", "acknowledged 2"], start=base)

        def write_flow_records():
            with pl.app.store.transaction() as tx:
                return append_events(
                    tx, PROVIDER, "us-east-1", "/privlink/flows", "eni-0abc-all",
                    [(base + 5, "2 record b"), (base + 1, "2 record a"), (base + 2, "")],
                )  # fmt: skip

        assert pl.call(write_flow_records) == 2
    with EmbeddedPrivlink(settings) as pl:
        logs = Clients(pl.endpoint_url)("logs")
        got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]] == ["acknowledged 1", "acknowledged 2"]
        (s,) = logs.describe_log_streams(logGroupName="g")["logStreams"]
        assert s["lastEventTimestamp"] == base + 1
        flows = logs.filter_log_events(logGroupName="/privlink/flows")["events"]
        assert [(e["logStreamName"], e["message"]) for e in flows] == [
            ("eni-0abc-all", "2 record a"),
            ("eni-0abc-all", "2 record b"),
        ]
        # appending after the restart continues the same stream
        put(logs, "g", "s", ["after restart"], start=base + 2)
        got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]][-1] == "after restart"


def test_filter_pages_when_its_scan_budget_runs_out(logs, monkeypatch):
    from privlink.services import logs as logs_service

    monkeypatch.setattr(logs_service, "FILTER_SCAN_BATCH", 20)
    monkeypatch.setattr(logs_service, "FILTER_SCAN_BUDGET", 50)
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    messages = [f"hay {i}" for i in range(130)]
    messages[3] = messages[120] = "NEEDLE"
    put(logs, "g", "s", messages)
    first = logs.filter_log_events(logGroupName="g", filterPattern="NEEDLE")
    assert len(first["events"]) == 1 and "nextToken" in first
    second = logs.filter_log_events(
        logGroupName="g", filterPattern="NEEDLE", nextToken=first["nextToken"]
    )
    assert second["events"] == [] and "nextToken" in second  # an empty page that is not the end
    found = [
        e["timestamp"]
        for p in logs.get_paginator("filter_log_events").paginate(
            logGroupName="g", filterPattern="NEEDLE"
        )
        for e in p["events"]
    ]
    assert len(found) == 2


def _start_privlink(state_dir) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "privlink", "up", "--port", "0", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()  # "privlink listening on http://127.0.0.1:<port> (state: …)"
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"privlink up did not start: {line!r}")
    return proc, m.group(1)


def test_acknowledged_events_survive_sigkill(tmp_path):
    proc, url = _start_privlink(tmp_path)
    try:
        logs = Clients(url)("logs")
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        put(logs, "g", "s", [f"event {i}" for i in range(50)])
        Clients(url)("cloudwatch").put_metric_data(
            Namespace="Shop", MetricData=[{"MetricName": "Orders", "Value": 3}]
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    proc, url = _start_privlink(tmp_path)
    try:
        logs = Clients(url)("logs")
        got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
        assert [e["message"] for e in got["events"]] == [f"event {i}" for i in range(50)]
        assert (
            Clients(url)("cloudwatch").list_metrics(Namespace="Shop")["Metrics"][0]["MetricName"]
            == "Orders"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
