"""SNS: topics, subscriptions (with the real HTTP/S confirmation handshake) and Publish.

Handlers never send anything: a message for an HTTP/S subscriber becomes a
:class:`~privlink.state.sns.PendingDelivery` in the same transaction, and the delivery
component (:mod:`privlink.notify.sns_delivery`) POSTs it after commit. Other layers publish
with :func:`publish_internal` (e.g. PrivateLink connection notifications).

Subscriber endpoints must be loopback (127.0.0.0/8, ::1, localhost): privlink never
delivers anywhere else, and says so at Subscribe.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from fnmatch import fnmatchcase

from ..api.errors import AwsError
from ..identity import Principal
from ..notify.envelope import DEFAULT_CONTENT_TYPE, DEFAULT_RETRY_POLICY, NotLoopback, loopback_host
from ..notify.filter import BadFilterPolicy, matches, parse_policy
from ..state.sns import PendingDelivery, Subscription, Topic
from .base import RequestContext, TimerContext, cancel_timers, on_timer, operation

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOPIC_ARN = re.compile(r"^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256})$")
_SUB_ARN = re.compile(
    r"^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256}):([0-9a-f-]{36})$"
)
_PAGE = 100
_TOKEN_LIFETIME = 3 * 24 * 3600.0
_MAX_MESSAGE = 262144

_TOPIC_SETTABLE = {
    "DeliveryPolicy",
    "DisplayName",
    "Policy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
    "DataProtectionPolicy",
    "ContentBasedDeduplication",
    "FifoThroughputScope",
} | {
    f"{p}{s}"
    for p in ("HTTP", "Application", "Firehose", "Lambda", "SQS")
    for s in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
}
_SUB_SETTABLE = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
}
_PROTOCOLS = {
    "http",
    "https",
    "email",
    "email-json",
    "sqs",
    "lambda",
    "sms",
    "application",
    "firehose",
}
_RAW_PROTOCOLS = {"http", "https", "sqs", "firehose"}


def _invalid(what: str, reason: str | None = None) -> AwsError:
    msg = f"Invalid parameter: {what}" + (f" Reason: {reason}" if reason else "")
    return AwsError("InvalidParameter", msg, 400)


def _not_found(message: str = "Topic does not exist") -> AwsError:
    return AwsError("NotFound", message, 404)


def _seq() -> int:
    """A strictly increasing sequence number (survives restarts: based on the clock)."""
    global _last_seq
    now = time.time_ns()
    _last_seq = max(_last_seq + 1, now)
    return _last_seq


_last_seq = 0


# ----------------------------------------------------------------------------- policies


def default_policy(topic_arn: str, account: str) -> str:
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "SNS:GetTopicAttributes",
                        "SNS:SetTopicAttributes",
                        "SNS:AddPermission",
                        "SNS:RemovePermission",
                        "SNS:DeleteTopic",
                        "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic",
                        "SNS:Publish",
                    ],
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )


def _as_list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _condition_holds(cond: dict, facts: dict[str, str | None]) -> bool:
    """Evaluate the condition keys privlink knows; an unknown operator or key fails."""
    for op, entries in cond.items():
        if not isinstance(entries, dict):
            return False
        base = op.removesuffix("IfExists")
        for key, expected in entries.items():
            actual = facts.get(key.lower())
            if actual is None:
                if op.endswith("IfExists") and key.lower() in facts:
                    continue
                return False
            wanted = [str(x) for x in _as_list(expected)]
            if base in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif base in ("StringLike", "ArnLike"):
                ok = any(fnmatchcase(actual, w) for w in wanted)
            elif base == "StringNotEquals":
                ok = actual not in wanted
            else:
                return False
            if not ok:
                return False
    return True


def policy_allows(
    policy_text: str,
    action: str,
    resource: str,
    *,
    principal: Principal | None = None,
    service: str | None = None,
    source_account: str | None = None,
    source_arn: str | None = None,
) -> bool:
    """Does a topic policy allow ``SNS:<action>`` on ``resource`` to a caller (an IAM
    principal, or an AWS service principal such as ``vpce.amazonaws.com``)? An explicit
    Deny wins; statements with conditions privlink cannot evaluate do not match."""
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return False
    statements = _as_list(policy.get("Statement") if isinstance(policy, dict) else None)
    caller_ids: set[str] = set()
    account = source_account
    if principal is not None:
        account = principal.account
        caller_ids = {
            principal.account,
            f"arn:aws:iam::{principal.account}:root",
            principal.arn,
            principal.effective_arn,
        }
    facts = {
        "aws:sourceowner": account,
        "aws:sourceaccount": account,
        "aws:sourcearn": source_arn,
        "aws:principalaccount": principal.account if principal else None,
    }
    allowed = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        actions = [str(a).lower() for a in _as_list(st.get("Action"))]
        if not any(a in ("*", "sns:*") or fnmatchcase(f"sns:{action.lower()}", a) for a in actions):
            continue
        resources = _as_list(st.get("Resource")) or ["*"]
        if not any(fnmatchcase(resource, str(r)) for r in resources):
            continue
        who = st.get("Principal")
        if who == "*":
            matched = True
        elif isinstance(who, dict):
            aws = [str(x) for x in _as_list(who.get("AWS"))]
            svc = [str(x) for x in _as_list(who.get("Service"))]
            matched = (principal is not None and ("*" in aws or bool(caller_ids & set(aws)))) or (
                service is not None and service in svc
            )
        else:
            matched = False
        if not matched:
            continue
        if st.get("Condition") and not _condition_holds(st["Condition"], facts):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


def _topic_policy(topic: Topic) -> str:
    return topic.attributes.get("Policy") or default_policy(topic.id, topic.account)


def _authorize(ctx: RequestContext, topic: Topic, action: str) -> None:
    if ctx.account == topic.account:
        return
    if policy_allows(_topic_policy(topic), action, topic.id, principal=ctx.principal):
        return
    raise AwsError(
        "AuthorizationError",
        f"User: {ctx.principal.arn} is not authorized to perform: SNS:{action} on resource: "
        f"{topic.id} because no resource-based policy allows the SNS:{action} action",
        403,
    )


# --------------------------------------------------------------------------- lookups


def _topic(tx, arn: str | None, what: str = "TopicArn") -> Topic:
    if not arn or not _TOPIC_ARN.match(arn):
        raise _invalid(what)
    topic = tx.get(Topic, arn)
    if topic is None:
        raise _not_found()
    return topic


def _subscription(tx, arn: str | None) -> Subscription:
    if not arn or not _SUB_ARN.match(arn):
        raise _invalid("SubscriptionArn")
    sub = tx.get(Subscription, arn)
    if sub is None:
        raise _not_found("Subscription does not exist")
    return sub


def _subs_of(tx, topic_arn: str) -> list[Subscription]:
    subs = [s for s in tx.all(Subscription) if s.topic_arn == topic_arn]
    subs.sort(key=lambda s: (s.created_at, s.id))
    return subs


def _page(items: list, token: str | None, key) -> tuple[list, str | None]:
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise _invalid("NextToken") from None
        items = [i for i in items if key(i) > after]
    page, rest = items[:_PAGE], items[_PAGE:]
    nxt = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if rest else None
    return page, nxt


# ------------------------------------------------------------------------ attributes


def _check_json(name: str, value: str) -> dict:
    try:
        doc = json.loads(value)
    except ValueError:
        raise _invalid("Attributes", f"{name}: the value is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("Attributes", f"{name}: the value must be a JSON object")
    return doc


def _check_topic_attribute(name: str, value: str) -> None:
    if name not in _TOPIC_SETTABLE:
        raise _invalid("AttributeName")
    if name in ("Policy", "DeliveryPolicy", "ArchivePolicy", "DataProtectionPolicy") and value:
        doc = _check_json(name, value)
        if name == "DeliveryPolicy":
            _check_delivery_policy(doc.get("http", {}).get("defaultHealthyRetryPolicy"), name)
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise _invalid("Attributes", "SignatureVersion: must be 1 or 2")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise _invalid("Attributes", "TracingConfig: must be PassThrough or Active")
    if name == "DisplayName" and len(value) > 100:
        raise _invalid("DisplayName", "the display name is longer than 100 characters")


def _check_delivery_policy(retry: dict | None, name: str) -> None:
    if retry is None:
        return
    if not isinstance(retry, dict):
        raise _invalid("Attributes", f"{name}: healthyRetryPolicy must be an object")
    p = {**DEFAULT_RETRY_POLICY, **retry}
    for k in (
        "minDelayTarget",
        "maxDelayTarget",
        "numRetries",
        "numMaxDelayRetries",
        "numNoDelayRetries",
        "numMinDelayRetries",
    ):
        if not isinstance(p[k], int) or isinstance(p[k], bool) or p[k] < 0:
            raise _invalid("Attributes", f"{name}: {k} must be a whole number of at least 0")
    if p["numRetries"] > 100:
        raise _invalid("Attributes", f"{name}: numRetries must be at most 100")
    if p["minDelayTarget"] > p["maxDelayTarget"] or p["maxDelayTarget"] > 3600:
        raise _invalid(
            "Attributes", f"{name}: minDelayTarget must not exceed maxDelayTarget (at most 3600)"
        )
    if p["numNoDelayRetries"] + p["numMinDelayRetries"] + p["numMaxDelayRetries"] > p["numRetries"]:
        raise _invalid("Attributes", f"{name}: the phases add up to more than numRetries")
    if str(p["backoffFunction"]).lower() not in (
        "linear",
        "arithmetic",
        "geometric",
        "exponential",
    ):
        raise _invalid("Attributes", f"{name}: unknown backoffFunction")


def _topic_delivery_policy(topic: Topic) -> dict:
    text = topic.attributes.get("DeliveryPolicy")
    http = {}
    if text:
        try:
            http = json.loads(text).get("http", {}) or {}
        except (ValueError, AttributeError):
            http = {}
    return {
        "defaultHealthyRetryPolicy": {
            **DEFAULT_RETRY_POLICY,
            **(http.get("defaultHealthyRetryPolicy") or {}),
        },
        "disableSubscriptionOverrides": bool(http.get("disableSubscriptionOverrides", False)),
        **(
            {"defaultThrottlePolicy": http["defaultThrottlePolicy"]}
            if "defaultThrottlePolicy" in http
            else {}
        ),
        "defaultRequestPolicy": {
            "headerContentType": DEFAULT_CONTENT_TYPE,
            **(http.get("defaultRequestPolicy") or {}),
        },
    }


def _effective_sub_policy(topic: Topic | None, sub: Subscription) -> dict:
    tp = (
        _topic_delivery_policy(topic)
        if topic
        else _topic_delivery_policy(Topic(id="", account="", region="", name=""))
    )
    retry = dict(tp["defaultHealthyRetryPolicy"])
    request = dict(tp["defaultRequestPolicy"])
    out: dict = {}
    own = sub.attributes.get("DeliveryPolicy")
    if own and not tp["disableSubscriptionOverrides"]:
        try:
            doc = json.loads(own)
        except ValueError:
            doc = {}
        retry.update(doc.get("healthyRetryPolicy") or {})
        request.update(doc.get("requestPolicy") or {})
        if doc.get("throttlePolicy"):
            out["throttlePolicy"] = doc["throttlePolicy"]
    out["healthyRetryPolicy"] = retry
    out["requestPolicy"] = request
    return out


def _topic_attributes(tx, topic: Topic) -> dict[str, str]:
    subs = _subs_of(tx, topic.id)
    attrs = {
        "Policy": _topic_policy(topic),
        "Owner": topic.account,
        "SubscriptionsPending": str(sum(1 for s in subs if not s.confirmed)),
        "TopicArn": topic.id,
        "EffectiveDeliveryPolicy": json.dumps(
            {"http": _topic_delivery_policy(topic)}, separators=(",", ":")
        ),
        "SubscriptionsConfirmed": str(sum(1 for s in subs if s.confirmed)),
        "DisplayName": "",
        "SubscriptionsDeleted": str(topic.subscriptions_deleted),
    }
    for k, v in topic.attributes.items():
        if k != "Policy" or v:
            attrs[k] = v
    return attrs


# ---------------------------------------------------------------------------- topics


def _check_tags(tags: list[dict], existing: dict[str, str]) -> dict[str, str]:
    out = dict(existing)
    for t in tags:
        key, value = t.get("Key"), t.get("Value")
        if not key or len(key) > 128 or key.lower().startswith("aws:"):
            raise _invalid("Tags", "every tag needs a Key of 1 to 128 characters, not aws:")
        if value is None or len(value) > 256:
            raise _invalid("Tags", f"the value of tag {key} must be 0 to 256 characters")
        out[key] = value
    if len(out) > 50:
        raise AwsError(
            "TagLimitExceeded",
            "Could not complete request: tag quota of per resource exceeded",
            400,
        )
    return out


@operation("sns", "CreateTopic")
def create_topic(ctx: RequestContext, params: dict) -> dict:
    name = params["Name"]
    attrs = dict(params.get("Attributes") or {})
    if params.get("DataProtectionPolicy"):
        attrs["DataProtectionPolicy"] = params["DataProtectionPolicy"]
    fifo = attrs.pop("FifoTopic", None)
    if name.endswith(".fifo") or (fifo is not None and fifo.lower() == "true"):
        raise _invalid(
            "Attributes",
            "FifoTopic: privlink does not serve FIFO topics (they deliver only to Amazon SQS, "
            "which privlink does not emulate)",
        )
    if not _TOPIC_NAME.match(name):
        raise _invalid("Topic Name")
    for k, v in attrs.items():
        _check_topic_attribute(k, v)
    arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:{name}"
    existing = ctx.tx.get(Topic, arn)
    tags_in = params.get("Tags") or []
    if existing is not None:
        if attrs and any(existing.attributes.get(k, "") != v for k, v in attrs.items()):
            raise _invalid("Attributes", "Topic already exists with different attributes")
        if tags_in and _check_tags(tags_in, {}) != existing.tags:
            raise _invalid("Tags", "Topic already exists with different tags")
        return {"TopicArn": arn}
    quota = ctx.settings.quotas.sns_topics_per_account
    if len(ctx.tx.owned(Topic, ctx.account, ctx.region)) >= quota:
        raise AwsError("TopicLimitExceeded", "Topic limit exceeded", 403)
    ctx.tx.put(
        Topic(
            id=arn,
            account=ctx.account,
            region=ctx.region,
            name=name,
            attributes={k: v for k, v in attrs.items()},
            tags=_check_tags(tags_in, {}),
            created_at=ctx.now,
        )
    )
    return {"TopicArn": arn}


@operation("sns", "DeleteTopic")
def delete_topic(ctx: RequestContext, params: dict) -> dict:
    arn = params["TopicArn"]
    if not _TOPIC_ARN.match(arn or ""):
        raise _invalid("TopicArn")
    topic = ctx.tx.get(Topic, arn)
    if topic is None:
        return {}  # deleting a topic that does not exist is not an error
    _authorize(ctx, topic, "DeleteTopic")
    subs = {s.id for s in _subs_of(ctx.tx, arn)}
    for s in _subs_of(ctx.tx, arn):
        ctx.tx.delete(s)
        if not s.confirmed:
            cancel_timers(ctx.tx, "sns.expire-unconfirmed", subscription_arn=s.id)
    _drop_pending(ctx.tx, lambda d: d.topic_arn == arn or d.subscription_arn in subs)
    ctx.tx.delete(topic)
    return {}


def _drop_pending(tx, pred) -> None:
    for d in tx.all(PendingDelivery):
        if pred(d):
            tx.delete(d)


@operation("sns", "GetTopicAttributes")
def get_topic_attributes(ctx: RequestContext, params: dict) -> dict:
    topic = _topic(ctx.tx, params["TopicArn"])
    _authorize(ctx, topic, "GetTopicAttributes")
    return {"Attributes": _topic_attributes(ctx.tx, topic)}


@operation("sns", "SetTopicAttributes")
def set_topic_attributes(ctx: RequestContext, params: dict) -> dict:
    topic = _topic(ctx.tx, params["TopicArn"])
    _authorize(ctx, topic, "SetTopicAttributes")
    name = params["AttributeName"]
    value = params.get("AttributeValue") or ""
    if name == "FifoTopic":
        raise _invalid("AttributeName", "FifoTopic can only be set when the topic is created")
    _check_topic_attribute(name, value)
    mine = ctx.tx.edit(topic)
    if value == "" and name in (
        "Policy",
        "DeliveryPolicy",
        "ArchivePolicy",
        "DataProtectionPolicy",
    ):
        mine.attributes.pop(name, None)
    else:
        mine.attributes[name] = value
    return {}


@operation("sns", "ListTopics")
def list_topics(ctx: RequestContext, params: dict) -> dict:
    topics = sorted(ctx.tx.owned(Topic, ctx.account, ctx.region), key=lambda t: t.id)
    page, nxt = _page(topics, params.get("NextToken"), lambda t: t.id)
    out: dict = {"Topics": [{"TopicArn": t.id} for t in page]}
    if nxt:
        out["NextToken"] = nxt
    return out


# --------------------------------------------------------------------- subscriptions


def _check_endpoint(protocol: str, endpoint: str | None) -> str:
    if not endpoint:
        raise _invalid("Endpoint")
    if protocol in ("http", "https"):
        if not endpoint.lower().startswith(protocol + "://"):
            raise _invalid(
                "Endpoint", f"The endpoint must be a {protocol}:// URL for protocol {protocol}"
            )
        try:
            loopback_host(endpoint)
        except NotLoopback as e:
            raise _invalid("Endpoint", str(e)) from None
    elif protocol in ("email", "email-json"):
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", endpoint):
            raise _invalid("Email address")
    elif protocol == "sqs":
        if not re.match(r"^arn:aws:sqs:[a-z0-9-]+:\d{12}:[\w.-]+$", endpoint):
            raise _invalid("SQS endpoint ARN")
    elif protocol == "lambda":
        if not re.match(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$", endpoint):
            raise _invalid("Lambda endpoint ARN")
    elif protocol == "firehose":
        if not re.match(r"^arn:aws:firehose:[a-z0-9-]+:\d{12}:deliverystream/[\w.-]+$", endpoint):
            raise _invalid("Firehose endpoint ARN")
    elif protocol == "sms" and not re.match(r"^\+?[0-9]{5,15}$", endpoint):
        raise _invalid("SMS endpoint")
    return endpoint


def _check_sub_attribute(protocol: str, name: str, value: str) -> None:
    if name not in _SUB_SETTABLE:
        raise _invalid("AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise _invalid(
                "Attributes", f"RawMessageDelivery: Invalid value [{value}]. Must be true or false."
            )
        if value.lower() == "true" and protocol not in _RAW_PROTOCOLS:
            raise _invalid(
                "Attributes",
                f"Delivery protocol [{protocol}] does not support raw message delivery.",
            )
    elif name == "FilterPolicy" and value:
        try:
            parse_policy(value)
        except BadFilterPolicy as e:
            raise _invalid("FilterPolicy", str(e)) from None
    elif name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
        raise _invalid("Attributes", "FilterPolicyScope: must be MessageAttributes or MessageBody")
    elif name == "DeliveryPolicy" and value:
        if protocol not in ("http", "https"):
            raise _invalid("Attributes", "DeliveryPolicy: only HTTP/S subscriptions have one")
        doc = _check_json(name, value)
        _check_delivery_policy(doc.get("healthyRetryPolicy"), name)
    elif name in ("RedrivePolicy", "ReplayPolicy") and value:
        _check_json(name, value)
    elif (
        name == "SubscriptionRoleArn"
        and value
        and not re.match(r"^arn:aws:iam::\d{12}:role/", value)
    ):
        raise _invalid("Attributes", "SubscriptionRoleArn: not an IAM role ARN")


def _delivery(
    topic: Topic, sub: Subscription, message_type: str, message_id: str, message: str,
    now: float, **extra,
) -> PendingDelivery:  # fmt: skip
    """One message queued for one subscription, with the subscription's delivery policy."""
    policy = _effective_sub_policy(topic, sub)
    return PendingDelivery(
        id="snsd-" + uuid.uuid4().hex,
        account=topic.account,
        region=topic.region,
        seq=_seq(),
        subscription_arn=sub.id,
        topic_arn=topic.id,
        protocol=sub.protocol,
        endpoint=sub.endpoint,
        message_type=message_type,
        message_id=message_id,
        message=message,
        timestamp=now,
        signature_version=topic.attributes.get("SignatureVersion", "1"),
        content_type=policy["requestPolicy"].get("headerContentType", DEFAULT_CONTENT_TYPE),
        retry_policy=policy["healthyRetryPolicy"],
        **extra,
    )


