"""The sans-IO request/response types and the protocol interface."""

from __future__ import annotations

import re
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
            pairs = parse_form_text(self.query) if self.query else []
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
                pairs += parse_form_text(text)
            self.cache["form"] = pairs
        return self.cache["form"]

    def form_value(self, key: str) -> str | None:
        for k, v in self.form():
            if k == key:
                return v
        return None


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def parse_form_text(text: str) -> list[tuple[str, str]]:
    """``a=1&b=x%20y`` -> [("a", "1"), ("b", "x y")], refusing what no client sends: a ``%``
    not followed by two hex digits, or bytes that do not decode as UTF-8. A field without
    ``=`` has the empty value; empty fields (``&&``, a trailing ``&``) are ignored."""
    m = _BAD_PERCENT.search(text)
    if m:
        raise AwsError(
            "MalformedQueryString",
            f"The query string contains a malformed percent-encoding at position {m.start()}.",
        )
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise AwsError(
            "MalformedQueryString", "The query string is not valid UTF-8 once percent-decoded."
        ) from None
    except ValueError:
        raise AwsError("MalformedQueryString", "The query string is malformed.") from None


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
