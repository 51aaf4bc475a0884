"""The live part of SNS: POSTs pending deliveries to HTTP/S subscribers.

It reads the durable outbox (:class:`~privlink.state.sns.PendingDelivery`): what is stored
when privlink starts, then whatever the change feed adds. Deliveries of one subscription go
out one at a time, oldest first, so a subscriber sees them in publish order; a failed
attempt (connection refused, timeout, 5xx, 429) is retried on the delivery policy's
schedule, scaled by ``settings.timing.sns_retry_delay_scale``. While a subscriber is
failing, each queued message spends one attempt per failed try (as each would have failed
on its own in AWS); a message whose policy is exhausted is dropped. A 4xx answer other
than 429 is final for that message. Attempt counts live in memory: after a restart every
stored delivery starts a fresh policy.

Network safety: only loopback hosts are dialled (checked again before every attempt; names
other than ``localhost`` are never resolved), redirects are not followed, proxies are not
used.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver

from ..aio import cancel_and_wait
from ..api.protocol import HttpResponse
from ..state.sns import PendingDelivery, Subscription
from .envelope import CERT_PATH, NotLoopback, loopback_host, request_for, retry_delay

log = logging.getLogger("privlink.sns")


class Signer:
    """An RSA key and a self-signed certificate for the SNS message signature."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID

        self._hashes = hashes
        self._padding = padding
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.privlink.localhost")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, data: bytes, version: str) -> bytes:
        algo = self._hashes.SHA256() if version == "2" else self._hashes.SHA1()
        return self.key.sign(data, self._padding.PKCS1v15(), algo)


@functools.cache
def shared_signer() -> Signer:
    """One signing key per process (generating an RSA key takes a noticeable moment)."""
    return Signer()


