"""Flow logs: the API (ENI, subnet and VPC resources, describe filters, delete, validation)
and the records real flows leave in CloudWatch Logs and in the s3 folder."""

from __future__ import annotations

import glob
import gzip
import os
import socket

import pytest
from botocore.exceptions import ClientError

from .conftest import CONSUMER
from .dpworld import build, exchange, fast, wait_healthy
from .stacks import wait_for

ROLE = f"arn:aws:iam::{CONSUMER}:role/flow-logs"


@pytest.fixture
def settings(settings, tmp_path):
    settings.flow_log_s3_root = str(tmp_path / "s3")
    return fast(settings)


@pytest.fixture
def world(server, clients):
    w = build(server, clients, sg_port=None)
    yield w
    w.stop()


def _held(host):
    s = socket.create_connection((host, 8443), timeout=3)
    s.sendall(b"ping\n")
    s.settimeout(1.0)
    with pytest.raises(TimeoutError):
        s.recv(10)
    s.close()


def test_flow_log_api(server, clients):
    ec2 = clients("ec2", account=CONSUMER)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZoneId="use1-az1")[
        "Subnet"
    ]["SubnetId"]
    out = ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[vpc],
        TrafficType="ALL",
        LogGroupName="g1",
        DeliverLogsPermissionArn=ROLE,
    )
    assert out["Unsuccessful"] == [] and len(out["FlowLogIds"]) == 1
    vpc_fl = out["FlowLogIds"][0]
    sub_fl = ec2.create_flow_logs(
        ResourceType="Subnet",
        ResourceIds=[sub, "subnet-0123456789abcdef0"],
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::my-bucket/pre",
        MaxAggregationInterval=60,
        LogFormat="${version} ${interface-id} ${flow-direction} ${action}",
    )
    assert len(sub_fl["FlowLogIds"]) == 1
    assert [u["Error"]["Code"] for u in sub_fl["Unsuccessful"]] == ["InvalidSubnetID.NotFound"]
    sub_fl = sub_fl["FlowLogIds"][0]
    # the same configuration again: refused per resource
    again = ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[vpc],
        TrafficType="ALL",
        LogGroupName="g1",
        DeliverLogsPermissionArn=ROLE,
    )
    assert again["FlowLogIds"] == []
    assert again["Unsuccessful"][0]["Error"]["Code"] == "FlowLogAlreadyExists"

    logs = {f["FlowLogId"]: f for f in ec2.describe_flow_logs()["FlowLogs"]}
    assert set(logs) == {vpc_fl, sub_fl}
    v = logs[vpc_fl]
    assert (v["ResourceId"], v["TrafficType"], v["LogDestinationType"], v["LogGroupName"]) == (
        vpc,
        "ALL",
        "cloud-watch-logs",
        "g1",
    )
    assert v["LogDestination"] == f"arn:aws:logs:us-east-1:{CONSUMER}:log-group:g1"
    assert v["MaxAggregationInterval"] == 600  # AWS's default
    assert v["LogFormat"].split()[:3] == ["${version}", "${account-id}", "${interface-id}"]
    s = logs[sub_fl]
    assert s["LogFormat"] == "${version} ${interface-id} ${flow-direction} ${action}"
    assert s["LogDestination"] == "arn:aws:s3:::my-bucket/pre" and "LogGroupName" not in s

    def ids(**filters):
        f = [{"Name": k.replace("_", "-"), "Values": [v]} for k, v in filters.items()]
        return {x["FlowLogId"] for x in ec2.describe_flow_logs(Filters=f)["FlowLogs"]}

    assert ids(resource_id=sub) == {sub_fl}
    assert ids(traffic_type="ALL") == {vpc_fl}
    assert ids(log_destination_type="s3") == {sub_fl}
    assert ids(log_group_name="g1") == {vpc_fl}

    for bad in (
        dict(MaxAggregationInterval=30),
        dict(LogFormat="${version} ${no-such-field}"),
        dict(TrafficType="SOME"),
        dict(DeliverLogsPermissionArn=None),
    ):
        kw = dict(
            ResourceType="VPC",
            ResourceIds=[vpc],
            TrafficType="ACCEPT",
            LogGroupName="g2",
            DeliverLogsPermissionArn=ROLE,
        )
        kw.update(bad)
        kw = {k: v for k, v in kw.items() if v is not None}
        with pytest.raises(ClientError) as e:
            ec2.create_flow_logs(**kw)
        assert e.value.response["Error"]["Code"] == "InvalidParameter", bad
    assert ids() == {vpc_fl, sub_fl}  # bad input changed nothing

    gone = ec2.delete_flow_logs(FlowLogIds=[vpc_fl, "fl-0123456789abcdef0"])
    assert [u["ResourceId"] for u in gone["Unsuccessful"]] == ["fl-0123456789abcdef0"]
    assert ids() == {sub_fl}
    # another account sees none of them
    assert clients("ec2").describe_flow_logs()["FlowLogs"] == []


