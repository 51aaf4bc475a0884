"""The DNS component of ``privlink up``: one resolver per VPC plus the public view, listening
where a :class:`ViewSource` says, answering from the views it supplies.

The integration implements :class:`ViewSource` over the store (VPCs, endpoints, Route 53
zones, the realm's address mapping) and passes it to :class:`DnsComponent`; until then
:class:`InMemoryViewSource` serves (the public resolver only, with whatever views tests put
in it).

privlink's own API: ``GET /_privlink/dns?vpc=<VPC_ID>`` and ``GET /_privlink/dns?public=1``
answer ``{"address": ..., "port": ...}``; ``privlink dns`` prints them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs

from ..aio import cancel_and_wait
from ..config import Settings
from .server import DnsLimits, DnsServer
from .view import View, public_view

log = logging.getLogger("privlink.dns")

PUBLIC = "public"
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")


@dataclass(frozen=True)
class ResolverSpec:
    """A resolver that should be listening: ``key`` is a VPC id or ``"public"``; ``address``
    is where it listens (the realm form of the VPC's base+2 address, e.g. ``127.3.0.2``)."""

    key: str
    address: str


@runtime_checkable
class ViewSource(Protocol):
    """What the DNS component needs from the rest of privlink.

    * ``resolvers()`` — every resolver that should listen now: the public one (key
      ``"public"``) and one per VPC. Called after each change notification.
    * ``view(key)`` — the current view of a resolver, or None (answered REFUSED). Called for
      every query that misses the view's answer cache: return a prebuilt :class:`View` from
      a dict, never build one here.
    * ``subscribe(callback)`` — remember ``callback`` and call it (from any thread) after
      the set of resolvers changed. Views may change without a call: the next query sees
      the new view.
    """

    def resolvers(self) -> Iterable[ResolverSpec]: ...

    def view(self, key: str) -> View | None: ...

    def subscribe(self, callback: Callable[[], None]) -> None: ...


class InMemoryViewSource:
    """A :class:`ViewSource` held in dicts: ``set_resolver(key, address, view)``,
    ``set_view(key, view)``, ``remove_resolver(key)``, ``replace({key: (address, view)})``.

    Used by tests, and by ``privlink up`` until a store-backed source exists (it then serves
    an empty public view: every name REFUSED). A store-backed source may simply own one of
    these and feed it from the change feed."""

    def __init__(self, public_address: str | None = "127.0.2.53", public: View | None = None):
        self._specs: dict[str, ResolverSpec] = {}
        self._views: dict[str, View | None] = {}
        self._subscribers: list[Callable[[], None]] = []
        if public_address:
            self.set_resolver(PUBLIC, public_address, public or public_view())

    def resolvers(self) -> list[ResolverSpec]:
        return list(self._specs.values())

    def view(self, key: str) -> View | None:
        return self._views.get(key)

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)

    def set_resolver(self, key: str, address: str, view: View | None) -> None:
        changed = self._specs.get(key) != ResolverSpec(key, address)
        self._specs[key] = ResolverSpec(key, address)
        self._views[key] = view
        if changed:
            self._notify()

    def set_view(self, key: str, view: View | None) -> None:
        if key not in self._specs:
            raise KeyError(f"no resolver {key}")
        self._views[key] = view

    def remove_resolver(self, key: str) -> None:
        if self._specs.pop(key, None) is not None:
            self._views.pop(key, None)
            self._notify()

    def replace(self, resolvers: dict[str, tuple[str, View | None]]) -> None:
        """Swap in a whole new set at once: ``{key: (address, view)}`` (the store-backed
        integration can rebuild everything on each change and call this). Resolvers whose
        address did not change keep listening; only the views are swapped."""
        specs = {key: ResolverSpec(key, address) for key, (address, _) in resolvers.items()}
        changed = specs != self._specs
        self._views = {key: view for key, (_, view) in resolvers.items()}
        self._specs = specs
        if changed:
            self._notify()

    def _notify(self) -> None:
        for cb in list(self._subscribers):
            cb()


ViewSourceFactory = Callable[[object], ViewSource]


