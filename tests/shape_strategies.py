"""Hypothesis strategies derived from botocore shapes, for the wire round-trip tests.

``ShapeStrategies(protocol, direction)`` builds, for any botocore shape, a strategy producing
Python values of the kind botocore clients accept (requests) and return (responses):
str, int, float, bool, bytes, UTC datetimes, lists, dicts. Values respect what the shape
declares (``required``, ``min``/``max``, ``enum``) and what the wire can carry at all (text
from the characters XML 1.0 allows; header values from visible ASCII).
"""

from __future__ import annotations

import datetime as dt
import string

from botocore.model import Shape
from hypothesis import strategies as st

UTC = dt.UTC

# Characters any AWS protocol can carry in a string member: XML 1.0 allows TAB, LF, CR and
# everything from U+0020 except surrogates and U+FFFE/U+FFFF. The alphabet mixes plain ASCII
# (all of it, markup- and URL-significant characters included) with whitespace, multi-byte,
# bidi, line-separator and astral code points. A fixed alphabet keeps generation fast.
XML_ALPHABET = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " \t\n\r"
    + "\u00a0\u00e9\u00df\u0394\u0416\u05d0\u0627\u2028\u200b\u20ac\u4e2d\ufeff\ufffd"
    + "\U00010348\U0001f600\U0010fffd"
)
XML_TEXT_CHARS = st.sampled_from(XML_ALPHABET)
# Header values: visible ASCII with inner spaces (HTTP trims the ends and cannot carry
# control characters).
_HEADER_ALPHABET = string.ascii_letters + string.digits + "-_.:/=+ ,;"

TS_MIN = dt.datetime(2000, 1, 1)
TS_MAX = dt.datetime(2099, 12, 31)


def timestamps(whole_seconds: bool = False) -> st.SearchStrategy[dt.datetime]:
    """UTC datetimes with whole seconds or milliseconds (what AWS timestamps carry)."""
    base = st.datetimes(min_value=TS_MIN, max_value=TS_MAX).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    )
    if whole_seconds:
        return base
    return st.one_of(
        base,
        st.tuples(base, st.integers(0, 999)).map(lambda t: t[0].replace(microsecond=t[1] * 1000)),
    )


_JSON_DOC = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

MAX_DEPTH = 6


def _bounds(shape: Shape, lo: int, hi: int, span: int) -> tuple[int, int]:
    """Size bounds from the shape's min/max, kept small: at most ``span`` above the min."""
    mn = int(shape.metadata.get("min", 0) or 0)
    mx = shape.metadata.get("max")
    lo = max(lo, mn)
    hi = min(hi, lo + span)
    if mx is not None:
        hi = min(hi, int(mx))
    return lo, max(lo, hi)