def test_vpc_and_subnet_flow_logs_record_real_flows(server, clients, world, tmp_path):
    # privlink up says where the s3 destinations' objects go
    assert f"flow logs to s3 destinations are written under {tmp_path / 's3'}" in (
        server.app.runtime.hooks["dataplane"].banner()
    )
    ec2 = clients("ec2", account=CONSUMER)
    eni = world.enis[0]
    # the whole VPC, ACCEPT only, to CloudWatch Logs; the ENI's subnet, REJECT only, to s3
    ec2.create_flow_logs(
        ResourceType="VPC",
        ResourceIds=[world.cvpc],
        TrafficType="ACCEPT",
        LogGroupName="vpc-accepts",
        DeliverLogsPermissionArn=ROLE,
        MaxAggregationInterval=60,
    )
    ec2.create_flow_logs(
        ResourceType="Subnet",
        ResourceIds=[eni["SubnetId"]],
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flow-bucket/team",
        MaxAggregationInterval=60,
        LogFormat="${version} ${interface-id} ${srcaddr} ${dstport} ${action} ${flow-direction} ${vpc-id} ${az-id}",
    )
    wait_healthy(clients, world.stack.tg_arn)
    host = world.eni_host(0)
    wait_for(lambda: server.app.runtime.hooks["dataplane"].listeners, what="listeners")
    _held(host)  # no rule yet: REJECT
    ec2.authorize_security_group_ingress(
        GroupId=world.sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
            }
        ],
    )
    assert exchange(host, 8443) == b"ping\n"  # ACCEPT

    logs = clients("logs", account=CONSUMER)

    def accepts():
        try:
            return logs.filter_log_events(logGroupName="vpc-accepts")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None

    events = wait_for(accepts, timeout=10, what="ACCEPT records of the VPC flow log")
    assert {e["logStreamName"] for e in events} == {f"{eni['NetworkInterfaceId']}-accept"}
    assert all(e["message"].split()[12] == "ACCEPT" for e in events)  # no REJECT here
    assert {e["message"].split()[2] for e in events} == {eni["NetworkInterfaceId"]}

    def s3_files():
        return glob.glob(
            os.path.join(
                str(tmp_path / "s3"),
                "flow-bucket/team/AWSLogs",
                CONSUMER,
                "vpcflowlogs/us-east-1/*/*/*",
                f"{CONSUMER}_vpcflowlogs_us-east-1_fl-*.log.gz",
            )
        )

    az_id = ec2.describe_subnets(SubnetIds=[eni["SubnetId"]])["Subnets"][0]["AvailabilityZoneId"]
    (path,) = wait_for(s3_files, timeout=10, what="the s3 flow-log object")
    with gzip.open(path, "rt") as f:
        header, *lines = f.read().splitlines()
    assert header == "version interface-id srcaddr dstport action flow-direction vpc-id az-id"
    assert lines == [
        f"2 {eni['NetworkInterfaceId']} 10.10.1.254 8443 REJECT ingress {world.cvpc} {az_id}"
    ]