def _enqueue_confirmation(tx, topic: Topic, sub: Subscription, now: float) -> None:
    text = (
        f"You have chosen to subscribe to the topic {topic.id}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )
    tx.put(
        _delivery(
            topic, sub, "SubscriptionConfirmation", str(uuid.uuid4()), text, now, token=sub.token
        )
    )


@operation("sns", "Subscribe")
def subscribe(ctx: RequestContext, params: dict) -> dict:
    topic = _topic(ctx.tx, params["TopicArn"])
    _authorize(ctx, topic, "Subscribe")
    protocol = (params["Protocol"] or "").lower()
    if protocol not in _PROTOCOLS:
        raise _invalid(
            "Protocol", f"Amazon SNS does not support this protocol string: {params['Protocol']}"
        )
    if protocol == "application":
        raise _invalid("Protocol", "privlink does not serve platform applications (mobile push)")
    endpoint = _check_endpoint(protocol, params.get("Endpoint"))
    attrs = dict(params.get("Attributes") or {})
    for k, v in attrs.items():
        _check_sub_attribute(protocol, k, v)
    if protocol == "firehose" and not attrs.get("SubscriptionRoleArn"):
        raise _invalid("Attributes", "SubscriptionRoleArn is required for firehose subscriptions")
    want_arn = bool(params.get("ReturnSubscriptionArn"))

    for s in _subs_of(ctx.tx, topic.id):
        if s.protocol == protocol and s.endpoint == endpoint:
            if attrs and any(s.attributes.get(k, "") != v for k, v in attrs.items()):
                raise _invalid(
                    "Attributes", "Subscription already exists with different attributes"
                )
            if not s.confirmed and protocol in ("http", "https"):
                _enqueue_confirmation(ctx.tx, topic, s, ctx.now)  # sent again, as AWS does
            return {
                "SubscriptionArn": s.id if (s.confirmed or want_arn) else "pending confirmation"
            }

    if len(_subs_of(ctx.tx, topic.id)) >= ctx.settings.quotas.sns_subscriptions_per_topic:
        raise AwsError("SubscriptionLimitExceeded", "Subscription limit exceeded", 403)
    confirmed = protocol in ("sqs", "lambda", "sms", "firehose")
    sub = Subscription(
        id=f"{topic.id}:{uuid.uuid4()}",
        account=ctx.account,
        region=topic.region,
        topic_arn=topic.id,
        topic_account=topic.account,
        protocol=protocol,
        endpoint=endpoint,
        confirmed=confirmed,
        token="" if confirmed else secrets.token_hex(128),
        token_expires_at=0.0 if confirmed else ctx.now + _TOKEN_LIFETIME,
        attributes=attrs,
        created_at=ctx.now,
    )
    ctx.tx.put(sub)
    if protocol in ("http", "https"):
        _enqueue_confirmation(ctx.tx, topic, sub, ctx.now)
    if not confirmed:
        # AWS deletes subscriptions left unconfirmed for three days
        ctx.schedule(_TOKEN_LIFETIME, "sns.expire-unconfirmed", subscription_arn=sub.id)
    return {"SubscriptionArn": sub.id if (confirmed or want_arn) else "pending confirmation"}


@on_timer("sns.expire-unconfirmed")
def _expire_unconfirmed(tctx: TimerContext, args: dict) -> None:
    sub = tctx.tx.get(Subscription, args["subscription_arn"])
    if sub is not None and not sub.confirmed:
        tctx.tx.delete(sub)
        _drop_pending(tctx.tx, lambda d: d.subscription_arn == sub.id)


@operation("sns", "ConfirmSubscription")
def confirm_subscription(ctx: RequestContext, params: dict) -> dict:
    topic = _topic(ctx.tx, params["TopicArn"])
    token = params["Token"]
    for s in _subs_of(ctx.tx, topic.id):
        if s.token and secrets.compare_digest(s.token.encode(), token.encode()):
            if s.confirmed:
                return {"SubscriptionArn": s.id}
            if ctx.now > s.token_expires_at:
                break
            mine = ctx.tx.edit(s)
            mine.confirmed = True
            cancel_timers(ctx.tx, "sns.expire-unconfirmed", subscription_arn=s.id)
            mine.authenticated = (params.get("AuthenticateOnUnsubscribe") or "").lower() == "true"
            return {"SubscriptionArn": s.id}
    raise _invalid("Token")


@operation("sns", "Unsubscribe")
def unsubscribe(ctx: RequestContext, params: dict) -> dict:
    sub = _subscription(ctx.tx, params["SubscriptionArn"])
    # The subscription ARN works like the UnsubscribeURL capability AWS hands out, unless the
    # subscriber asked for authenticated unsubscribes when it confirmed.
    if sub.authenticated and ctx.account not in (sub.account, sub.topic_account):
        raise AwsError(
            "AuthorizationError",
            f"User: {ctx.principal.arn} is not authorized to perform: SNS:Unsubscribe on "
            f"resource: {sub.id}",
            403,
        )
    ctx.tx.delete(sub)
    if not sub.confirmed:
        cancel_timers(ctx.tx, "sns.expire-unconfirmed", subscription_arn=sub.id)
    _drop_pending(ctx.tx, lambda d: d.subscription_arn == sub.id)
    topic = ctx.tx.get(Topic, sub.topic_arn)
    if topic is not None:
        ctx.tx.edit(topic).subscriptions_deleted += 1
    return {}


def _sub_summary(s: Subscription) -> dict:
    return {
        "SubscriptionArn": s.id if s.confirmed else "PendingConfirmation",
        "Owner": s.account,
        "Protocol": s.protocol,
        "Endpoint": s.endpoint,
        "TopicArn": s.topic_arn,
    }


@operation("sns", "ListSubscriptions")
def list_subscriptions(ctx: RequestContext, params: dict) -> dict:
    subs = sorted(ctx.tx.owned(Subscription, ctx.account, ctx.region), key=lambda s: s.id)
    page, nxt = _page(subs, params.get("NextToken"), lambda s: s.id)
    out: dict = {"Subscriptions": [_sub_summary(s) for s in page]}
    if nxt:
        out["NextToken"] = nxt
    return out


@operation("sns", "ListSubscriptionsByTopic")
def list_subscriptions_by_topic(ctx: RequestContext, params: dict) -> dict:
    topic = _topic(ctx.tx, params["TopicArn"])
    _authorize(ctx, topic, "ListSubscriptionsByTopic")
    subs = sorted(_subs_of(ctx.tx, topic.id), key=lambda s: s.id)
    page, nxt = _page(subs, params.get("NextToken"), lambda s: s.id)
    out: dict = {"Subscriptions": [_sub_summary(s) for s in page]}
    if nxt:
        out["NextToken"] = nxt
    return out


def _sub_for_caller(ctx: RequestContext, arn: str) -> Subscription:
    sub = _subscription(ctx.tx, arn)
    if ctx.account not in (sub.account, sub.topic_account):
        raise AwsError(
            "AuthorizationError",
            f"User: {ctx.principal.arn} is not authorized to access subscription {sub.id}",
            403,
        )
    return sub


@operation("sns", "GetSubscriptionAttributes")
def get_subscription_attributes(ctx: RequestContext, params: dict) -> dict:
    sub = _sub_for_caller(ctx, params["SubscriptionArn"])
    attrs = {
        "SubscriptionArn": sub.id,
        "TopicArn": sub.topic_arn,
        "Owner": sub.account,
        "ConfirmationWasAuthenticated": "true" if sub.authenticated else "false",
        "PendingConfirmation": "false" if sub.confirmed else "true",
        "Protocol": sub.protocol,
        "Endpoint": sub.endpoint,
        "RawMessageDelivery": "false",
        "SubscriptionPrincipal": f"arn:aws:iam::{sub.account}:root",
    }
    if sub.protocol in ("http", "https"):
        topic = ctx.tx.get(Topic, sub.topic_arn)
        attrs["EffectiveDeliveryPolicy"] = json.dumps(
            _effective_sub_policy(topic, sub), separators=(",", ":")
        )
    attrs.update(sub.attributes)
    if "FilterPolicy" in sub.attributes and "FilterPolicyScope" not in sub.attributes:
        attrs["FilterPolicyScope"] = "MessageAttributes"
    return {"Attributes": attrs}


@operation("sns", "SetSubscriptionAttributes")
def set_subscription_attributes(ctx: RequestContext, params: dict) -> dict:
    sub = _sub_for_caller(ctx, params["SubscriptionArn"])
    name = params["AttributeName"]
    value = params.get("AttributeValue") or ""
    _check_sub_attribute(sub.protocol, name, value)
    mine = ctx.tx.edit(sub)
    if value == "" and name in ("FilterPolicy", "DeliveryPolicy", "RedrivePolicy", "ReplayPolicy"):
        mine.attributes.pop(name, None)
    else:
        mine.attributes[name] = value.lower() if name == "RawMessageDelivery" else value
    return {}


# --------------------------------------------------------------------------- publish


def _message_attributes(raw: dict | None) -> dict:
    out = {}
    for name, v in (raw or {}).items():
        dtype = v.get("DataType") or ""
        if not re.match(r"^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$", dtype):
            raise _invalid(
                "MessageAttributes",
                f"The message attribute '{name}' has an invalid message attribute type, the set "
                "of supported type prefixes is Binary, Number, and String.",
            )
        if dtype.startswith("Binary"):
            if v.get("BinaryValue") is None:
                raise _invalid(
                    "MessageAttributes",
                    f"The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dtype}'.",
                )
            value = base64.b64encode(v["BinaryValue"]).decode()
        else:
            if v.get("StringValue") in (None, ""):
                raise _invalid(
                    "MessageAttributes",
                    f"The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dtype}'.",
                )
            value = v["StringValue"]
            if dtype.startswith("Number"):
                try:
                    float(value)
                except ValueError:
                    raise _invalid(
                        "MessageAttributes",
                        f"Could not cast message attribute '{name}' value to number.",
                    ) from None
        out[name] = {"Type": dtype, "Value": value}
    if len(out) > 10:
        raise _invalid(
            "MessageAttributes",
            f"Number of message attributes [{len(out)}] exceeds the allowed maximum [10].",
        )
    return out


def _fan_out(
    tx,
    topic: Topic,
    message: str | dict,
    subject: str | None,
    attributes: dict,
    now: float,
) -> str:
    """Queue one delivery per confirmed HTTP/S subscription of the topic; the message id."""
    message_id = str(uuid.uuid4())
    for sub in _subs_of(tx, topic.id):
        if not sub.confirmed or sub.protocol not in ("http", "https"):
            continue  # other protocols reach services privlink does not run
        text = message
        if isinstance(message, dict):
            text = message.get(sub.protocol, message["default"])
        fp = sub.attributes.get("FilterPolicy")
        if fp:
            scope = sub.attributes.get("FilterPolicyScope", "MessageAttributes")
            if not matches(parse_policy(fp), scope, text, attributes):
                continue
        tx.put(
            _delivery(
                topic,
                sub,
                "Notification",
                message_id,
                text,
                now,
                subject=subject,
                message_attributes=attributes,
                raw=sub.attributes.get("RawMessageDelivery") == "true",
            )
        )
    return message_id


@operation("sns", "Publish")
def publish(ctx: RequestContext, params: dict) -> dict:
    if params.get("PhoneNumber"):
        raise _invalid("PhoneNumber", "privlink does not deliver SMS")
    arn = params.get("TopicArn") or params.get("TargetArn")
    if params.get("TopicArn") and params.get("TargetArn"):
        raise _invalid("TopicArn or TargetArn", "Only one of them may be given")
    if not arn:
        raise _invalid("TopicArn or TargetArn Reason: no value for required parameter")
    topic = _topic(ctx.tx, arn, "TopicArn" if params.get("TopicArn") else "TargetArn")
    _authorize(ctx, topic, "Publish")
    message = params["Message"]
    if message == "":
        raise _invalid("Message", "Empty message")
    if len(message.encode()) > _MAX_MESSAGE:
        raise _invalid("Message too long")
    subject = params.get("Subject")
    if subject is not None and (
        subject == "" or len(subject) > 100 or not all(32 <= ord(c) < 127 for c in subject)
    ):
        raise _invalid(
            "Subject",
            "Subject must be 1 to 100 printable ASCII characters, without line breaks",
        )
    body: str | dict = message
    if params.get("MessageStructure"):
        if params["MessageStructure"] != "json":
            raise _invalid("MessageStructure")
        try:
            body = json.loads(message)
        except ValueError:
            raise _invalid("Message Structure - JSON message body failed to parse") from None
        if not isinstance(body, dict) or not isinstance(body.get("default"), str):
            raise _invalid("Message Structure - No default entry in JSON message body")
    attrs = _message_attributes(params.get("MessageAttributes"))
    return {"MessageId": _fan_out(ctx.tx, topic, body, subject, attrs, ctx.now)}


def publish_internal(
    tx,
    runtime,
    topic_arn: str,
    message: str,
    subject: str | None = None,
    *,
    message_attributes: dict | None = None,
    source_service: str | None = None,
    source_account: str | None = None,
    source_arn: str | None = None,
    now: float | None = None,
) -> str | None:
    """Publish from inside privlink (e.g. PrivateLink connection notifications).

    Call it inside the transaction of the action that caused the event: the deliveries are
    written with it and sent after commit by the delivery component, so the caller never
    waits on a subscriber. ``message_attributes`` are already in envelope form
    (``{"name": {"Type": "String", "Value": "…"}}``).

    When ``source_service`` is given (``"vpce.amazonaws.com"``), the topic policy must allow
    that service principal ``SNS:Publish`` (conditions on aws:SourceAccount / aws:SourceArn
    are checked against ``source_account`` / ``source_arn``), as AWS requires; otherwise
    nothing is published. Returns the message id, or None when the topic does not exist or
    its policy refuses the service."""
    topic = tx.get(Topic, topic_arn)
    if topic is None:
        return None
    if source_service is not None and not policy_allows(
        _topic_policy(topic),
        "Publish",
        topic.id,
        service=source_service,
        source_account=source_account,
        source_arn=source_arn,
    ):
        return None
    return _fan_out(
        tx,
        topic,
        message,
        subject,
        dict(message_attributes or {}),
        now if now is not None else time.time(),
    )


# ------------------------------------------------------------------------------ tags


def _tag_topic(ctx: RequestContext, arn: str) -> Topic:
    if not _TOPIC_ARN.match(arn or ""):
        raise _invalid("ResourceArn")
    topic = ctx.tx.get(Topic, arn)
    if topic is None:
        raise AwsError("ResourceNotFound", "Resource does not exist", 404)
    if topic.account != ctx.account:
        raise AwsError(
            "AuthorizationError",
            f"User: {ctx.principal.arn} is not authorized to perform tagging on {arn}",
            403,
        )
    return topic


@operation("sns", "TagResource")
def tag_resource(ctx: RequestContext, params: dict) -> dict:
    topic = _tag_topic(ctx, params["ResourceArn"])
    tags = _check_tags(params.get("Tags") or [], topic.tags)
    ctx.tx.edit(topic).tags = tags
    return {}


@operation("sns", "UntagResource")
def untag_resource(ctx: RequestContext, params: dict) -> dict:
    topic = _tag_topic(ctx, params["ResourceArn"])
    mine = ctx.tx.edit(topic)
    for k in params.get("TagKeys") or []:
        mine.tags.pop(k, None)
    return {}


@operation("sns", "ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict) -> dict:
    topic = _tag_topic(ctx, params["ResourceArn"])
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(topic.tags.items())]}


__all__ = ["publish_internal", "policy_allows", "default_policy"]
