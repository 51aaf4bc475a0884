"""Connection notifications over SNS, and private DNS name verification through Route 53."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from privlink.testing.sns_subscriber import SnsSubscriber

from .conftest import CONSUMER, PROVIDER
from .stacks import consumer_vpc, provider_stack, wait_for, wait_service
from .stacks import error_code as _code


@pytest.fixture
def settings(settings):
    t = settings.timing
    t.load_balancer_provisioning = 0.1
    t.endpoint_service_pending = 0.1
    t.endpoint_pending = 0.1
    t.endpoint_deleting = 0.1
    t.private_dns_verification = 0.1
    t.private_dns_verification_retry_window = 0.6
    t.sns_retry_delay_scale = 0.05
    return settings


def _service(clients, acceptance=True, **kw):
    prov = clients("ec2", account=PROVIDER)
    stack = provider_stack(clients, PROVIDER)
    sid = prov.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[stack.nlb_arn], AcceptanceRequired=acceptance, **kw
    )["ServiceConfiguration"]["ServiceId"]
    wait_service(prov, sid)
    prov.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    cfg = prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]
    return sid, cfg


def _topic_for_vpce(clients, name="privatelink-events"):
    sns = clients("sns", account=PROVIDER)
    arn = sns.create_topic(Name=name)["TopicArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpce.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": arn,
            }
        ],
    }
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    return sns, arn


def test_subscriber_gets_connect_accept_reject_delete(server, clients):
    sid, cfg = _service(clients)
    sns, topic = _topic_for_vpce(clients)
    prov = clients("ec2", account=PROVIDER)
    note = prov.create_vpc_endpoint_connection_notification(
        ServiceId=sid,
        ConnectionNotificationArn=topic,
        ConnectionEvents=["Connect", "Accept", "Reject", "Delete"],
    )["ConnectionNotification"]
    assert (
        note["ConnectionNotificationId"].startswith("vpce-nfn-")
        and note["ConnectionNotificationState"] == "Enabled"
    )
    with SnsSubscriber() as hook:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        hook.wait_for(
            lambda rs: any(
                r["json"] and r["json"].get("Type") == "SubscriptionConfirmation" for r in rs
            )
        )
        wait_for(
            lambda: (
                sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0][
                    "SubscriptionArn"
                ]
                != "PendingConfirmation"
            )
        )
        cons = clients("ec2", account=CONSUMER)
        cvpc, subnets = consumer_vpc(clients, CONSUMER)
        ep1 = cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets,
        )["VpcEndpoint"]["VpcEndpointId"]
        ep2 = cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets[:1],
        )["VpcEndpoint"]["VpcEndpointId"]
        prov.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[ep1])
        prov.reject_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[ep2])
        cons.delete_vpc_endpoints(VpcEndpointIds=[ep1])

        def events():
            out = []
            for n in hook.notifications():
                msg = json.loads(n["json"]["Message"])
                out.append((msg["eventType"], msg["vpcEndpointId"]))
            return out

        wait_for(lambda: len(events()) >= 5, what="five notifications")
        assert sorted(events()) == sorted(
            [("Connect", ep1), ("Connect", ep2), ("Accept", ep1), ("Reject", ep2), ("Delete", ep1)]
        )
        first = hook.notifications()[0]
        assert first["headers"]["x-amz-sns-message-type"] == "Notification"
        assert first["json"]["TopicArn"] == topic
        msg = json.loads(first["json"]["Message"])
        assert msg["endpointServiceId"] == sid and msg["vpcEndpointOwner"] == CONSUMER


def test_subscriber_down_at_first_still_gets_events(server, clients):
    sid, cfg = _service(clients, acceptance=False)
    sns, topic = _topic_for_vpce(clients)
    prov = clients("ec2", account=PROVIDER)
    prov.create_vpc_endpoint_connection_notification(
        ServiceId=sid, ConnectionNotificationArn=topic, ConnectionEvents=["Connect", "Delete"]
    )
    with SnsSubscriber() as hook:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        hook.wait_for(lambda rs: len(rs) >= 1)
        wait_for(
            lambda: (
                sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0][
                    "SubscriptionArn"
                ]
                != "PendingConfirmation"
            )
        )
        port = hook.port
    # the subscriber is down now; the consumer connects and deletes
    cons = clients("ec2", account=CONSUMER)
    cvpc, subnets = consumer_vpc(clients, CONSUMER)
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=cfg["ServiceName"], SubnetIds=subnets
    )["VpcEndpoint"]["VpcEndpointId"]
    cons.delete_vpc_endpoints(VpcEndpointIds=[ep])
    with SnsSubscriber(port=port) as hook:
        hook.wait_for(lambda rs: len(hook.notifications()) >= 2, timeout=20)
        kinds = [json.loads(n["json"]["Message"])["eventType"] for n in hook.notifications()]
        assert kinds == ["Connect", "Delete"]


def test_topic_policy_must_let_vpce_publish(server, clients):
    sid, cfg = _service(clients, acceptance=False)
    sns = clients("sns", account=PROVIDER)
    topic = sns.create_topic(Name="default-policy")["TopicArn"]
    prov = clients("ec2", account=PROVIDER)
    prov.create_vpc_endpoint_connection_notification(
        ServiceId=sid, ConnectionNotificationArn=topic, ConnectionEvents=["Connect"]
    )
    with SnsSubscriber() as hook:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        hook.wait_for(lambda rs: len(rs) >= 1)
        cons = clients("ec2", account=CONSUMER)
        cvpc, subnets = consumer_vpc(clients, CONSUMER)
        cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets,
        )
        sns.publish(TopicArn=topic, Message="marker")  # delivered after anything queued before it
        hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
        assert [n["json"]["Message"] for n in hook.notifications()] == ["marker"]


def test_notification_api_errors(server, clients):
    sid, _ = _service(clients)
    prov = clients("ec2", account=PROVIDER)
    with pytest.raises(ClientError) as e:
        prov.create_vpc_endpoint_connection_notification(
            ServiceId=sid,
            ConnectionNotificationArn="arn:aws:sns:us-east-1:111111111111:missing",
            ConnectionEvents=["Connect"],
        )
    assert _code(e) == "InvalidParameter"
    _, topic = _topic_for_vpce(clients)
    with pytest.raises(ClientError) as e:
        prov.create_vpc_endpoint_connection_notification(
            ServiceId=sid, ConnectionNotificationArn=topic, ConnectionEvents=["Explode"]
        )
    assert _code(e) == "InvalidParameter"
    nid = prov.create_vpc_endpoint_connection_notification(
        ServiceId=sid, ConnectionNotificationArn=topic, ConnectionEvents=["Accept"]
    )["ConnectionNotification"]["ConnectionNotificationId"]
    prov.modify_vpc_endpoint_connection_notification(
        ConnectionNotificationId=nid, ConnectionEvents=["Accept", "Reject"]
    )
    got = prov.describe_vpc_endpoint_connection_notifications(ConnectionNotificationId=nid)[
        "ConnectionNotificationSet"
    ][0]
    assert got["ConnectionEvents"] == ["Accept", "Reject"] and got["ServiceId"] == sid
    out = prov.delete_vpc_endpoint_connection_notifications(
        ConnectionNotificationIds=[nid, "vpce-nfn-0123456789abcdef0"]
    )
    assert [u["Error"]["Code"] for u in out["Unsuccessful"]] == ["InvalidConnectionNotification"]
    with pytest.raises(ClientError) as e:
        prov.describe_vpc_endpoint_connection_notifications(ConnectionNotificationId=nid)
    assert _code(e) == "InvalidConnectionNotification"


def _public_zone(clients, domain="example.com"):
    r53 = clients("route53", account=PROVIDER)
    zid = r53.create_hosted_zone(Name=domain, CallerReference=f"zone-{domain}")["HostedZone"][
        "Id"
    ].split("/")[-1]
    return r53, zid


def _txt(r53, zid, name, value):
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "TXT",
                        "TTL": 1800,
                        "ResourceRecords": [{"Value": f'"{value}"'}],
                    },
                }
            ]
        },
    )


def _dns_state(prov, sid):
    return prov.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]["PrivateDnsNameConfiguration"]["State"]


def test_private_dns_verification(server, clients):
    sid, cfg = _service(clients, acceptance=False, PrivateDnsName="payments.internal.example.com")
    conf = cfg["PrivateDnsNameConfiguration"]
    assert conf["State"] == "pendingVerification" and conf["Type"] == "TXT"
    assert conf["Name"].startswith("_") and len(conf["Name"]) == 21
    assert conf["Value"].startswith("vpce:") and len(conf["Value"]) == 25
    prov = clients("ec2", account=PROVIDER)
    cons = clients("ec2", account=CONSUMER)
    cvpc, subnets = consumer_vpc(clients, CONSUMER)
    # enabling private DNS before verification is refused, and nothing is created
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets,
            PrivateDnsEnabled=True,
        )
    assert _code(e) == "InvalidParameter" and "verified" in str(e.value)
    assert cons.describe_vpc_endpoints()["VpcEndpoints"] == []
    # a wrong TXT value: verification fails
    r53, zid = _public_zone(clients)
    _txt(r53, zid, f"{conf['Name']}.payments.internal.example.com", "vpce:wrongwrongwrongwrong")
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    wait_for(lambda: _dns_state(prov, sid) == "failed", what="failed")
    # the right one: verified, and the consumer may enable private DNS
    _txt(r53, zid, f"{conf['Name']}.payments.internal.example.com", conf["Value"])
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    assert _dns_state(prov, sid) == "pendingVerification"
    wait_for(lambda: _dns_state(prov, sid) == "verified", what="verified")
    detail = cons.describe_vpc_endpoint_services(ServiceNames=[cfg["ServiceName"]])[
        "ServiceDetails"
    ][0]
    assert detail["PrivateDnsNameVerificationState"] == "verified"
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc,
        VpcEndpointType="Interface",
        ServiceName=cfg["ServiceName"],
        SubnetIds=subnets,
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    assert ep["PrivateDnsEnabled"] is True
    assert ep["DnsEntries"][-1]["DnsName"] == "payments.internal.example.com"
    # a second endpoint claiming the same name in the VPC conflicts
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets,
            PrivateDnsEnabled=True,
        )
    assert "conflicting DNS domain" in str(e.value)


def test_private_dns_needs_vpc_dns_attributes(server, clients):
    sid, cfg = _service(clients, acceptance=False, PrivateDnsName="api.example.org")
    r53, zid = _public_zone(clients, "example.org")
    conf = cfg["PrivateDnsNameConfiguration"]
    _txt(r53, zid, f"{conf['Name']}.api.example.org", conf["Value"])
    prov = clients("ec2", account=PROVIDER)
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    wait_for(lambda: _dns_state(prov, sid) == "verified")
    cons = clients("ec2", account=CONSUMER)
    cvpc, subnets = consumer_vpc(clients, CONSUMER, dns=False)  # enableDnsHostnames stays false
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=cfg["ServiceName"], SubnetIds=subnets
    )["VpcEndpoint"]
    assert ep["PrivateDnsEnabled"] is False  # not asked, and it could not work here
    with pytest.raises(ClientError) as e:
        cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], PrivateDnsEnabled=True)
    assert "enableDnsHostnames" in str(e.value)
    cons.modify_vpc_attribute(VpcId=cvpc, EnableDnsHostnames={"Value": True})
    cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], PrivateDnsEnabled=True)
    assert cons.describe_vpc_endpoints()["VpcEndpoints"][0]["PrivateDnsEnabled"] is True


def test_private_dns_waits_for_acceptance(server, clients):
    sid, cfg = _service(clients, acceptance=True, PrivateDnsName="pay.example.net")
    r53, zid = _public_zone(clients, "example.net")
    conf = cfg["PrivateDnsNameConfiguration"]
    _txt(r53, zid, f"{conf['Name']}.pay.example.net", conf["Value"])
    prov = clients("ec2", account=PROVIDER)
    prov.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    wait_for(lambda: _dns_state(prov, sid) == "verified")
    cons = clients("ec2", account=CONSUMER)
    cvpc, subnets = consumer_vpc(clients, CONSUMER)
    with pytest.raises(ClientError) as e:
        cons.create_vpc_endpoint(
            VpcId=cvpc,
            VpcEndpointType="Interface",
            ServiceName=cfg["ServiceName"],
            SubnetIds=subnets,
            PrivateDnsEnabled=True,
        )
    assert _code(e) == "InvalidParameter" and "accepts" in str(e.value)
    ep = cons.create_vpc_endpoint(
        VpcId=cvpc, VpcEndpointType="Interface", ServiceName=cfg["ServiceName"], SubnetIds=subnets
    )["VpcEndpoint"]
    assert ep["State"] == "pendingAcceptance" and ep["PrivateDnsEnabled"] is False
    with pytest.raises(ClientError) as e:
        cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], PrivateDnsEnabled=True)
    assert _code(e) == "InvalidParameter"
    prov.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[ep["VpcEndpointId"]])
    wait_for(lambda: cons.describe_vpc_endpoints()["VpcEndpoints"][0]["State"] == "available")
    cons.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], PrivateDnsEnabled=True)
    assert cons.describe_vpc_endpoints()["VpcEndpoints"][0]["PrivateDnsEnabled"] is True
