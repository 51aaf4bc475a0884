"""Proof of the wire: botocore's own client serializers and parsers agree with privlink.

For every operation privlink serves (``privlink.services.HANDLERS``, so operations added
later are covered without touching this file), and for a fixed sample of operations of
each service it will serve, hypothesis generates values from the botocore shapes and checks:

* requests: botocore's client serializer -> bytes on the wire -> privlink's parser gives back
  the same parameters;
* responses: privlink's serializer -> botocore's client parser gives back the same dict;
* errors: privlink's error body -> botocore's parser gives the same code and message.

The only differences allowed are what the wire itself cannot carry; each is named in
:func:`expected_request` / :func:`expected_response`.
"""

from __future__ import annotations

import datetime as dt
import os
from urllib.parse import unquote, urlsplit

import botocore.awsrequest
import botocore.parsers
import botocore.serialize
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import HeadersDict
from botocore.credentials import Credentials
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privlink.api.catalog import SERVICES, load_model
from privlink.api.dispatch import Api
from privlink.api.errors import AwsError
from privlink.api.protocol import HttpRequest, HttpResponse
from privlink.api.sigv4 import read_signature, signature_matches
from privlink.config import Settings
from privlink.services import HANDLERS, load_services
from privlink.services.base import Runtime
from privlink.state import Store
from privlink.state.backend import MemoryBackend

from .shape_strategies import XML_TEXT_CHARS, ShapeStrategies, form_prune

UTC = dt.UTC
ENDPOINT = "http://127.0.0.1:4566"
ACCESS_KEY, SECRET_KEY = "AKIAWIRETEST00000001", "wire/test+secret"

# The protocols each service is spoken in. CloudWatch: current botocore uses JSON 1.0 with
# the query-compatible trait; older clients use query. privlink accepts both.
KINDS = {
    "ec2": ["ec2"],
    "elbv2": ["query"],
    "sts": ["query"],
    "sns": ["query"],
    "cloudwatch": ["json", "query"],
    "logs": ["json"],
    "route53": ["rest-xml"],
}

# Operations proven before their handlers exist, so the codecs are ready when they land.
SAMPLES = {
    "ec2": [
        "CreateVpcEndpoint",
        "DescribeVpcEndpoints",
        "CreateVpcEndpointServiceConfiguration",
        "DescribeSecurityGroups",
        "ModifyVpcEndpointServicePermissions",
    ],
    "elbv2": [
        "CreateLoadBalancer",
        "DescribeTargetHealth",
        "ModifyTargetGroupAttributes",
        "RegisterTargets",
    ],
    "sts": ["AssumeRole", "GetCallerIdentity"],
    "sns": ["Subscribe", "Publish", "GetTopicAttributes", "SetTopicAttributes"],
    "route53": ["ChangeResourceRecordSets", "ListResourceRecordSets", "CreateHostedZone"],
    "logs": ["FilterLogEvents", "PutLogEvents", "CreateLogGroup"],
    "cloudwatch": ["GetMetricData", "PutMetricData", "GetMetricStatistics", "DescribeAlarms"],
}

load_services()
SERVED = sorted(HANDLERS)


def _cases() -> list[tuple[str, str, str]]:
    ops = set(SERVED)
    for svc, names in SAMPLES.items():
        ops.update((svc, n) for n in names)
    if os.environ.get("PRIVLINK_WIRE_ALL_OPS") == "1":
        # a deep local run: every operation of every model (a few thousand tests)
        for svc in KINDS:
            model = load_model(svc)
            for n in model.operation_names:
                out = model.operation_model(n).output_shape
                if out is None or not out.event_stream_name:  # event streams: not served
                    ops.add((svc, n))
    return [(svc, kind, op) for svc, op in sorted(ops) for kind in KINDS[svc]]


CASES = _cases()
CASE_IDS = [f"{svc}-{kind}-{op}" for svc, kind, op in CASES]

# Deterministic and bounded: the same examples on every run (CI stability). To search
# harder locally: PRIVLINK_WIRE_EXAMPLES=500, and PRIVLINK_WIRE_ALL_OPS=1 for every
# operation of every model.
EXAMPLES = int(os.environ.get("PRIVLINK_WIRE_EXAMPLES", "60"))
wire_settings = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_privlink_serves_operations_and_every_one_is_covered():
    assert SERVED, "privlink serves no operations: load_services() found no handlers"
    covered = {(svc, op) for svc, _, op in CASES}
    assert set(SERVED) <= covered
    for svc, op in SERVED:
        assert svc in KINDS, f"{svc} has no wire protocol in this test"
        assert op in load_model(svc).operation_names


@pytest.fixture(scope="module")
def api() -> Api:
    return Api(Runtime(Settings(ephemeral=True), Store(MemoryBackend())))


# ---- the wire, as botocore clients produce and read it ---------------------------------


