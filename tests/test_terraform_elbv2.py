"""Terraform applies the seed's internal NLB, target group (with its health_check block),
listener and a target attachment, re-plans with no changes, and destroys."""

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
  cidr_block = "10.20.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "10.20.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "10.20.2.0/24"
  availability_zone = "us-east-1b"
}

resource "aws_lb" "svc" {
  name                             = "payments-svc-nlb"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = [aws_subnet.a.id, aws_subnet.b.id]
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "svc" {
  name        = "payments-svc-tg"
  port        = 8443
  protocol    = "TCP"
  vpc_id      = aws_vpc.provider.id
  target_type = "ip"
  health_check {
    protocol            = "TCP"
    port                = "8443"
    healthy_threshold   = 3
    unhealthy_threshold = 3
    interval            = 10
  }
}

resource "aws_lb_listener" "svc" {
  load_balancer_arn = aws_lb.svc.arn
  port              = 8443
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.svc.arn
  }
}

resource "aws_lb_target_group_attachment" "svc" {
  target_group_arn = aws_lb_target_group.svc.arn
  target_id        = "10.20.1.20"
  port             = 8443
}

output "lb_arn" { value = aws_lb.svc.arn }
output "lb_dns" { value = aws_lb.svc.dns_name }
output "tg_arn" { value = aws_lb_target_group.svc.arn }
"""


def test_seed_nlb_target_group_listener_apply_plan_destroy(server, clients, tmp_path):
    tf = Terraform(tmp_path / "tf")
    tf.write(provider_block(server.endpoint_url, access_key=PROVIDER) + CONFIG)
    tf.init()
    tf.apply()
    outputs = tf.outputs()
    lb_arn, tg_arn = outputs["lb_arn"], outputs["tg_arn"]
    elb = clients("elbv2", account=PROVIDER)
    lb = elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
    assert lb["Scheme"] == "internal" and lb["State"]["Code"] == "active"
    assert outputs["lb_dns"] == lb["DNSName"]
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]
    }
    assert attrs["load_balancing.cross_zone.enabled"] == "true"
    tg = elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
    assert (
        tg["HealthCheckPort"],
        tg["HealthyThresholdCount"],
        tg["HealthCheckIntervalSeconds"],
    ) == (
        "8443",
        3,
        10,
    )
    assert tg["LoadBalancerArns"] == [lb_arn]
    health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert [h["Target"]["Id"] for h in health] == ["10.20.1.20"]
    plan = tf.plan_exitcode()
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr[-2000:]
    assert "No changes." in plan.stdout
    tf.destroy(refresh=False)  # the plan has just read every resource
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []
    assert clients("ec2", account=PROVIDER).describe_network_interfaces()["NetworkInterfaces"] == []
