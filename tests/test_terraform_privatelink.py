"""Terraform applies every block of the seed article as one two-account configuration —
the provider account's internal NLB, target group, listener, target, endpoint service with
acceptance and a private DNS name, allowed principal, connection notification to an SNS
topic (with the policy that lets vpce.amazonaws.com publish, and a webhook subscriber), the
TXT verification record in a public zone, and the connection accepter; the consumer account
(acting through an assumed role) with its VPC, subnets matched by AZ ID, security group and
interface endpoint. It re-plans with no changes; a second apply verifies the name and sets
private_dns_enabled = true on the endpoint, and re-plans clean again; destroy leaves nothing.

One server, one Terraform lifecycle: the provider's own waits (30 s before an NLB's first
poll, twice; Route 53 change polls) dominate, so the steps share one NLB."""

from __future__ import annotations

import json
import subprocess

import pytest

from privlink.config import Timing
from privlink.services.base import Timer
from privlink.state.store import KINDS
from privlink.testing.sns_subscriber import SnsSubscriber

from .conftest import CONSUMER, PROVIDER, make_settings
from .procs import privlink_cmd, privlink_env
from .stacks import wait_for
from .tf import Terraform

# about 3.5 min alone; on a machine busy with the rest of the suite (CI runs it with -n 4)
# the provider's start-ups stretch it past pytest's default 300 s, while each terraform
# command stays bounded by its own 600 s timeout
pytestmark = [pytest.mark.terraform, pytest.mark.timeout(900)]

CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER}:role/payments-client-prod"
PRIVATE_DNS_NAME = "payments.internal.example.com"

CONFIG = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

locals {
  consumer_role_arn = "%(role)s"
  private_dns_name  = "%(dns_name)s"
}

# ---------------------------------------------------------------- provider account

resource "aws_vpc" "provider" {
  provider   = aws.provider
  cidr_block = "10.10.0.0/16"
  tags       = { Name = "payments-provider" }
}

resource "aws_subnet" "provider_a" {
  provider          = aws.provider
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "10.10.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_subnet" "provider_b" {
  provider          = aws.provider
  vpc_id            = aws_vpc.provider.id
  cidr_block        = "10.10.2.0/24"
  availability_zone = "us-east-1b"
}

resource "aws_lb" "svc" {
  provider                         = aws.provider
  name                             = "payments-svc-nlb"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = [aws_subnet.provider_a.id, aws_subnet.provider_b.id]
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "svc" {
  provider    = aws.provider
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
  provider          = aws.provider
  load_balancer_arn = aws_lb.svc.arn
  port              = 8443
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.svc.arn
  }
}

resource "aws_lb_target_group_attachment" "svc" {
  provider         = aws.provider
  target_group_arn = aws_lb_target_group.svc.arn
  target_id        = "10.10.1.20"
  port             = 8443
}

resource "aws_vpc_endpoint_service" "payments" {
  provider                   = aws.provider
  acceptance_required        = true
  network_load_balancer_arns = [aws_lb.svc.arn]
  private_dns_name           = local.private_dns_name
  tags                       = { Name = "payments-endpoint-service" }
}

resource "aws_vpc_endpoint_service_allowed_principal" "consumer" {
  provider                = aws.provider
  vpc_endpoint_service_id = aws_vpc_endpoint_service.payments.id
  principal_arn           = local.consumer_role_arn
}

resource "aws_sns_topic" "privatelink_events" {
  provider = aws.provider
  name     = "privatelink-events"
}

# AWS publishes connection notifications only where the topic policy lets the
# vpce.amazonaws.com service principal publish
resource "aws_sns_topic_policy" "privatelink_events" {
  provider = aws.provider
  arn      = aws_sns_topic.privatelink_events.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "VpcEndpointConnectionNotifications"
      Effect    = "Allow"
      Principal = { Service = "vpce.amazonaws.com" }
      Action    = "SNS:Publish"
      Resource  = aws_sns_topic.privatelink_events.arn
      Condition = {
        ArnLike      = { "aws:SourceArn" = "arn:aws:ec2:us-east-1:%(provider)s:vpc-endpoint-service/*" }
        StringEquals = { "aws:SourceAccount" = "%(provider)s" }
      }
    }]
  })
}

# the operations channel: a webhook subscribed to the topic (it confirms the subscription)
resource "aws_sns_topic_subscription" "ops_webhook" {
  provider               = aws.provider
  topic_arn              = aws_sns_topic.privatelink_events.arn
  protocol               = "http"
  endpoint               = "%(hook)s"
  endpoint_auto_confirms = true
}

