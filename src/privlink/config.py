"""privlink's settings: defaults, overridden by a TOML config file, overridden by flags.

Example ``privlink.toml``::

    default_account = "000000000000"   # account for access keys privlink does not know
    strict_auth = false                 # verify every SigV4 signature

    [[credentials]]                     # keys that act as a given user or role
    access_key_id = "AKIAPROVIDER00000001"
    secret_access_key = "provider-secret"    # declared secret: signatures are checked
    arn = "arn:aws:iam::111111111111:user/platform"

    [quotas]
    allowed_principals_per_service = 50
    interface_endpoints_per_vpc = 50

    [availability_zones]
    shuffle_per_account = true          # us-east-1a is a different AZ ID in each account
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


@dataclass
class CredentialEntry:
    access_key_id: str
    arn: str
    secret_access_key: str | None = None


@dataclass
class Quotas:
    vpcs_per_region: int = 5
    allowed_principals_per_service: int = 50
    interface_endpoints_per_vpc: int = 50
    endpoint_services_per_region: int = 50
    network_load_balancers_per_region: int = 50
    listeners_per_load_balancer: int = 50
    targets_per_target_group: int = 1000
    target_groups_per_region: int = 3000
    connection_notifications_per_service: int = 10
    hosted_zones_per_account: int = 500
    sns_topics_per_account: int = 100000
    sns_subscriptions_per_topic: int = 12500000


@dataclass
class Timing:
    """How long privlink's simulated asynchronous work takes, in seconds."""

    load_balancer_provisioning: float = 2.0
    endpoint_service_pending: float = 1.0
    endpoint_pending: float = 1.0
    endpoint_deleting: float = 1.0
    deleted_endpoint_visible: float = 600.0
    private_dns_verification: float = 1.0
    private_dns_verification_retry_window: float = 10.0
    flow_log_aggregation_interval: float | None = None  # None: the flow log's own (60/600 s)
    idle_timeout_floor: float = 60.0  # lowest tcp.idle_timeout.seconds accepted (AWS: 60)
    # how long AWS's shortest health-check interval (5 s) lasts in privlink: below 5, the
    # checker runs every interval and timeout faster by health_check_interval_floor / 5 (tests)
    health_check_interval_floor: float = 5.0
    metrics_flush_interval: float = 2.0  # in-memory metrics -> CloudWatch store
    # PeakBytesPerSecond: the highest average rate over windows of this length (AWS: 10 s)
    peak_bytes_window: float = 10.0
    retention_sweep_interval: float = 300.0  # expired log events / metric buckets pruned
    # Route 53 changes report PENDING for this long, then INSYNC (0: INSYNC at once)
    route53_change_propagation: float = 0.0
    # SNS HTTP/S retries follow the delivery policy (AWS default: 3 retries 20 s apart);
    # every retry delay is multiplied by this factor (1.0 = AWS's real timing)
    sns_retry_delay_scale: float = 0.25
    sns_http_timeout: float = 15.0  # per delivery attempt (AWS: 15 s)
    health_metrics_period: float = (
        5.0  # how often HealthyHostCount/UnHealthyHostCount are refreshed
    )


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    state_dir: str | None = None
    ephemeral: bool = False
    default_account: str = "000000000000"
    default_region: str = "us-east-1"
    strict_auth: bool = False
    durability: str = "normal"  # normal | full
    max_body_bytes: int = 2 * 1024 * 1024
    credentials: list[CredentialEntry] = field(default_factory=list)
    quotas: Quotas = field(default_factory=Quotas)
    timing: Timing = field(default_factory=Timing)
    shuffle_availability_zones: bool = True
    realm: str = "userspace"
    # the loopback blocks (127.<block>.0.0/16) this server gives to VPCs; two privlink servers
    # running at once on one machine need disjoint ranges
    realm_blocks: tuple[int, int] = (1, 254)
    dns_port: int | None = None  # None: 53 when permitted, else a free high port
    dns_enabled: bool = True
    dns_public_address: str = "127.0.2.53"  # where the public view answers (loopback)
    dns_max_udp_payload: int = 4096  # largest UDP answer (EDNS); without EDNS 512
    dns_tcp_idle_timeout: float = 10.0  # seconds a TCP client may stay silent
    dns_max_tcp_connections: int = 256  # open DNS TCP connections, all resolvers together
    dns_max_qps: float = 50000.0  # queries answered per second, all resolvers (0: unbounded)
    dataplane_enabled: bool = True
    # where flow logs with the s3 destination are written (None: <state dir>/s3, or a
    # temporary folder for --ephemeral servers)
    flow_log_s3_root: str | None = None
    health_checks_enabled: bool = True
    metric_retention_days: float = 15.0  # 1-minute metric buckets (AWS: 15 days)
    metric_high_resolution_retention_hours: float = 3.0  # 1-second buckets (AWS: 3 hours)

    def state_path(self) -> str | None:
        if self.ephemeral:
            return None
        base = self.state_dir or default_state_dir()
        return os.path.join(base, "state.sqlite3")


