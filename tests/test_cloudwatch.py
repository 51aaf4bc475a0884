"""CloudWatch metrics against an embedded privlink: boto3 (JSON 1.0), a botocore client
forced to the query protocol, the aws CLI, the in-process sink and the Prometheus page."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request

import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError

from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, PROVIDER, Clients, make_settings
from .stacks import error_code as code_of

UTC = dt.UTC


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


@pytest.fixture
def cw(clients):
    return clients("cloudwatch")


DIMS = [{"Name": "Service", "Value": "checkout"}, {"Name": "Stage", "Value": "prod"}]


def stats(cw, name="Latency", dims=DIMS, period=60, minutes=10, **kw):
    now = utcnow()
    if "ExtendedStatistics" not in kw:
        kw.setdefault("Statistics", ["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    return cw.get_metric_statistics(
        Namespace="Shop",
        MetricName=name,
        Dimensions=dims,
        StartTime=now - dt.timedelta(minutes=minutes),
        EndTime=now + dt.timedelta(minutes=1),
        Period=period,
        **kw,
    )["Datapoints"]


def test_put_metric_data_value_forms_and_statistics(cw):
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": DIMS, "Value": 10, "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": DIMS, "Values": [20, 40], "Counts": [2, 1],
             "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": DIMS, "Unit": "Milliseconds",
             "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 2, "Maximum": 8}},
        ],
    )  # fmt: skip
    (dp,) = stats(cw)
    assert dp["SampleCount"] == 8
    assert dp["Sum"] == 10 + 40 + 40 + 20
    assert dp["Average"] == pytest.approx(110 / 8)
    assert dp["Minimum"] == 2 and dp["Maximum"] == 40
    assert dp["Unit"] == "Milliseconds"
    assert dp["Timestamp"] == minute(utcnow()) or dp["Timestamp"] == minute(
        utcnow()
    ) - dt.timedelta(minutes=1)
    # dimensions must match exactly: a subset names another metric
    assert stats(cw, dims=DIMS[:1]) == []
    assert stats(cw, dims=list(reversed(DIMS)))[0]["SampleCount"] == 8  # order does not matter
    # unit filter
    assert stats(cw, Unit="Seconds") == []
    assert stats(cw, Unit="Milliseconds")[0]["Sum"] == 110


def test_percentiles_from_individual_values(cw):
    values = list(range(1, 101))
    cw.put_metric_data(
        Namespace="Shop", MetricData=[{"MetricName": "Size", "Dimensions": DIMS, "Values": values}]
    )
    (dp,) = stats(cw, name="Size", ExtendedStatistics=["p50", "p90", "p100"])
    ext = dp["ExtendedStatistics"]
    assert ext["p50"] == pytest.approx(50, rel=0.02)
    assert ext["p90"] == pytest.approx(90, rel=0.02)
    assert ext["p100"] == 100
    assert dp["Unit"] == "None"
    # a statistic set with different values carries no distribution: no percentile
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[{"MetricName": "Set", "Dimensions": DIMS,
                     "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}}],
    )  # fmt: skip
    (dp,) = stats(cw, name="Set", ExtendedStatistics=["p50"])
    assert dp["ExtendedStatistics"] == {}


def test_periods_aggregate_minutes_and_high_resolution(cw):
    now = utcnow()
    base = minute(now) - dt.timedelta(minutes=6)
    data = [
        {
            "MetricName": "Hits",
            "Dimensions": DIMS,
            "Value": i + 1,
            "Timestamp": base + dt.timedelta(minutes=i),
        }
        for i in range(5)
    ]
    cw.put_metric_data(Namespace="Shop", MetricData=data)
    per_minute = cw.get_metric_statistics(
        Namespace="Shop", MetricName="Hits", Dimensions=DIMS, StartTime=base,
        EndTime=base + dt.timedelta(minutes=5), Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert sorted((d["Timestamp"], d["Sum"]) for d in per_minute) == [
        (base + dt.timedelta(minutes=i), float(i + 1)) for i in range(5)
    ]
    five = cw.get_metric_statistics(
        Namespace="Shop", MetricName="Hits", Dimensions=DIMS, StartTime=base,
        EndTime=base + dt.timedelta(minutes=5), Period=300, Statistics=["Sum", "Maximum"],
    )["Datapoints"]  # fmt: skip
    assert [(d["Timestamp"], d["Sum"], d["Maximum"]) for d in five] == [(base, 15.0, 5.0)]

    t0 = now.replace(microsecond=0) - dt.timedelta(seconds=40)
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {"MetricName": "Fast", "Value": 1, "Timestamp": t0, "StorageResolution": 1},
            {
                "MetricName": "Fast",
                "Value": 2,
                "Timestamp": t0 + dt.timedelta(seconds=12),
                "StorageResolution": 1,
            },
        ],
    )
    fine = cw.get_metric_statistics(
        Namespace="Shop", MetricName="Fast", StartTime=t0 - dt.timedelta(seconds=t0.second % 10),
        EndTime=now + dt.timedelta(seconds=5), Period=10, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert sorted(d["Sum"] for d in fine) == [1.0, 2.0]
    coarse = stats(cw, name="Fast", dims=[], Statistics=["Sum"])
    assert sum(d["Sum"] for d in coarse) == 3.0


@pytest.mark.parametrize(
    "datum, code",
    [
        ({"Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}},
         "InvalidParameterCombination"),
        ({"Values": [1, 2], "Counts": [1]}, "InvalidParameterValue"),
        ({}, "MissingParameter"),
        ({"Value": 1, "StorageResolution": 5}, "InvalidParameterValue"),
        ({"Value": 1, "Unit": "Parsecs"}, "InvalidParameterValue"),
        ({"Value": 1, "Timestamp": dt.datetime(2001, 1, 1, tzinfo=UTC)}, "InvalidParameterValue"),
        ({"Value": 2.0**400}, "InvalidParameterValue"),
        ({"Value": 1, "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]},
         "InvalidParameterValue"),
        ({"Value": 1, "StatisticValues": None,
          "Dimensions": [{"Name": "a", "Value": " "}]}, "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_put_metric_data_validation(cw, datum, code):
    datum = {k: v for k, v in datum.items() if v is not None}
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Bad", **datum}])
    assert code_of(e) == code
    assert cw.list_metrics()["Metrics"] == []


def test_reserved_namespace_is_refused(cw):
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="AWS/NetworkELB", MetricData=[{"MetricName": "X", "Value": 1}])
    assert code_of(e) == "InvalidParameterValue"
    assert (
        e.value.response["Error"]["Message"] == "The value AWS/ for parameter Namespace is invalid."
    )


def test_get_metric_statistics_validation(cw):
    now = utcnow()
    common = dict(
        Namespace="Shop", MetricName="X", StartTime=now - dt.timedelta(hours=1), EndTime=now
    )
    cases = [
        (dict(Period=61, Statistics=["Sum"]), "InvalidParameterValue"),
        (
            dict(Period=60, Statistics=["Sum"], ExtendedStatistics=["p50"]),
            "InvalidParameterCombination",
        ),
        (dict(Period=60, Statistics=["Median"]), "InvalidParameterValue"),
        (dict(Period=60, ExtendedStatistics=["p101"]), "InvalidParameterValue"),
        (dict(Period=1, Statistics=["Sum"]), "InvalidParameterCombination"),  # 3600 > 1440 points
        (
            dict(Period=60, Statistics=["Sum"], EndTime=now - dt.timedelta(hours=2)),
            "InvalidParameterValue",
        ),
    ]
    for extra, code in cases:
        with pytest.raises(ClientError) as e:
            cw.get_metric_statistics(**{**common, **extra})
        assert code_of(e) == code, extra
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(**common, Period=60)
    assert code_of(e) == "MissingParameter"


def test_list_metrics_filters_and_pages(cw, clients):
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": DIMS, "Value": 1},
            {"MetricName": "Latency", "Dimensions": DIMS[:1], "Value": 1},
            {"MetricName": "Errors", "Dimensions": [{"Name": "Stage", "Value": "dev"}], "Value": 1},
        ],
    )
    cw.put_metric_data(Namespace="Other", MetricData=[{"MetricName": "Latency", "Value": 1}])
    clients("cloudwatch", account=CONSUMER).put_metric_data(
        Namespace="Shop", MetricData=[{"MetricName": "Theirs", "Value": 1}]
    )

    def names(**kw):
        return sorted(
            (m["Namespace"], m["MetricName"], len(m["Dimensions"]))
            for m in cw.list_metrics(**kw)["Metrics"]
        )

    assert names() == [
        ("Other", "Latency", 0),
        ("Shop", "Errors", 1),
        ("Shop", "Latency", 1),
        ("Shop", "Latency", 2),
    ]
    assert names(Namespace="Shop", MetricName="Latency") == [
        ("Shop", "Latency", 1),
        ("Shop", "Latency", 2),
    ]
    assert names(Dimensions=[{"Name": "Stage"}]) == [("Shop", "Errors", 1), ("Shop", "Latency", 2)]
    assert names(Dimensions=[{"Name": "Stage", "Value": "prod"}]) == [("Shop", "Latency", 2)]
    assert names(RecentlyActive="PT3H", Namespace="Other") == [("Other", "Latency", 0)]
    (m,) = cw.list_metrics(Namespace="Shop", MetricName="Latency", Dimensions=[{"Name": "Stage"}])[
        "Metrics"
    ]
    assert sorted(m["Dimensions"], key=lambda d: d["Name"]) == DIMS

    many = [{"MetricName": f"M{i:04d}", "Value": 1} for i in range(520)]
    cw.put_metric_data(Namespace="Many", MetricData=many)
    first = cw.list_metrics(Namespace="Many")
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    rest = cw.list_metrics(Namespace="Many", NextToken=first["NextToken"])
    assert len(rest["Metrics"]) == 20 and "NextToken" not in rest
    paged = [
        m for p in cw.get_paginator("list_metrics").paginate(Namespace="Many") for m in p["Metrics"]
    ]
    assert sorted(m["MetricName"] for m in paged) == [f"M{i:04d}" for i in range(520)]


def test_get_metric_data(cw):
    base = minute(utcnow()) - dt.timedelta(minutes=5)
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            d
            for i in range(4)
            for d in (
                {
                    "MetricName": "Requests",
                    "Value": 10 * (i + 1),
                    "Timestamp": base + dt.timedelta(minutes=i),
                },
                {
                    "MetricName": "Errors",
                    "Value": i + 1,
                    "Timestamp": base + dt.timedelta(minutes=i),
                },
            )
        ],
    )

    def q(qid, name, stat="Sum", **kw):
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {"Namespace": "Shop", "MetricName": name},
                "Period": 60,
                "Stat": stat,
            },
            **kw,
        }

    window = dict(StartTime=base, EndTime=base + dt.timedelta(minutes=4))
    out = cw.get_metric_data(
        MetricDataQueries=[
            q("req", "Requests", ReturnData=False),
            q("err", "Errors", Label="errors"),
            {"Id": "rate", "Expression": "100 * err / req", "Label": "error rate"},
            {"Id": "total", "Expression": "SUM(METRICS())"},
            {"Id": "later", "Expression": "rate * 2"},
        ],
        ScanBy="TimestampAscending",
        **window,
    )
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    assert set(res) == {"err", "rate", "total", "later"}
    stamps = [base + dt.timedelta(minutes=i) for i in range(4)]
    assert res["err"]["Timestamps"] == stamps and res["err"]["Values"] == [1, 2, 3, 4]
    assert res["err"]["Label"] == "errors" and res["err"]["StatusCode"] == "Complete"
    assert res["rate"]["Values"] == [10.0] * 4 and res["rate"]["Label"] == "error rate"
    assert res["total"]["Values"] == [11, 22, 33, 44]
    assert res["later"]["Values"] == [20.0] * 4

    desc = cw.get_metric_data(MetricDataQueries=[q("err", "Errors", stat="Maximum")], **window)
    assert desc["MetricDataResults"][0]["Timestamps"] == list(reversed(stamps))

    p1 = cw.get_metric_data(MetricDataQueries=[q("err", "Errors")], MaxDatapoints=3, **window)
    r1 = p1["MetricDataResults"][0]
    assert len(r1["Values"]) == 3 and r1["StatusCode"] == "PartialData" and "NextToken" in p1
    p2 = cw.get_metric_data(
        MetricDataQueries=[q("err", "Errors")], MaxDatapoints=3, NextToken=p1["NextToken"], **window
    )
    r2 = p2["MetricDataResults"][0]
    assert r2["Values"] == [1.0] and r2["StatusCode"] == "Complete" and "NextToken" not in p2
    pages = list(
        cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=[q("err", "Errors")], PaginationConfig={"PageSize": 2}, **window
        )
    )
    assert sorted(v for p in pages for r in p["MetricDataResults"] for v in r["Values"]) == [
        1,
        2,
        3,
        4,
    ]

    for bad in (
        [{"Id": "e", "Expression": "SELECT AVG(x) FROM y"}],
        [{"Id": "e", "Expression": "nope * 2"}],
        [q("Upper", "Errors")],
        [q("a", "Errors"), q("a", "Requests")],
        [q("a", "Errors", stat="TM90")],
        [{"Id": "a", "Expression": "b"}, {"Id": "b", "Expression": "a"}],
    ):
        with pytest.raises(ClientError) as e:
            cw.get_metric_data(MetricDataQueries=bad, **window)
        assert code_of(e) == "ValidationError", bad


def test_aws_cli_put_list_get(aws):
    aws("cloudwatch", "put-metric-data", "--namespace", "Shop", "--metric-name", "Orders",
        "--dimensions", "Stage=prod", "--value", "3", "--unit", "Count")  # fmt: skip
    aws("cloudwatch", "put-metric-data", "--namespace", "Shop", "--metric-data",
        json.dumps([{"MetricName": "Orders", "Dimensions": [{"Name": "Stage", "Value": "prod"}], "Value": 4}]))  # fmt: skip
    listed = aws("cloudwatch", "list-metrics", "--namespace", "Shop")["Metrics"]
    assert listed == [
        {
            "Namespace": "Shop",
            "MetricName": "Orders",
            "Dimensions": [{"Name": "Stage", "Value": "prod"}],
        }
    ]
    now = utcnow()
    out = aws(
        "cloudwatch", "get-metric-statistics", "--namespace", "Shop", "--metric-name", "Orders",
        "--dimensions", "Name=Stage,Value=prod", "--statistics", "Sum", "SampleCount",
        "--start-time", (now - dt.timedelta(minutes=10)).isoformat(),
        "--end-time", (now + dt.timedelta(minutes=1)).isoformat(), "--period", "60",
    )  # fmt: skip
    assert out["Label"] == "Orders"
    assert sum(d["Sum"] for d in out["Datapoints"]) == 7
    assert sum(d["SampleCount"] for d in out["Datapoints"]) == 2
    proc = aws.run("cloudwatch", "put-metric-data", "--namespace", "AWS/EC2", "--metric-name", "X",
                   "--value", "1", check=False)  # fmt: skip
    assert proc.returncode != 0 and "InvalidParameterValue" in proc.stderr


def query_protocol_client(endpoint: str, tmp_path, account: str = PROVIDER):
    """A botocore CloudWatch client that speaks the query protocol, as older SDKs do."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    folder = tmp_path / "models" / "cloudwatch" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path / "models"))
    client = session.create_client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="test-secret",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    assert client.meta.service_model.protocol == "query"
    return client