class LoopbackResolver(AbstractResolver):
    """Resolves ``localhost`` names to loopback addresses and refuses every other name."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        if host != "localhost" and not host.endswith(".localhost"):
            raise OSError(f"privlink resolves only localhost names, not {host}")
        addrs = []
        if family in (socket.AF_INET, socket.AF_UNSPEC):
            addrs.append(("127.0.0.1", socket.AF_INET))
        if family in (socket.AF_INET6, socket.AF_UNSPEC):
            addrs.append(("::1", socket.AF_INET6))
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": fam,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a, fam in addrs
        ]

    async def close(self) -> None:
        pass


class _Permanent(Exception):
    pass


class SnsDeliveryComponent:
    name = "sns-delivery"

    def __init__(self, settings):
        self.settings = settings
        self.app = None
        self.store = None
        self.signer: Signer | None = None
        self.session: aiohttp.ClientSession | None = None
        self.queues: dict[str, list[PendingDelivery]] = {}
        self.workers: dict[str, asyncio.Task] = {}
        self.failures: dict[str, int] = {}  # delivery id -> failed attempts
        self.delivered = 0
        self.dropped = 0
        self._unsubscribe = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._known: set[str] = set()

    # -- lifecycle
    async def start(self, app) -> None:
        self.app = app
        self.store = app.store
        self._loop = asyncio.get_running_loop()
        self.signer = await self._loop.run_in_executor(None, shared_signer)
        app.http.add_extension("GET", CERT_PATH, self._serve_cert)
        app.runtime.hooks["sns_delivery"] = self
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=LoopbackResolver(), limit=64, ssl=False),
            timeout=aiohttp.ClientTimeout(total=float(self.settings.timing.sns_http_timeout)),
            trust_env=False,
        )
        self._unsubscribe = self.store.subscribe(self._on_change)
        for d in sorted(self.store.all(PendingDelivery), key=lambda d: d.seq):
            self._enqueue(d)

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_and_wait(*self.workers.values())
        self.workers.clear()
        if self.session is not None:
            await self.session.close()
            self.session = None

    def banner(self) -> list[str]:
        pending = self.store.count(PendingDelivery) if self.store else 0
        return [f"sns: HTTP/S delivery to loopback subscribers ({pending} pending)"]

    def _serve_cert(self, req) -> HttpResponse:
        assert self.signer is not None
        return HttpResponse(200, {"Content-Type": "application/x-pem-file"}, self.signer.cert_pem)

    @property
    def base_url(self) -> str:
        host = self.app.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.app.port}"

    # -- the outbox
    def _on_change(self, changes) -> None:
        new = [
            ch.new
            for ch in changes
            if ch.kind == PendingDelivery.KIND and ch.new is not None and ch.old is None
        ]
        if new and self._loop is not None:
            self._loop.call_soon_threadsafe(self._enqueue_many, new)

    def _enqueue_many(self, items) -> None:
        for d in sorted(items, key=lambda d: d.seq):
            self._enqueue(d)

    def _enqueue(self, d: PendingDelivery) -> None:
        if d.id in self._known:
            return
        self._known.add(d.id)
        q = self.queues.setdefault(d.subscription_arn, [])
        q.append(d)
        if len(q) > 1 and q[-2].seq > d.seq:
            q.sort(key=lambda x: x.seq)
        if d.subscription_arn not in self.workers:
            self.workers[d.subscription_arn] = asyncio.get_running_loop().create_task(
                self._worker(d.subscription_arn), name=f"sns-delivery {d.subscription_arn}"
            )

    def _forget(self, d: PendingDelivery, *, delivered: bool) -> None:
        self._known.discard(d.id)
        self.failures.pop(d.id, None)
        if delivered:
            self.delivered += 1
        else:
            self.dropped += 1
        with self.store.transaction() as tx:
            cur = tx.get(PendingDelivery, d.id)
            if cur is not None:
                tx.delete(cur)

    async def _worker(self, key: str) -> None:
        q = self.queues[key]
        try:
            while q:
                d = q[0]
                if self.store.get(PendingDelivery, d.id) is None:  # unsubscribed meanwhile
                    q.pop(0)
                    self._known.discard(d.id)
                    self.failures.pop(d.id, None)
                    continue
                if d.message_type == "Notification":
                    sub = self.store.get(Subscription, d.subscription_arn)
                    if sub is None or not sub.confirmed:
                        q.pop(0)
                        self._forget(d, delivered=False)
                        continue
                try:
                    ok = await self._attempt(d)
                except _Permanent as e:
                    log.warning("sns: %s to %s dropped: %s", d.message_id, d.endpoint, e)
                    q.pop(0)
                    self._forget(d, delivered=False)
                    continue
                if ok:
                    q.pop(0)
                    self._forget(d, delivered=True)
                    continue
                delay = self._after_failure(q)
                if delay is not None and q:
                    await asyncio.sleep(delay)
        finally:
            if self.workers.get(key) is asyncio.current_task():
                del self.workers[key]
            if not q:
                self.queues.pop(key, None)

    def _after_failure(self, q: list[PendingDelivery]) -> float | None:
        """Charge one failed attempt to every queued message; drop the exhausted ones; the
        delay before the next try (for the new head of the queue)."""
        scale = max(0.0, float(self.settings.timing.sns_retry_delay_scale))
        keep = []
        for d in q:
            n = self.failures.get(d.id, 0) + 1
            self.failures[d.id] = n
            if retry_delay(d.retry_policy, n) is None:
                log.warning("sns: %s to %s dropped after %d attempts", d.message_id, d.endpoint, n)
                self._forget(d, delivered=False)
            else:
                keep.append(d)
        q[:] = keep
        if not q:
            return None
        head = q[0]
        delay = retry_delay(head.retry_policy, self.failures.get(head.id, 0)) or 0.0
        return delay * scale

    async def _attempt(self, d: PendingDelivery) -> bool:
        try:
            loopback_host(d.endpoint)
        except NotLoopback as e:
            raise _Permanent(str(e)) from None
        assert self.signer is not None and self.session is not None
        headers, body = request_for(d, self.base_url, self.signer.sign)
        started = time.monotonic()
        try:
            async with self.session.post(
                d.endpoint, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.content.read(65536)
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.info("sns: %s to %s failed: %s", d.message_id, d.endpoint, e or type(e).__name__)
            return False
        if 200 <= status < 300:
            log.debug(
                "sns: %s delivered to %s in %.3fs",
                d.message_id,
                d.endpoint,
                time.monotonic() - started,
            )
            return True
        if 400 <= status < 500 and status != 429:
            raise _Permanent(f"the subscriber answered HTTP {status}")
        log.info("sns: %s to %s answered HTTP %d", d.message_id, d.endpoint, status)
        return False