resource "aws_vpc_endpoint_connection_notification" "payments" {
  provider                    = aws.provider
  vpc_endpoint_service_id     = aws_vpc_endpoint_service.payments.id
  connection_notification_arn = aws_sns_topic.privatelink_events.arn
  connection_events           = ["Connect", "Accept", "Reject", "Delete"]
  depends_on                  = [aws_sns_topic_policy.privatelink_events]
}

resource "aws_route53_zone" "public" {
  provider = aws.provider
  name     = "internal.example.com"
}

resource "aws_route53_record" "privatelink_verify" {
  provider = aws.provider
  zone_id  = aws_route53_zone.public.zone_id
  name     = "${aws_vpc_endpoint_service.payments.private_dns_name_configuration[0].name}.${local.private_dns_name}"
  type     = "TXT"
  ttl      = 1800
  records  = [aws_vpc_endpoint_service.payments.private_dns_name_configuration[0].value]
}

resource "aws_vpc_endpoint_connection_accepter" "payments" {
  provider                = aws.provider
  vpc_endpoint_service_id = aws_vpc_endpoint_service.payments.id
  vpc_endpoint_id         = aws_vpc_endpoint.payments.id
}

# ---------------------------------------------------------------- consumer account

data "aws_caller_identity" "consumer" {
  provider = aws.consumer
}

# the consumer finds the service by name: it sees it only through the allow-list
data "aws_vpc_endpoint_service" "payments" {
  provider     = aws.consumer
  service_name = aws_vpc_endpoint_service.payments.service_name
  depends_on   = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

resource "aws_vpc" "consumer" {
  provider             = aws.consumer
  cidr_block           = "10.20.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = "payments-consumer" }
}

# AZ names differ per account: the consumer picks its subnets by the provider's AZ IDs
resource "aws_subnet" "consumer_a" {
  provider             = aws.consumer
  vpc_id               = aws_vpc.consumer.id
  cidr_block           = "10.20.1.0/24"
  availability_zone_id = aws_subnet.provider_a.availability_zone_id
}

resource "aws_subnet" "consumer_b" {
  provider             = aws.consumer
  vpc_id               = aws_vpc.consumer.id
  cidr_block           = "10.20.2.0/24"
  availability_zone_id = aws_subnet.provider_b.availability_zone_id
}

resource "aws_security_group" "endpoint" {
  provider = aws.consumer
  name     = "payments-endpoint-sg"
  vpc_id   = aws_vpc.consumer.id
  ingress {
    description = "Clients to PrivateLink endpoint"
    from_port   = 8443
    to_port     = 8443
    protocol    = "tcp"
    cidr_blocks = ["10.20.0.0/16"]
  }
}

resource "aws_vpc_endpoint" "payments" {
  provider            = aws.consumer
  vpc_id              = aws_vpc.consumer.id
  service_name        = data.aws_vpc_endpoint_service.payments.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.consumer_a.id, aws_subnet.consumer_b.id]
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = %(private_dns_enabled)s # true only once the name is verified
  # notifications reach the webhook from the first Connect to the last Delete
  depends_on = [
    aws_vpc_endpoint_connection_notification.payments,
    aws_sns_topic_subscription.ops_webhook,%(endpoint_depends)s
  ]
}

%(extra)s