def test_query_protocol_clients(server, tmp_path, cw):
    q = query_protocol_client(server.endpoint_url, tmp_path)
    q.put_metric_data(
        Namespace="Legacy",
        MetricData=[
            {
                "MetricName": "Jobs",
                "Dimensions": [{"Name": "Queue", "Value": "a b"}],
                "Values": [1, 2],
                "Counts": [3, 1],
            }
        ],
    )
    assert q.list_metrics(Namespace="Legacy")["Metrics"][0]["Dimensions"] == [
        {"Name": "Queue", "Value": "a b"}
    ]
    now = utcnow()
    dps = q.get_metric_statistics(
        Namespace="Legacy", MetricName="Jobs", Dimensions=[{"Name": "Queue", "Value": "a b"}],
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1), Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]  # fmt: skip
    assert [(d["Sum"], d["SampleCount"]) for d in dps] == [(5.0, 4.0)]
    data = q.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {"Namespace": "Legacy", "MetricName": "Jobs",
                            "Dimensions": [{"Name": "Queue", "Value": "a b"}]}, "Period": 60, "Stat": "Average"}}],
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
    )["MetricDataResults"]  # fmt: skip
    assert data[0]["Values"] == [1.25]
    with pytest.raises(ClientError) as e:
        q.put_metric_data(Namespace="AWS/X", MetricData=[{"MetricName": "x", "Value": 1}])
    assert code_of(e) == "InvalidParameterValue"
    assert e.value.response["Error"]["Type"] == "Sender"
    # data written over one protocol reads back over the other
    assert cw.list_metrics(Namespace="Legacy")["Metrics"][0]["MetricName"] == "Jobs"


