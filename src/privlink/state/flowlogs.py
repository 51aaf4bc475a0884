"""VPC flow logs: which traffic of which ENIs, subnets or VPCs is logged where."""

from __future__ import annotations

from dataclasses import dataclass, field

from .store import Resource, resource

DEFAULT_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)


@resource("ec2.flow_log")
@dataclass(kw_only=True)
class FlowLog(Resource):
    """id is ``fl-`` + 17 hex."""

    resource_id: str  # vpc-…, subnet-… or eni-…
    resource_type: str  # VPC | Subnet | NetworkInterface
    traffic_type: str  # ACCEPT | REJECT | ALL
    destination_type: str = "cloud-watch-logs"  # cloud-watch-logs | s3
    log_group_name: str | None = None
    log_destination: str | None = None  # log group ARN or s3 ARN
    deliver_logs_permission_arn: str | None = None
    log_format: str = DEFAULT_FORMAT
    max_aggregation_interval: int = 600
    file_format: str = "plain-text"
    hive_compatible_partitions: bool = False
    per_hour_partition: bool = False
    client_token: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def fields(self) -> list[str]:
        return [f[2:-1] for f in self.log_format.split()]
