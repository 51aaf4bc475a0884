"""Availability Zones: real per-region lists, and AWS's per-account name -> ID mapping.

AZ IDs (``use1-az1``) name the same physical zone in every account; AZ names
(``us-east-1a``) are mapped independently per account. privlink derives a stable
permutation per (account, region), so ``us-east-1a`` is ``use1-az4`` in one account and
``use1-az1`` in another; the ``shuffle_availability_zones`` setting turns that off.
"""

from __future__ import annotations

from ...api.errors import AwsError
from ...state.regions import REGION_AZ_IDS, REGION_LONG_NAMES, name_to_id_map
from ..base import RequestContext, operation
from .common import apply_filters


def zone_ids(region: str) -> list[str]:
    try:
        return REGION_AZ_IDS[region]
    except KeyError:
        raise AwsError(
            "InvalidParameterValue",
            f"privlink does not know the Availability Zones of region '{region}'; known regions: "
            + ", ".join(sorted(REGION_AZ_IDS)),
        ) from None


class AzMap:
    """Both directions of one account's mapping in one region."""

    def __init__(self, account: str, region: str, shuffle: bool = True):
        self.region = region
        zone_ids(region)
        self.by_name = name_to_id_map(account, region, shuffle)
        self.by_id = {v: k for k, v in self.by_name.items()}

    @classmethod
    def of(cls, ctx: RequestContext, account: str | None = None) -> AzMap:
        return cls(account or ctx.account, ctx.region, ctx.settings.shuffle_availability_zones)

    def resolve(self, name: str | None = None, zone_id: str | None = None) -> tuple[str, str]:
        """(name, id) from either; an unknown one is AWS's InvalidParameterValue."""
        if name and zone_id:
            raise AwsError(
                "InvalidParameterCombination",
                "The parameters availabilityZone and availabilityZoneId cannot be used together",
            )
        if name:
            if name not in self.by_name:
                raise AwsError(
                    "InvalidParameterValue",
                    f"Value ({name}) for parameter availabilityZone is invalid. Subnets can currently "
                    f"only be created in the following availability zones: {', '.join(self.by_name)}.",
                )
            return name, self.by_name[name]
        if zone_id:
            if zone_id not in self.by_id:
                raise AwsError(
                    "InvalidParameterValue",
                    f"Value ({zone_id}) for parameter availabilityZoneId is invalid. Subnets can currently "
                    f"only be created in the following availability zones: {', '.join(self.by_id)}.",
                )
            return self.by_id[zone_id], zone_id
        first = next(iter(self.by_name))
        return first, self.by_name[first]


def _zone_items(ctx: RequestContext) -> list[dict]:
    azmap = AzMap.of(ctx)
    # an Availability Zone's zone group is "<region>-zg-1" (botocore's AvailabilityZone
    # shape); its network border group is the Region
    group = f"{ctx.region}-zg-1"
    long_name = f"{REGION_LONG_NAMES.get(ctx.region, ctx.region)} 1"
    out = []
    for name, zid in sorted(azmap.by_name.items()):
        out.append(
            {
                "ZoneName": name,
                "ZoneId": zid,
                "ZoneType": "availability-zone",
                "State": "available",
                "OptInStatus": "opt-in-not-required",
                "Messages": [],
                "RegionName": ctx.region,
                "GroupName": group,
                "GroupLongName": long_name,
                "NetworkBorderGroup": ctx.region,
            }
        )
    return out


_FILTERS = {
    "zone-name": lambda z: z["ZoneName"],
    "zone-id": lambda z: z["ZoneId"],
    "zone-type": lambda z: z["ZoneType"],
    "state": lambda z: z["State"],
    "region-name": lambda z: z["RegionName"],
    "group-name": lambda z: z["GroupName"],
    "group-long-name": lambda z: z["GroupLongName"],
    "parent-zone-id": lambda z: z.get("ParentZoneId"),
    "parent-zone-name": lambda z: z.get("ParentZoneName"),
    "opt-in-status": lambda z: z["OptInStatus"],
    "network-border-group": lambda z: z["NetworkBorderGroup"],
    "message": lambda z: [],
}


class _Z(dict):
    @property
    def tags(self):
        return {}


@operation("ec2")
def describe_availability_zones(ctx: RequestContext, params: dict) -> dict:
    zones = [_Z(z) for z in _zone_items(ctx)]
    names = params.get("ZoneNames")
    ids = params.get("ZoneIds")
    for wanted, key, label in ((names, "ZoneName", "zone name"), (ids, "ZoneId", "zone ID")):
        if wanted:
            have = {z[key] for z in zones}
            for w in wanted:
                if w not in have:
                    raise AwsError(
                        "InvalidParameterValue", f"The {label} '{w}' is not valid for this region"
                    )
            zones = [z for z in zones if z[key] in wanted]
    zones = apply_filters(zones, params.get("Filters"), _FILTERS)
    return {"AvailabilityZones": [dict(z) for z in zones]}


@operation("ec2")
def describe_regions(ctx: RequestContext, params: dict) -> dict:
    regions = [
        {
            "RegionName": r,
            "Endpoint": f"ec2.{r}.amazonaws.com",
            "OptInStatus": "opt-in-not-required",
        }
        for r in sorted(REGION_AZ_IDS)
    ]
    wanted = params.get("RegionNames")
    if wanted:
        regions = [r for r in regions if r["RegionName"] in wanted]
    return {"Regions": regions}
