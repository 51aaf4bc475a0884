"""Dataclass <-> JSON for stored resources. Nothing is pickled.

Supported field types: str, int, float, bool, None, ``X | None``, ``list[X]``, ``dict[str, X]``,
``set[str]`` (stored sorted), nested dataclasses, ``Any`` (plain JSON). Unknown stored fields
are ignored and missing ones take the dataclass default, so adding a field needs no
migration.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from typing import Any


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def to_jsonable(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(to_jsonable(v) for v in obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def from_jsonable(tp, data):
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return from_jsonable(args[0], data)
        return data
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [from_jsonable(arg, v) for v in data]
    if origin is set:
        (arg,) = typing.get_args(tp) or (Any,)
        return {from_jsonable(arg, v) for v in data}
    if origin is dict:
        _, varg = typing.get_args(tp) or (str, Any)
        return {k: from_jsonable(varg, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = from_jsonable(hints[f.name], data[f.name])
        return tp(**kwargs)
    if tp is float and isinstance(data, int):
        return float(data)
    return data


def dumps(obj) -> str:
    return json.dumps(to_jsonable(obj), separators=(",", ":"), sort_keys=True)


def loads(cls, text: str):
    return from_jsonable(cls, json.loads(text))
