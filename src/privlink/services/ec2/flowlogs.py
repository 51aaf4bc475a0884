"""CreateFlowLogs, DescribeFlowLogs and DeleteFlowLogs for ENIs, subnets and VPCs.

Destinations: CloudWatch Logs (a log group in privlink's Logs), and ``s3`` — a privlink
extension that writes the objects AWS would write into a folder on this machine (see
docs/flow-logs.md). The records themselves are written by the data plane's flow-log writer.
"""

from __future__ import annotations

import re

from ...api.errors import AwsError
from ...state.ec2 import NetworkInterface, Subnet, Vpc
from ...state.flowlogs import DEFAULT_FORMAT, FlowLog
from ..base import RequestContext, new_id, operation
from .common import apply_filters, failed_item, paginate, tag_list, tags_from_specs
from .tags import taggable
from .vpcs import VPC_CASCADE_HOOKS

taggable("fl-", FlowLog, "vpc-flow-log", "InvalidFlowLogId.NotFound")

# fields of the flow log record formats (versions 2 to 8) privlink can fill
KNOWN_FIELDS = {
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
}
_RESOURCES = {
    "VPC": (Vpc, "InvalidVpcID.NotFound", "vpc"),
    "Subnet": (Subnet, "InvalidSubnetID.NotFound", "subnet"),
    "NetworkInterface": (
        NetworkInterface,
        "InvalidNetworkInterfaceID.NotFound",
        "networkInterface",
    ),
}
_LOG_GROUP_ARN = re.compile(r"^arn:aws:logs:([a-z0-9-]+):(\d{12}):log-group:([^:]+)(:\*)?$")
_S3_ARN = re.compile(r"^arn:aws:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")


def _check_format(fmt: str) -> str:
    tokens = fmt.split()
    if not tokens:
        raise AwsError("InvalidParameter", "LogFormat must name at least one field")
    for t in tokens:
        m = re.fullmatch(r"\$\{([a-z-]+)\}", t)
        if not m or m.group(1) not in KNOWN_FIELDS:
            raise AwsError("InvalidParameter", f"Unknown fields provided: {t}")
    return " ".join(tokens)


def flow_log_out(fl: FlowLog) -> dict:
    out = {
        "CreationTime": fl.created_at,
        "DeliverLogsStatus": "SUCCESS",
        "FlowLogId": fl.id,
        "FlowLogStatus": "ACTIVE",
        "ResourceId": fl.resource_id,
        "TrafficType": fl.traffic_type,
        "LogDestinationType": fl.destination_type,
        "LogDestination": fl.log_destination,
        "LogFormat": fl.log_format,
        "MaxAggregationInterval": fl.max_aggregation_interval,
        "Tags": tag_list(fl.tags),
    }
    if fl.log_group_name:
        out["LogGroupName"] = fl.log_group_name
    if fl.deliver_logs_permission_arn:
        out["DeliverLogsPermissionArn"] = fl.deliver_logs_permission_arn
    if fl.destination_type == "s3":
        out["DestinationOptions"] = {
            "FileFormat": fl.file_format,
            "HiveCompatiblePartitions": fl.hive_compatible_partitions,
            "PerHourPartition": fl.per_hour_partition,
        }
    return out


