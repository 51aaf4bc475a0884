"""Run a privlink server on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading

from ..config import Settings
from ..server import Privlink, new_event_loop


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedPrivlink:
    """``with EmbeddedPrivlink(settings) as pl: pl.endpoint_url``"""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings(ephemeral=True, port=0)
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="privlink", daemon=True)
        self.app: Privlink | None = None

    def start(self) -> EmbeddedPrivlink:
        self.thread.start()

        async def _start():
            self.app = Privlink(self.settings)
            await self.app.start()

        asyncio.run_coroutine_threadsafe(_start(), self.loop).result(timeout=60)
        return self

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the server's loop and return its result (for inspecting state)."""

        async def _run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(_run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        if self.app is not None:
            asyncio.run_coroutine_threadsafe(self.app.stop(), self.loop).result(timeout=60)
            self.app = None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()

    @property
    def endpoint_url(self) -> str:
        assert self.app is not None
        return self.app.endpoint_url

    def __enter__(self) -> EmbeddedPrivlink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
