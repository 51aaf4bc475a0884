"""The sans-IO request/response types and the protocol interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel

from .catalog import ServiceSpec
from .errors import AwsError, ValidationFailure


@dataclass
class HttpRequest:
    method: str
    path: str  # decoded path, no query string
    query: str  # raw query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    raw_path: str = ""  # path as sent (percent-encoded), for signature checks
    cache: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def form(self) -> list[tuple[str, str]]:
        """The form parameters of a query-style request: the query string, then the body."""
        if "form" not in self.cache:
            pairs = _parse_form(self.query) if self.query else []
            ctype = (self.header("content-type") or "").lower()
            if self.body and (
                self.method == "POST" and ("x-www-form-urlencoded" in ctype or not ctype)
            ):
                try:
                    text = self.body.decode("utf-8")
                except UnicodeDecodeError:
                    raise AwsError(
                        "MalformedQueryString", "The request body is not valid UTF-8."
                    ) from None
                pairs += _parse_form(text)
            self.cache["form"] = pairs
        return self.cache["form"]

    def form_value(self, key: str) -> str | None:
        for k, v in self.form():
            if k == key:
                return v
        return None


def _parse_form(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as e:
        raise AwsError("MalformedQueryString", f"The query string is malformed: {e}") from None


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Protocol:
    """Parse requests and serialise responses for one service's wire protocol."""

    content_type = "text/xml"

    def __init__(self, spec: ServiceSpec):
        self.spec = spec
        self.model = spec.model

    # -- requests
    def operation_name(self, req: HttpRequest) -> str | None:
        raise NotImplementedError

    def operation(self, name: str) -> OperationModel | None:
        try:
            return self.model.operation_model(name)
        except Exception:
            return None

    def parse(self, req: HttpRequest, op: OperationModel) -> dict:
        raise NotImplementedError

    # -- responses
    def respond(self, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        raise NotImplementedError

    def error(self, err: AwsError, request_id: str) -> HttpResponse:
        raise NotImplementedError


def check_required(shape, value: dict, path: str, name_of=lambda s, n: n) -> None:
    for req in shape.required_members:
        if value.get(req) is None:
            mshape = shape.members[req]
            wire = name_of(mshape, req)
            where = f"{path}.{wire}" if path else wire
            raise ValidationFailure(
                f"The request must contain the parameter {where}", missing=where
            )