# -------------------------------------------------------------------- the in-process sink

LB = "net/web/50dc6c495c0c9188"
TG = "targetgroup/web-tg/6d0ecf831eec9f09"


def feed_flows(server):
    sink = server.app.runtime.hooks["metrics"]
    lb = {"LoadBalancer": LB}
    lb_az = {"LoadBalancer": LB, "AvailabilityZone": "us-east-1a"}
    new_flows = sink.counters(PROVIDER, "us-east-1", "AWS/NetworkELB", "NewFlowCount", [lb, lb_az])
    active = sink.gauges(PROVIDER, "us-east-1", "AWS/NetworkELB", "ActiveFlowCount", [lb, lb_az])
    for _ in range(3):
        new_flows.add(1)
        active.move(+1)
    for dims in (lb, lb_az):
        processed = sink.counter(
            PROVIDER, "us-east-1", "AWS/NetworkELB", "ProcessedBytes", dims, "Bytes"
        )
        processed.add(1000)
        processed.add(500)
    peak = sink.counter(
        PROVIDER, "us-east-1", "AWS/NetworkELB", "PeakBytesPerSecond", lb, "Bytes/Second"
    )
    peak.observe(900)
    peak.observe(300)
    sink.gauge_set(PROVIDER, "us-east-1", "AWS/NetworkELB", "HealthyHostCount",
                   {"LoadBalancer": LB, "TargetGroup": TG}, 2)  # fmt: skip
    sink.add(CONSUMER, "us-east-1", "AWS/PrivateLinkEndpoints", "BytesProcessed",
             {"Endpoint Type": "Interface", "Service Name": "com.amazonaws.vpce.us-east-1.vpce-svc-1",
              "VPC Endpoint Id": "vpce-1", "VPC Id": "vpc-1"}, 1500, "Bytes")  # fmt: skip
    return sink


