"""The ``json`` protocol (JSON 1.0 / 1.1 over POST with X-Amz-Target), sans-IO.

CloudWatch carries the ``awsQueryCompatible`` trait: its errors also travel in the
``x-amzn-query-error: Code;Sender`` header, which botocore prefers over the body.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from botocore.model import OperationModel, Shape

from .errors import AwsError
from .protocol import HttpRequest, HttpResponse, Protocol, check_required
from .scalars import check_text, format_timestamp, parse_timestamp, timestamp_format
from .xmlwire import STRICT, UnknownMember


class SerializationError(AwsError):
    def __init__(self, message: str):
        super().__init__("SerializationException", message, 400)


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "VALUE"


def _type_error(where: str, expected: str, value=None) -> SerializationError:
    """A JSON value of the wrong type: AWS JSON services answer SerializationException
    (HTTP 400), worded as they word it."""
    at = f" (at {where})" if where else ""
    if isinstance(value, list):
        return SerializationError(f"Start of list found where not expected{at}")
    if isinstance(value, dict):
        return SerializationError(f"Start of structure or map found where not expected{at}")
    return SerializationError(f"{_json_kind(value)} can not be converted to {expected}{at}")


def decode(shape: Shape, value, where: str):
    t = shape.type_name
    if value is None:
        return None
    if t == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise _type_error(where, "a structure", value)
        out = {}
        for mname, mshape in shape.members.items():
            key = mshape.serialization.get("name", mname)
            if key in value and value[key] is not None:
                out[mname] = decode(mshape, value[key], f"{where}.{mname}" if where else mname)
        check_required(shape, out, where)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise _type_error(where, "a list", value)
        return [decode(shape.member, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise _type_error(where, "a map", value)
        return {
            decode(shape.key, k, f"{where} key"): decode(shape.value, v, f"{where}.{k}")
            for k, v in value.items()
        }
    if t in ("string", "character"):
        if not isinstance(value, str):
            raise _type_error(where, "a string", value)
        return check_text(value, where)
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _type_error(where, "an integer", value)
        return value
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                return float(value)
            raise _type_error(where, "a number", value)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise _type_error(where, "a boolean", value)
        return value
    if t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _type_error(where, "a timestamp", value)
        return parse_timestamp(value, where)
    if t == "blob":
        if not isinstance(value, str):
            raise _type_error(where, "a base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _type_error(where, "a base64 string", value) from None
    raise _type_error(where, t, value)


def encode(shape: Shape, value):
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return value
        members = shape.members
        if STRICT:
            extra = set(value) - set(members)
            if extra:
                raise UnknownMember(f"{shape.name}: unknown members {sorted(extra)}")
        out = {}
        for mname, mshape in members.items():
            v = value.get(mname)
            if v is not None:
                out[mshape.serialization.get("name", mname)] = encode(mshape, v)
        return out
    if t == "list":
        return [encode(shape.member, v) for v in value]
    if t == "map":
        return {k: encode(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        return format_timestamp(value, timestamp_format(shape, "unixtimestamp"))
    if t == "blob":
        if isinstance(value, str):
            value = value.encode()
        return base64.b64encode(value).decode()
    if t in ("float", "double"):
        f = float(value)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    return value


class JsonProtocol(Protocol):
    def __init__(self, spec):
        super().__init__(spec)
        self.json_version = self.model.metadata.get("jsonVersion", "1.0")
        self.content_type = f"application/x-amz-json-{self.json_version}"
        self.query_compatible = "awsQueryCompatible" in self.model.metadata

    def operation_name(self, req: HttpRequest) -> str | None:
        target = req.header("x-amz-target") or ""
        prefix, _, op = target.partition(".")
        if prefix != self.spec.json_target_prefix:
            return None
        return op or None

    def parse(self, req: HttpRequest, op: OperationModel) -> dict:
        body = req.body.strip() or b"{}"
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            # ValueError covers bad UTF-8 too; RecursionError: absurdly deep nesting
            raise SerializationError("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise SerializationError("The request body must be a JSON object.")
        shape = op.input_shape
        if shape is None:
            return {}
        return decode(shape, data, "")

    def respond(self, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        body = {}
        if op.output_shape is not None and result:
            body = encode(op.output_shape, result)
        return HttpResponse(
            200,
            {"Content-Type": self.content_type, "x-amzn-RequestId": request_id},
            json.dumps(body, separators=(",", ":")).encode(),
        )

    def error(self, err: AwsError, request_id: str) -> HttpResponse:
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": request_id, **err.headers}
        if self.query_compatible:
            headers["x-amzn-query-error"] = f"{err.code};{err.sender}"
        body = {"__type": err.code, "message": err.message}
        return HttpResponse(err.status, headers, json.dumps(body).encode())
