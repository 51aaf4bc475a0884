"""CloudWatch Logs (json 1.1, ``Logs_20140328``): log groups, streams, events, retention,
tags, and FilterLogEvents with the documented filter-pattern syntax.

Storage lives in :mod:`privlink.telemetry.logstore` (events in side tables, appended in
the API call's transaction); filter patterns in :mod:`privlink.telemetry.filterpattern`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from ..api.errors import AwsError
from ..telemetry.filterpattern import FilterPatternError, compile_pattern
from ..telemetry.logstore import (
    DAY_MS,
    EVENT_OVERHEAD,
    RETENTION_DAYS,
    LogGroup,
    LogStream,
    delete_group_events,
    delete_stream_events,
    group_arn,
    new_group,
    new_stream,
    read_stream,
    retention_cutoff,
    scan_group,
    store_events,
    stored_bytes,
    stream_arn,
    streams_of,
)
from .base import RequestContext, operation
from .validation import check_constraints

INVALID = "InvalidParameterException"
NOT_FOUND = "ResourceNotFoundException"
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
MAX_PAGE_BYTES = 1_048_576
FUTURE_LIMIT_MS = 2 * 3600 * 1000
PAST_LIMIT_MS = 14 * DAY_MS
MAX_SPAN_MS = DAY_MS
MAX_TAGS = 50
FILTER_SCAN_BATCH = 2000
# rows examined per FilterLogEvents call before it answers with a nextToken (AWS pages
# partially full or empty results too): bounds how long one call holds the event loop
FILTER_SCAN_BUDGET = 20_000


def _now_ms(ctx: RequestContext) -> int:
    return int(ctx.now * 1000)


def _validate(ctx: RequestContext, params: dict) -> None:
    check_constraints("logs", ctx.operation, params, INVALID)


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(text: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise AwsError(INVALID, "The specified nextToken is invalid.")
    return data


# ------------------------------------------------------------------------------ lookups


def _group_by_name(ctx: RequestContext, name: str) -> LogGroup:
    g = ctx.tx.get(LogGroup, group_arn(ctx.account, ctx.region, name))
    if g is None:
        raise AwsError(NOT_FOUND, "The specified log group does not exist.")
    return g


_GROUP_ARN = re.compile(
    r"^arn:aws[\w-]*:logs:([\w-]+):(\d{12}):log-group:([\.\-_/#A-Za-z0-9]+?)(:\*)?$"
)


def _group_from_arn(ctx: RequestContext, arn: str) -> LogGroup:
    m = _GROUP_ARN.match(arn)
    if not m:
        raise AwsError(INVALID, f"Invalid ARN: {arn}")
    region, account, name = m.group(1), m.group(2), m.group(3)
    g = ctx.tx.get(LogGroup, group_arn(account, region, name))
    if g is None or account != ctx.account:
        raise AwsError(NOT_FOUND, "The specified log group does not exist.")
    return g


def _group_of(ctx: RequestContext, params: dict) -> LogGroup:
    """The log group named by logGroupName or logGroupIdentifier (exactly one)."""
    name, ident = params.get("logGroupName"), params.get("logGroupIdentifier")
    if (name is None) == (ident is None):
        raise AwsError(
            INVALID, "Exactly one of logGroupName or logGroupIdentifier must be specified."
        )
    if name is not None:
        return _group_by_name(ctx, name)
    if ident.startswith("arn:"):
        return _group_from_arn(ctx, ident)
    return _group_by_name(ctx, ident)


def _stream(ctx: RequestContext, group: LogGroup, name: str) -> LogStream:
    s = ctx.tx.get(LogStream, stream_arn(group.id, name))
    if s is None:
        raise AwsError(NOT_FOUND, "The specified log stream does not exist.")
    return s


def _check_tags(tags: dict, existing: dict | None = None, code: str = INVALID) -> None:
    merged = dict(existing or {})
    merged.update(tags)
    if len(merged) > MAX_TAGS:
        raise AwsError(code, f"A resource can have no more than {MAX_TAGS} tags.")
    for k in tags:
        if k.lower().startswith("aws:"):
            raise AwsError(INVALID, "Tag keys that start with 'aws:' are reserved.")


# --------------------------------------------------------------------------- log groups


@operation("logs")
def create_log_group(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    name = params["logGroupName"]
    if name.startswith("aws/"):
        raise AwsError(INVALID, "Log group names can't start with the string aws/.")
    gid = group_arn(ctx.account, ctx.region, name)
    if ctx.tx.get(LogGroup, gid) is not None:
        raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists")
    tags = params.get("tags") or {}
    _check_tags(tags)
    ctx.tx.put(
        new_group(
            ctx.account,
            ctx.region,
            name,
            _now_ms(ctx),
            kms_key_id=params.get("kmsKeyId"),
            tags=dict(tags),
            log_group_class=params.get("logGroupClass") or "STANDARD",
            deletion_protection=bool(params.get("deletionProtectionEnabled")),
        )
    )
    return {}


@operation("logs")
def delete_log_group(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    if g.deletion_protection:
        raise AwsError(
            "ValidationException",
            f"Log group {g.name} cannot be deleted because deletion protection is enabled.",
        )
    for s in streams_of(ctx.tx, g):
        ctx.tx.delete(s)
    delete_group_events(ctx.tx, g)
    ctx.tx.delete(g)
    return {}


def _describe_group(ctx: RequestContext, g: LogGroup, brief: bool) -> dict:
    out = {"logGroupName": g.name, "creationTime": g.created_ms, "arn": g.id + ":*"}
    if brief:
        return out
    out.update(
        retentionInDays=g.retention_days,
        metricFilterCount=0,
        storedBytes=stored_bytes(ctx.store, g),
        kmsKeyId=g.kms_key_id,
        logGroupClass=g.log_group_class,
        logGroupArn=g.id,
        deletionProtectionEnabled=g.deletion_protection,
    )
    return out


@operation("logs")
def describe_log_groups(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    prefix = params.get("logGroupNamePrefix")
    pattern = params.get("logGroupNamePattern")
    idents = params.get("logGroupIdentifiers")
    if prefix is not None and pattern is not None:
        raise AwsError(
            INVALID,
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        )
    if idents is not None and (prefix is not None or pattern is not None):
        raise AwsError(
            INVALID,
            "logGroupIdentifiers cannot be combined with logGroupNamePrefix or "
            "logGroupNamePattern.",
        )
    groups = ctx.tx.owned(LogGroup, ctx.account, ctx.region)
    if prefix is not None:
        groups = [g for g in groups if g.name.startswith(prefix)]
    if pattern:
        groups = [g for g in groups if pattern in g.name]
    if idents is not None:
        wanted = set()
        for ident in idents:
            m = _GROUP_ARN.match(ident)
            wanted.add(m.group(3) if m and m.group(2) == ctx.account else ident)
        groups = [g for g in groups if g.name in wanted]
    if params.get("logGroupClass"):
        groups = [g for g in groups if g.log_group_class == params["logGroupClass"]]
    groups = sorted(groups, key=lambda g: g.name.encode())
    if params.get("nextToken"):
        after = _untoken(params["nextToken"]).get("after")
        if not isinstance(after, str):
            raise AwsError(INVALID, "The specified nextToken is invalid.")
        groups = [g for g in groups if g.name.encode() > after.encode()]
    limit = params.get("limit") or 50
    page, more = groups[:limit], len(groups) > limit
    out: dict = {"logGroups": [_describe_group(ctx, g, brief=bool(pattern)) for g in page]}
    if more:
        out["nextToken"] = _token({"after": page[-1].name})
    return out


@operation("logs")
def put_retention_policy(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise AwsError(
            INVALID,
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(str(d) for d in RETENTION_DAYS)}]",
        )
    g = _group_by_name(ctx, params["logGroupName"])
    ctx.tx.edit(g).retention_days = days
    return {}


@operation("logs")
def delete_retention_policy(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    ctx.tx.edit(g).retention_days = None
    return {}


# -------------------------------------------------------------------------------- tags


@operation("logs")
def tag_log_group(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    _check_tags(params["tags"], g.tags)
    ctx.tx.edit(g).tags.update(params["tags"])
    return {}


@operation("logs")
def untag_log_group(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    e = ctx.tx.edit(g)
    for k in params["tags"]:
        e.tags.pop(k, None)
    return {}


@operation("logs")
def list_tags_log_group(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    return {"tags": dict(_group_by_name(ctx, params["logGroupName"]).tags)}


def _tag_target(ctx: RequestContext, arn: str) -> LogGroup:
    if ":log-group:" not in arn:
        if re.match(r"^arn:aws[\w-]*:logs:[\w-]+:\d{12}:destination:", arn):
            raise AwsError(NOT_FOUND, "The specified resource does not exist.")
        raise AwsError(INVALID, f"Invalid ARN: {arn}")
    return _group_from_arn(ctx, arn)


@operation("logs")
def tag_resource(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _tag_target(ctx, params["resourceArn"])
    _check_tags(params["tags"], g.tags, code="TooManyTagsException")
    ctx.tx.edit(g).tags.update(params["tags"])
    return {}


@operation("logs")
def untag_resource(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _tag_target(ctx, params["resourceArn"])
    e = ctx.tx.edit(g)
    for k in params["tagKeys"]:
        e.tags.pop(k, None)
    return {}


@operation("logs")
def list_tags_for_resource(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    return {"tags": dict(_tag_target(ctx, params["resourceArn"]).tags)}


# -------------------------------------------------------------------------- log streams


@operation("logs")
def create_log_stream(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    name = params["logStreamName"]
    if ctx.tx.get(LogStream, stream_arn(g.id, name)) is not None:
        raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists")
    ctx.tx.put(new_stream(g, name, _now_ms(ctx)))
    return {}


@operation("logs")
def delete_log_stream(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_by_name(ctx, params["logGroupName"])
    s = _stream(ctx, g, params["logStreamName"])
    delete_stream_events(ctx.store, ctx.tx, g, s)
    ctx.tx.delete(s)
    return {}


def _describe_stream(s: LogStream) -> dict:
    return {
        "logStreamName": s.name,
        "creationTime": s.created_ms,
        "firstEventTimestamp": s.first_event_ms,
        "lastEventTimestamp": s.last_event_ms,
        "lastIngestionTime": s.last_ingestion_ms,
        "uploadSequenceToken": s.upload_sequence_token,
        "arn": s.id,
        "storedBytes": 0,  # AWS reports 0 for streams since 2019
    }


@operation("logs")
def describe_log_streams(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_of(ctx, params)
    order = params.get("orderBy") or "LogStreamName"
    prefix = params.get("logStreamNamePrefix")
    if order == "LastEventTime" and prefix is not None:
        raise AwsError(INVALID, "Cannot order by LastEventTime with a logStreamNamePrefix.")
    descending = bool(params.get("descending"))
    streams = streams_of(ctx.tx, g)
    if prefix is not None:
        streams = [s for s in streams if s.name.startswith(prefix)]

    def key(s: LogStream) -> list:
        if order == "LastEventTime":
            return [s.last_event_ms or 0, s.name]
        return [s.name]

    streams.sort(key=key, reverse=descending)
    if params.get("nextToken"):
        tok = _untoken(params["nextToken"])
        after = tok.get("after")
        if tok.get("order") != order or not isinstance(after, list):
            raise AwsError(INVALID, "The specified nextToken is invalid.")
        streams = [s for s in streams if (key(s) < after if descending else key(s) > after)]
    limit = params.get("limit") or 50
    page, more = streams[:limit], len(streams) > limit
    out: dict = {"logStreams": [_describe_stream(s) for s in page]}
    if more:
        out["nextToken"] = _token({"order": order, "after": key(page[-1])})
    return out


# ------------------------------------------------------------------------------ events


@operation("logs")
def put_log_events(ctx: RequestContext, params: dict) -> dict:
    check_constraints("logs", ctx.operation, params, INVALID, skip=("logEvents",))
    events = params["logEvents"]
    if not 1 <= len(events) <= 10000:
        raise AwsError(
            INVALID,
            f"1 validation error detected: Value '{len(events)}' at 'logEvents' failed to "
            "satisfy constraint: Member must have length between 1 and 10000",
        )
    g = _group_by_name(ctx, params["logGroupName"])
    s = _stream(ctx, g, params["logStreamName"])
    now = _now_ms(ctx)
    size = 0
    prev = None
    for i, ev in enumerate(events, 1):
        ts = ev["timestamp"]
        if ts < 0 or not ev["message"]:
            field = "timestamp" if ts < 0 else "message"
            raise AwsError(
                INVALID,
                f"1 validation error detected: Value '{ev[field]}' at "
                f"'logEvents.{i}.member.{field}' failed to satisfy constraint: Member must have "
                + (
                    "value greater than or equal to 0"
                    if ts < 0
                    else "length greater than or equal to 1"
                ),
            )
        if prev is not None and ts < prev:
            raise AwsError(
                INVALID,
                "Log events in a single PutLogEvents request must be in chronological order.",
            )
        prev = ts
        n = len(ev["message"].encode("utf-8", "surrogatepass"))
        if n > MAX_EVENT_BYTES:
            raise AwsError(
                INVALID, f"Log event too large: {n} bytes exceeds limit of {MAX_EVENT_BYTES}"
            )
        size += n + EVENT_OVERHEAD
    if size > MAX_BATCH_BYTES:
        raise AwsError(
            INVALID, f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )

    too_old_end = expired_end = None
    too_new_start = None
    cutoff = retention_cutoff(g, now)
    accepted: list[tuple[int, str]] = []
    for i, ev in enumerate(events):
        ts = ev["timestamp"]
        if ts > now + FUTURE_LIMIT_MS:
            if too_new_start is None:
                too_new_start = i
            continue
        if ts < now - PAST_LIMIT_MS:
            too_old_end = i + 1
            continue
        if cutoff is not None and ts < cutoff:
            expired_end = i + 1
            continue
        accepted.append((ts, ev["message"]))
    if accepted and accepted[-1][0] - accepted[0][0] > MAX_SPAN_MS:
        raise AwsError(
            INVALID,
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours.",
        )
    store_events(ctx.tx, g, s, accepted, now)
    out: dict = {"nextSequenceToken": f"{s.sequence + 1:056d}"}
    rejected = {
        "tooNewLogEventStartIndex": too_new_start,
        "tooOldLogEventEndIndex": too_old_end,
        "expiredLogEventEndIndex": expired_end,
    }
    if any(v is not None for v in rejected.values()):
        out["rejectedLogEventsInfo"] = rejected
    return out


# GetLogEvents tokens: f/ or b/, then 56 digits (timestamp + 1, 26 digits; event id, 30
# digits): the position just after (forward) or before (backward) the page returned.
_BEFORE_ALL = (-1, 0)
_STREAM_TOKEN = re.compile(r"^([fb])/(\d{26})(\d{30})(/s)?$")


def _stream_token(direction: str, pos: tuple[int, int]) -> str:
    return f"{direction}/{pos[0] + 1:026d}{pos[1]:030d}/s"


def _parse_stream_token(text: str) -> tuple[str, tuple[int, int]]:
    m = _STREAM_TOKEN.match(text)
    if not m:
        raise AwsError(INVALID, "The specified nextToken is invalid.")
    return m.group(1), (int(m.group(2)) - 1, int(m.group(3)))


def _cap_bytes(rows: list) -> list:
    total = 0
    for i, r in enumerate(rows):
        total += len(r.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
        if total > MAX_PAGE_BYTES and i > 0:
            return rows[:i]
    return rows


@operation("logs")
def get_log_events(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_of(ctx, params)
    s = _stream(ctx, g, params["logStreamName"])
    limit = params.get("limit") or 10000
    start, end = params.get("startTime"), params.get("endTime")
    cutoff = retention_cutoff(g, _now_ms(ctx))
    if cutoff is not None:
        start = cutoff if start is None else max(start, cutoff)
    token = params.get("nextToken")
    common = dict(start=start, end=end, limit=limit)
    if token:
        direction, pos = _parse_stream_token(token)
        if direction == "f":
            rows = _cap_bytes(read_stream(ctx.store, s, after=pos, **common))
        else:
            rows = _cap_bytes(read_stream(ctx.store, s, before=pos, newest_first=True, **common))
            rows.reverse()
    elif params.get("startFromHead"):
        direction, pos = "f", _BEFORE_ALL
        rows = _cap_bytes(read_stream(ctx.store, s, **common))
    else:
        direction, pos = "b", _BEFORE_ALL
        rows = _cap_bytes(read_stream(ctx.store, s, newest_first=True, **common))
        rows.reverse()
    if rows:
        fwd = _stream_token("f", (rows[-1].ts, rows[-1].id))
        bwd = _stream_token("b", (rows[0].ts, rows[0].id))
    else:
        # nothing (more) in that direction: hand back the position we were given
        fwd = token if token and direction == "f" else _stream_token("f", pos)
        bwd = token if token and direction == "b" else _stream_token("b", pos)
    return {
        "events": [
            {"timestamp": r.ts, "message": r.message, "ingestionTime": r.ingest} for r in rows
        ],
        "nextForwardToken": fwd,
        "nextBackwardToken": bwd,
    }


@operation("logs")
def filter_log_events(ctx: RequestContext, params: dict) -> dict:
    _validate(ctx, params)
    g = _group_of(ctx, params)
    names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise AwsError(
            INVALID, "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    try:
        matcher = compile_pattern(params.get("filterPattern"))
    except FilterPatternError as e:
        raise AwsError(INVALID, str(e)) from None
    streams = streams_of(ctx.tx, g)
    name_of = {s.key: s.name for s in streams}
    keys = None
    if names is not None:
        wanted = set(names)
        keys = [s.key for s in streams if s.name in wanted]
    elif prefix is not None:
        keys = [s.key for s in streams if s.name.startswith(prefix)]
    start, end = params.get("startTime"), params.get("endTime")
    cutoff = retention_cutoff(g, _now_ms(ctx))
    if cutoff is not None:
        start = cutoff if start is None else max(start, cutoff)
    limit = params.get("limit") or 10000
    after = None
    if params.get("nextToken"):
        tok = _untoken(params["nextToken"])
        pos = tok.get("after")
        if tok.get("group") != g.key or not (
            isinstance(pos, list) and len(pos) == 2 and all(isinstance(x, int) for x in pos)
        ):
            raise AwsError(INVALID, "The specified nextToken is invalid.")
        after = (pos[0], pos[1])
    events: list[dict] = []
    page_bytes = 0
    scanned = 0
    more = False
    while True:
        batch = scan_group(
            ctx.store, g, streams=keys, start=start, end=end, after=after, limit=FILTER_SCAN_BATCH
        )
        for row in batch:
            after = (row.ts, row.id)
            scanned += 1
            if not matcher.matches(row.message):
                continue
            page_bytes += len(row.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
            events.append(
                {
                    "logStreamName": name_of.get(row.stream, ""),
                    "timestamp": row.ts,
                    "message": row.message,
                    "ingestionTime": row.ingest,
                    "eventId": f"{row.id:056d}",
                }
            )
            if len(events) >= limit or page_bytes >= MAX_PAGE_BYTES:
                break
        if len(batch) < FILTER_SCAN_BATCH and (not batch or after == (batch[-1].ts, batch[-1].id)):
            break  # the range is exhausted
        if len(events) >= limit or page_bytes >= MAX_PAGE_BYTES or scanned >= FILTER_SCAN_BUDGET:
            more = True
            break
    out: dict = {"events": events, "searchedLogStreams": []}
    if more and after is not None:
        out["nextToken"] = _token({"group": g.key, "after": list(after)})
    return out
