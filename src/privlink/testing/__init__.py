"""Helpers to run a privlink server inside another program (tests, ``privlink lab``)."""

from .embedded import EmbeddedPrivlink, free_port

__all__ = ["EmbeddedPrivlink", "free_port"]
