"""Model-driven XML writing and reading (sans-IO), shared by the ec2, query and rest-xml
protocols."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from botocore.model import Shape

from .errors import ValidationFailure
from .protocol import check_required
from .scalars import parse_scalar_text, scalar_text

STRICT = os.environ.get("PRIVLINK_STRICT_SERIALIZE") == "1"


def escape(text: str) -> str:
    # (five replace() passes run in C; str.translate with a dict looks up every character,
    # which showed in profiles of long values such as policy documents)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


class UnknownMember(Exception):
    pass


def _member_xml_name(mshape: Shape, mname: str) -> str:
    if mshape.type_name == "list" and mshape.serialization.get("flattened"):
        n = mshape.member.serialization.get("name")
        if n:
            return n
    return mshape.serialization.get("name") or mname


_NOT_IN_BODY = ("header", "headers", "statusCode", "uri", "querystring")
# id(shape) -> (shape, [(member name, member shape, XML name)]) of the members written in a
# body: the model is walked once per shape, not once per value written (a list of hundreds
# of endpoints writes the same structure hundreds of times)
_BODY_MEMBERS: dict[int, tuple[Shape, list[tuple[str, Shape, str]]]] = {}


def _body_members(shape: Shape) -> list[tuple[str, Shape, str]]:
    got = _BODY_MEMBERS.get(id(shape))
    if got is not None and got[0] is shape:
        return got[1]
    members = [
        (mname, mshape, _member_xml_name(mshape, mname))
        for mname, mshape in shape.members.items()
        if mshape.serialization.get("location") not in _NOT_IN_BODY
    ]
    _BODY_MEMBERS[id(shape)] = (shape, members)
    return members


def write_structure_members(shape: Shape, value: dict, out: list[str]) -> None:
    if STRICT:
        extra = set(value) - set(shape.members)
        if extra:
            raise UnknownMember(f"{shape.name}: unknown members {sorted(extra)}")
    for mname, mshape, xml_name in _body_members(shape):
        v = value.get(mname)
        if v is None:
            continue
        write_value(mshape, v, xml_name, out)


def write_value(shape: Shape, value, name: str, out: list[str]) -> None:
    t = shape.type_name
    if t == "structure":
        out.append(f"<{name}>")
        write_structure_members(shape, value, out)
        out.append(f"</{name}>")
    elif t == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                write_value(member, item, name, out)
        else:
            item_name = member.serialization.get("name") or "member"
            if not value:
                out.append(f"<{name}/>")
                return
            out.append(f"<{name}>")
            for item in value:
                write_value(member, item, item_name, out)
            out.append(f"</{name}>")
    elif t == "map":
        kname = shape.key.serialization.get("name") or "key"
        vname = shape.value.serialization.get("name") or "value"
        flat = shape.serialization.get("flattened")
        if not flat:
            out.append(f"<{name}>")
        for k, v in value.items():
            out.append(f"<{name}>" if flat else "<entry>")
            write_value(shape.key, k, kname, out)
            write_value(shape.value, v, vname, out)
            out.append(f"</{name}>" if flat else "</entry>")
        if not flat:
            out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(scalar_text(shape, value))}</{name}>")


# ---- reading (request bodies of rest-xml) ----------------------------------------------


def _tag(el: ET.Element) -> str:
    t = el.tag
    return t.rsplit("}", 1)[-1] if "}" in t else t


def read_structure(shape: Shape, el: ET.Element, path: str) -> dict:
    children: dict[str, list[ET.Element]] = {}
    for child in el:
        children.setdefault(_tag(child), []).append(child)
    out = {}
    for mname, mshape in shape.members.items():
        loc = mshape.serialization.get("location")
        if loc:
            continue
        xname = _member_xml_name(mshape, mname)
        nodes = children.get(xname)
        if not nodes:
            continue
        where = f"{path}.{mname}" if path else mname
        if mshape.type_name == "list" and mshape.serialization.get("flattened"):
            out[mname] = [read_value(mshape.member, n, where) for n in nodes]
        else:
            if len(nodes) > 1:
                raise ValidationFailure(f"Element {xname} appears more than once")
            out[mname] = read_value(mshape, nodes[0], where)
    if path:  # the top level is checked by the protocol, with members from every location
        check_required(shape, out, path)
    return out


def read_value(shape: Shape, el: ET.Element, path: str):
    t = shape.type_name
    if t == "structure":
        return read_structure(shape, el, path)
    if t == "list":
        item_name = shape.member.serialization.get("name") or "member"
        items = []
        for child in el:
            if _tag(child) != item_name:
                raise ValidationFailure(f"Unexpected element {_tag(child)} in {path}")
            items.append(read_value(shape.member, child, path))
        return items
    if t == "map":
        kname = shape.key.serialization.get("name") or "key"
        vname = shape.value.serialization.get("name") or "value"
        result = {}
        for entry in el:
            k = v = None
            for part in entry:
                if _tag(part) == kname:
                    k = read_value(shape.key, part, path)
                elif _tag(part) == vname:
                    v = read_value(shape.value, part, path)
            if k is None:
                raise ValidationFailure(f"Map entry without key in {path}")
            result[k] = v
        return result
    if len(el):
        raise ValidationFailure(f"Unexpected child elements in {path}")
    return parse_scalar_text(shape, el.text or "", path)


def parse_document(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValidationFailure("DTDs are not allowed in request bodies")
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise ValidationFailure(f"The XML you provided was not well-formed: {e}") from None
