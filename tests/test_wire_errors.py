"""Malformed input against a real server: each gets a 4xx error in the service's own error
format, changes nothing, shows no traceback, and the server keeps serving.

Requests are raw HTTP (http.client), SigV4-signed like a real client's, so the test controls
every byte on the wire.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import botocore.awsrequest
import botocore.exceptions
import botocore.serialize
import pytest

from privlink.api.catalog import load_model
from privlink.services import HANDLERS, load_services
from privlink.state import KINDS, codec

from .rawaws import RawResponse, call, error_of, has_traceback, send, sign

EC2_FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
LOGS_JSON = {"Content-Type": "application/x-amz-json-1.1"}
CW_JSON = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-mode": "true"}
R53_XML = {"Content-Type": "text/xml"}
R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def logs_target(op: str) -> dict:
    return {**LOGS_JSON, "X-Amz-Target": f"Logs_20140328.{op}"}


def cw_target(op: str) -> dict:
    return {**CW_JSON, "X-Amz-Target": f"GraniteServiceVersion20100801.{op}"}


@dataclass
class Case:
    id: str
    fmt: str  # error format: ec2 | query | json | rest-xml
    service: str  # SigV4 signing name
    body: bytes = b""
    method: str = "POST"
    target: str = "/"
    headers: dict = field(default_factory=dict)
    status: int = 400
    code: str = ""
    says: str = ""  # a word the message must contain


CASES = [
    # -- unknown operations
    Case(
        "ec2-unknown-action",
        "ec2",
        "ec2",
        b"Action=DescribeNothing&Version=2016-11-15",
        headers=EC2_FORM,
        code="InvalidAction",
        says="DescribeNothing",
    ),
    Case(
        "elbv2-unknown-action",
        "query",
        "elasticloadbalancing",
        b"Action=DescribeNothing&Version=2015-12-01",
        headers=EC2_FORM,
        code="InvalidAction",
        says="DescribeNothing",
    ),
    Case(
        "logs-unknown-target",
        "json",
        "logs",
        b"{}",
        headers=logs_target("DescribeNothing"),
        code="UnknownOperationException",
        says="DescribeNothing",
    ),
    Case(
        "ec2-no-action",
        "ec2",
        "ec2",
        b"Version=2016-11-15",
        headers=EC2_FORM,
        code="MissingAction",
        says="Action",
    ),
    # -- malformed query strings
    Case(
        "ec2-bad-percent-encoding",
        "ec2",
        "ec2",
        b"Action=DescribeVpcEndpoints&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=%ZZ",
        headers=EC2_FORM,
        code="MalformedQueryString",
    ),
    Case(
        "ec2-invalid-utf8-in-url",
        "ec2",
        "ec2",
        method="GET",
        target="/?Action=DescribeVpcEndpoints&Version=2016-11-15&Filter.1.Name=%FF%FE",
        code="MalformedQueryString",
        says="UTF-8",
    ),
    Case(
        "sts-invalid-utf8-in-body",
        "query",
        "sts",
        b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=\xff\xfe",
        headers=EC2_FORM,
        code="MalformedQueryString",
    ),
    Case(
        "sts-truncated-percent-escape",
        "query",
        "sts",
        b"Action=GetCallerIdentity&Version=2011-06-15&X=%4",
        headers=EC2_FORM,
        code="MalformedQueryString",
    ),
    Case(
        "route53-bad-percent-in-query",
        "rest-xml",
        "route53",
        method="GET",
        target="/2013-04-01/hostedzone/Z111111QQQQQQQ/rrset?maxitems=%G0",
        code="InvalidInput",
    ),
    # -- wrong types
    Case(
        "ec2-maxresults-not-a-number",
        "ec2",
        "ec2",
        b"Action=DescribeVpcEndpoints&Version=2016-11-15&MaxResults=abc",
        headers=EC2_FORM,
        code="InvalidParameterValue",
        says="MaxResults",
    ),
    Case(
        "ec2-boolean-not-a-boolean",
        "ec2",
        "ec2",
        b"Action=DescribeVpcEndpoints&Version=2016-11-15&DryRun=maybe",
        headers=EC2_FORM,
        code="InvalidParameterValue",
        says="DryRun",
    ),
    Case(
        "ec2-list-index-zero",
        "ec2",
        "ec2",
        b"Action=DescribeVpcEndpoints&Version=2016-11-15&VpcEndpointId.0=vpce-1",
        headers=EC2_FORM,
        code="InvalidParameterValue",
    ),
    Case(
        "sts-duration-not-a-number",
        "query",
        "sts",
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fr"
        b"&RoleSessionName=s1&DurationSeconds=abc",
        headers=EC2_FORM,
        code="ValidationError",
        says="DurationSeconds",
    ),
    Case(
        "logs-string-for-integer",
        "json",
        "logs",
        b'{"logGroupName": "g", "limit": "ten"}',
        headers=logs_target("FilterLogEvents"),
        code="SerializationException",
        says="limit",
    ),
    Case(
        "logs-object-for-list",
        "json",
        "logs",
        b'{"logGroupName": "g", "logStreamName": "s", "logEvents": {"a": 1}}',
        headers=logs_target("PutLogEvents"),
        code="SerializationException",
    ),
    Case(
        "cloudwatch-json-number-for-string",
        "json",
        "monitoring",
        b'{"Namespace": 5, "MetricData": []}',
        headers=cw_target("PutMetricData"),
        code="SerializationException",
        says="Namespace",
    ),
    # -- missing required parameters
    Case(
        "ec2-missing-required",
        "ec2",
        "ec2",
        b"Action=DescribeVpcEndpointServicePermissions&Version=2016-11-15",
        headers=EC2_FORM,
        code="MissingParameter",
        says="ServiceId",
    ),
    Case(
        "elbv2-missing-required",
        "query",
        "elasticloadbalancing",
        b"Action=DescribeTargetHealth&Version=2015-12-01",
        headers=EC2_FORM,
        code="ValidationError",
        says="TargetGroupArn",
    ),
    Case(
        "sts-missing-required",
        "query",
        "sts",
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fr",
        headers=EC2_FORM,
        code="ValidationError",
        says="RoleSessionName",
    ),
    Case(
        "route53-missing-required",
        "rest-xml",
        "route53",
        f'<?xml version="1.0"?><ChangeResourceRecordSetsRequest xmlns="{R53_NS}">'
        "</ChangeResourceRecordSetsRequest>".encode(),
        target="/2013-04-01/hostedzone/Z111111QQQQQQQ/rrset",
        headers=R53_XML,
        code="InvalidInput",
        says="ChangeBatch",
    ),
    Case(
        "logs-missing-required",
        "json",
        "logs",
        b"{}",
        headers=logs_target("PutLogEvents"),
        code="InvalidParameterException",
        says="logGroupName",
    ),
    # -- garbage bodies
    Case(
        "logs-garbage-json",
        "json",
        "logs",
        b'{"logGroupName": "g", ',
        headers=logs_target("CreateLogGroup"),
        code="SerializationException",
    ),
    Case(
        "logs-json-not-an-object",
        "json",
        "logs",
        b'["logGroupName"]',
        headers=logs_target("CreateLogGroup"),
        code="SerializationException",
    ),
    Case(
        "logs-absurdly-nested-json",
        "json",
        "logs",
        b"[" * 200_000,
        headers=logs_target("CreateLogGroup"),
        code="SerializationException",
    ),
    Case(
        "route53-garbage-xml",
        "rest-xml",
        "route53",
        b"<CreateHostedZoneRequest><Name>example.com",
        target="/2013-04-01/hostedzone",
        headers=R53_XML,
        code="InvalidInput",
    ),
    Case(
        "route53-xml-entity-expansion",
        "rest-xml",
        "route53",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        b"<Name>&b;</Name><CallerReference>r</CallerReference></CreateHostedZoneRequest>",
        target="/2013-04-01/hostedzone",
        headers=R53_XML,
        code="InvalidInput",
    ),
    Case(
        "route53-wrong-document",
        "rest-xml",
        "route53",
        f'<?xml version="1.0"?><ListHostedZonesRequest xmlns="{R53_NS}"/>'.encode(),
        target="/2013-04-01/hostedzone",
        headers=R53_XML,
        code="InvalidInput",
    ),
]


def state_of(server) -> dict:
    """Every stored resource, serialised (through the store's public reads)."""

    def snap():
        store = server.app.store
        return {kind: sorted(codec.dumps(o) for o in store.all(cls)) for kind, cls in KINDS.items()}

    return server.call(snap)


def caller_identity(base: str, conn=None) -> RawResponse:
    return call(
        base,
        "sts",
        body=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers=EC2_FORM,
        conn=conn,
    )


def assert_aws_error(fmt: str, resp: RawResponse, status: int, code: str, says: str = ""):
    assert not has_traceback(resp.body), resp.body
    assert resp.status == status, (resp.status, resp.body)
    got_code, message = error_of(fmt, resp)
    assert got_code == code, (got_code, message)
    assert message, resp.body
    if says:
        assert says in message, message
    return message


@pytest.fixture
def seeded(server):
    """A server holding some state (an assumed-role session) to prove nothing changes."""
    out = call(
        server.endpoint_url,
        "sts",
        body=b"Action=AssumeRole&Version=2011-06-15"
        b"&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fseed&RoleSessionName=seed",
        headers=EC2_FORM,
    )
    assert out.status == 200, out.body
    return server


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_gets_the_services_error_and_changes_nothing(seeded, case):
    base = seeded.endpoint_url
    before = state_of(seeded)
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        resp = call(
            base,
            case.service,
            method=case.method,
            target=case.target,
            body=case.body,
            headers=case.headers,
            conn=conn,
        )
        assert_aws_error(case.fmt, resp, case.status, case.code, case.says)
        if case.fmt == "json" and case.service == "monitoring":
            # CloudWatch's query-compatible trait: the code also travels in a header
            assert resp.header("x-amzn-query-error") == f"{case.code};Sender"
        # the same connection keeps working, and so do new ones
        assert caller_identity(base, conn=conn).status == 200
        assert caller_identity(base).status == 200
    finally:
        conn.close()
    assert state_of(seeded) == before


# ---- operations in the model that privlink does not implement -----------------------

# (service, signing name, protocol of the wire, error format, expected code, status)
UNIMPLEMENTED = [
    ("ec2", "ec2", "ec2", "ec2", "InvalidAction", 400),
    ("elbv2", "elasticloadbalancing", "query", "query", "InvalidAction", 400),
    ("sns", "sns", "query", "query", "InvalidAction", 400),
    ("cloudwatch", "monitoring", "json", "json", "InvalidAction", 400),
    ("cloudwatch", "monitoring", "query", "query", "InvalidAction", 400),
    ("logs", "logs", "json", "json", "UnknownOperationException", 400),
    ("route53", "route53", "rest-xml", "rest-xml", "InvalidAction", 404),
]


def _unimplemented_operation(service: str, protocol: str) -> str | None:
    """An operation of the model with no handler that a client can send with no
    parameters (for rest-xml: a GET without URI labels)."""
    load_services()
    model = load_model(service)
    for name in sorted(model.operation_names):
        if (service, name) in HANDLERS:
            continue
        op = model.operation_model(name)
        if op.input_shape is not None and op.input_shape.required_members:
            continue
        if protocol == "rest-xml" and (op.http["method"] != "GET" or "{" in op.http["requestUri"]):
            continue
        return name
    return None


@pytest.mark.parametrize(
    ("service", "signing", "protocol", "fmt", "code", "status"),
    UNIMPLEMENTED,
    ids=[f"{u[0]}-{u[2]}" for u in UNIMPLEMENTED],
)
def test_operation_privlink_does_not_implement_names_itself(
    server, service, signing, protocol, fmt, code, status
):
    name = _unimplemented_operation(service, protocol)
    if name is None:
        pytest.skip(f"privlink implements every parameterless {service} operation")
    op = load_model(service).operation_model(name)
    # exactly the request a botocore client sends for it
    request = botocore.serialize.create_serializer(protocol).serialize_to_request({}, op)
    botocore.awsrequest.prepare_request_dict(request, server.endpoint_url)
    prepared = botocore.awsrequest.create_request_object(request).prepare()
    url = urlsplit(prepared.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = sign(
        prepared.method, prepared.url, signing, body=body, headers=dict(prepared.headers.items())
    )
    resp = send(server.endpoint_url, prepared.method, target, body=body, headers=headers)
    assert_aws_error(fmt, resp, status, code, says=name)
    assert caller_identity(server.endpoint_url).status == 200


# a client pointed at privlink with AWS_ENDPOINT_URL sends every service here, also those
# privlink does not emulate: each (query, rest-xml, json, rest-json) reads an error naming it
OTHER_SERVICES = [
    ("iam", "list_users", "InvalidAction"),
    ("s3", "list_buckets", "InvalidAction"),
    ("dynamodb", "list_tables", "UnknownOperationException"),
    ("lambda", "list_functions", "InvalidAction"),
]


@pytest.mark.parametrize(
    ("service", "method", "code"), OTHER_SERVICES, ids=[o[0] for o in OTHER_SERVICES]
)
def test_a_service_privlink_does_not_emulate_gets_an_error_naming_it(
    server, clients, service, method, code
):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        getattr(clients(service), method)()
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    assert f"'{service}'" in err["Message"] and "Traceback" not in err["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert caller_identity(server.endpoint_url).status == 200


# ---- oversized bodies ---------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024

BIG = [
    ("ec2", "ec2", EC2_FORM, "/", b"Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name="),
    ("json", "logs", logs_target("PutLogEvents"), "/", b'{"logGroupName": "'),
    ("rest-xml", "route53", R53_XML, "/2013-04-01/hostedzone", b"<CreateHostedZoneRequest>"),
    ("query", "sts", EC2_FORM, "/", b"Action=GetCallerIdentity&Version=2011-06-15&X="),
]


@pytest.mark.parametrize(
    ("fmt", "service", "headers", "target", "prefix"), BIG, ids=[b[1] for b in BIG]
)
def test_ten_megabyte_body_gets_413_and_others_are_still_served(
    server, fmt, service, headers, target, prefix
):
    base = server.endpoint_url
    u = urlsplit(base)
    body = prefix + b"a" * (TEN_MB - len(prefix))
    signed = sign("POST", base + target, service, body=body, headers=headers)
    signed["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for k, v in signed.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[: 1024 * 1024])
        # the big request is half sent: other connections are still served meanwhile
        others = [caller_identity(base).status for _ in range(3)]
        try:
            conn.send(body[1024 * 1024 :])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        r = conn.getresponse()
        resp = RawResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()
    assert others == [200, 200, 200]
    assert_aws_error(fmt, resp, 413, "RequestEntityTooLarge")
    assert caller_identity(base).status == 200


def test_ten_megabyte_chunked_body_without_length_gets_413(server):
    """No Content-Length: the server stops reading at its limit and answers 413."""
    base = server.endpoint_url
    u = urlsplit(base)
    headers = sign("POST", base + "/", "ec2", body=b"", headers=EC2_FORM)
    headers.pop("Content-Length", None)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    started = time.monotonic()
    try:
        conn.putrequest("POST", "/")
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"a" * 65536
        sent = 0
        try:
            while sent < TEN_MB and time.monotonic() - started < 30:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop listening once it has answered
        resp = conn.getresponse()
        got = RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
    assert_aws_error("ec2", got, 413, "RequestEntityTooLarge")
    assert caller_identity(base).status == 200
