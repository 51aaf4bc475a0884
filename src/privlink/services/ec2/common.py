"""What every EC2 operation shares: filters, paging, tags, ids and not-found errors."""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

from ...api.errors import AwsError
from ..base import RequestContext

FilterSpec = dict[str, Callable[[Any], Any]]


def _values(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, bool):
        return ["true" if v else "false"]
    if isinstance(v, list | tuple | set | frozenset):
        out = []
        for x in v:
            out.extend(_values(x))
        return out
    return [str(v)]


def _matches(pattern: str, value: str) -> bool:
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(value, pattern)
    return pattern == value


def apply_filters(items: Iterable, filters: list[dict] | None, spec: FilterSpec) -> list:
    """EC2 filter semantics: values of one filter are ORed, filters are ANDed; ``*`` and
    ``?`` are wildcards; ``tag:<key>``, ``tag-key`` and ``tag-value`` work for any resource
    with tags. An unknown filter name is an error, as in EC2."""
    items = list(items)
    for f in filters or []:
        name = f.get("Name")
        wanted = f.get("Values") or []
        if not name:
            raise AwsError("InvalidParameterValue", "The filter name must not be empty")
        if name.startswith("tag:"):
            key = name[4:]

            def getter(o, key=key):
                return o.tags.get(key)
        elif name == "tag-key":

            def getter(o):
                return list(o.tags)
        elif name == "tag-value":

            def getter(o):
                return list(o.tags.values())
        elif name in spec:
            getter = spec[name]
        else:
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
        items = [
            o
            for o in items
            if any(_matches(w, have) for have in _values(getter(o)) for w in wanted)
        ]
    return items


def paginate(
    ctx: RequestContext,
    items: list,
    params: dict,
    *,
    key: Callable[[Any], str] = lambda o: o.id,
    low: int = 5,
    high: int = 1000,
    ids_param: str | None = None,
) -> tuple[list, str | None]:
    """EC2 paging with MaxResults/NextToken over a stable order."""
    max_results = params.get("MaxResults")
    token = params.get("NextToken")
    if max_results is not None:
        if ids_param and params.get(ids_param):
            name = ids_param[0].lower() + ids_param[1:]
            raise AwsError(
                "InvalidParameterCombination",
                f"The parameter {name} cannot be used with the parameter maxResults",
            )
        if not low <= max_results <= high:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {max_results} ) for parameter maxResults is invalid. Parameter must be "
                f"between {low} and {high}.",
            )
    items = sorted(items, key=key)
    start = 0
    if token:
        after = _decode_token(token)
        start = next((i for i, o in enumerate(items) if key(o) > after), len(items))
    if max_results is None:
        return items[start:], None
    page = items[start : start + max_results]
    more = start + max_results < len(items)
    return page, (_encode_token(key(page[-1])) if more and page else None)


def _encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(("v1:" + last).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("v1:"):
        raise AwsError("InvalidNextToken", "The token provided is invalid.")
    return text[3:]


def tag_list(tags: dict[str, str] | None) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


_TAG_KEY_MAX = 128
_TAG_VALUE_MAX = 256


def check_tags(tags: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags:
        k = t.get("Key")
        v = t.get("Value", "") or ""
        if not k:
            raise AwsError("InvalidParameterValue", "Tag keys must not be empty")
        if len(k) > _TAG_KEY_MAX:
            raise AwsError(
                "InvalidParameterValue",
                f"Tag key exceeds the maximum length of {_TAG_KEY_MAX} characters",
            )
        if len(v) > _TAG_VALUE_MAX:
            raise AwsError(
                "InvalidParameterValue",
                f"Tag value exceeds the maximum length of {_TAG_VALUE_MAX} characters",
            )
        if k.lower().startswith("aws:"):
            raise AwsError(
                "InvalidParameterValue",
                "Tag keys starting with 'aws:' are reserved for internal use",
            )
        out[k] = v
    if len(out) > 50:
        raise AwsError("TagLimitExceeded", "The maximum number of tags per resource is 50")
    return out


def tags_from_specs(params: dict, resource_type: str) -> dict[str, str]:
    """The tags a TagSpecification list gives a resource of ``resource_type``."""
    out: dict[str, str] = {}
    for spec in params.get("TagSpecifications") or []:
        rtype = spec.get("ResourceType")
        if rtype is None:
            raise AwsError("InvalidParameterValue", "TagSpecification must specify a ResourceType")
        if rtype != resource_type:
            raise AwsError(
                "InvalidParameterValue",
                f"'{rtype}' is not a valid taggable resource type for this operation.",
            )
        out.update(check_tags(spec.get("Tags") or []))
    return out


def check_id(value: str, prefix: str, code: str, what: str) -> None:
    if not re.fullmatch(rf"{re.escape(prefix)}[0-9a-f]{{8,17}}", value or ""):
        raise AwsError(code, f'Invalid id: "{value}" (expecting "{prefix}...")')


def find_owned(ctx: RequestContext, cls, rid: str, code: str, message: str):
    """A resource of the caller's account and region, or the NotFound error AWS gives (the
    same for a missing id and another account's)."""
    obj = ctx.tx.get(cls, rid) if rid else None
    if obj is None or obj.owner != (ctx.account, ctx.region):
        raise AwsError(code, message)
    return obj


def select_by_ids(
    ctx: RequestContext, cls, ids: list[str] | None, code: str, message: Callable[[str], str]
) -> list:
    """Owned resources, or exactly those named by ``ids`` (any unknown id is an error)."""
    if ids:
        out = []
        for rid in dict.fromkeys(ids):
            out.append(find_owned(ctx, cls, rid, code, message(rid)))
        return out
    return list(ctx.tx.owned(cls, ctx.account, ctx.region))


def failed_item(resource_id: str, code: str, message: str) -> dict:
    """One item of an ``Unsuccessful`` list: EC2's batch calls answer HTTP 200 and name each
    id that failed, with its own error code."""
    return {"ResourceId": resource_id, "Error": {"Code": code, "Message": message}}