output "ids" {
  value = {
    provider_vpc    = aws_vpc.provider.id
    consumer_vpc    = aws_vpc.consumer.id
    lb_arn          = aws_lb.svc.arn
    tg_arn          = aws_lb_target_group.svc.arn
    service_id      = aws_vpc_endpoint_service.payments.id
    service_name    = aws_vpc_endpoint_service.payments.service_name
    endpoint_id     = aws_vpc_endpoint.payments.id
    notification_id = aws_vpc_endpoint_connection_notification.payments.id
    topic_arn       = aws_sns_topic.privatelink_events.arn
    zone_id         = aws_route53_zone.public.zone_id
    subnet_az_ids   = [aws_subnet.consumer_a.availability_zone_id, aws_subnet.consumer_b.availability_zone_id]
    subnet_azs      = [aws_subnet.consumer_a.availability_zone, aws_subnet.consumer_b.availability_zone]
    consumer_arn    = data.aws_caller_identity.consumer.arn
    seen_owner      = data.aws_vpc_endpoint_service.payments.owner
    seen_azs        = data.aws_vpc_endpoint_service.payments.availability_zones
    seen_acceptance = data.aws_vpc_endpoint_service.payments.acceptance_required
  }
}
"""

# the second apply: the provider proves the name (the TXT record above, then verification)
# and only then does the consumer turn private DNS on for its (accepted) endpoint
PRIVATE_DNS = """
resource "aws_vpc_endpoint_service_private_dns_verification" "payments" {
  provider              = aws.provider
  service_id            = aws_vpc_endpoint_service.payments.id
  wait_for_verification = true
  depends_on            = [aws_route53_record.privatelink_verify]
}
"""


def provider_blocks(endpoint: str) -> str:
    """The two provider configurations, as ``privlink terraform-provider`` prints them: the
    provider account's root, and the consumer account acting through its role."""
    blocks = []
    for extra in (
        ["--alias", "provider", "--access-key", PROVIDER],
        ["--alias", "consumer", "--access-key", CONSUMER, "--assume-role-arn", CONSUMER_ROLE],
    ):
        out = subprocess.run(
            privlink_cmd("terraform-provider", "--endpoint-url", endpoint, *extra),
            capture_output=True,
            text=True,
            env=privlink_env(),
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        blocks.append(out.stdout)
    return "\n".join(blocks)


def config(providers: str, variant: str, hook_url: str) -> str:
    """The seed's configuration; ``variant`` "private_dns" adds the verification and turns
    private DNS on; ``hook_url`` is the webhook subscribed to the notification topic."""
    return providers + CONFIG % {
        "role": CONSUMER_ROLE,
        "dns_name": PRIVATE_DNS_NAME,
        "provider": PROVIDER,
        "hook": hook_url,
        "private_dns_enabled": "false" if variant == "basic" else "true",
        "endpoint_depends": ""
        if variant == "basic"
        else "\n    aws_vpc_endpoint_service_private_dns_verification.payments,",
        "extra": PRIVATE_DNS if variant == "private_dns" else "",
    }


def make_server_settings():
    return make_settings(
        timing=Timing(
            load_balancer_provisioning=0.5,
            endpoint_service_pending=0.2,
            endpoint_pending=0.2,
            endpoint_deleting=0.2,
            deleted_endpoint_visible=1.0,
            private_dns_verification=0.2,
        )
    )


@pytest.fixture
def settings():
    return make_server_settings()


def _events(hook: SnsSubscriber) -> list[tuple[str, str]]:
    out = []
    for n in hook.notifications():
        msg = json.loads(n["json"]["Message"])
        out.append((msg["eventType"], msg["vpcEndpointId"]))
    return out


def _check_applied(clients, out: dict, variant: str) -> None:
    prov = clients("ec2", account=PROVIDER)
    cons = clients("ec2", account=CONSUMER)
    elb = clients("elbv2", account=PROVIDER)
    # the provider's load balancer side
    lb_attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=out["lb_arn"])["Attributes"]
    }
    assert lb_attrs["load_balancing.cross_zone.enabled"] == "true"
    tg = elb.describe_target_groups(TargetGroupArns=[out["tg_arn"]])["TargetGroups"][0]
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPort"], tg["HealthyThresholdCount"]) == (
        "TCP",
        "8443",
        3,
    )
    health = elb.describe_target_health(TargetGroupArn=out["tg_arn"])["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"]) for h in health] == [("10.10.1.20", 8443)]
    # the endpoint service, its allow-list and the connection the accepter accepted
    svc = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[out["service_id"]])[
        "ServiceConfigurations"
    ][0]
    assert svc["AcceptanceRequired"] is True and svc["PrivateDnsName"] == PRIVATE_DNS_NAME
    assert svc["SupportedRegions"] == [{"Region": "us-east-1", "ServiceState": "Available"}]
    perms = prov.describe_vpc_endpoint_service_permissions(ServiceId=out["service_id"])
    assert [p["Principal"] for p in perms["AllowedPrincipals"]] == [CONSUMER_ROLE]
    conns = prov.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [out["service_id"]]}]
    )["VpcEndpointConnections"]
    assert [(c["VpcEndpointId"], c["VpcEndpointOwner"], c["VpcEndpointState"]) for c in conns] == [
        (out["endpoint_id"], CONSUMER, "available")
    ]
    # the TXT record that proves the name is in the public zone
    dns = svc["PrivateDnsNameConfiguration"]
    r53 = clients("route53", account=PROVIDER)
    records = r53.list_resource_record_sets(HostedZoneId=out["zone_id"])["ResourceRecordSets"]
    txt = [r for r in records if r["Type"] == "TXT"]
    assert [(r["Name"], r["ResourceRecords"]) for r in txt] == [
        (f"{dns['Name']}.{PRIVATE_DNS_NAME}.", [{"Value": f'"{dns["Value"]}"'}])
    ]
    # the consumer acts through its role, sees the service in its own AZ names, and its
    # endpoint sits in the provider's AZs (by AZ ID)
    assert out["consumer_arn"] == (
        f"arn:aws:sts::{CONSUMER}:assumed-role/payments-client-prod/terraform"
    )
    assert out["seen_owner"] == PROVIDER and out["seen_acceptance"] is True
    assert sorted(out["seen_azs"]) == sorted(out["subnet_azs"])
    provider_zone_ids = sorted(
        s["AvailabilityZoneId"]
        for s in prov.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [out["provider_vpc"]]}]
        )["Subnets"]
    )
    assert sorted(out["subnet_az_ids"]) == provider_zone_ids
    ep = cons.describe_vpc_endpoints(VpcEndpointIds=[out["endpoint_id"]])["VpcEndpoints"][0]
    assert ep["State"] == "available" and len(ep["NetworkInterfaceIds"]) == 2
    names = [e["DnsName"] for e in ep["DnsEntries"]]
    if variant == "private_dns":
        assert dns["State"] == "verified"
        assert ep["PrivateDnsEnabled"] is True and PRIVATE_DNS_NAME in names
    else:
        assert dns["State"] == "pendingVerification"
        assert ep["PrivateDnsEnabled"] is False and PRIVATE_DNS_NAME not in names


