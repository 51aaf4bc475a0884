"""What every service handler shares: the registry, the request context, ids and timers.

A handler is a plain function ``(ctx, params) -> dict``: it gets the operation's input as a
dict shaped like botocore's input shape and returns a dict shaped like its output shape, or
raises :class:`~privlink.api.errors.AwsError`. It reads and writes resources only through
``ctx.tx``; it never opens a socket.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api.errors import AwsError
from ..config import Settings
from ..identity import Principal
from ..state import Resource, Store, Transaction, resource

Handler = Callable[["RequestContext", dict], dict | None]

HANDLERS: dict[tuple[str, str], Handler] = {}
TIMER_HANDLERS: dict[str, Callable[[TimerContext, dict], None]] = {}


def operation(service: str, name: str | None = None):
    """Register ``fn`` as the handler of ``service``'s operation ``name`` (default: the
    function name in CamelCase)."""

    def wrap(fn: Handler) -> Handler:
        op = name or "".join(p.capitalize() for p in fn.__name__.split("_"))
        key = (service, op)
        if key in HANDLERS:
            raise ValueError(f"operation {service}:{op} registered twice")
        HANDLERS[key] = fn
        return fn

    return wrap


def on_timer(topic: str):
    """Register the function run when a timer of ``topic`` comes due."""

    def wrap(fn):
        if topic in TIMER_HANDLERS:
            raise ValueError(f"timer topic {topic} registered twice")
        TIMER_HANDLERS[topic] = fn
        return fn

    return wrap


@resource("privlink.timer")
@dataclass(kw_only=True)
class Timer(Resource):
    """A durable timer: when ``due`` passes, the handler of ``topic`` runs with ``args``."""

    due: float
    topic: str
    args: dict[str, Any] = field(default_factory=dict)


class Runtime:
    """Long-lived parts of a running privlink that handlers may call on (without I/O of their
    own): settings, the store, and hooks other layers install (e.g. a notifier that delivers
    SNS messages after commit)."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self.hooks: dict[str, Any] = {}
        self.wake_scheduler: Callable[[], None] = lambda: None


@dataclass
class TimerContext:
    tx: Transaction
    runtime: Runtime
    now: float

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def schedule(self, delay: float, topic: str, **args) -> Timer:
        return schedule(self.tx, self.runtime, delay, topic, args, self.now)


def schedule(
    tx: Transaction,
    runtime: Runtime,
    delay: float,
    topic: str,
    args: dict,
    now: float | None = None,
) -> Timer:
    if topic not in TIMER_HANDLERS:
        raise KeyError(f"no handler for timer topic {topic}")
    t = Timer(
        id="tmr-" + secrets.token_hex(8),
        account="privlink",
        region="-",
        due=(now if now is not None else time.time()) + max(0.0, delay),
        topic=topic,
        args=args,
    )
    tx.put(t)
    tx.after_commit(runtime.wake_scheduler)
    return t


def cancel_timers(tx: Transaction, topic: str, **match) -> int:
    """Drop the pending timers of ``topic`` whose args include ``match`` (a timer about
    something that is gone would only fire to do nothing, and lingers in the state till then).
    Returns how many were dropped."""
    dropped = 0
    for t in list(tx.all(Timer)):
        if t.topic == topic and all(t.args.get(k) == v for k, v in match.items()):
            tx.delete(t)
            dropped += 1
    return dropped


@dataclass
class RequestContext:
    service: str
    operation: str
    principal: Principal
    region: str
    tx: Transaction
    runtime: Runtime
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    now: float = field(default_factory=time.time)

    @property
    def account(self) -> str:
        return self.principal.account

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def store(self) -> Store:
        return self.runtime.store

    def schedule(self, delay: float, topic: str, **args) -> Timer:
        return schedule(self.tx, self.runtime, delay, topic, args, self.now)


def new_id(prefix: str, hex_len: int = 17) -> str:
    """An AWS-style id: ``vpc-`` + 17 lowercase hex digits."""
    return prefix + secrets.token_hex((hex_len + 1) // 2)[:hex_len]


def require(cond: bool, code: str, message: str, status: int = 400) -> None:
    if not cond:
        raise AwsError(code, message, status)
