"""SNS: topics, subscriptions and delivery to a real HTTP subscriber (boto3 and the aws CLI)."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from privlink.testing import EmbeddedPrivlink
from privlink.testing.embedded import free_port
from privlink.testing.sns_subscriber import SnsSubscriber as Subscriber

from .conftest import CONSUMER, PROVIDER, Clients, make_settings


def _settings(**timing):
    s = make_settings()
    for k, v in timing.items():
        setattr(s.timing, k, v)
    return s


@pytest.fixture
def fast_server():
    # the AWS delivery schedule (3 retries, 20 s apart) compressed to 3 retries, 1 s apart
    with EmbeddedPrivlink(_settings(sns_retry_delay_scale=0.05)) as pl:
        yield pl


@pytest.fixture
def sns(fast_server):
    return Clients(fast_server.endpoint_url)("sns")


def _subscribe_confirmed(sns, topic, sub: Subscriber) -> str:
    out = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=sub.url)
    assert out["SubscriptionArn"] == "pending confirmation"
    sub.wait_for(lambda rs: any("confirm_response" in r for r in rs))
    arns = [
        s["SubscriptionArn"]
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ]
    assert len(arns) == 1 and arns[0].startswith(topic + ":")
    return arns[0]


# ----------------------------------------------------------------------------- topics


def test_topic_lifecycle_attributes_and_tags(sns):
    arn = sns.create_topic(
        Name="events", Attributes={"DisplayName": "Events"}, Tags=[{"Key": "team", "Value": "core"}]
    )["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{PROVIDER}:events"
    # idempotent by name; different attributes are refused
    assert sns.create_topic(Name="events")["TopicArn"] == arn
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="events", Attributes={"DisplayName": "Other"})
    assert e.value.response["Error"]["Code"] == "InvalidParameter"

    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn and attrs["Owner"] == PROVIDER
    assert attrs["DisplayName"] == "Events"
    assert attrs["SubscriptionsConfirmed"] == "0" and attrs["SubscriptionsPending"] == "0"
    policy = json.loads(attrs["Policy"])
    st = policy["Statement"][0]
    assert policy["Id"] == "__default_policy_ID" and st["Resource"] == arn
    assert st["Condition"] == {"StringEquals": {"AWS:SourceOwner": PROVIDER}}
    eff = json.loads(attrs["EffectiveDeliveryPolicy"])
    assert eff["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    assert eff["http"]["defaultHealthyRetryPolicy"]["minDelayTarget"] == 20

    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="New")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "New"
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Bogus", AttributeValue="x")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"

    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "ci"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "ci"}]

    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert e.value.response["Error"]["Code"] == "NotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_topics_pages(sns):
    arns = {sns.create_topic(Name=f"t{i:03d}")["TopicArn"] for i in range(105)}
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    seen = [t["TopicArn"] for t in first["Topics"] + second["Topics"]]
    assert set(seen) == arns and len(seen) == 105


def test_other_account_is_refused_unless_the_policy_allows(fast_server):
    clients = Clients(fast_server.endpoint_url)
    mine = clients("sns", account=PROVIDER)
    theirs = clients("sns", account=CONSUMER)
    arn = mine.create_topic(Name="private")["TopicArn"]
    with pytest.raises(ClientError) as e:
        theirs.publish(TopicArn=arn, Message="hi")
    assert e.value.response["Error"]["Code"] == "AuthorizationError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"},
                "Action": "SNS:Publish",
                "Resource": arn,
            }
        ],
    }
    mine.set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    assert theirs.publish(TopicArn=arn, Message="hi")["MessageId"]
    with pytest.raises(ClientError) as e:
        theirs.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    assert e.value.response["Error"]["Code"] == "AuthorizationError"


def test_non_loopback_endpoints_are_refused(sns):
    arn = sns.create_topic(Name="safety")["TopicArn"]
    for url in (
        "http://10.0.0.5/hook",
        "http://192.168.1.1:8080/",
        "https://8.8.8.8/",
        "http://example.com/hook",
        "http://[2001:db8::1]/",
    ):
        with pytest.raises(ClientError) as e:
            sns.subscribe(
                TopicArn=arn, Protocol="http" if url.startswith("http:") else "https", Endpoint=url
            )
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidParameter", url
        assert "loopback" in err["Message"]
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="http://127.0.0.1/")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_other_protocols_are_stored(sns):
    arn = sns.create_topic(Name="mixed")["TopicArn"]
    email = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
    assert email["SubscriptionArn"] == "pending confirmation"
    q = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{PROVIDER}:q")
    assert q["SubscriptionArn"].startswith(arn + ":")
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    by_proto = {s["Protocol"]: s for s in subs}
    assert by_proto["email"]["SubscriptionArn"] == "PendingConfirmation"
    assert by_proto["sqs"]["SubscriptionArn"] == q["SubscriptionArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["SubscriptionsPending"] == "1" and attrs["SubscriptionsConfirmed"] == "1"
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    sns.set_subscription_attributes(
        SubscriptionArn=q["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    got = sns.get_subscription_attributes(SubscriptionArn=q["SubscriptionArn"])["Attributes"]
    assert got["RawMessageDelivery"] == "true" and got["PendingConfirmation"] == "false"
    sns.unsubscribe(SubscriptionArn=q["SubscriptionArn"])
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=q["SubscriptionArn"])
    assert e.value.response["Error"]["Code"] == "NotFound"


# ---------------------------------------------------------------------------- delivery


def test_http_subscriber_confirms_and_receives(sns, fast_server):
    arn = sns.create_topic(Name="deliver")["TopicArn"]
    with Subscriber() as hook:
        sub_arn = _subscribe_confirmed(sns, arn, hook)
        conf = hook.received[0]
        env = conf["json"]
        assert conf["headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert conf["headers"]["x-amz-sns-topic-arn"] == arn
        assert conf["headers"]["content-type"] == "text/plain; charset=UTF-8"
        assert env["Type"] == "SubscriptionConfirmation" and env["TopicArn"] == arn
        assert env["SubscribeURL"].startswith(
            fast_server.endpoint_url + "/?Action=ConfirmSubscription&TopicArn="
        )
        assert env["Token"] and env["SignatureVersion"] == "1" and env["Signature"]
        assert b"<ConfirmSubscriptionResponse" in conf["confirm_response"]
        assert sub_arn.encode() in conf["confirm_response"]

        attrs = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
        assert attrs["PendingConfirmation"] == "false" and attrs["Endpoint"] == hook.url

        mid = sns.publish(
            TopicArn=arn,
            Message='{"event":"Connect"}',
            Subject="VPC endpoint",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "connect"}},
        )["MessageId"]
        got = hook.wait_for(lambda rs: len(rs) >= 2)[1]
        h, note = got["headers"], got["json"]
        assert h["x-amz-sns-message-type"] == "Notification"
        assert h["x-amz-sns-message-id"] == mid
        assert h["x-amz-sns-topic-arn"] == arn
        assert h["x-amz-sns-subscription-arn"] == sub_arn
        assert h["content-type"] == "text/plain; charset=UTF-8"
        assert note["Type"] == "Notification" and note["MessageId"] == mid
        assert note["TopicArn"] == arn and note["Subject"] == "VPC endpoint"
        assert note["Message"] == '{"event":"Connect"}'
        assert note["SignatureVersion"] == "1"
        assert note["Timestamp"].endswith("Z") and "T" in note["Timestamp"]
        assert note["UnsubscribeURL"] == (
            fast_server.endpoint_url
            + "/?Action=Unsubscribe&SubscriptionArn="
            + urllib.request.quote(sub_arn, safe="")
        )
        assert note["MessageAttributes"] == {"kind": {"Type": "String", "Value": "connect"}}
        _verify_signature(note)


def _verify_signature(env: dict) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    with urllib.request.urlopen(env["SigningCertURL"], timeout=10) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    if env["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{k}\n{env[k]}\n" for k in keys if k in env)
    algo = hashes.SHA256() if env["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(
        base64.b64decode(env["Signature"]), text.encode(), padding.PKCS1v15(), algo
    )


def _self_signed(tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(certfile), str(keyfile)


def test_https_subscriber_and_signature_version_2(sns, tmp_path):
    arn = sns.create_topic(Name="tls", Attributes={"SignatureVersion": "2"})["TopicArn"]
    with Subscriber(tls=_self_signed(tmp_path)) as hook:
        out = sns.subscribe(TopicArn=arn, Protocol="https", Endpoint=hook.url)
        assert out["SubscriptionArn"] == "pending confirmation"
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs))
        conf = hook.received[0]["json"]
        assert conf["SignatureVersion"] == "2"
        _verify_signature(conf)
        sns.publish(TopicArn=arn, Message="over tls")
        hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
        note = hook.notifications()[0]["json"]
        assert note["Message"] == "over tls" and "Subject" not in note
        _verify_signature(note)
    sns.delete_topic(TopicArn=arn)
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_pending_subscription_gets_no_messages_and_raw_delivery(sns):
    arn = sns.create_topic(Name="raw")["TopicArn"]
    with Subscriber(confirm=False) as hook:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=hook.url)
        hook.wait_for(lambda rs: len(rs) == 1)
        sns.publish(TopicArn=arn, Message="lost: not confirmed yet")
        token = hook.received[0]["json"]["Token"]
        with pytest.raises(ClientError) as e:
            sns.confirm_subscription(TopicArn=arn, Token="0" * 20)
        assert e.value.response["Error"]["Code"] == "InvalidParameter"
        sub_arn = sns.confirm_subscription(TopicArn=arn, Token=token)["SubscriptionArn"]
        sns.set_subscription_attributes(
            SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
        )
        sns.publish(TopicArn=arn, Message="plain body")
        got = hook.wait_for(lambda rs: len(rs) >= 2)
        time.sleep(0.3)
        assert len(hook.received) == 2
        assert got[1]["body"] == b"plain body"
        assert got[1]["headers"]["x-amz-sns-rawdelivery"] == "true"


def test_filter_policy_selects_messages(sns):
    arn = sns.create_topic(Name="filtered")["TopicArn"]
    with Subscriber() as hook:
        sub_arn = _subscribe_confirmed(sns, arn, hook)
        sns.set_subscription_attributes(
            SubscriptionArn=sub_arn,
            AttributeName="FilterPolicy",
            AttributeValue=json.dumps({"event": ["Accept", {"prefix": "Rej"}]}),
        )
        for event in ("Connect", "Accept", "Delete", "Reject"):
            sns.publish(
                TopicArn=arn,
                Message=event,
                MessageAttributes={"event": {"DataType": "String", "StringValue": event}},
            )
        hook.wait_for(lambda rs: len(hook.notifications()) >= 2)
        time.sleep(0.3)
        assert [n["json"]["Message"] for n in hook.notifications()] == ["Accept", "Reject"]


def test_subscriber_down_at_first_gets_every_message_in_order(sns):
    arn = sns.create_topic(Name="late")["TopicArn"]
    port = free_port()
    with Subscriber(port) as hook:
        _subscribe_confirmed(sns, arn, hook)
    # the subscriber is gone: messages wait in the outbox and are retried
    ids = [sns.publish(TopicArn=arn, Message=f"m{i}")["MessageId"] for i in range(5)]
    time.sleep(1.5)
    with Subscriber(port) as hook:
        hook.wait_for(lambda rs: len(hook.notifications()) >= 5, timeout=15)
        notes = hook.notifications()
        assert [n["json"]["MessageId"] for n in notes] == ids
        assert [n["json"]["Message"] for n in notes] == [f"m{i}" for i in range(5)]


def test_confirmation_is_retried_until_the_subscriber_listens(sns):
    arn = sns.create_topic(Name="confirm-late")["TopicArn"]
    port = free_port()
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=f"http://127.0.0.1:{port}/hook")
    time.sleep(0.5)
    with Subscriber(port) as hook:
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs), timeout=15)
        subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert subs[0]["SubscriptionArn"] != "PendingConfirmation"


def test_delivery_gives_up_after_the_policy(fast_server):
    sns = Clients(fast_server.endpoint_url)("sns")
    arn = sns.create_topic(Name="giveup")["TopicArn"]
    port = free_port()
    with Subscriber(port) as hook:
        sub_arn = _subscribe_confirmed(sns, arn, hook)
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn,
        AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps(
            {"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}
        ),
    )
    sns.publish(TopicArn=arn, Message="doomed")
    from privlink.state.sns import PendingDelivery

    deadline = time.time() + 10
    while fast_server.call(fast_server.app.store.count, PendingDelivery) and time.time() < deadline:
        time.sleep(0.1)
    assert fast_server.call(fast_server.app.store.count, PendingDelivery) == 0
    with Subscriber(port) as hook:
        time.sleep(0.5)
        assert hook.notifications() == []


def test_outbox_survives_a_restart(tmp_path):
    state = str(tmp_path / "state")
    port = free_port()
    s1 = _settings(sns_retry_delay_scale=0.05)
    s1.ephemeral, s1.state_dir = False, state
    with EmbeddedPrivlink(s1) as pl:
        sns = Clients(pl.endpoint_url)("sns")
        arn = sns.create_topic(Name="durable")["TopicArn"]
        with Subscriber(port) as hook:
            _subscribe_confirmed(sns, arn, hook)
        ids = [sns.publish(TopicArn=arn, Message=f"kept {i}")["MessageId"] for i in range(3)]
    s2 = _settings(sns_retry_delay_scale=0.05)
    s2.ephemeral, s2.state_dir = False, state
    with Subscriber(port) as hook, EmbeddedPrivlink(s2) as pl:
        hook.wait_for(lambda rs: len(hook.notifications()) >= 3, timeout=15)
        assert [n["json"]["MessageId"] for n in hook.notifications()] == ids
        # the UnsubscribeURL points at the privlink now serving, and works unauthenticated
        with urllib.request.urlopen(hook.notifications()[0]["json"]["UnsubscribeURL"], timeout=10):
            pass
        sns = Clients(pl.endpoint_url)("sns")
        assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_publish_internal_does_not_block_and_checks_the_service_principal(fast_server):
    from privlink.services.sns import publish_internal

    sns = Clients(fast_server.endpoint_url)("sns")
    arn = sns.create_topic(Name="vpce-events")["TopicArn"]
    store = fast_server.app.store
    runtime = fast_server.app.runtime
    with Subscriber() as hook:
        _subscribe_confirmed(sns, arn, hook)

        def publish(service=None):
            with store.transaction() as tx:
                return publish_internal(
                    tx,
                    runtime,
                    arn,
                    '{"eventType":"Connect"}',
                    "Endpoint Connection Event",
                    source_service=service,
                    source_account=PROVIDER,
                )

        assert fast_server.call(publish, "vpce.amazonaws.com") is None  # default policy
        policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
        policy["Statement"].append(
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpce.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": arn,
            }
        )
        sns.set_topic_attributes(
            TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
        )
        started = time.monotonic()
        mid = fast_server.call(publish, "vpce.amazonaws.com")
        assert mid and time.monotonic() - started < 0.5
        got = hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
        note = [r for r in got if r["json"]["Type"] == "Notification"][0]["json"]
        assert note["MessageId"] == mid and note["Subject"] == "Endpoint Connection Event"


def test_aws_cli_topic_subscribe_publish(fast_server):
    from .conftest import AwsCli

    aws = AwsCli(fast_server.endpoint_url)
    arn = aws("sns", "create-topic", "--name", "cli-topic")["TopicArn"]
    with Subscriber() as hook:
        out = aws(
            "sns",
            "subscribe",
            "--topic-arn",
            arn,
            "--protocol",
            "http",
            "--notification-endpoint",
            hook.url,
        )
        assert out["SubscriptionArn"] == "pending confirmation"
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs))
        mid = aws("sns", "publish", "--topic-arn", arn, "--message", "from the cli")["MessageId"]
        hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
        assert hook.notifications()[0]["json"]["MessageId"] == mid
    subs = aws("sns", "list-subscriptions")["Subscriptions"]
    assert [s["TopicArn"] for s in subs] == [arn]
    topics = aws("sns", "list-topics")["Topics"]
    assert {"TopicArn": arn} in topics
    proc = aws.run(
        "sns",
        "subscribe",
        "--topic-arn",
        arn,
        "--protocol",
        "http",
        "--notification-endpoint",
        "http://169.254.169.254/",
        check=False,
    )
    assert proc.returncode != 0 and "InvalidParameter" in proc.stderr and "loopback" in proc.stderr


def test_mutated_requests_get_aws_errors_never_internal_ones(fast_server):
    import urllib.error
    import urllib.parse

    sns = Clients(fast_server.endpoint_url)("sns", account="000000000000")
    arn = sns.create_topic(Name="t")["TopicArn"]
    sub = sns.subscribe(
        TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q"
    )
    sent = {}
    sns.meta.events.register(
        "before-send.sns.*",
        lambda request, **kw: sent.__setitem__("last", (request.url, request.body)),
    )
    calls = [
        lambda: sns.create_topic(Name="u", Attributes={"DisplayName": "x"}, Tags=[{"Key": "a", "Value": "b"}]),
        lambda: sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com",
                              Attributes={"FilterPolicy": '{"a":["b"]}'}, ReturnSubscriptionArn=True),
        lambda: sns.publish(TopicArn=arn, Message="m", Subject="s", MessageAttributes={
            "a": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"xx"}}),
        lambda: sns.set_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"],
                                                AttributeName="FilterPolicy", AttributeValue='{"a":["b"]}'),
        lambda: sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue='{"Statement":[]}'),
        lambda: sns.confirm_subscription(TopicArn=arn, Token="abc"),
    ]  # fmt: skip
    count = 0
    for call in calls:
        try:
            call()
        except ClientError:
            pass
        url, body = sent["last"]
        pairs = urllib.parse.parse_qsl(body if isinstance(body, str) else body.decode())
        for i, (k, _v) in enumerate(pairs):
            if k in ("Action", "Version"):
                continue
            variants = [pairs[:i] + pairs[i + 1 :]]
            for junk in ("", "x" * 300, "-1", "{", "[1]", '{"a":[{"numeric":["<"]}]}', "\u00e9"):
                variants.append(pairs[:i] + [(k, junk)] + pairs[i + 1 :])
            for v in variants:
                req = urllib.request.Request(
                    url,
                    data=urllib.parse.urlencode(v).encode(),
                    method="POST",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                try:
                    with urllib.request.urlopen(req, timeout=10):
                        pass
                except urllib.error.HTTPError as e:
                    assert e.code < 500, (v, e.read())
                count += 1
    assert count > 150


def test_localhost_endpoint_and_per_protocol_message_structure(sns):
    arn = sns.create_topic(Name="localhost")["TopicArn"]
    with Subscriber() as hook:
        endpoint = f"http://localhost:{hook.port}/hook"
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint)
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs))
        sns.publish(
            TopicArn=arn,
            MessageStructure="json",
            Message=json.dumps({"default": "for everyone", "http": "for http subscribers"}),
        )
        hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
        assert hook.notifications()[0]["json"]["Message"] == "for http subscribers"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, MessageStructure="json", Message='{"http": "no default"}')
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
