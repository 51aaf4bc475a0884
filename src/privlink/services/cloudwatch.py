"""CloudWatch metrics (``cloudwatch``, signing name ``monitoring``): PutMetricData,
ListMetrics, GetMetricStatistics, GetMetricData.

The same handlers serve JSON 1.0 (current botocore, ``GraniteServiceVersion20100801.<Op>``
with the query-compatible error header) and the query protocol older clients send.
Storage: :mod:`privlink.telemetry.metricstore`; metrics the data plane and health checks
publish reach the same store through :mod:`privlink.telemetry.sink`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math

from ..api.errors import AwsError
from ..telemetry import metricstore
from ..telemetry.metricmath import (
    BASIC,
    MathError,
    UnknownId,
    aggregate,
    evaluate,
    parse_percentile,
    statistic,
)
from ..telemetry.metricstore import HIGH, STANDARD, Bucket, Datum, dims_key, hist_bin
from .base import RequestContext, operation

INVALID = "InvalidParameterValue"
COMBINATION = "InvalidParameterCombination"
MISSING = "MissingParameter"
UNITS = (
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
)  # fmt: skip
VALUE_LIMIT = 2.0**360
MAX_METRIC_DATA = 1000
MAX_VALUES = 150
MAX_DIMENSIONS = 30
MAX_DATAPOINTS = 1440
LIST_PAGE = 500
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
TWO_WEEKS = 14 * 86400
TWO_HOURS = 2 * 3600
THREE_HOURS = 3 * 3600


def _ts(value) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(text: str, code: str = "InvalidNextToken") -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise AwsError(code, "The service returned an invalid token. Check the NextToken value.")
    return data


def _check_text(value: str, where: str, lo: int, hi: int) -> None:
    if not lo <= len(value) <= hi:
        raise AwsError(
            INVALID,
            f"The parameter {where} must be between {lo} and {hi} characters long.",
        )
    if any(ord(c) < 32 or ord(c) > 126 for c in value):
        raise AwsError(INVALID, f"The value for parameter {where} contains non-ASCII characters.")


def _check_namespace(ns: str, where: str = "Namespace", user_data: bool = False) -> None:
    _check_text(ns, where, 1, 255)
    if ns.startswith(":"):
        raise AwsError(INVALID, f"The value {ns} for parameter {where} is invalid.")
    if user_data and ns.startswith("AWS/"):
        raise AwsError(INVALID, f"The value AWS/ for parameter {where} is invalid.")


def _dimensions(dims: list[dict] | None, where: str, need_values: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    dims = dims or []
    if len(dims) > MAX_DIMENSIONS:
        raise AwsError(
            INVALID,
            f"The collection {where} must not have a size greater than {MAX_DIMENSIONS}.",
        )
    for i, d in enumerate(dims, 1):
        name = d.get("Name")
        if name is None:
            raise AwsError(MISSING, f"The parameter {where}.member.{i}.Name is required.")
        _check_text(name, f"{where}.member.{i}.Name", 1, 255)
        if not name.strip() or name.startswith(":"):
            raise AwsError(
                INVALID, f"The value {name} for parameter {where}.member.{i}.Name is invalid."
            )
        value = d.get("Value")
        if value is None:
            if need_values:
                raise AwsError(MISSING, f"The parameter {where}.member.{i}.Value is required.")
        else:
            _check_text(value, f"{where}.member.{i}.Value", 1, 1024)
            if not value.strip():
                raise AwsError(
                    INVALID, f"The value for parameter {where}.member.{i}.Value is invalid."
                )
        if name in out:
            raise AwsError(
                INVALID, f"No metric may have duplicate dimension names: {where} has {name} twice."
            )
        out[name] = value
    return out


def _check_value(v: float, where: str) -> float:
    if (
        math.isnan(v)
        or math.isinf(v)
        or abs(v) > VALUE_LIMIT
        or (v != 0 and abs(v) < 1 / VALUE_LIMIT)
    ):
        raise AwsError(INVALID, f"The value {_show(v)} for parameter {where} is invalid.")
    return v


def _show(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _check_unit(unit: str | None, where: str) -> str:
    if unit is None:
        return "None"
    if unit not in UNITS:
        raise AwsError(INVALID, f"The value {unit} for parameter {where} is invalid.")
    return unit


# --------------------------------------------------------------------------- PutMetricData


def _datum(ctx: RequestContext, ns: str, d: dict, where: str) -> Datum:
    name = d.get("MetricName")
    if name is None:
        raise AwsError(MISSING, f"The parameter {where}.MetricName is required.")
    _check_text(name, f"{where}.MetricName", 1, 255)
    dims = _dimensions(d.get("Dimensions"), f"{where}.Dimensions")
    unit = _check_unit(d.get("Unit"), f"{where}.Unit")
    res = d.get("StorageResolution", STANDARD)
    if res not in (HIGH, STANDARD):
        raise AwsError(
            INVALID, f"The value {res} for parameter {where}.StorageResolution is invalid."
        )
    ts = _ts(d["Timestamp"]) if d.get("Timestamp") is not None else ctx.now
    if ts < ctx.now - TWO_WEEKS:
        raise AwsError(
            INVALID,
            f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past.",
        )
    if ts > ctx.now + TWO_HOURS:
        raise AwsError(
            INVALID,
            f"The parameter {where}.Timestamp must specify a time no more than two hours in the future.",
        )
    value, values, counts, sset = (
        d.get("Value"),
        d.get("Values"),
        d.get("Counts"),
        d.get("StatisticValues"),
    )
    given = [
        k
        for k, v in (("Value", value), ("StatisticValues", sset), ("Values", values))
        if v is not None
    ]
    if len(given) > 1:
        raise AwsError(
            COMBINATION,
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive "
            "and you have specified both.",
        )
    if not given:
        raise AwsError(
            MISSING,
            f"At least one of the parameters {where}.Value, {where}.StatisticValues or "
            f"{where}.Values must be specified.",
        )
    if counts is not None and values is None:
        raise AwsError(COMBINATION, f"The parameter {where}.Counts requires {where}.Values.")
    hist: dict[int, float] | None = {}
    if value is not None:
        v = _check_value(value, f"{where}.Value")
        stats = Bucket(1.0, v, v, v)
        b = hist_bin(v)
        hist = {b: 1.0} if b is not None else None
    elif sset is not None:
        n = _check_value(sset["SampleCount"], f"{where}.StatisticValues.SampleCount")
        s = _check_value(sset["Sum"], f"{where}.StatisticValues.Sum")
        lo = _check_value(sset["Minimum"], f"{where}.StatisticValues.Minimum")
        hi = _check_value(sset["Maximum"], f"{where}.StatisticValues.Maximum")
        if n <= 0:
            raise AwsError(
                INVALID,
                f"The value {_show(n)} for parameter {where}.StatisticValues.SampleCount is invalid.",
            )
        if lo > hi:
            raise AwsError(
                INVALID,
                f"The parameter {where}.StatisticValues.Maximum must be greater than "
                f"{where}.StatisticValues.Minimum.",
            )
        stats = Bucket(n, s, lo, hi)
        b = hist_bin(lo) if lo == hi else None
        hist = {b: n} if b is not None else None
    else:
        if len(values) > MAX_VALUES:
            raise AwsError(
                INVALID,
                f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.",
            )
        if counts is not None and len(counts) != len(values):
            raise AwsError(
                INVALID,
                f"The parameters {where}.Values and {where}.Counts must be of the same size.",
            )
        if not values:
            raise AwsError(INVALID, f"The parameter {where}.Values must not be empty.")
        counts = counts if counts is not None else [1.0] * len(values)
        stats = None
        for i, (v, c) in enumerate(zip(values, counts, strict=True), 1):
            _check_value(v, f"{where}.Values.member.{i}")
            if c < 0 or math.isnan(c) or math.isinf(c):
                raise AwsError(
                    INVALID,
                    f"The value {_show(c)} for parameter {where}.Counts.member.{i} is invalid.",
                )
            if c == 0:
                continue
            part = Bucket(c, v * c, v, v)
            if stats is None:
                stats = part
            else:
                stats.merge(part)
            b = hist_bin(v)
            if hist is not None:
                if b is None:
                    hist = None
                else:
                    hist[b] = hist.get(b, 0.0) + c
        if stats is None:
            return None  # every count was zero: nothing to store
    return Datum(
        account=ctx.account,
        region=ctx.region,
        namespace=ns,
        name=name,
        dims=dims_key(dims),
        ts=ts,
        unit=unit,
        stats=stats,
        hist=hist or None,
        high_resolution=res == HIGH,
    )


@operation("cloudwatch")
def put_metric_data(ctx: RequestContext, params: dict) -> dict:
    ns = params["Namespace"]
    _check_namespace(ns, user_data=True)
    batches = []
    if params.get("MetricData") is not None:
        batches.append(("MetricData", params["MetricData"]))
    for i, e in enumerate(params.get("EntityMetricData") or [], 1):
        batches.append((f"EntityMetricData.member.{i}.MetricData", e.get("MetricData") or []))
    if not batches:
        raise AwsError(
            MISSING,
            "At least one of the parameters MetricData or EntityMetricData must be specified.",
        )
    total = sum(len(b) for _, b in batches)
    if total > MAX_METRIC_DATA:
        raise AwsError(
            INVALID,
            f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}.",
        )
    data = []
    for where, items in batches:
        for i, d in enumerate(items, 1):
            datum = _datum(ctx, ns, d, f"{where}.member.{i}")
            if datum is not None:
                data.append(datum)
    metricstore.write(ctx.tx, data, ctx.now)
    return {}


# ----------------------------------------------------------------------------- ListMetrics


@operation("cloudwatch")
def list_metrics(ctx: RequestContext, params: dict) -> dict:
    ns, name = params.get("Namespace"), params.get("MetricName")
    if ns is not None:
        _check_namespace(ns)
    if name is not None:
        _check_text(name, "MetricName", 1, 255)
    filters = params.get("Dimensions") or []
    if len(filters) > 10:
        raise AwsError(INVALID, "The collection Dimensions must not have a size greater than 10.")
    wanted = _dimensions(filters, "Dimensions", need_values=False)
    recent = params.get("RecentlyActive")
    if recent is not None and recent != "PT3H":
        raise AwsError(INVALID, f"The value {recent} for parameter RecentlyActive is invalid.")
    since = ctx.now - (THREE_HOURS if recent else TWO_WEEKS)
    series = [
        s
        for s in metricstore.list_series(ctx.store, ctx.account, ctx.region, ns, name)
        if s.last_put >= since
    ]
    if wanted:

        def ok(s) -> bool:
            have = dict(s.dims)
            return all(k in have and (v is None or have[k] == v) for k, v in wanted.items())

        series = [s for s in series if ok(s)]
    series.sort(key=lambda s: (s.namespace, s.name, s.dims))
    start = 0
    if params.get("NextToken"):
        start = _untoken(params["NextToken"]).get("offset")
        if not isinstance(start, int) or start < 0:
            raise AwsError(
                "InvalidNextToken",
                "The service returned an invalid token. Check the NextToken value.",
            )
    page = series[start : start + LIST_PAGE]
    out: dict = {
        "Metrics": [
            {
                "Namespace": s.namespace,
                "MetricName": s.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in s.dims],
            }
            for s in page
        ]
    }
    if start + LIST_PAGE < len(series):
        out["NextToken"] = _token({"offset": start + LIST_PAGE})
    return out


# ---------------------------------------------------------------------- statistics queries


def _check_period(period: int, where: str) -> int:
    if period <= 0 or (period % 60 and period not in HIGH_RES_PERIODS):
        raise AwsError(
            INVALID,
            f"The parameter {where} must be 1, 5, 10, 20, 30, 60, or any multiple of 60.",
        )
    return period


def _window(ctx: RequestContext, params: dict, period: int) -> tuple[int, int]:
    start, end = _ts(params["StartTime"]), _ts(params["EndTime"])
    if start >= end:
        raise AwsError(INVALID, "The parameter StartTime must be less than the parameter EndTime.")
    # AWS rounds the start down: to the minute (periods of a minute or more), else to the period
    step = 60 if period >= 60 else period
    return int(start // step * step), math.ceil(end)


def _points(ctx, ns, name, dims, period, start, end, unit, with_hist):
    """The stored buckets a query reads: one-second buckets for periods under a minute,
    one-minute buckets otherwise, within their retention."""
    if period < 60:
        res, keep = HIGH, ctx.settings.metric_high_resolution_retention_hours * 3600
    else:
        res, keep = STANDARD, ctx.settings.metric_retention_days * 86400
    floor = int(ctx.now - keep) // res * res
    return metricstore.read_points(
        ctx.store, ctx.account, ctx.region, ns, name, dims,
        res=res, start=max(start, floor), end=end, unit=unit, with_hist=with_hist,
    )  # fmt: skip


@operation("cloudwatch")
def get_metric_statistics(ctx: RequestContext, params: dict) -> dict:
    ns, name = params["Namespace"], params["MetricName"]
    _check_namespace(ns)
    _check_text(name, "MetricName", 1, 255)
    dims = dims_key(_dimensions(params.get("Dimensions"), "Dimensions"))
    stats, ext = params.get("Statistics"), params.get("ExtendedStatistics")
    if stats and ext:
        raise AwsError(
            COMBINATION, "Must specify either Statistics or ExtendedStatistics, but not both."
        )
    if not stats and not ext:
        raise AwsError(MISSING, "Must specify either Statistics or ExtendedStatistics.")
    for i, s in enumerate(stats or [], 1):
        if s not in BASIC:
            raise AwsError(
                INVALID, f"The value {s} for parameter Statistics.member.{i} is invalid."
            )
    for i, s in enumerate(ext or [], 1):
        if parse_percentile(s) is None:
            raise AwsError(
                INVALID,
                f"The value {s} for parameter ExtendedStatistics.member.{i} is invalid; "
                "specify a percentile between p0.0 and p100.",
            )
    if stats and len(stats) > 5 or ext and len(ext) > 10:
        raise AwsError(INVALID, "Too many statistics requested.")
    period = _check_period(params["Period"], "Period")
    unit = params.get("Unit")
    if unit is not None:
        _check_unit(unit, "Unit")
    start, end = _window(ctx, params, period)
    wanted = math.ceil((end - start) / period)
    if wanted > MAX_DATAPOINTS:
        raise AwsError(
            COMBINATION,
            f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
            f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing "
            "Period, or decreasing the time range.",
        )
    points = _points(ctx, ns, name, dims, period, start, end, unit, with_hist=bool(ext))
    periods = aggregate(points, start, period, by_unit=True)
    datapoints = []
    for (ts, u), p in sorted(periods.items()):
        dp: dict = {"Timestamp": float(ts), "Unit": u}
        for s in stats or []:
            dp[s] = statistic(p, s)
        if ext:
            values = {s: statistic(p, s) for s in ext}
            dp["ExtendedStatistics"] = {k: v for k, v in values.items() if v is not None}
        datapoints.append(dp)
    return {"Label": name, "Datapoints": datapoints}


def _query_error(message: str) -> AwsError:
    return AwsError("ValidationError", message)


@operation("cloudwatch")
def get_metric_data(ctx: RequestContext, params: dict) -> dict:
    queries = params["MetricDataQueries"]
    if not queries:
        raise _query_error("The parameter MetricDataQueries must not be empty.")
    if len(queries) > 500:
        raise _query_error(
            "The collection MetricDataQueries must not have a size greater than 500."
        )
    scan = params.get("ScanBy") or "TimestampDescending"
    if scan not in ("TimestampDescending", "TimestampAscending"):
        raise AwsError(INVALID, f"The value {scan} for parameter ScanBy is invalid.")
    max_points = params.get("MaxDatapoints") or 100_800
    if max_points < 1:
        raise AwsError(INVALID, "The parameter MaxDatapoints must be greater than 0.")
    ids = set()
    for i, q in enumerate(queries, 1):
        qid = q["Id"]
        if not (qid[:1].islower() and qid.replace("_", "a").isalnum() and qid.isascii()):
            raise _query_error(
                f"Invalid metric data query id '{qid}': the first character must be a lowercase "
                "letter, then letters, numbers and underscores."
            )
        if qid in ids:
            raise _query_error(f"The value {qid} for field Id is used more than once.")
        ids.add(qid)
        if (q.get("MetricStat") is None) == (q.get("Expression") is None):
            raise _query_error(
                f"The parameter MetricDataQueries.member.{i} must specify either Expression or "
                "MetricStat, but not both."
            )
    # every MetricStat first, then expressions in dependency order
    env: dict[str, dict[int, float]] = {}
    labels: dict[str, str] = {}
    results: dict[str, dict] = {}
    for i, q in enumerate(queries, 1):
        ms = q.get("MetricStat")
        if ms is None:
            continue
        where = f"MetricDataQueries.member.{i}.MetricStat"
        metric = ms["Metric"]
        ns, name = metric.get("Namespace"), metric.get("MetricName")
        if ns is None or name is None:
            raise AwsError(
                MISSING, f"The parameter {where}.Metric must have a Namespace and a MetricName."
            )
        _check_namespace(ns, f"{where}.Metric.Namespace")
        dims = dims_key(_dimensions(metric.get("Dimensions"), f"{where}.Metric.Dimensions"))
        stat = ms["Stat"]
        if stat not in BASIC and parse_percentile(stat) is None:
            raise _query_error(
                f"The statistic {stat} in {where}.Stat is not supported by privlink "
                "(use SampleCount, Average, Sum, Minimum, Maximum or pNN)."
            )
        period = _check_period(ms["Period"], f"{where}.Period")
        unit = ms.get("Unit")
        if unit is not None:
            _check_unit(unit, f"{where}.Unit")
        start, end = _window(ctx, params, period)
        points = _points(ctx, ns, name, dims, period, start, end, unit, with_hist=stat not in BASIC)
        series = {}
        for (ts, _u), p in aggregate(points, start, period, by_unit=False).items():
            v = statistic(p, stat)
            if v is not None:
                series[ts] = v
        env[q["Id"]] = series
        labels[q["Id"]] = q.get("Label") or name
        results[q["Id"]] = {"series": series, "label": labels[q["Id"]]}
    pending = [q for q in queries if q.get("Expression") is not None]
    for _ in range(len(pending) + 1):
        if not pending:
            break
        progressed = False
        for q in list(pending):
            try:
                value = evaluate(q["Expression"], env, labels)
            except UnknownId as e:
                if any(p["Id"] == e.name for p in pending):
                    continue  # depends on an expression not evaluated yet
                raise _query_error(f"Error in expression '{q['Id']}': {e}") from None
            except MathError as e:
                raise _query_error(f"Error in expression '{q['Id']}': {e}") from None
            if isinstance(value, float):
                stamps = sorted({t for s in env.values() for t in s})
                value = {t: value for t in stamps}
            env[q["Id"]] = value
            results[q["Id"]] = {"series": value, "label": q.get("Label") or q["Id"]}
            pending.remove(q)
            progressed = True
        if not progressed:
            raise _query_error(
                f"Error in expression '{pending[0]['Id']}': it refers to an unknown id or to itself."
            )
    # page the datapoints of the queries that return data, in query order
    offset = 0
    if params.get("NextToken"):
        offset = _untoken(params["NextToken"]).get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise AwsError(
                "InvalidNextToken",
                "The service returned an invalid token. Check the NextToken value.",
            )
    budget = max_points
    skipped = 0
    out_results = []
    more = False
    for q in queries:
        if q.get("ReturnData") is False:
            continue
        r = results[q["Id"]]
        stamps = sorted(r["series"], reverse=scan == "TimestampDescending")
        take_from = max(0, min(len(stamps), offset - skipped))
        skipped += len(stamps)
        chosen = stamps[take_from : take_from + budget]
        budget -= len(chosen)
        partial = take_from + len(chosen) < len(stamps)
        more = more or partial
        out_results.append(
            {
                "Id": q["Id"],
                "Label": r["label"],
                "Timestamps": [float(t) for t in chosen],
                "Values": [r["series"][t] for t in chosen],
                "StatusCode": "PartialData" if partial else "Complete",
            }
        )
    out: dict = {"MetricDataResults": out_results, "Messages": []}
    if more:
        out["NextToken"] = _token({"offset": offset + max_points})
    return out