def botocore_request(
    kind: str, op: OperationModel, params: dict, precision: str, signing_name: str
) -> HttpRequest:
    """Serialise ``params`` exactly as a botocore client does and turn the bytes it would
    send into privlink's HttpRequest (as the HTTP edge does)."""
    serializer = botocore.serialize.create_serializer(kind, True, timestamp_precision=precision)
    request_dict = serializer.serialize_to_request(params, op)
    botocore.awsrequest.prepare_request_dict(request_dict, ENDPOINT)
    request = botocore.awsrequest.create_request_object(request_dict)
    # signed as the client signs it, before the request is prepared for sending
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), signing_name, "us-east-1").add_auth(request)
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers.setdefault("host", url.netloc)  # the HTTP client adds it
    return HttpRequest(
        method=prepared.method,
        path=unquote(url.path),
        query=url.query,
        headers=headers,
        body=body,
        raw_path=url.path,
    )


def botocore_parse(kind: str, resp: HttpResponse, shape: Shape | None) -> dict:
    parser = botocore.parsers.create_parser(kind)
    headers = HeadersDict(resp.headers)
    return parser.parse({"body": resp.body, "headers": headers, "status_code": resp.status}, shape)


# ---- what the wire can legitimately not carry -----------------------------------------


def _map_scalars(shape: Shape, value, fn):
    """Apply ``fn(shape, value)`` to every scalar in ``value``."""
    t = shape.type_name
    if t == "structure" and not shape.is_document_type:
        return {k: _map_scalars(shape.members[k], v, fn) for k, v in value.items()}
    if t == "list":
        return [_map_scalars(shape.member, v, fn) for v in value]
    if t == "map":
        return {fn(shape.key, k): _map_scalars(shape.value, v, fn) for k, v in value.items()}
    return fn(shape, value)


def _json_default_sends_whole_seconds() -> bool:
    """Older botocore sends JSON epoch timestamps as whole seconds at its default precision,
    newer releases keep milliseconds: ask the installed one."""
    import botocore.session

    ser = botocore.serialize.create_serializer("json", True)
    cw = (
        botocore.session.get_session()
        .get_service_model("cloudwatch")
        .operation_model("GetMetricStatistics")
    )
    req = ser.serialize_to_request(
        {
            "Namespace": "n",
            "MetricName": "m",
            "StartTime": dt.datetime(2000, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
            "EndTime": dt.datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC),
            "Period": 60,
        },
        cw,
    )
    import json as _json

    return isinstance(_json.loads(req["body"])["StartTime"], int)


JSON_WHOLE_SECONDS = _json_default_sends_whole_seconds()


def expected_request(kind: str, shape: Shape | None, params: dict, precision: str) -> dict:
    if shape is None:
        return {}
    value = params
    if kind in ("ec2", "query"):
        # ec2 sends an empty list, map or structure as nothing at all; query sends an empty
        # list as ``Name=`` (read back as []) and an empty map or structure as nothing.
        value = form_prune(shape, value, drop_empty_lists=kind == "ec2") or {}

    def scalar(s: Shape, v):
        if s.type_name == "timestamp":
            fmt = (s.serialization.get("timestampFormat") or "").lower()
            if (
                kind == "json"
                and precision == "default"
                and fmt in ("", "unixtimestamp")
                and JSON_WHOLE_SECONDS
            ):
                # this botocore's default precision sends epoch seconds as an integer
                return v.replace(microsecond=0)
            if fmt == "rfc822" or s.serialization.get("location") == "header":
                return v.replace(microsecond=0)  # HTTP dates carry whole seconds
        return v

    value = _map_scalars(shape, value, scalar)
    if kind == "rest-xml":
        # botocore's XML writer sends a CR in body text raw, and every XML parser reads a
        # raw CR (or CRLF) as LF (XML 1.0 §2.11 end-of-line handling)
        def eol(s: Shape, v):
            if s.type_name in ("string", "character"):
                return v.replace("\r\n", "\n").replace("\r", "\n")
            return v

        value = {
            k: v
            if shape.members[k].serialization.get("location")
            else _map_scalars(shape.members[k], v, eol)
            for k, v in value.items()
        }
    return value


