"""SNS on the wire to an HTTP/S subscriber (sans-IO): the JSON envelope, its signature, the
headers, the loopback rule and the delivery-policy retry schedule."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from ..state.sns import PendingDelivery

DEFAULT_RETRY_POLICY = {
    "minDelayTarget": 20,
    "maxDelayTarget": 20,
    "numRetries": 3,
    "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 0,
    "backoffFunction": "linear",
}
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
CERT_PATH = "sns/SimpleNotificationService.pem"


def sns_timestamp(epoch: float) -> str:
    when = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------------- loopback rule


class NotLoopback(ValueError):
    pass


def loopback_host(url: str) -> str:
    """The host of an http(s) URL if privlink may deliver to it, else :class:`NotLoopback`.

    Only loopback IP literals (127.0.0.0/8, ::1) and ``localhost`` names qualify: privlink
    never resolves other names (that would itself send packets off the machine)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        raise NotLoopback(f"'{url}' is not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise NotLoopback(f"'{url}' is not an http:// or https:// URL with a host")
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise NotLoopback(
            f"privlink delivers only to loopback addresses (127.0.0.0/8, ::1 or localhost) and "
            f"does not resolve other host names; '{host}' is not one"
        ) from None
    if not addr.is_loopback:
        raise NotLoopback(
            f"privlink delivers only to loopback addresses (127.0.0.0/8, ::1 or localhost); "
            f"{host} is not a loopback address"
        )
    return host


# ---------------------------------------------------------------------------- envelope


def subscribe_url(base: str, topic_arn: str, token: str) -> str:
    return f"{base}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe='')}&Token={token}"


def unsubscribe_url(base: str, subscription_arn: str) -> str:
    return f"{base}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe='')}"


def string_to_sign(env: dict) -> str:
    """The canonical text SNS signs (SignatureVersion 1 and 2 alike)."""
    if env["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    out = []
    for k in keys:
        if k in env and env[k] is not None:
            out.append(f"{k}\n{env[k]}\n")
    return "".join(out)


def build_envelope(d: PendingDelivery, base: str, sign: Callable[[bytes, str], bytes]) -> dict:
    """The JSON document SNS POSTs, with its signature (``sign(data, version)`` -> bytes)."""
    env: dict = {"Type": d.message_type, "MessageId": d.message_id}
    if d.message_type == "Notification":
        env["TopicArn"] = d.topic_arn
        if d.subject is not None:
            env["Subject"] = d.subject
        env["Message"] = d.message
        env["Timestamp"] = sns_timestamp(d.timestamp)
    else:
        env["Token"] = d.token
        env["TopicArn"] = d.topic_arn
        env["Message"] = d.message
        env["SubscribeURL"] = subscribe_url(base, d.topic_arn, d.token or "")
        env["Timestamp"] = sns_timestamp(d.timestamp)
    env["SignatureVersion"] = d.signature_version
    env["Signature"] = base64.b64encode(
        sign(string_to_sign(env).encode(), d.signature_version)
    ).decode()
    env["SigningCertURL"] = f"{base}/_privlink/{CERT_PATH}"
    if d.message_type == "Notification":
        env["UnsubscribeURL"] = unsubscribe_url(base, d.subscription_arn)
        if d.message_attributes:
            env["MessageAttributes"] = d.message_attributes
    return env


def request_for(
    d: PendingDelivery, base: str, sign: Callable[[bytes, str], bytes]
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the POST for one delivery."""
    headers = {
        "x-amz-sns-message-type": d.message_type,
        "x-amz-sns-message-id": d.message_id,
        "x-amz-sns-topic-arn": d.topic_arn,
        "Content-Type": d.content_type or DEFAULT_CONTENT_TYPE,
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    if d.message_type == "Notification":
        headers["x-amz-sns-subscription-arn"] = d.subscription_arn
    if d.message_type == "Notification" and d.raw:
        headers["x-amz-sns-rawdelivery"] = "true"
        return headers, d.message.encode()
    env = build_envelope(d, base, sign)
    return headers, json.dumps(env, indent=2, ensure_ascii=False).encode()


# ------------------------------------------------------------------------ retry policy


def retry_delay(policy: dict, failures: int) -> float | None:
    """Seconds to wait before the retry that follows ``failures`` failed attempts, or None
    when the policy is exhausted (AWS's four phases: immediate, pre-backoff at the minimum
    delay, backoff from minimum to maximum, post-backoff at the maximum)."""
    p = {**DEFAULT_RETRY_POLICY, **(policy or {})}
    total = int(p["numRetries"])
    k = failures  # this is retry number k (1-based)
    if k > total:
        return None
    no_delay = int(p["numNoDelayRetries"])
    n_min = int(p["numMinDelayRetries"])
    n_max = int(p["numMaxDelayRetries"])
    lo, hi = float(p["minDelayTarget"]), float(p["maxDelayTarget"])
    if k <= no_delay:
        return 0.0
    if k <= no_delay + n_min:
        return lo
    backoff = max(0, total - no_delay - n_min - n_max)
    i = k - no_delay - n_min
    if i <= backoff:
        t = i / backoff if backoff else 1.0
        fn = str(p.get("backoffFunction", "linear")).lower()
        if fn == "arithmetic":
            t = t * t
        elif fn == "geometric":
            t = t * t * t
        elif fn == "exponential" and lo > 0:
            return lo * (hi / lo) ** t
        return lo + (hi - lo) * t
    return hi
