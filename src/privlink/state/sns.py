"""SNS resources: topics, subscriptions, and the durable outbox of HTTP/S deliveries.

A :class:`PendingDelivery` is written in the same transaction as the Publish or Subscribe
that caused it, so a message privlink acknowledged survives a restart; the delivery
component (:mod:`privlink.notify.sns_delivery`) deletes it once the subscriber took it or
the delivery policy gave up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import Resource, resource


@resource("sns.topic")
@dataclass(kw_only=True)
class Topic(Resource):
    """A standard topic. ``id`` is the topic ARN."""

    name: str
    attributes: dict[str, str] = field(default_factory=dict)  # the ones set by the owner
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    subscriptions_deleted: int = 0


@resource("sns.subscription")
@dataclass(kw_only=True)
class Subscription(Resource):
    """A subscription. ``id`` is the subscription ARN; ``account`` is the subscriber (the
    Owner AWS reports), ``topic_account`` the topic's owner."""

    topic_arn: str
    topic_account: str
    protocol: str
    endpoint: str
    confirmed: bool = False
    token: str = ""
    token_expires_at: float = 0.0
    authenticated: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0


@resource("sns.delivery")
@dataclass(kw_only=True)
class PendingDelivery(Resource):
    """One message waiting to be POSTed to one HTTP/S subscriber.

    ``seq`` orders the deliveries of a subscription. URLs that point back at privlink
    (SubscribeURL, UnsubscribeURL, SigningCertURL) are filled in when the message is sent,
    from the endpoint privlink is serving then."""

    seq: int
    subscription_arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    message_type: str  # Notification | SubscriptionConfirmation
    message_id: str
    message: str
    timestamp: float
    subject: str | None = None
    token: str | None = None
    message_attributes: dict[str, Any] = field(default_factory=dict)
    raw: bool = False
    signature_version: str = "1"
    content_type: str = "text/plain; charset=UTF-8"
    retry_policy: dict[str, Any] = field(default_factory=dict)  # healthyRetryPolicy
