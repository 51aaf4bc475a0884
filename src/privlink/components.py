"""The list of live components a privlink server runs, in start order.

Each layer (health checks, data plane, DNS, notifications …) adds its component here.
"""

from __future__ import annotations

from .config import Settings


def build_components(settings: Settings) -> list:
    from .notify.sns_delivery import SnsDeliveryComponent

    components: list = [SnsDeliveryComponent(settings)]
    return components
