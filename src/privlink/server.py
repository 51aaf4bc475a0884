"""A running privlink: the store, the API, the scheduler and the live components (health
checks, data plane, DNS …), in one asyncio event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Protocol

from . import __version__
from .api.dispatch import Api
from .api.http import HttpFront
from .config import Settings
from .scheduler import Scheduler
from .services import load_services
from .services.base import Runtime
from .state import Store
from .state.backend import MemoryBackend, SqliteBackend

log = logging.getLogger("privlink")


class Component(Protocol):
    """A live part of privlink started after the API (health checker, data plane, DNS…)."""

    name: str

    async def start(self, app: Privlink) -> None: ...

    async def stop(self) -> None: ...

    def banner(self) -> list[str]: ...


def _components(settings: Settings) -> list[Component]:
    """The live components, in start order. Each layer adds its own here."""
    from .components import build_components

    return build_components(settings)


class Privlink:
    def __init__(self, settings: Settings):
        self.settings = settings
        # every resource kind must be registered before the store loads what is stored,
        # or stored resources of kinds defined by service modules would be skipped
        load_services()
        path = settings.state_path()
        if path:
            backend = SqliteBackend(
                path, synchronous="FULL" if settings.durability == "full" else "NORMAL"
            )
        else:
            backend = MemoryBackend()
        self.store = Store(backend)
        self.runtime = Runtime(settings, self.store)
        self.runtime.hooks["app"] = self
        self.api = Api(self.runtime)
        self.http = HttpFront(self.api, settings.max_body_bytes)
        self.scheduler = Scheduler(self.runtime)
        self.components: list[Component] = _components(settings)
        self.port: int | None = None
        self.ready = False  # every component started
        self.started_at = time.time()
        self.http.add_extension("GET", "health", self._health)

    @property
    def endpoint_url(self) -> str:
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def _health(self, req):
        if not self.ready:
            from .api.http import json_response

            return json_response({"status": "starting"}, 503)
        return {
            "status": "ok",
            "version": __version__,
            "pid": os.getpid(),
            "endpoint": self.endpoint_url,
            "default_account": self.settings.default_account,
            "default_region": self.settings.default_region,
            "state": self.store.backend.path or "ephemeral",
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "components": [c.name for c in self.components],
        }

    def component(self, name: str):
        for c in self.components:
            if c.name == name:
                return c
        return None

    async def start(self) -> None:
        self.port = await self.http.start(self.settings.host, self.settings.port)
        self.scheduler.start()
        started = []
        try:
            for c in self.components:
                await c.start(self)
                started.append(c)
            self.ready = True
        except BaseException:
            for c in reversed(started):
                await c.stop()
            await self.scheduler.stop()
            await self.http.stop()
            raise

    async def stop(self) -> None:
        self.ready = False
        for c in reversed(self.components):
            try:
                await c.stop()
            except Exception:
                log.exception("stopping %s failed", c.name)
        await self.scheduler.stop()
        await self.http.stop()
        self.store.close()

    def banner(self) -> list[str]:
        state = self.store.backend.path or "ephemeral, in memory"
        lines = [f"privlink listening on {self.endpoint_url} (state: {state})"]
        for c in self.components:
            lines.extend(c.banner())
        return lines


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