def _check_nothing_left(server, clients) -> None:
    for account in (PROVIDER, CONSUMER):
        ec2 = clients("ec2", account=account)
        assert ec2.describe_vpcs()["Vpcs"] == []
        assert ec2.describe_subnets()["Subnets"] == []
        assert ec2.describe_security_groups()["SecurityGroups"] == []
        assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
        assert ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []
        assert (
            ec2.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"] == []
        )
        # deleted endpoints stay visible as "deleted" for a while, as in AWS; then they go
        wait_for(
            lambda ec2=ec2: ec2.describe_vpc_endpoints()["VpcEndpoints"] == [],
            timeout=10,
            what="deleted endpoints to be forgotten",
        )
        elb = clients("elbv2", account=account)
        assert elb.describe_load_balancers()["LoadBalancers"] == []
        assert elb.describe_target_groups()["TargetGroups"] == []
        assert clients("route53", account=account).list_hosted_zones()["HostedZones"] == []
        assert clients("sns", account=account).list_topics()["Topics"] == []
        assert clients("sns", account=account).list_subscriptions()["Subscriptions"] == []

    # and nothing is left in the store but what AWS keeps too: the role sessions Terraform
    # was issued (dropped at expiry) and the Route 53 change log (GetChange stays answerable)
    def leftovers():
        store = server.app.store
        left = {kind: store.count(cls) for kind, cls in KINDS.items() if store.count(cls)}
        timers = sorted({t.topic for t in store.all(Timer)})
        return left, timers

    left, timers = server.call(leftovers)
    assert set(left) <= {"sts.session", "route53.change", "privlink.timer"}, left
    assert timers == ["sts.session_expired"], timers


def _plan_is_clean(tf: Terraform) -> None:
    plan = tf.plan_exitcode()
    assert plan.returncode == 0, plan.stdout[-6000:] + plan.stderr[-3000:]
    assert "No changes." in plan.stdout


def test_seed_privatelink_two_accounts_apply_plan_private_dns_destroy(server, clients, tmp_path):
    with SnsSubscriber() as hook:
        tf = Terraform(tmp_path / "tf")
        providers = provider_blocks(server.endpoint_url)
        tf.write(config(providers, "basic", hook.url))
        tf.init()
        tf.apply()
        out = tf.outputs()["ids"]
        _check_applied(clients, out, "basic")
        eid = out["endpoint_id"]
        wait_for(
            lambda: {("Connect", eid), ("Accept", eid)} <= set(_events(hook)),
            what="Connect and Accept notifications at the webhook",
        )
        _plan_is_clean(tf)

        # the second apply: verify the name, then private_dns_enabled = true on the endpoint
        tf.write(config(providers, "private_dns", hook.url))
        applied = tf.apply()
        # exactly the verification added and the endpoint's flag changed, nothing else
        assert "Resources: 1 added, 1 changed, 0 destroyed." in applied.stdout, applied.stdout
        _check_applied(clients, out, "private_dns")
        _plan_is_clean(tf)

        tf.destroy(refresh=False)  # the plan above has just read every resource
        # the accepter's destroy rejects the connection; the endpoint's deletes it
        wait_for(
            lambda: {("Reject", eid), ("Delete", eid)} <= set(_events(hook)),
            what="Reject and Delete notifications at the webhook",
        )
        assert sorted(_events(hook)) == sorted(
            [("Connect", eid), ("Accept", eid), ("Reject", eid), ("Delete", eid)]
        )
    _check_nothing_left(server, clients)
    print("terraform commands (s):", tf.timings)  # shown with -rP / -s