def test_sink_feeds_get_metric_statistics(server, cw, clients):
    sink = server.call(feed_flows, server)
    server.call(sink.flush)
    # two flows close; the next sample sees one flow open
    server.call(
        sink.gauge_add,
        PROVIDER,
        "us-east-1",
        "AWS/NetworkELB",
        "ActiveFlowCount",
        {"LoadBalancer": LB},
        -2,
    )
    server.call(sink.flush)
    now = utcnow()

    def get(name, dims, st, account_cw=cw):
        return account_cw.get_metric_statistics(
            Namespace="AWS/NetworkELB", MetricName=name, Dimensions=dims,
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
            Period=300, Statistics=st,
        )["Datapoints"]  # fmt: skip

    lb = [{"Name": "LoadBalancer", "Value": LB}]
    (active,) = get("ActiveFlowCount", lb, ["Average", "Maximum", "Minimum", "SampleCount"])
    assert (active["Maximum"], active["Minimum"], active["SampleCount"]) == (3, 1, 2)
    assert active["Average"] == 2
    (new,) = get("NewFlowCount", lb, ["Sum"])
    assert new["Sum"] == 3 and new["Unit"] == "Count"
    (processed,) = get("ProcessedBytes", lb, ["Sum"])
    assert processed["Sum"] == 1500 and processed["Unit"] == "Bytes"
    (zonal,) = get(
        "ProcessedBytes", lb + [{"Name": "AvailabilityZone", "Value": "us-east-1a"}], ["Sum"]
    )
    assert zonal["Sum"] == 1500
    (healthy,) = get("HealthyHostCount", lb + [{"Name": "TargetGroup", "Value": TG}], ["Maximum"])
    assert healthy["Maximum"] == 2
    (peak,) = get("PeakBytesPerSecond", lb, ["Maximum"])
    assert peak["Maximum"] == 900 and peak["Unit"] == "Bytes/Second"
    names = {
        (m["MetricName"], len(m["Dimensions"]))
        for m in cw.list_metrics(Namespace="AWS/NetworkELB")["Metrics"]
    }
    assert names == {("NewFlowCount", 1), ("NewFlowCount", 2), ("ActiveFlowCount", 1), ("ActiveFlowCount", 2),
                     ("ProcessedBytes", 1), ("ProcessedBytes", 2), ("HealthyHostCount", 2),
                     ("PeakBytesPerSecond", 1)}  # fmt: skip
    # the consumer's endpoint metrics belong to the consumer's account
    consumer = clients("cloudwatch", account=CONSUMER)
    (ep,) = consumer.list_metrics(Namespace="AWS/PrivateLinkEndpoints")["Metrics"]
    assert {d["Name"] for d in ep["Dimensions"]} == {
        "Endpoint Type",
        "Service Name",
        "VPC Endpoint Id",
        "VPC Id",
    }
    assert cw.list_metrics(Namespace="AWS/PrivateLinkEndpoints")["Metrics"] == []


