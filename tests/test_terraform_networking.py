"""Terraform applies VPCs, subnets and security groups, re-plans clean, and destroys."""

from __future__ import annotations

import pytest

from privlink.terraform import provider_block

from .conftest import PROVIDER
from .tf import Terraform

pytestmark = pytest.mark.terraform

CONFIG = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

resource "aws_vpc" "provider" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_hostnames = true
  tags = { Name = "provider" }
}

resource "aws_subnet" "a" {
  vpc_id               = aws_vpc.provider.id
  cidr_block           = "10.20.1.0/24"
  availability_zone_id = "use1-az1"
  tags = { Name = "a" }
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "10.20.2.0/24"
  availability_zone = "us-east-1b"
}

resource "aws_security_group" "endpoint" {
  name        = "payments-endpoint-sg"
  description = "Clients to PrivateLink endpoint"
  vpc_id      = aws_vpc.provider.id
  ingress {
    description = "Clients to PrivateLink endpoint"
    from_port   = 8443
    to_port     = 8443
    protocol    = "tcp"
    cidr_blocks = ["10.20.0.0/16"]
  }
  ingress {
    from_port       = 9000
    to_port         = 9100
    protocol        = "tcp"
    security_groups = [aws_security_group.client.id]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "client" {
  name   = "client"
  vpc_id = aws_vpc.provider.id
}

output "vpc_id" { value = aws_vpc.provider.id }
"""


def test_vpc_subnet_security_group_apply_plan_destroy(server, clients, tmp_path):
    tf = Terraform(tmp_path / "tf")
    tf.write(provider_block(server.endpoint_url, access_key=PROVIDER) + CONFIG)
    tf.init()
    tf.apply()
    vpc_id = tf.output("vpc_id")
    ec2 = clients("ec2", account=PROVIDER)
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"] == "10.20.0.0/16"
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["payments-endpoint-sg"]}]
    )["SecurityGroups"]
    assert len(groups) == 1 and {p["FromPort"] for p in groups[0]["IpPermissions"]} == {8443, 9000}
    plan = tf.plan_exitcode()
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr[-2000:]
    assert "No changes." in plan.stdout
    tf.destroy(refresh=False)  # the plan has just read every resource
    assert ec2.describe_vpcs()["Vpcs"] == []
    assert ec2.describe_security_groups()["SecurityGroups"] == []