def expected_response(kind: str, shape: Shape | None, result: dict) -> dict:
    if shape is None:
        return {}

    def drop_flat_empties(s: Shape, v):
        t = s.type_name
        if t == "structure" and not s.is_document_type:
            out = {}
            for k, mv in v.items():
                ms = s.members[k]
                if (
                    kind != "json"
                    and ms.type_name in ("list", "map")
                    and ms.serialization.get("flattened")
                    and not mv
                ):
                    continue  # a flattened empty list/map writes no element at all
                out[k] = drop_flat_empties(ms, mv)
            return out
        if t == "list":
            return [drop_flat_empties(s.member, x) for x in v]
        if t == "map":
            return {k: drop_flat_empties(s.value, x) for k, x in v.items()}
        return v

    def handler_values(s: Shape, v):
        # what a handler may return, as a client reads it back
        if s.type_name == "timestamp" and not isinstance(v, dt.datetime):
            return dt.datetime.fromtimestamp(v, UTC)
        if s.type_name in ("float", "double"):
            return float(v)
        if s.type_name == "blob" and isinstance(v, str):
            return v.encode()
        return v

    value = _map_scalars(shape, drop_flat_empties(shape, result), handler_values)
    if kind == "rest-xml":
        # members bound to the status code or URI are not part of a response body
        value = {
            k: v
            for k, v in value.items()
            if shape.members[k].serialization.get("location") not in ("statusCode", "uri")
        }
    return value


def _normalise_parsed(shape: Shape | None, parsed: dict) -> dict:
    parsed = dict(parsed)
    parsed.pop("ResponseMetadata", None)
    if shape is None:
        return parsed

    def scalar(s: Shape, v):
        if isinstance(v, dt.datetime):
            return v.astimezone(UTC)
        return v

    return _map_scalars(shape, parsed, scalar)


def _close(a, b) -> bool:
    """Deep equality with floats compared to 1 part in 1e12 (binary float text forms)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


# ---- the properties -----------------------------------------------------------------


@pytest.mark.parametrize(("service", "kind", "op_name"), CASES, ids=CASE_IDS)
def test_request_made_by_botocore_parses_back(api, service, kind, op_name):
    spec = SERVICES[service]
    proto = api.protocol(spec, kind)
    op = proto.operation(op_name)
    assert op is not None
    strategy = ShapeStrategies(kind, "request").top(op.input_shape)

    @wire_settings
    @given(params=strategy, precision=st.sampled_from(["default", "millisecond"]))
    def check(params, precision):
        req = botocore_request(kind, op, params, precision, spec.signing_name)
        # privlink recomputes the client's SigV4 signature over what arrived (strict auth)
        signed = read_signature(req)
        assert signed is not None and signed.service == spec.signing_name
        assert signature_matches(req, signed, SECRET_KEY)
        assert proto.operation_name(req) == op_name
        parsed = proto.parse(req, op)
        expected = expected_request(kind, op.input_shape, params, precision)
        assert _close(parsed, expected), (
            f"\nsent:     {params!r}\nexpected: {expected!r}\nparsed:   {parsed!r}\nwire: {req.query!r} {req.body[:2000]!r}"
        )

    check()


@pytest.mark.parametrize(("service", "kind", "op_name"), CASES, ids=CASE_IDS)
def test_response_parses_in_botocore(api, service, kind, op_name):
    spec = SERVICES[service]
    proto = api.protocol(spec, kind)
    op = proto.operation(op_name)
    strategy = ShapeStrategies(kind, "response").top(op.output_shape)

    @wire_settings
    @given(result=strategy)
    def check(result):
        resp = proto.respond(op, result, "req-0123")
        assert resp.status < 300
        parsed = botocore_parse(kind, resp, op.output_shape)
        assert parsed["ResponseMetadata"].get("RequestId") == "req-0123"
        got = _normalise_parsed(op.output_shape, parsed)
        expected = expected_response(kind, op.output_shape, result)
        assert _close(got, expected), (
            f"\nresult:   {result!r}\nexpected: {expected!r}\nparsed:   {got!r}\nbody: {resp.body[:2000]!r}"
        )

    check()


ERROR_CASES = sorted({(svc, kind) for svc, kinds in KINDS.items() for kind in kinds})


@pytest.mark.parametrize(("service", "kind"), ERROR_CASES, ids=[f"{s}-{k}" for s, k in ERROR_CASES])
def test_error_parses_in_botocore(api, service, kind):
    spec = SERVICES[service]
    proto = api.protocol(spec, kind)
    op = proto.operation(SAMPLES[service][0])
    codes = st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,30}(\.[A-Z][A-Za-z]{1,12})?\Z")
    messages = st.text(XML_TEXT_CHARS, min_size=1, max_size=60).filter(lambda m: m.strip())
    statuses = st.sampled_from([400, 401, 403, 404, 409, 412, 413, 429, 500, 501, 503])

    @wire_settings
    @given(code=codes, message=messages, status=statuses)
    def check(code, message, status):
        resp = proto.error(AwsError(code, message, status), "req-err-1")
        assert resp.status == status
        parsed = botocore_parse(kind, resp, op.output_shape)
        err = parsed["Error"]
        assert err["Code"] == code
        assert err["Message"] == message
        assert parsed["ResponseMetadata"].get("RequestId") == "req-err-1"
        if kind in ("query", "rest-xml") or (kind == "json" and proto.query_compatible):
            assert err.get("Type") == ("Sender" if status < 500 else "Receiver")

    check()
