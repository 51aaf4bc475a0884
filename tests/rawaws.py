"""Raw, SigV4-signed HTTP calls to a privlink server (no SDK between the test and the wire),
and readers for the four AWS error formats."""

from __future__ import annotations

import http.client
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def sign(
    method: str,
    url: str,
    service: str,
    *,
    body: bytes = b"",
    headers: dict | None = None,
    key: str = "111111111111",
    secret: str = "test-secret",
    token: str | None = None,
    region: str = "us-east-1",
) -> dict[str, str]:
    """The headers of a SigV4-signed request (as botocore clients sign it)."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(req)
    return dict(req.headers.items())


def send(
    base: str,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: dict | None = None,
    timeout: float = 30.0,
    conn: http.client.HTTPConnection | None = None,
) -> RawResponse:
    """Send one request as given (``target`` is path + query, sent byte for byte)."""
    own = conn is None
    if conn is None:
        u = urlsplit(base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if "Content-Length" not in hdrs and (body or method in ("POST", "PUT")):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        if own:
            conn.close()


def call(
    base: str,
    service: str,
    *,
    method: str = "POST",
    target: str = "/",
    body: bytes = b"",
    headers: dict | None = None,
    conn: http.client.HTTPConnection | None = None,
    **cred,
) -> RawResponse:
    """A signed call: ``service`` is the SigV4 signing name (ec2, elasticloadbalancing, …)."""
    hdrs = dict(headers or {})
    if body and method == "POST" and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    signed = sign(method, base + target, service, body=body, headers=hdrs, **cred)
    return send(base, method, target, body=body, headers=signed, conn=conn)


# ---- error bodies -------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: ET.Element, *path: str) -> ET.Element | None:
    for name in path:
        el = next((c for c in el if _local(c.tag) == name), None)
        if el is None:
            return None
    return el


def ec2_error(resp: RawResponse) -> tuple[str, str]:
    """``<Response><Errors><Error><Code>…`` (EC2)."""
    root = ET.fromstring(resp.body)
    assert _local(root.tag) == "Response", resp.body
    err = _find(root, "Errors", "Error")
    assert err is not None, resp.body
    assert _find(root, "RequestID") is not None, resp.body
    return _find(err, "Code").text, _find(err, "Message").text


def query_error(resp: RawResponse) -> tuple[str, str]:
    """``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`` (query and
    rest-xml services)."""
    root = ET.fromstring(resp.body)
    assert _local(root.tag) == "ErrorResponse", resp.body
    err = _find(root, "Error")
    assert err is not None, resp.body
    assert _find(err, "Type").text == ("Sender" if resp.status < 500 else "Receiver")
    assert _find(root, "RequestId") is not None, resp.body
    return _find(err, "Code").text, _find(err, "Message").text


def json_error(resp: RawResponse) -> tuple[str, str]:
    """``{"__type": code, "message": …}`` (JSON services)."""
    data = json.loads(resp.body)
    assert resp.header("x-amzn-requestid"), resp.headers
    return data["__type"].rsplit("#", 1)[-1], data.get("message") or data.get("Message")


def error_of(kind: str, resp: RawResponse) -> tuple[str, str]:
    return {"ec2": ec2_error, "query": query_error, "rest-xml": query_error, "json": json_error}[
        kind
    ](resp)


def has_traceback(body: bytes) -> bool:
    text = body.decode("utf-8", "replace")
    return "Traceback (most recent call last)" in text or 'File "/' in text or '.py", line' in text
