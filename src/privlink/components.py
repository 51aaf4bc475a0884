"""The list of live components a privlink server runs, in start order.

Each layer (realm, health checks, data plane, DNS, notifications …) adds its component here.
"""

from __future__ import annotations

from .config import Settings


def build_components(settings: Settings) -> list:
    from .net.component import RealmComponent

    components: list = [RealmComponent()]
    if settings.health_checks_enabled:
        from .health import HealthChecker

        components.append(HealthChecker())  # after the realm: probes dial realm addresses
    return components