@operation("ec2")
def create_flow_logs(ctx: RequestContext, params: dict) -> dict:
    token = params.get("ClientToken")
    if token:
        same = [
            f for f in ctx.tx.owned(FlowLog, ctx.account, ctx.region) if f.client_token == token
        ]
        if same:
            return {"FlowLogIds": [f.id for f in same], "Unsuccessful": [], "ClientToken": token}
    rtype = params.get("ResourceType")
    if rtype not in _RESOURCES:
        raise AwsError(
            "InvalidParameter",
            f"privlink supports flow logs for VPC, Subnet and NetworkInterface resources, not {rtype}",
        )
    traffic = params.get("TrafficType")
    if traffic not in ("ACCEPT", "REJECT", "ALL"):
        raise AwsError("InvalidParameter", "TrafficType must be one of ACCEPT, REJECT or ALL")
    ids = params["ResourceIds"]
    if not ids or len(ids) > 1000:
        raise AwsError("InvalidParameter", "ResourceIds must name between 1 and 1000 resources")
    dtype = params.get("LogDestinationType", "cloud-watch-logs")
    group, dest = params.get("LogGroupName"), params.get("LogDestination")
    role = params.get("DeliverLogsPermissionArn")
    if dtype == "cloud-watch-logs":
        if group and dest:
            raise AwsError(
                "InvalidParameter",
                "Please only provide LogGroupName or only provide LogDestination.",
            )
        if dest:
            m = _LOG_GROUP_ARN.match(dest)
            if not m:
                raise AwsError(
                    "InvalidParameter",
                    f"LogDestination: {dest} is not a valid CloudWatch Logs log group ARN",
                )
            if m.group(2) != ctx.account or m.group(1) != ctx.region:
                raise AwsError(
                    "InvalidParameter",
                    "The log group must be in the same account and Region as the flow log",
                )
            group = m.group(3)
        if not group:
            raise AwsError(
                "InvalidParameter",
                "LogDestination or LogGroupName must be provided for cloud-watch-logs",
            )
        dest = f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{group}"
        if not role:
            raise AwsError(
                "InvalidParameter",
                "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs.",
            )
    elif dtype == "s3":
        if not dest or not _S3_ARN.match(dest):
            raise AwsError(
                "InvalidParameter",
                f"LogDestination: {dest} must be an S3 bucket ARN (arn:aws:s3:::bucket/prefix)",
            )
        if group:
            raise AwsError(
                "InvalidParameter", "LogGroupName is not valid with LogDestinationType s3"
            )
    else:
        raise AwsError(
            "InvalidParameter",
            f"privlink does not deliver flow logs to {dtype}; use cloud-watch-logs or s3",
        )
    interval = params.get("MaxAggregationInterval", 600)
    if interval not in (60, 600):
        raise AwsError("InvalidParameter", "MaxAggregationInterval must be 60 or 600")
    fmt = _check_format(params.get("LogFormat") or DEFAULT_FORMAT)
    opts = params.get("DestinationOptions") or {}
    if opts and dtype != "s3":
        raise AwsError(
            "InvalidParameter", "DestinationOptions are only valid for the s3 destination type"
        )
    if opts.get("FileFormat", "plain-text") != "plain-text":
        raise AwsError("InvalidParameter", "privlink writes plain-text flow log files only")
    tags = tags_from_specs(params, "vpc-flow-log")
    cls, code, label = _RESOURCES[rtype]
    ids_out, unsuccessful = [], []
    existing = list(ctx.tx.owned(FlowLog, ctx.account, ctx.region))
    for rid in dict.fromkeys(ids):
        obj = ctx.tx.get(cls, rid)
        if obj is None or obj.owner != (ctx.account, ctx.region):
            unsuccessful.append(failed_item(rid, code, f"The {label} ID '{rid}' does not exist"))
            continue
        if any(
            f.resource_id == rid and f.log_destination == dest and f.traffic_type == traffic
            for f in existing
        ):
            unsuccessful.append(
                failed_item(
                    rid,
                    "FlowLogAlreadyExists",
                    "There is an existing Flow Log with the same configuration and log destination.",
                )
            )
            continue
        fl = FlowLog(
            id=new_id("fl-"),
            account=ctx.account,
            region=ctx.region,
            resource_id=rid,
            resource_type=rtype,
            traffic_type=traffic,
            destination_type=dtype,
            log_group_name=group if dtype == "cloud-watch-logs" else None,
            log_destination=dest,
            deliver_logs_permission_arn=role,
            log_format=fmt,
            max_aggregation_interval=interval,
            hive_compatible_partitions=bool(opts.get("HiveCompatiblePartitions", False)),
            per_hour_partition=bool(opts.get("PerHourPartition", False)),
            client_token=token,
            tags=dict(tags),
            created_at=ctx.now,
        )
        ctx.tx.put(fl)
        existing.append(fl)
        ids_out.append(fl.id)
    out = {"FlowLogIds": ids_out, "Unsuccessful": unsuccessful}
    if token:
        out["ClientToken"] = token
    return out


@operation("ec2")
def describe_flow_logs(ctx: RequestContext, params: dict) -> dict:
    items = list(ctx.tx.owned(FlowLog, ctx.account, ctx.region))
    if params.get("FlowLogIds"):
        wanted = set(params["FlowLogIds"])
        items = [f for f in items if f.id in wanted]
    items = apply_filters(
        items,
        params.get("Filter"),
        {
            "deliver-log-status": lambda f: "SUCCESS",
            "log-destination-type": lambda f: f.destination_type,
            "flow-log-id": lambda f: f.id,
            "log-group-name": lambda f: f.log_group_name,
            "resource-id": lambda f: f.resource_id,
            "traffic-type": lambda f: f.traffic_type,
        },
    )
    page, token = paginate(ctx, items, params, low=1, high=1000)
    return {"FlowLogs": [flow_log_out(f) for f in page], "NextToken": token}


@operation("ec2")
def delete_flow_logs(ctx: RequestContext, params: dict) -> dict:
    unsuccessful = []
    for fid in params["FlowLogIds"]:
        fl = ctx.tx.get(FlowLog, fid)
        if fl is None or fl.owner != (ctx.account, ctx.region):
            unsuccessful.append(
                failed_item(
                    fid,
                    "InvalidFlowLogId.NotFound",
                    f"These flow log ids in the input list are not found: [TotalCount: 1] {fid}",
                )
            )
            continue
        ctx.tx.delete(fl)
    return {"Unsuccessful": unsuccessful}


def flow_logs_for_eni(tx, eni: NetworkInterface) -> list[FlowLog]:
    """Every flow log that covers ``eni``: its own, its subnet's and its VPC's."""
    return [
        f
        for f in tx.owned(FlowLog, eni.account, eni.region)
        if f.resource_id in (eni.id, eni.subnet_id, eni.vpc_id)
    ]


def _delete_with_vpc(ctx, vpc) -> None:
    """Flow logs do not block deleting a VPC in AWS; they go with it."""
    for f in list(ctx.tx.owned(FlowLog, ctx.account, ctx.region)):
        if f.resource_id == vpc.id:
            ctx.tx.delete(f)


VPC_CASCADE_HOOKS.append(_delete_with_vpc)
