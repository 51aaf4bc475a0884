"""SNS subscription filter policies (sans-IO).

Supported: exact strings/numbers/booleans/null, ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but`` (value, list or ``{"prefix": …}``), ``numeric``
ranges and ``exists``, on message attributes (``FilterPolicyScope`` MessageAttributes) or
on a JSON message body (MessageBody, keys may nest). Anything else is refused when the
policy is set, so a policy privlink accepts is one it applies.
"""

from __future__ import annotations

import json
from typing import Any

_OPS = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
_NUM_OPS = {"=", "<", "<=", ">", ">="}


class BadFilterPolicy(ValueError):
    pass


def parse_policy(text: str) -> dict:
    try:
        policy = json.loads(text)
    except ValueError as e:
        raise BadFilterPolicy(f"the policy is not valid JSON: {e}") from None
    if not isinstance(policy, dict) or not policy:
        raise BadFilterPolicy("the policy must be a non-empty JSON object")
    _check(policy, 0)
    return policy


def _check(node: dict, depth: int) -> None:
    if depth > 5:
        raise BadFilterPolicy("the policy nests too deeply")
    for key, cond in node.items():
        if isinstance(cond, dict):
            _check(cond, depth + 1)
            continue
        if not isinstance(cond, list) or not cond:
            raise BadFilterPolicy(f"the value of '{key}' must be a non-empty array")
        for c in cond:
            if isinstance(c, dict):
                if len(c) != 1:
                    raise BadFilterPolicy(f"each operator in '{key}' must have exactly one key")
                ((op, arg),) = c.items()
                if op not in _OPS:
                    raise BadFilterPolicy(f"privlink does not support the operator '{op}'")
                if op == "numeric":
                    if not isinstance(arg, list) or len(arg) not in (2, 4):
                        raise BadFilterPolicy("'numeric' takes [op, n] or [op, n, op, n]")
                    for i in range(0, len(arg), 2):
                        if arg[i] not in _NUM_OPS or not isinstance(arg[i + 1], int | float):
                            raise BadFilterPolicy("bad 'numeric' condition")


def _attr_value(attr: dict) -> Any:
    dtype = attr.get("Type", "String")
    value = attr.get("Value")
    if dtype.startswith("Number"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if dtype.startswith("String.Array"):
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            return value
    return value


def _match_one(cond, value, present: bool) -> bool:
    if isinstance(cond, dict):
        ((op, arg),) = cond.items()
        if op == "exists":
            return bool(arg) == present
        if not present:
            return op == "anything-but"
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(arg)
        if op == "equals-ignore-case":
            return isinstance(value, str) and value.lower() == str(arg).lower()
        if op == "anything-but":
            if isinstance(arg, dict):
                return not _match_one(arg, value, present)
            banned = arg if isinstance(arg, list) else [arg]
            return not any(_equal(b, value) for b in banned)
        if op == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            for i in range(0, len(arg), 2):
                o, n = arg[i], arg[i + 1]
                ok = {
                    "=": value == n,
                    "<": value < n,
                    "<=": value <= n,
                    ">": value > n,
                    ">=": value >= n,
                }[o]
                if not ok:
                    return False
            return True
        return False
    return present and _equal(cond, value)


def _equal(cond, value) -> bool:
    if isinstance(cond, int | float) and not isinstance(cond, bool):
        return isinstance(value, int | float) and not isinstance(value, bool) and value == cond
    return cond == value


def _match_node(policy: dict, data: dict) -> bool:
    for key, cond in policy.items():
        present = isinstance(data, dict) and key in data
        value = data.get(key) if present else None
        if isinstance(cond, dict):
            if not present or not isinstance(value, dict) or not _match_node(cond, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_match_one(c, v, present) for c in cond for v in values):
            return False
    return True


def matches(policy: dict, scope: str, message: str, attributes: dict) -> bool:
    """Does a message pass the filter policy?"""
    if scope == "MessageBody":
        try:
            body = json.loads(message)
        except ValueError:
            return False
        return isinstance(body, dict) and _match_node(policy, body)
    data = {k: _attr_value(v) for k, v in (attributes or {}).items()}
    return _match_node(policy, data)
