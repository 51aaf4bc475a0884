"""The AWS services privlink emulates. Each module registers its operation handlers with
:func:`~privlink.services.base.operation`; :func:`load_services` imports them all."""

from __future__ import annotations

import importlib
import pkgutil

from .base import HANDLERS, TIMER_HANDLERS, operation

_loaded = False


def load_services() -> None:
    global _loaded
    if _loaded:
        return
    for mod in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        importlib.import_module(mod.name)
    _loaded = True


__all__ = ["HANDLERS", "TIMER_HANDLERS", "operation", "load_services"]