def test_prometheus_exposition(server):
    sink = server.call(feed_flows, server)
    with urllib.request.urlopen(server.endpoint_url + "/_privlink/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    lines = text.splitlines()
    assert "# TYPE aws_networkelb_processed_bytes counter" in lines
    assert "# TYPE aws_networkelb_active_flow_count gauge" in lines
    assert any(line.startswith("# HELP aws_networkelb_new_flow_count ") for line in lines)
    assert (
        f'aws_networkelb_processed_bytes{{account="{PROVIDER}",load_balancer="{LB}",'
        'region="us-east-1"} 1500' in lines
    )
    assert (
        f'aws_networkelb_active_flow_count{{account="{PROVIDER}",availability_zone="us-east-1a",'
        f'load_balancer="{LB}",region="us-east-1"}} 3' in lines
    )
    assert any(
        line.startswith("aws_privatelinkendpoints_bytes_processed{")
        and 'vpc_endpoint_id="vpce-1"' in line
        and 'endpoint_type="Interface"' in line
        for line in lines
    )
    assert (
        f'aws_networkelb_healthy_host_count{{account="{PROVIDER}",load_balancer="{LB}",region="us-east-1",target_group="{TG}"}} 2'
        in lines
    )
    # counters keep counting across flushes; a removed gauge disappears
    server.call(sink.flush)
    server.call(
        sink.add,
        PROVIDER,
        "us-east-1",
        "AWS/NetworkELB",
        "ProcessedBytes",
        {"LoadBalancer": LB},
        500,
        "Bytes",
    )
    server.call(sink.gauge_remove, PROVIDER, "us-east-1", "AWS/NetworkELB", "HealthyHostCount",
                {"LoadBalancer": LB, "TargetGroup": TG})  # fmt: skip
    # the conventional scrape path serves the same exposition
    with urllib.request.urlopen(server.endpoint_url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert (
        f'aws_networkelb_processed_bytes{{account="{PROVIDER}",load_balancer="{LB}",region="us-east-1"}} 2000'
        in text
    )
    assert "healthy_host_count{" not in text


def test_idle_gauges_stop_reporting(server):
    sink = server.app.runtime.hooks["metrics"]
    active = server.call(
        sink.gauge, PROVIDER, "us-east-1", "AWS/NetworkELB", "ActiveFlowCount", {"LoadBalancer": LB}
    )

    def samples():
        return sum(b[0] for (s, _), b in sink._pending.items() if s is active)

    server.call(active.move, 1)
    server.call(active.move, -1)
    server.call(sink.harvest)  # one zero sample, so graphs come down to zero ...
    assert active.live and samples() == 1
    server.call(sink.harvest)  # ... then nothing while there is no traffic
    assert not active.live and samples() == 1
    server.call(active.move, 1)  # the next flow brings it back
    server.call(sink.harvest)
    assert active.live and samples() == 2


def test_periodic_flush_and_metric_durability(tmp_path):
    settings = make_settings(ephemeral=False, state_dir=str(tmp_path))
    settings.timing.metrics_flush_interval = 0.1
    with EmbeddedPrivlink(settings) as pl:
        cw = Clients(pl.endpoint_url)("cloudwatch")
        sink = pl.app.runtime.hooks["metrics"]
        pl.call(
            sink.add,
            PROVIDER,
            "us-east-1",
            "AWS/NetworkELB",
            "NewFlowCount",
            {"LoadBalancer": LB},
            5,
        )
        deadline = time.time() + 10
        while time.time() < deadline and not cw.list_metrics(Namespace="AWS/NetworkELB")["Metrics"]:
            time.sleep(0.05)
        assert cw.list_metrics(Namespace="AWS/NetworkELB")["Metrics"]
        cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Orders", "Value": 7}])
        # counted after the last flush: written by the final flush at shutdown
        pl.call(
            sink.add,
            PROVIDER,
            "us-east-1",
            "AWS/NetworkELB",
            "NewFlowCount",
            {"LoadBalancer": LB},
            1,
        )
        settings.timing.metrics_flush_interval = 3600
    with EmbeddedPrivlink(settings) as pl:
        cw = Clients(pl.endpoint_url)("cloudwatch")
        now = utcnow()
        window = dict(
            StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=1),
            Period=300,
        )
        (orders,) = cw.get_metric_statistics(
            Namespace="Shop", MetricName="Orders", Statistics=["Sum"], **window
        )["Datapoints"]
        assert orders["Sum"] == 7
        (flows,) = cw.get_metric_statistics(
            Namespace="AWS/NetworkELB", MetricName="NewFlowCount", Dimensions=[{"Name": "LoadBalancer", "Value": LB}],
            Statistics=["Sum"], **window,
        )["Datapoints"]  # fmt: skip
        assert flows["Sum"] == 6


def test_metric_retention(server, cw):
    old = utcnow() - dt.timedelta(days=3)
    cw.put_metric_data(
        Namespace="Shop", MetricData=[{"MetricName": "Old", "Value": 1, "Timestamp": old}]
    )
    window = dict(
        StartTime=old - dt.timedelta(minutes=5), EndTime=old + dt.timedelta(minutes=5), Period=600
    )
    assert cw.get_metric_statistics(
        Namespace="Shop", MetricName="Old", Statistics=["Sum"], **window
    )["Datapoints"]
    server.app.settings.metric_retention_days = 2
    assert (
        cw.get_metric_statistics(Namespace="Shop", MetricName="Old", Statistics=["Sum"], **window)[
            "Datapoints"
        ]
        == []
    )

    from privlink.telemetry import metricstore

    def rows():
        return server.app.store.side.scalar(
            metricstore.METRICS, "SELECT COUNT(*) FROM metric_points"
        )

    assert server.call(rows) == 1
    server.call(metricstore.prune, server.app.store, time.time(), 2, 3)
    assert server.call(rows) == 0