class ShapeStrategies:
    """Strategies for the values of botocore shapes.

    ``protocol``: ec2 | query | json | rest-xml. ``direction``: request | response.
    For the form protocols (ec2, query) a required structure is generated with at least one
    member and a required list/map with at least one entry, because an empty one sends
    nothing on that wire (botocore's serializer writes no key for it).
    """

    def __init__(self, protocol: str, direction: str):
        self.protocol = protocol
        self.direction = direction
        self.form = protocol in ("ec2", "query")

    # -- entry points
    def top(self, shape: Shape | None) -> st.SearchStrategy[dict]:
        if shape is None:
            return st.just({})
        return self.structure(shape, depth=0, required=False)

    def value(
        self, shape: Shape, *, depth: int, required: bool = False, location: str | None = None
    ):
        t = shape.type_name
        if t == "structure":
            if shape.is_document_type:
                return _JSON_DOC
            return self.structure(shape, depth=depth, required=required)
        if t == "list":
            return self.list(shape, depth=depth, required=required, location=location)
        if t == "map":
            return self.map(shape, depth=depth, required=required)
        return self.scalar(shape, location=location)

    # -- containers
    def structure(self, shape: Shape, *, depth: int, required: bool):
        members = {}
        for name, mshape in shape.members.items():
            loc = mshape.serialization.get("location")
            if loc in ("headers", "statusCode") or mshape.serialization.get("eventstream"):
                continue  # header maps / status codes: not used by the services privlink serves
            if mshape.serialization.get("hostLabel"):
                continue
            members[name] = mshape
        req = [n for n in shape.required_members if n in members]
        if shape.is_tagged_union:
            return st.one_of(
                *[
                    self.value(m, depth=depth + 1, required=True).map(lambda v, n=n: {n: v})
                    for n, m in members.items()
                ]
            )
        fixed = {
            n: self.value(
                members[n],
                depth=depth + 1,
                required=True,
                location=members[n].serialization.get("location"),
            )
            for n in req
        }
        optional = {}
        if depth < MAX_DEPTH:
            optional = {
                n: self.value(m, depth=depth + 1, location=m.serialization.get("location"))
                for n, m in members.items()
                if n not in fixed
            }
        strat = st.fixed_dictionaries(fixed, optional=optional)
        if self.form and required and optional:
            # an empty structure is not on the form wire at all: make this one carry something
            name_strat = st.sampled_from(sorted(optional))
            strat = st.tuples(strat, name_strat).flatmap(
                lambda t: (
                    st.just(t[0])
                    if form_carries(self.protocol, shape, t[0])
                    else self.value(members[t[1]], depth=depth + 1, required=True).map(
                        lambda v, base=t[0], n=t[1]: {**base, n: v}
                    )
                )
            )
            strat = strat.filter(lambda v: form_carries(self.protocol, shape, v))
        return strat

    def list(self, shape: Shape, *, depth: int, required: bool, location: str | None):
        lo = 1 if (required and self.form) else 0
        hi = 2 if depth < MAX_DEPTH else 1
        lo, hi = _bounds(shape, lo, hi, 2)
        item = self.value(shape.member, depth=depth + 1, required=True, location=location)
        return st.lists(item, min_size=lo, max_size=hi)

    def map(self, shape: Shape, *, depth: int, required: bool):
        lo = 1 if (required and self.form) else 0
        lo, hi = _bounds(shape, lo, 2, 2)
        keys = self.scalar(shape.key, location=None)
        vals = self.value(shape.value, depth=depth + 1, required=True)
        return st.dictionaries(keys, vals, min_size=lo, max_size=hi)

    # -- scalars
    def scalar(self, shape: Shape, *, location: str | None):
        t = shape.type_name
        meta = shape.metadata
        if t in ("string", "character"):
            if shape.enum:
                return st.sampled_from(shape.enum)
            lo, hi = _bounds(shape, 1 if location == "uri" else 0, 10, 10)
            if t == "character":
                lo, hi = 1, 1
            if location in ("header", "headers"):
                return (
                    st.text(_HEADER_ALPHABET, min_size=max(lo, 1), max_size=max(hi, 1))
                    .map(str.strip)
                    .filter(bool)
                )
            return st.text(XML_ALPHABET, min_size=lo, max_size=hi)
        if t in ("integer", "long"):
            width = 31 if t == "integer" else 53
            lo = int(meta.get("min", -(2**width)))
            hi = int(meta.get("max", 2**width - 1))
            return st.integers(lo, hi)
        if t in ("float", "double"):
            lo = meta.get("min")
            hi = meta.get("max")
            floats = st.floats(
                min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, width=64
            )
            if self.direction == "response":
                # handlers may return an int for a double member
                ints = st.integers(
                    int(lo) if lo is not None else -(2**40), int(hi) if hi is not None else 2**40
                )
                return st.one_of(floats, ints)
            return floats
        if t == "boolean":
            return st.booleans()
        if t == "timestamp":
            when = timestamps(whole_seconds=location == "header")
            if self.direction == "response":
                # handlers may return a datetime or epoch seconds (int, or float with ms)
                return st.one_of(
                    when,
                    when.map(lambda d: int(d.timestamp())),
                    when.map(lambda d: round(d.timestamp(), 3)),
                )
            return when
        if t == "blob":
            lo, hi = _bounds(shape, 0, 24, 24)
            blobs = st.binary(min_size=lo, max_size=hi)
            if self.direction == "response":
                # handlers may return text for a blob member (sent as its UTF-8 bytes)
                return st.one_of(blobs, st.text(XML_ALPHABET, min_size=lo, max_size=hi))
            return blobs
        raise NotImplementedError(f"no strategy for shape type {t} ({shape.name})")


# ---- what the form wire (ec2, query) carries ----------------------------------------


def form_prune(shape: Shape, value, *, drop_empty_lists: bool):
    """``value`` as it survives botocore's form serializer: an empty structure or map is
    not written at all (no key); an empty list is not written by ec2 and is written as
    ``Name=`` by query (read back as []). A list item that vanishes leaves no key either.
    Returns None for a value that vanishes."""
    t = shape.type_name
    if t == "structure" and not shape.is_document_type:
        out = {}
        for name, v in value.items():
            pv = form_prune(shape.members[name], v, drop_empty_lists=drop_empty_lists)
            if pv is not None:
                out[name] = pv
        return out or None
    if t == "list":
        if not value:
            return None if drop_empty_lists else []
        kept = [form_prune(shape.member, v, drop_empty_lists=drop_empty_lists) for v in value]
        kept = [k for k in kept if k is not None]
        return kept or None
    if t == "map":
        if not value:
            return None
        out = {}
        for k, v in value.items():
            pv = form_prune(shape.value, v, drop_empty_lists=drop_empty_lists)
            out[k] = (
                pv
                if pv is not None
                else {"structure": {}, "list": [], "map": {}}.get(shape.value.type_name, "")
            )
        return out
    return value


def form_carries(protocol: str, shape: Shape, value) -> bool:
    """Does ``value`` put anything on the form wire, with everything the shape requires?"""
    pruned = form_prune(shape, value, drop_empty_lists=protocol == "ec2")
    return pruned is not None and _has_required(shape, pruned)


def _has_required(shape: Shape, value) -> bool:
    t = shape.type_name
    if t == "structure" and not shape.is_document_type:
        if any(r not in value for r in shape.required_members):
            return False
        return all(_has_required(shape.members[k], v) for k, v in value.items())
    if t == "list":
        return all(_has_required(shape.member, v) for v in value)
    if t == "map":
        return all(_has_required(shape.value, v) for v in value.values())
    return True
