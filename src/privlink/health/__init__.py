"""Target health checks: the live component that probes registered targets through the
address realm and records what it saw (see :mod:`privlink.health.checker`)."""

from .checker import HealthChecker

__all__ = ["HealthChecker"]
