"""Durable state: resources as dataclasses, SQLite persistence, and the change feed."""

from .store import KINDS, Change, Resource, Store, Transaction, resource

__all__ = ["KINDS", "Change", "Resource", "Store", "Transaction", "resource"]
