"""From an HTTP request to a handler call and back (sans-IO apart from the store commit).

Steps: pick the service (SigV4 credential scope, else X-Amz-Target, path, Version), find
the caller, parse the input from the model, run the handler inside a store transaction,
serialise the output. Every failure becomes the service's own AWS error shape.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
import uuid

from ..identity import ExpiredKey, Identities, UnknownKey
from ..services import HANDLERS, load_services
from ..services.base import RequestContext, Runtime
from .catalog import BY_SIGNING_NAME, BY_TARGET_PREFIX, BY_VERSION, SERVICES, ServiceSpec
from .errors import AwsError, ValidationFailure, internal_error
from .formquery import Ec2Protocol, QueryProtocol
from .jsonrpc import JsonProtocol
from .protocol import HttpRequest, HttpResponse, Protocol
from .restxml import RestXmlProtocol
from .sigv4 import read_signature, signature_matches
from .xmlwire import escape

log = logging.getLogger("privlink.api")

_PROTOCOL_CLASSES = {
    "ec2": Ec2Protocol,
    "query": QueryProtocol,
    "json": JsonProtocol,
    "rest-xml": RestXmlProtocol,
}
_NATIVE = {
    "ec2": "ec2",
    "elbv2": "query",
    "sts": "query",
    "sns": "query",
    "logs": "json",
    "route53": "rest-xml",
    "cloudwatch": "json",
}


def new_request_id() -> str:
    """A request id in AWS's form (a version 4 UUID). From the random module, not
    os.urandom: a request id needs to be unique, not secret, and a system call per API call
    showed in profiles."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


@functools.cache
def _unversioned_actions() -> dict[str, ServiceSpec]:
    ec2 = set(SERVICES["ec2"].model.operation_names)
    seen: dict[str, list[ServiceSpec]] = {}
    for spec in SERVICES.values():
        if _NATIVE.get(spec.name) != "query":
            continue
        for op in spec.model.operation_names:
            if op not in ec2:
                seen.setdefault(op, []).append(spec)
    return {op: specs[0] for op, specs in seen.items() if len(specs) == 1}


