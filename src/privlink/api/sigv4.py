"""Reading and checking AWS Signature Version 4 (sans-IO).

The signature is recomputed with botocore's own signer over the headers the client said it
signed, so privlink agrees with AWS clients byte for byte.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .protocol import HttpRequest

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)"
)


@dataclass(frozen=True)
class SignedBy:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # X-Amz-Date
    presigned: bool = False
    token: str | None = None


def read_signature(req: HttpRequest) -> SignedBy | None:
    """The SigV4 details of a request, or None if it is not signed (or not SigV4)."""
    auth = req.header("authorization")
    if auth:
        m = _AUTH_RE.match(auth.strip())
        if not m:
            return None
        parts = m.group("cred").split("/")
        if len(parts) != 5:
            return None
        key, date, region, service, _ = parts
        return SignedBy(
            key,
            date,
            region,
            service,
            tuple(m.group("signed").split(";")),
            m.group("sig").lower(),
            req.header("x-amz-date") or "",
            token=req.header("x-amz-security-token"),
        )
    if "X-Amz-Credential" in req.query:
        q = dict(p.split("=", 1) for p in req.query.split("&") if "=" in p)
        cred = unquote(q.get("X-Amz-Credential", "")).split("/")
        if len(cred) != 5:
            return None
        key, date, region, service, _ = cred
        return SignedBy(
            key,
            date,
            region,
            service,
            tuple(unquote(q.get("X-Amz-SignedHeaders", "host")).split(";")),
            q.get("X-Amz-Signature", "").lower(),
            unquote(q.get("X-Amz-Date", "")),
            presigned=True,
            token=unquote(q["X-Amz-Security-Token"]) if "X-Amz-Security-Token" in q else None,
        )
    return None


def signature_matches(req: HttpRequest, signed: SignedBy, secret_key: str) -> bool:
    """Recompute the request's signature with ``secret_key`` and compare."""
    if not signed.timestamp or signed.presigned:
        # presigned URLs are not used by the services privlink emulates
        return False
    headers = {}
    for name in signed.signed_headers:
        value = req.header(name)
        if value is None:
            return False
        headers[name] = value
    path = req.raw_path or req.path
    url = f"http://{req.header('host') or 'localhost'}{path}"
    if req.query:
        url += "?" + req.query
    aws_req = AWSRequest(method=req.method, url=url, headers=headers, data=req.body)
    aws_req.context["timestamp"] = signed.timestamp
    signer = SigV4Auth(Credentials(signed.access_key, secret_key), signed.service, signed.region)
    canonical = signer.canonical_request(aws_req)
    expected = signer.signature(signer.string_to_sign(aws_req, canonical), aws_req)
    return hmac.compare_digest(expected, signed.signature)
