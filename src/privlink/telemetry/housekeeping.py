"""Retention: a live component that prunes log events past their group's retention."""

from __future__ import annotations

import asyncio
import logging
import time

from ..aio import cancel_and_wait
from .logstore import prune_expired

log = logging.getLogger("privlink.logs")


class LogRetention:
    name = "logs"

    def __init__(self, settings):
        self.settings = settings
        self.app = None
        self._task: asyncio.Task | None = None
        self.pruned = 0

    def sweep(self, now: float | None = None) -> int:
        """Delete expired events now; returns how many went."""
        now = time.time() if now is None else now
        n = prune_expired(self.app.store, int(now * 1000))
        self.pruned += n
        return n

    async def start(self, app) -> None:
        self.app = app
        app.runtime.hooks["logs"] = self
        self._task = asyncio.get_running_loop().create_task(self._run(), name="privlink-logs")

    async def _run(self) -> None:
        while True:
            try:
                for _ in range(100):  # a large backlog goes in bounded batches
                    if self.sweep() == 0:
                        break
                    await asyncio.sleep(0)
            except Exception:
                log.exception("log retention sweep failed")
            await asyncio.sleep(self.settings.timing.retention_sweep_interval)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def banner(self) -> list[str]:
        return []
