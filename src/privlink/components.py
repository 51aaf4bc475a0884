"""The list of live components a privlink server runs, in start order.

Each layer (metrics, realm, health checks, data plane, DNS, notifications …) adds its
component here.
"""

from __future__ import annotations

from .config import Settings


def build_components(settings: Settings) -> list:
    from .net.component import RealmComponent
    from .notify.sns_delivery import SnsDeliveryComponent
    from .telemetry.housekeeping import LogRetention
    from .telemetry.sink import MetricsSink

    components: list = [
        # first, so runtime.hooks["metrics"] exists before the layers that feed it start
        MetricsSink(settings),
        LogRetention(settings),
        RealmComponent(),
        SnsDeliveryComponent(settings),
    ]
    if settings.health_checks_enabled:
        from .health import HealthChecker

        components.append(HealthChecker())  # after the realm: probes dial realm addresses
    if settings.dataplane_enabled:
        from .dataplane.component import DataPlane

        components.append(DataPlane(settings))  # after the realm and the metrics sink
    if settings.dns_enabled:
        from .dns.component import DnsComponent
        from .dns.storesource import StoreViewSource

        components.append(DnsComponent(settings, lambda app: StoreViewSource(app)))
    return components
