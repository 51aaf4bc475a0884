"""CreateTags, DeleteTags and DescribeTags across every taggable EC2 resource.

Each module that defines a taggable resource registers its id prefix with
:func:`taggable`, so tagging works for VPCs, subnets, endpoints … through one mechanism.
"""

from __future__ import annotations

from ...api.errors import AwsError
from ..base import RequestContext, operation
from .common import apply_filters, check_tags, paginate

# id prefix -> (resource class, EC2 resource type, NotFound code)
TAGGABLE: dict[str, tuple[type, str, str]] = {}


def taggable(prefix: str, cls: type, resource_type: str, not_found_code: str) -> None:
    TAGGABLE[prefix] = (cls, resource_type, not_found_code)


def _lookup(ctx: RequestContext, rid: str):
    for prefix in sorted(TAGGABLE, key=len, reverse=True):
        if rid.startswith(prefix):
            cls, rtype, code = TAGGABLE[prefix]
            obj = ctx.tx.get(cls, rid)
            if obj is None or obj.owner != (ctx.account, ctx.region):
                raise AwsError(code, f"The ID '{rid}' does not exist")
            return obj, rtype
    raise AwsError("InvalidID", f"The ID '{rid}' is not valid")


@operation("ec2")
def create_tags(ctx: RequestContext, params: dict) -> dict:
    new = check_tags(params.get("Tags") or [])
    for rid in params["Resources"]:
        obj, _ = _lookup(ctx, rid)
        mine = ctx.tx.edit(obj)
        mine.tags.update(new)
        if len(mine.tags) > 50:
            raise AwsError(
                "TagLimitExceeded", f"The maximum number of tags for resource {rid} is 50"
            )
    return {}


@operation("ec2")
def delete_tags(ctx: RequestContext, params: dict) -> dict:
    tags = params.get("Tags")
    for rid in params["Resources"]:
        obj, _ = _lookup(ctx, rid)
        mine = ctx.tx.edit(obj)
        if not tags:
            mine.tags.clear()
            continue
        for t in tags:
            k = t.get("Key")
            if k in mine.tags and (
                "Value" not in t or t["Value"] is None or t["Value"] == mine.tags[k]
            ):
                del mine.tags[k]
    return {}


class _TagRow(dict):
    tags: dict = {}


@operation("ec2")
def describe_tags(ctx: RequestContext, params: dict) -> dict:
    rows = []
    for _prefix, (cls, rtype, _code) in TAGGABLE.items():
        for obj in ctx.tx.owned(cls, ctx.account, ctx.region):
            for k, v in obj.tags.items():
                rows.append(_TagRow(ResourceId=obj.id, ResourceType=rtype, Key=k, Value=v))
    rows = apply_filters(
        rows,
        params.get("Filters"),
        {
            "key": lambda r: r["Key"],
            "value": lambda r: r["Value"],
            "resource-id": lambda r: r["ResourceId"],
            "resource-type": lambda r: r["ResourceType"],
        },
    )
    page, token = paginate(
        ctx, rows, params, key=lambda r: f"{r['ResourceId']}\0{r['Key']}", low=5, high=1000
    )
    return {"Tags": [dict(r) for r in page], "NextToken": token}
