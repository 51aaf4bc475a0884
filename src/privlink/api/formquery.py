"""The ``ec2`` and ``query`` protocols: form-encoded requests, XML responses (sans-IO)."""

from __future__ import annotations

from botocore.model import OperationModel, Shape

from .errors import AwsError, ValidationFailure
from .protocol import HttpRequest, HttpResponse, Protocol, check_required
from .scalars import parse_scalar_text
from .xmlwire import escape, write_structure_members

_RESERVED = {"Action", "Version"}


def build_tree(pairs: list[tuple[str, str]]) -> dict:
    """Turn flattened form keys (``Filter.1.Value.2``) into a nested dict of strings."""
    root: dict = {}
    for key, value in pairs:
        if key in _RESERVED or key.startswith("X-Amz-"):
            continue
        parts = key.split(".")
        if any(p == "" for p in parts):
            raise AwsError("MalformedQueryString", f"The parameter name '{key}' is malformed.")
        node = root
        for p in parts[:-1]:
            child = node.get(p)
            if child is None or child == "":
                child = node[p] = {}
            elif not isinstance(child, dict):
                raise AwsError(
                    "MalformedQueryString", f"The parameter '{key}' conflicts with another one."
                )
            node = child
        last = parts[-1]
        if last in node:
            if isinstance(node[last], dict) and value == "":
                continue
            raise AwsError("MalformedQueryString", f"The parameter '{key}' appears more than once.")
        node[last] = value
    return root


def _indexed(node, where: str) -> list:
    if not isinstance(node, dict):
        if node == "":
            return []
        raise ValidationFailure(
            f"The parameter {where} must be a list (use {where}.1, {where}.2 …)"
        )
    items = []
    for k, v in node.items():
        if not k.isdigit() or int(k) < 1:
            raise ValidationFailure(f"Invalid list index '{k}' for parameter {where}")
        items.append((int(k), v))
    items.sort(key=lambda kv: kv[0])
    return [v for _, v in items]


class FormDecoder:
    def __init__(self, ec2: bool):
        self.ec2 = ec2

    def name(self, mshape: Shape, mname: str) -> str:
        ser = mshape.serialization
        if self.ec2:
            if "queryName" in ser:
                return ser["queryName"]
            if "name" in ser:
                n = ser["name"]
                return n[0].upper() + n[1:]
            return mname
        if (
            mshape.type_name == "list"
            and ser.get("flattened")
            and mshape.member.serialization.get("name")
        ):
            return mshape.member.serialization["name"]
        return ser.get("name", mname)

    def structure(self, shape: Shape, node, where: str) -> dict:
        if not isinstance(node, dict):
            raise ValidationFailure(f"The parameter {where} must be a structure")
        out = {}
        for mname, mshape in shape.members.items():
            wire = self.name(mshape, mname)
            if wire not in node:
                continue
            path = f"{where}.{wire}" if where else wire
            out[mname] = self.value(mshape, node[wire], path)
        check_required(shape, out, where, self.name)
        return out

    def value(self, shape: Shape, node, where: str):
        t = shape.type_name
        if t == "structure":
            return self.structure(shape, node, where)
        if t == "list":
            if self.ec2 or shape.serialization.get("flattened"):
                items = _indexed(node, where)
            else:
                if node == "":
                    return []
                if not isinstance(node, dict):
                    raise ValidationFailure(f"The parameter {where} must be a list")
                item = shape.member.serialization.get("name", "member")
                if set(node) - {item}:
                    raise ValidationFailure(
                        f"The parameter {where} must be a list ({where}.{item}.N)"
                    )
                items = _indexed(node.get(item, {}), f"{where}.{item}")
            return [self.value(shape.member, v, f"{where}.{i}") for i, v in enumerate(items, 1)]
        if t == "map":
            entries = (
                node
                if shape.serialization.get("flattened")
                else (node.get("entry", {}) if isinstance(node, dict) else node)
            )
            kname = (
                self.name(shape.key, "key")
                if self.ec2
                else shape.key.serialization.get("name", "key")
            )
            vname = (
                self.name(shape.value, "value")
                if self.ec2
                else shape.value.serialization.get("name", "value")
            )
            out = {}
            for i, entry in enumerate(_indexed(entries, where), 1):
                if not isinstance(entry, dict) or kname not in entry:
                    raise ValidationFailure(f"Map entry {i} of {where} has no key")
                k = self.value(shape.key, entry[kname], f"{where}.{i}.{kname}")
                out[k] = self.value(shape.value, entry.get(vname, ""), f"{where}.{i}.{vname}")
            return out
        if isinstance(node, dict):
            raise ValidationFailure(f"The parameter {where} must be a single value")
        return parse_scalar_text(shape, node, where)


class _FormProtocol(Protocol):
    ec2 = False

    def __init__(self, spec):
        super().__init__(spec)
        self.decoder = FormDecoder(self.ec2)
        self.namespace = self.model.metadata.get("xmlNamespace", "")
        if self.ec2 and not self.namespace.endswith("/"):
            self.namespace += "/"

    def operation_name(self, req: HttpRequest) -> str | None:
        return req.form_value("Action")

    def parse(self, req: HttpRequest, op: OperationModel) -> dict:
        tree = build_tree(req.form())
        shape = op.input_shape
        if shape is None:
            return {}
        return self.decoder.structure(shape, tree, "")


class Ec2Protocol(_FormProtocol):
    ec2 = True

    def respond(self, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<{op.name}Response xmlns="{self.namespace}"><requestId>{request_id}</requestId>',
        ]
        if op.output_shape is not None and result:
            write_structure_members(op.output_shape, result, out)
        out.append(f"</{op.name}Response>")
        return HttpResponse(200, {"Content-Type": "text/xml;charset=UTF-8"}, "".join(out).encode())

    def error(self, err: AwsError, request_id: str) -> HttpResponse:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(err.code)}</Code>"
            f"<Message>{escape(err.message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return HttpResponse(
            err.status, {"Content-Type": "text/xml;charset=UTF-8", **err.headers}, body.encode()
        )


class QueryProtocol(_FormProtocol):
    def respond(self, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        out = [f'<{op.name}Response xmlns="{self.namespace}">']
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper") or f"{op.name}Result"
            out.append(f"<{wrapper}>")
            if result:
                write_structure_members(shape, result, out)
            out.append(f"</{wrapper}>")
        out.append(
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op.name}Response>"
        )
        return HttpResponse(200, {"Content-Type": "text/xml"}, "".join(out).encode())

    def error(self, err: AwsError, request_id: str) -> HttpResponse:
        body = (
            f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{err.sender}</Type>'
            f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return HttpResponse(err.status, {"Content-Type": "text/xml", **err.headers}, body.encode())
