"""Runs durable timers (:class:`~privlink.services.base.Timer`) when they come due.

Timers are resources, so a timer set before a crash still fires after a restart. Each
timer runs in its own transaction, which also deletes it: it fires once.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time

from .aio import cancel_and_wait
from .services.base import TIMER_HANDLERS, Runtime, Timer, TimerContext
from .state import Change

log = logging.getLogger("privlink.scheduler")


class Scheduler:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.store = runtime.store
        self._heap: list[tuple[float, str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        for t in self.store.all(Timer):
            heapq.heappush(self._heap, (t.due, t.id))
        self._unsubscribe = self.store.subscribe(self._on_change)
        runtime.wake_scheduler = self.wake

    def _on_change(self, changes: list[Change]) -> None:
        added = False
        for ch in changes:
            if ch.kind == Timer.KIND and ch.new is not None:
                heapq.heappush(self._heap, (ch.new.due, ch.id))
                added = True
        if added:
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="privlink-scheduler")

    async def stop(self) -> None:
        self._unsubscribe()
        await cancel_and_wait(self._task)

    def run_due(self, now: float | None = None) -> int:
        """Fire every timer due by ``now``; returns how many fired."""
        now = time.time() if now is None else now
        fired = 0
        while self._heap and self._heap[0][0] <= now:
            _, tid = heapq.heappop(self._heap)
            timer = self.store.get(Timer, tid)
            if timer is None or timer.due > now:
                continue
            self._fire(timer, now)
            fired += 1
        return fired

    def _fire(self, timer: Timer, now: float) -> None:
        handler = TIMER_HANDLERS.get(timer.topic)
        tx = self.store.transaction()
        try:
            current = tx.get(Timer, timer.id)
            if current is None:
                tx.rollback()
                return
            tx.delete(current)
            if handler is None:
                log.warning("timer %s has unknown topic %s; dropped", timer.id, timer.topic)
            else:
                handler(TimerContext(tx, self.runtime, now), dict(timer.args))
            tx.commit()
        except Exception:
            log.exception("timer %s (%s) failed; dropped", timer.id, timer.topic)
            if not tx.done:
                tx.rollback()
            with self.store.transaction() as tx2:
                cur = tx2.get(Timer, timer.id)
                if cur is not None:
                    tx2.delete(cur)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self.run_due()
            delay = 3600.0
            if self._heap:
                delay = max(0.0, self._heap[0][0] - time.time())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 3600.0) + 0.001)
            except TimeoutError:
                pass