def default_state_dir() -> str:
    root = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return os.path.join(root, "privlink")


_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ARN_RE = re.compile(r"^arn:aws:(iam|sts)::(\d{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)$")


def _merge(obj, data: dict, where: str):
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown setting '{key}'")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key} must be a table")
            _merge(current, value, f"{where}.{key}")
        else:
            if current is not None and not _same_kind(current, value):
                raise ConfigError(
                    f"{where}.{key} must be {_KIND_NAMES.get(type(current), 'a ' + type(current).__name__)}"
                )
            setattr(obj, key, tuple(value) if isinstance(current, tuple) else value)


_KIND_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


def _same_kind(current, value) -> bool:
    """Does a TOML value fit a setting whose default is ``current``? (bool is not an int.)"""
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, int | float)
    if isinstance(current, tuple):
        return isinstance(value, list | tuple) and len(value) == len(current)
    return isinstance(value, type(current))


def load_settings(path: str | None = None, **overrides) -> Settings:
    s = Settings()
    if path:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
        creds = data.pop("credentials", [])
        azs = data.pop("availability_zones", {})
        if "shuffle_per_account" in azs:
            data["shuffle_availability_zones"] = azs.pop("shuffle_per_account")
        _merge(s, data, "config")
        for i, c in enumerate(creds):
            if not isinstance(c, dict) or "access_key_id" not in c or "arn" not in c:
                raise ConfigError(f"config: credentials[{i}] needs access_key_id and arn")
            if not _ARN_RE.match(c["arn"]):
                raise ConfigError(
                    f"config: credentials[{i}].arn '{c['arn']}' is not an IAM user, role or root ARN"
                )
            s.credentials.append(
                CredentialEntry(c["access_key_id"], c["arn"], c.get("secret_access_key"))
            )
    for key, value in overrides.items():
        if value is not None:
            setattr(s, key, value)
    if not _ACCOUNT_RE.match(s.default_account):
        raise ConfigError(f"default_account must be 12 digits, not '{s.default_account}'")
    if s.dns_port is not None and not 0 <= s.dns_port <= 65535:
        raise ConfigError(f"dns_port must be between 0 and 65535, not {s.dns_port}")
    if s.realm != "userspace":
        raise ConfigError(
            f"realm '{s.realm}' is not available; privlink runs the userspace realm "
            "(network namespaces are not implemented yet)"
        )
    lo, hi = s.realm_blocks
    if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 254):
        raise ConfigError("realm_blocks must be two whole numbers, 1 <= first <= last <= 254")
    if s.durability not in ("normal", "full"):
        raise ConfigError("durability must be 'normal' or 'full'")
    for name in ("port", "dns_port"):
        value = getattr(s, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535
        ):
            raise ConfigError(f"{name} must be between 0 and 65535, not {value}")
    if s.max_body_bytes <= 0:
        raise ConfigError(f"max_body_bytes must be positive, not {s.max_body_bytes}")
    return s
