"""API details the Terraform AWS provider reads back and compares with its state: each
test pins one fix that a Terraform run against privlink uncovered (boto3, no terraform)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from privlink.identity import RoleSession
from privlink.services.base import Timer
from privlink.testing.sns_subscriber import SnsSubscriber

from .conftest import CONSUMER, PROVIDER
from .stacks import provider_stack, wait_service

ROLE = f"arn:aws:iam::{CONSUMER}:role/payments-client-prod"


@pytest.fixture
def settings(settings):
    t = settings.timing
    t.load_balancer_provisioning = 0.1
    t.endpoint_service_pending = 0.1
    return settings


def _service(clients, **kw) -> tuple:
    ec2 = clients("ec2", account=PROVIDER)
    stack = provider_stack(clients, PROVIDER)
    sid = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[stack.nlb_arn], **kw
    )["ServiceConfiguration"]["ServiceId"]
    return ec2, sid


def _regions(ec2, sid) -> list[str]:
    cfg = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]
    assert {r["ServiceState"] for r in cfg["SupportedRegions"]} == {"Available"}
    return [r["Region"] for r in cfg["SupportedRegions"]]


def test_service_lists_its_own_region_as_supported(server, clients):
    # aws_vpc_endpoint_service.supported_regions reads ["us-east-1"] for a service that asked
    # for no cross-Region access; the provider's own acceptance test expects exactly that
    ec2, sid = _service(clients)
    assert _regions(ec2, sid) == ["us-east-1"]
    created = ec2.create_vpc_endpoint_service_configuration  # a second service, cross-Region
    other = provider_stack(clients, PROVIDER, cidr="10.30.0.0/16", name="other")
    sid2 = created(
        NetworkLoadBalancerArns=[other.nlb_arn], SupportedRegions=["us-east-1", "us-west-2"]
    )["ServiceConfiguration"]["ServiceId"]
    assert _regions(ec2, sid2) == ["us-east-1", "us-west-2"]


def test_supported_regions_add_and_remove_keep_the_home_region(server, clients):
    ec2, sid = _service(clients)
    wait_service(ec2, sid)
    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=sid, AddSupportedRegions=["us-west-2", "us-east-1"]
    )
    assert _regions(ec2, sid) == ["us-east-1", "us-west-2"]
    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=sid, RemoveSupportedRegions=["us-west-2"]
    )
    assert _regions(ec2, sid) == ["us-east-1"]
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint_service_configuration(
            ServiceId=sid, AddSupportedRegions=["eu-west-1"], RemoveSupportedRegions=["us-east-1"]
        )
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    assert _regions(ec2, sid) == ["us-east-1"]  # the refused call changed nothing


# -- what a destroyed configuration leaves behind ----------------------------------------


def _timers(server, topic: str) -> list:
    def read():
        return [t for t in server.app.store.all(Timer) if t.topic == topic]

    return server.call(read)


def test_role_sessions_are_dropped_when_they_expire(server, clients):
    # Terraform assumes the role again for every command (two AssumeRole calls per provider
    # start): a long-lived state must not keep every session ever issued
    sts = clients("sts", account=CONSUMER)
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="terraform", DurationSeconds=900)[
        "Credentials"
    ]
    key = creds["AccessKeyId"]
    assert server.call(lambda: server.app.store.get(RoleSession, key)) is not None
    (timer,) = _timers(server, "sts.session_expired")
    assert abs(timer.due - creds["Expiration"].timestamp()) < 2
    # not yet due: nothing happens; once due, the session is gone and its keys with it
    assert server.call(server.app.scheduler.run_due, timer.due - 60) == 0
    assert server.call(server.app.scheduler.run_due, timer.due + 1) == 1
    assert server.call(lambda: server.app.store.get(RoleSession, key)) is None
    with pytest.raises(ClientError):
        clients(
            "sts", key=key, secret=creds["SecretAccessKey"], token=creds["SessionToken"]
        ).get_caller_identity()


def test_sns_expiry_timer_goes_with_confirmation_unsubscribe_and_topic(server, clients):
    sns = clients("sns", account=PROVIDER)
    arn = sns.create_topic(Name="events")["TopicArn"]
    with SnsSubscriber() as hook:
        sub = sns.subscribe(
            TopicArn=arn, Protocol="http", Endpoint=hook.url, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs))
    assert _timers(server, "sns.expire-unconfirmed") == []  # confirmed: nothing to expire
    # a subscription that is never confirmed, removed by Unsubscribe
    pending = sns.subscribe(
        TopicArn=arn, Protocol="http", Endpoint="http://127.0.0.1:9/x", ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert [t.args for t in _timers(server, "sns.expire-unconfirmed")] == [
        {"subscription_arn": pending}
    ]
    sns.unsubscribe(SubscriptionArn=pending)
    assert _timers(server, "sns.expire-unconfirmed") == []
    # and one removed with its topic
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint="http://127.0.0.1:9/y")
    assert len(_timers(server, "sns.expire-unconfirmed")) == 1
    sns.delete_topic(TopicArn=arn)
    assert _timers(server, "sns.expire-unconfirmed") == []
    assert sub.startswith(arn + ":")


def test_deleting_a_target_group_drops_its_draining_timers(server, clients):
    stack = provider_stack(clients, PROVIDER, targets=["10.10.1.20"])
    elb = clients("elbv2", account=PROVIDER)
    # Terraform deregisters while the listener still forwards (the target drains), then
    # deletes the listener and the target group
    elb.deregister_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": "10.10.1.20"}])
    assert [t.args["tg"] for t in _timers(server, "elbv2.target_drained")] == [stack.tg_arn]
    elb.delete_listener(ListenerArn=stack.listener_arn)
    elb.delete_target_group(TargetGroupArn=stack.tg_arn)
    assert _timers(server, "elbv2.target_drained") == []
