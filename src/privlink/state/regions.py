"""Regions privlink knows and their Availability Zones, with AWS's per-account mapping of
AZ names to AZ IDs.

AZ IDs (``use1-az1``) name the same physical zone in every account; AZ names
(``us-east-1a``) are mapped independently per account. privlink derives a stable
permutation per (account, region), so ``us-east-1a`` is ``use1-az4`` in one account and
``use1-az1`` in another.
"""

from __future__ import annotations

import hashlib
import random

REGION_AZ_IDS: dict[str, list[str]] = {
    "us-east-1": [f"use1-az{i}" for i in range(1, 7)],
    "us-east-2": [f"use2-az{i}" for i in range(1, 4)],
    "us-west-1": ["usw1-az1", "usw1-az3"],
    "us-west-2": [f"usw2-az{i}" for i in range(1, 5)],
    "eu-west-1": [f"euw1-az{i}" for i in range(1, 4)],
    "eu-west-2": [f"euw2-az{i}" for i in range(1, 4)],
    "eu-central-1": [f"euc1-az{i}" for i in range(1, 4)],
    "ap-southeast-1": [f"apse1-az{i}" for i in range(1, 4)],
    "ap-southeast-2": [f"apse2-az{i}" for i in range(1, 4)],
    "ap-northeast-1": ["apne1-az1", "apne1-az2", "apne1-az4"],
    "ap-south-1": [f"aps1-az{i}" for i in range(1, 4)],
    "ca-central-1": ["cac1-az1", "cac1-az2", "cac1-az4"],
    "sa-east-1": [f"sae1-az{i}" for i in range(1, 4)],
}

# the names AWS gives these Regions (DescribeAvailabilityZones' GroupLongName is "<name> 1")
REGION_LONG_NAMES: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-central-1": "Europe (Frankfurt)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)",
}


def supported_region(region: str) -> bool:
    return region in REGION_AZ_IDS


def name_to_id_map(account: str, region: str, shuffle: bool = True) -> dict[str, str]:
    """This account's AZ names -> AZ IDs for ``region`` (empty for an unknown region)."""
    ids = list(REGION_AZ_IDS.get(region, []))
    if shuffle:
        seed = int.from_bytes(hashlib.sha256(f"{account}/{region}".encode()).digest()[:8], "big")
        random.Random(seed).shuffle(ids)
    return {f"{region}{chr(ord('a') + i)}": zid for i, zid in enumerate(ids)}
