"""The ``rest-xml`` protocol (Route 53): operations are picked by method and URI template;
members live in the path, the query string, headers or an XML body (sans-IO)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel

from .errors import AwsError, ValidationFailure
from .protocol import HttpRequest, HttpResponse, Protocol, check_required, parse_form_text
from .scalars import parse_scalar_text, scalar_text
from .xmlwire import escape, parse_document, read_structure, write_structure_members


def _template_regex(uri: str) -> tuple[re.Pattern, dict[str, str]]:
    path, _, query = uri.partition("?")
    fixed_query = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    pattern = ""
    pos = 0
    for m in re.finditer(r"\{([^}]+)\}", path):
        pattern += re.escape(path[pos : m.start()])
        name = m.group(1)
        if name.endswith("+"):
            pattern += f"(?P<{name[:-1]}>.+)"
        else:
            pattern += f"(?P<{name}>[^/]+)"
        pos = m.end()
    pattern += re.escape(path[pos:])
    pattern = pattern.rstrip("/")
    return re.compile(f"^{pattern}/?$"), fixed_query


class RestXmlProtocol(Protocol):
    def __init__(self, spec):
        super().__init__(spec)
        self.routes: list[tuple[str, re.Pattern, dict, str, int]] = []
        for name in self.model.operation_names:
            http = self.model.operation_model(name).http
            regex, fixed = _template_regex(http["requestUri"])
            literal = len(re.sub(r"\{[^}]+\}", "", http["requestUri"]))
            self.routes.append((http["method"], regex, fixed, name, literal))
        # most specific first: longer literal parts win over placeholders
        self.routes.sort(key=lambda r: -r[4])
        self.namespace = f"https://route53.amazonaws.com/doc/{spec.api_version}/"

    def _match(self, req: HttpRequest):
        path = req.raw_path or req.path
        for method, regex, _fixed, name, _ in self.routes:
            if method != req.method:
                continue
            m = regex.match(path)
            if m:
                try:
                    labels = {k: unquote(v, errors="strict") for k, v in m.groupdict().items()}
                except UnicodeDecodeError:
                    raise ValidationFailure("The request path is not valid UTF-8.") from None
                return name, labels
        return None, None

    def operation_name(self, req: HttpRequest) -> str | None:
        name, labels = self._match(req)
        if name:
            req.cache["labels"] = labels
        return name

    def parse(self, req: HttpRequest, op: OperationModel) -> dict:
        shape = op.input_shape
        if shape is None:
            return {}
        labels = req.cache.get("labels")
        if labels is None:
            _, labels = self._match(req)
        query = {}
        try:
            pairs = parse_form_text(req.query) if req.query else []
        except AwsError as e:
            raise ValidationFailure(e.message) from None
        for k, v in pairs:
            query.setdefault(k, []).append(v)
        out: dict = {}
        body_members = False
        for mname, mshape in shape.members.items():
            loc = mshape.serialization.get("location")
            wire = mshape.serialization.get("name", mname)
            if loc == "uri":
                if wire in (labels or {}):
                    out[mname] = parse_scalar_text(mshape, labels[wire], mname)
            elif loc == "querystring":
                if wire in query:
                    vals = query[wire]
                    if mshape.type_name == "list":
                        out[mname] = [parse_scalar_text(mshape.member, v, mname) for v in vals]
                    else:
                        out[mname] = parse_scalar_text(mshape, vals[-1], mname)
            elif loc == "header":
                v = req.header(wire)
                if v is not None:
                    out[mname] = parse_scalar_text(mshape, v, mname)
            else:
                body_members = True
        if body_members and req.body.strip():
            root = parse_document(req.body)
            expected = shape.serialization.get("name")
            tag = root.tag.rsplit("}", 1)[-1]
            if expected and tag != expected:
                raise ValidationFailure(f"Expected a {expected} document, got {tag}")
            out.update(read_structure(shape, root, ""))
        check_required(shape, out, "")
        return out

    def respond(self, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        status = op.http.get("responseCode", 200)
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        shape = op.output_shape
        if shape is None:
            return HttpResponse(status, headers, b"")
        for mname, mshape in shape.members.items():
            if mshape.serialization.get("location") == "header" and result.get(mname) is not None:
                headers[mshape.serialization.get("name", mname)] = scalar_text(
                    mshape, result[mname]
                )
        root = shape.serialization.get("name") or op.name + "Response"
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<{root} xmlns="{self.namespace}">']
        write_structure_members(shape, result, out)
        out.append(f"</{root}>")
        return HttpResponse(status, headers, "".join(out).encode())

    def error(self, err: AwsError, request_id: str) -> HttpResponse:
        body = (
            f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{self.namespace}"><Error>'
            f"<Type>{err.sender}</Type><Code>{escape(err.code)}</Code>"
            f"<Message>{escape(err.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return HttpResponse(
            err.status,
            {"Content-Type": "text/xml", "x-amzn-RequestId": request_id, **err.headers},
            body.encode(),
        )


__all__ = ["RestXmlProtocol", "AwsError"]
