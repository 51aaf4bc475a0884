"""Scalar conversions shared by the wire protocols (sans-IO)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re

from botocore.model import Shape

from .errors import ValidationFailure

UTC = dt.UTC
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def check_text(value: str, where: str) -> str:
    """Refuse characters that no AWS XML document can carry."""
    if _ILLEGAL_XML.search(value):
        raise ValidationFailure(f"Invalid character in the value of {where}")
    return value


def parse_timestamp(text: str | int | float, where: str) -> dt.datetime:
    if isinstance(text, bool):
        raise ValidationFailure(f"Invalid timestamp for {where}")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValidationFailure(f"Invalid timestamp for {where}")
        try:
            return dt.datetime.fromtimestamp(text, UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise ValidationFailure(f"Invalid timestamp for {where}") from e
    s = text.strip()
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", s):
            return dt.datetime.fromtimestamp(float(s), UTC)
        v = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        try:
            from email.utils import parsedate_to_datetime

            v = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError) as e:
            raise ValidationFailure(f"Invalid timestamp '{s}' for {where}") from e
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return v.astimezone(UTC)


def as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return dt.datetime.fromtimestamp(float(value), UTC)


def format_timestamp(value, fmt: str) -> str | float:
    """Render a timestamp (datetime or epoch seconds) in the model's format."""
    when = as_datetime(value)
    if fmt == "unixtimestamp":
        ts = when.timestamp()
        return int(ts) if ts == int(ts) else round(ts, 3)
    if fmt == "rfc822":
        from email.utils import format_datetime

        return format_datetime(when, usegmt=True)
    # ISO 8601 with milliseconds, as AWS writes it
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def timestamp_format(shape: Shape, default: str) -> str:
    fmt = shape.serialization.get("timestampFormat")
    return (fmt or default).lower()


def parse_scalar_text(shape: Shape, text: str, where: str):
    """Convert the text form of a scalar (query strings, XML, headers) to its Python value."""
    t = shape.type_name
    if t in ("string", "character"):
        return check_text(text, where)
    if t in ("integer", "long"):
        try:
            return int(text.strip())
        except ValueError:
            raise ValidationFailure(
                f"Value ({text}) for parameter {where} is invalid. Expected an integer."
            ) from None
    if t in ("float", "double"):
        try:
            v = float(text)
        except ValueError:
            raise ValidationFailure(
                f"Value ({text}) for parameter {where} is invalid. Expected a number."
            ) from None
        return v
    if t == "boolean":
        low = text.strip().lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise ValidationFailure(
            f"Value ({text}) for parameter {where} is invalid. Expected: 'true' or 'false'."
        )
    if t == "timestamp":
        return parse_timestamp(text, where)
    if t == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailure(f"Value for parameter {where} is not valid base64.") from None
    raise ValidationFailure(f"Unsupported value for {where}")


def scalar_text(shape: Shape, value, ts_default: str = "iso8601") -> str:
    """Render a scalar for XML or a header."""
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        return str(format_timestamp(value, timestamp_format(shape, ts_default)))
    if t == "blob":
        if isinstance(value, str):
            value = value.encode()
        return base64.b64encode(value).decode()
    if t in ("float", "double"):
        f = float(value)
        return repr(f) if not f.is_integer() else str(f)
    return str(value)
