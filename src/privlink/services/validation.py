"""Model constraints (min/max length, ranges, patterns, enums) checked as AWS's JSON
services check them, with their message:

    1 validation error detected: Value 'bad name' at 'logGroupName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+

The wire parsers only check shapes and required members; a handler calls
:func:`check_constraints` when the service validates the rest before acting.
"""

from __future__ import annotations

import functools
import re

from botocore.model import Shape

from ..api.catalog import load_model
from ..api.errors import AwsError

_MAX_REPORTED = 3


@functools.cache
def _pattern(p: str) -> re.Pattern | None:
    try:
        return re.compile(p)
    except re.error:
        return None


def _show(value) -> str:
    if isinstance(value, list | dict):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _walk(shape: Shape, value, path: str, errors: list[str]) -> None:
    if value is None:
        return
    meta = shape.metadata
    t = shape.type_name
    where = path or shape.name

    def fail(why: str) -> None:
        errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: {why}")

    if t in ("string", "list", "map", "blob"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
    if t in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            fail(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(f"Member must have value less than or equal to {meta['max']}")
    if t == "string":
        if "pattern" in meta:
            rx = _pattern(meta["pattern"])
            if rx is not None and not rx.fullmatch(value):
                fail(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            fail(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif t == "structure":
        for mname, mshape in shape.members.items():
            if mname in value:
                _walk(mshape, value[mname], f"{path}.{mname}" if path else mname, errors)
    elif t == "list":
        for i, item in enumerate(value, 1):
            _walk(shape.member, item, f"{where}.{i}.member", errors)
    elif t == "map":
        for k, v in value.items():
            _walk(shape.key, k, f"{where}.key", errors)
            _walk(shape.value, v, f"{where}.{k}", errors)


def constraint_errors(shape: Shape, params: dict) -> list[str]:
    errors: list[str] = []
    _walk(shape, params, "", errors)
    return errors


def check_constraints(
    service: str, operation: str, params: dict, code: str, skip: tuple[str, ...] = ()
) -> None:
    """Raise ``AwsError(code)`` if ``params`` break the operation's model constraints
    (top-level members named in ``skip`` are left to the caller, e.g. large lists it
    checks while walking them anyway)."""
    op = load_model(service).operation_model(operation)
    if op.input_shape is None:
        return
    if skip:
        params = {k: v for k, v in params.items() if k not in skip}
    errors = constraint_errors(op.input_shape, params)
    if errors:
        n = len(errors)
        shown = "; ".join(errors[:_MAX_REPORTED])
        raise AwsError(code, f"{n} validation error{'s' if n > 1 else ''} detected: {shown}")