class DnsComponent:
    """Runs the resolvers a :class:`ViewSource` asks for on one shared port.

    ``source`` is a ViewSource, or a function ``(app) -> ViewSource`` called at start; by
    default the one a component started earlier put in ``app.runtime.hooks["dns.view_source"]``,
    else an :class:`InMemoryViewSource`. The port: ``settings.dns_port`` if set (0: a free
    one), else 53 when the process may bind it, else a free high port; every resolver uses
    the same port on its own address.
    """

    name = "dns"

    def __init__(self, settings: Settings, source: ViewSource | ViewSourceFactory | None = None):
        self.settings = settings
        self._source_arg = source
        self.source: ViewSource | None = None
        self.server = DnsServer(
            DnsLimits(
                max_udp_payload=settings.dns_max_udp_payload,
                tcp_idle_timeout=settings.dns_tcp_idle_timeout,
                max_tcp_connections=settings.dns_max_tcp_connections,
                max_qps=settings.dns_max_qps,
            )
        )
        self.port: int | None = None
        self.errors: dict[str, str] = {}  # resolver key -> why it is not listening
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = False
        self._task: asyncio.Task | None = None
        self._stopped = False
        # called with one line for each resolver opened or closed after start-up (``privlink
        # up`` prints them, as it prints the banner for the resolvers there at start)
        self.announce: Callable[[str], None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, app) -> None:
        self._loop = asyncio.get_running_loop()
        source = self._source_arg
        if source is None:
            source = app.runtime.hooks.get("dns.view_source")
        if source is None:
            source = InMemoryViewSource(self.settings.dns_public_address)
        elif not isinstance(source, ViewSource) and callable(source):
            source = source(app)
        self.source = source
        app.runtime.hooks["dns"] = self
        app.http.add_extension("GET", "dns", self._http_dns)
        await self.reconcile()
        source.subscribe(self._changed)

    def use_source(self, source: ViewSource) -> None:
        """Serve another view source from now on (tests and tools drive views by hand)."""
        self.source = source
        source.subscribe(self._changed)
        self._changed()

    async def stop(self) -> None:
        self._stopped = True
        await cancel_and_wait(self._task)
        await self.server.close()

    def banner(self) -> list[str]:
        lines = []
        keys = sorted(self.server.listeners, key=lambda k: (k != PUBLIC, k))
        for key in keys[:20]:
            address, port = self.server.address_of(key)
            what = "public view" if key == PUBLIC else f"resolver of {key}"
            lines.append(f"DNS {what} on {address} port {port}")
        if len(keys) > 20:
            lines.append(f"DNS: and {len(keys) - 20} more VPC resolvers ('privlink dns VPC_ID')")
        for key, err in sorted(self.errors.items()):
            lines.append(f"DNS resolver of {key} is not listening: {err}")
        return lines

    # -- keeping listeners in line with the source ----------------------------------------------

    def _changed(self) -> None:
        loop = self._loop
        if loop is None or self._stopped or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._kick()
        else:
            loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._dirty and not self._stopped:
            self._dirty = False
            try:
                await self.reconcile()
            except Exception:
                log.exception("updating the DNS resolvers failed")

    async def reconcile(self) -> None:
        """Open the resolvers the source wants and close the others (idempotent)."""
        assert self.source is not None
        wanted = {spec.key: spec for spec in self.source.resolvers()}
        for key, listener in list(self.server.listeners.items()):
            spec = wanted.get(key)
            if spec is None or spec.address != listener.address:
                await self.server.remove_listener(key)
                if self.announce is not None and spec is None:
                    self.announce(f"DNS resolver of {key} closed")
        for key in list(self.errors):
            if key not in wanted:
                del self.errors[key]
        # The public resolver first: it settles the shared port.
        for key in sorted(wanted, key=lambda k: k != PUBLIC):
            if key not in self.server.listeners:
                await self._open(wanted[key])

    async def _open(self, spec: ResolverSpec) -> None:
        key = spec.key

        def view() -> View | None:
            return self.source.view(key)

        port = self.port
        if port is None:
            port = 53 if self.settings.dns_port is None else self.settings.dns_port
        try:
            try:
                bound = await self.server.add_listener(key, spec.address, port, view)
            except OSError as e:
                if not (self.port is None and self.settings.dns_port is None):
                    raise
                # 53 is privileged or taken: any free high port will do.
                log.info("DNS cannot use port 53 (%s); picking a free port", e.strerror or e)
                bound = await self.server.add_listener(key, spec.address, 0, view)
        except (OSError, OverflowError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            if getattr(e, "errno", None) == errno.EADDRNOTAVAIL:
                reason += " (the address is not on a local interface)"
            self.errors[key] = f"{spec.address} port {port}: {reason}"
            log.warning(
                "DNS resolver %s cannot listen on %s port %s: %s", key, spec.address, port, reason
            )
            return
        self.errors.pop(key, None)
        if self.port is None:
            self.port = bound
        if self.announce is not None:
            what = "public view" if key == PUBLIC else f"resolver of {key}"
            self.announce(f"DNS {what} on {spec.address} port {bound}")

    # -- privlink's own API -------------------------------------------------------------------

    def _http_dns(self, req) -> dict:
        from ..api.http import ExtensionError

        params = parse_qs(req.query or "", keep_blank_values=True)
        vpc = (params.get("vpc") or [""])[0]
        public = (params.get("public") or [""])[0].lower() in ("1", "true", "yes")
        if vpc and public:
            raise ExtensionError(400, "ask for one view: vpc=VPC_ID or public=1, not both")
        if public:
            key, what = PUBLIC, "the public view"
        elif vpc:
            if not _VPC_ID.match(vpc):
                raise ExtensionError(400, f"'{vpc}' is not a VPC id (vpc-0123456789abcdef0)")
            key, what = vpc, f"VPC {vpc}"
        else:
            raise ExtensionError(400, "say which resolver: vpc=VPC_ID or public=1")
        where = self.server.address_of(key)
        if where is None:
            if key in self.errors:
                raise ExtensionError(
                    503, f"the DNS resolver of {what} is not listening: {self.errors[key]}"
                )
            raise ExtensionError(404, f"there is no DNS resolver for {what}")
        address, port = where
        return {"address": address, "port": port}