class Api:
    def __init__(self, runtime: Runtime):
        load_services()
        self.runtime = runtime
        self.identities = Identities(runtime.settings, runtime.store)
        self._protocols: dict[tuple[str, str], Protocol] = {}
        self.calls = 0

    def protocol(self, spec: ServiceSpec, kind: str) -> Protocol:
        key = (spec.name, kind)
        p = self._protocols.get(key)
        if p is None:
            p = self._protocols[key] = _PROTOCOL_CLASSES[kind](spec)
        return p

    # -- which service is this?
    def route(self, req: HttpRequest, signed) -> tuple[ServiceSpec, str]:
        target = req.header("x-amz-target")
        if signed is not None:
            cands = BY_SIGNING_NAME.get(signed.service)
            if cands:
                spec = cands[0]
                return spec, self._protocol_kind(spec, req, target)
        if target:
            spec = BY_TARGET_PREFIX.get(target.partition(".")[0])
            if spec:
                return spec, "json"
        if req.path.startswith("/2013-04-01/"):
            return SERVICES["route53"], "rest-xml"
        version = None
        if req.method in ("GET", "POST") and (req.query or req.body):
            try:
                version = req.form_value("Version")
            except AwsError:
                version = None
        if version and version in BY_VERSION:
            spec = BY_VERSION[version]
            return spec, self._protocol_kind(spec, req, target)
        if not version and req.method in ("GET", "POST") and (req.query or req.body):
            # Unsigned links without a Version, such as SNS's SubscribeURL and UnsubscribeURL
            # (GET /?Action=ConfirmSubscription&TopicArn=…&Token=…): the action names the
            # service when exactly one query-protocol service other than EC2 has it.
            try:
                action = req.form_value("Action")
            except AwsError:
                action = None
            spec = _unversioned_actions().get(action or "")
            if spec is not None:
                return spec, self._protocol_kind(spec, req, target)
        return SERVICES["ec2"], "ec2"

    @staticmethod
    def _protocol_kind(spec: ServiceSpec, req: HttpRequest, target: str | None) -> str:
        if spec.name == "cloudwatch":
            if target:
                return "json"
            if req.header("smithy-protocol"):
                return "cbor"
            return "query"
        return _NATIVE[spec.name]

    def size_error(self, req: HttpRequest, limit: int) -> HttpResponse:
        signed = read_signature(req)
        spec, kind = self.route(req, signed)
        proto = self.protocol(spec, kind if kind != "cbor" else "json")
        err = AwsError(
            spec.too_large_code,
            f"Request body exceeds the maximum size of {limit} bytes.",
            413,
        )
        return proto.error(err, new_request_id())

    @staticmethod
    def unknown_service(req: HttpRequest, service: str, request_id: str) -> HttpResponse:
        """The answer to a request signed for an AWS service privlink does not emulate (an
        aws CLI pointed at privlink with AWS_ENDPOINT_URL sends every service here): an error
        naming the service, in a shape the client's own parser reads. JSON for JSON clients
        (an X-Amz-Target or a JSON body); otherwise the ``<ErrorResponse><Error>`` document,
        which the query, ec2 and rest-xml parsers all read, with the code also in the
        x-amzn-ErrorType header where rest-json parsers look for it."""
        served = ", ".join(sorted(BY_SIGNING_NAME))
        message = f"privlink does not emulate the AWS service '{service}'; it serves {served}."
        ctype = req.header("content-type") or ""
        if req.header("x-amz-target") or "json" in ctype:
            body = {"__type": "UnknownOperationException", "message": message}
            headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-RequestId": request_id,
                "x-amzn-ErrorType": "UnknownOperationException",
            }
            return HttpResponse(400, headers, json.dumps(body).encode())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = {
            "Content-Type": "text/xml",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": "InvalidAction",
        }
        return HttpResponse(400, headers, body.encode())

    # -- the whole call
    def handle(self, req: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        self.calls += 1
        signed = read_signature(req)
        if signed is not None and signed.service and signed.service not in BY_SIGNING_NAME:
            return self.unknown_service(req, signed.service, request_id)
        spec, kind = self.route(req, signed)
        if kind == "cbor":
            proto = self.protocol(spec, "json")
            return proto.error(
                AwsError(
                    "UnsupportedProtocol", "privlink speaks JSON and query to CloudWatch, not CBOR."
                ),
                request_id,
            )
        proto = self.protocol(spec, kind)
        op_name = None
        try:
            principal = self._authenticate(req, signed, spec)
            op_name = proto.operation_name(req)
            if not op_name:
                if kind in ("ec2", "query"):
                    raise AwsError(
                        "MissingAction", "The request must contain the parameter Action."
                    )
                raise AwsError(
                    spec.unknown_action_code,
                    f"No operation matches {req.method} {req.path}",
                    spec.unknown_action_status,
                )
            op = proto.operation(op_name)
            if op is None:
                raise AwsError(
                    spec.unknown_action_code,
                    f"The action {op_name} is not valid for this web service.",
                    spec.unknown_action_status,
                )
            # Input is checked against the model first, as AWS does, so malformed input gets
            # the service's validation error whether or not privlink implements the operation.
            params = proto.parse(req, op)
            handler = HANDLERS.get((spec.name, op_name))
            if handler is None:
                raise AwsError(
                    spec.unknown_action_code,
                    f"The action {op_name} is not supported by privlink.",
                    spec.unknown_action_status,
                )
            if spec.name == "ec2" and params.get("DryRun"):
                raise AwsError(
                    "DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412
                )
            region = (
                signed.region if signed and signed.region else self.runtime.settings.default_region
            )
            if spec.global_service:
                region = "us-east-1"
            result = self._run(spec, op_name, handler, principal, region, params, request_id)
            return proto.respond(op, result or {}, request_id)
        except ValidationFailure as e:
            code = spec.missing_param_code if e.missing else spec.invalid_value_code
            return proto.error(AwsError(code, e.message, 400), request_id)
        except AwsError as e:
            return proto.error(e, request_id)
        except Exception:
            log.exception("internal error in %s:%s", spec.name, op_name)
            return proto.error(internal_error(), request_id)

    def _run(self, spec, op_name, handler, principal, region, params, request_id):
        store = self.runtime.store
        tx = store.transaction()
        ctx = RequestContext(
            service=spec.name,
            operation=op_name,
            principal=principal,
            region=region,
            tx=tx,
            runtime=self.runtime,
            request_id=request_id,
            now=time.time(),
        )
        try:
            result = handler(ctx, params)
        except BaseException:
            tx.rollback()
            raise
        tx.commit()
        return result

    def _authenticate(self, req: HttpRequest, signed, spec: ServiceSpec):
        strict = self.runtime.settings.strict_auth
        if signed is None:
            if strict:
                raise AwsError(
                    "MissingAuthenticationToken" if spec.name != "ec2" else "AuthFailure",
                    "Request is missing Authentication Token",
                    403 if spec.name != "ec2" else 401,
                )
            return self.identities.resolve(None)[0]
        try:
            principal, secret = self.identities.resolve(signed.access_key, signed.token)
        except UnknownKey:
            raise AwsError(
                "InvalidClientTokenId" if spec.name != "ec2" else "AuthFailure",
                "The security token included in the request is invalid.",
                403 if spec.name != "ec2" else 401,
            ) from None
        except ExpiredKey:
            raise AwsError(
                "ExpiredToken" if spec.name != "ec2" else "RequestExpired",
                "The security token included in the request is expired",
                400 if spec.name == "ec2" else 403,
            ) from None
        declared = signed.access_key in self.identities.declared
        if strict or (declared and secret):
            if secret is None:
                raise AwsError(
                    "InvalidClientTokenId" if spec.name != "ec2" else "AuthFailure",
                    "The security token included in the request is invalid.",
                    403 if spec.name != "ec2" else 401,
                )
            if not signature_matches(req, signed, secret):
                code = (
                    "InvalidSignatureException" if spec.name == "logs" else "SignatureDoesNotMatch"
                )
                raise AwsError(
                    code,
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method.",
                    403 if spec.name != "logs" else 400,
                )
        return principal
