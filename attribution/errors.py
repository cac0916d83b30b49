"""Errors raised by the attribution engine, rooted in the node's error tree."""

from __future__ import annotations

from openledger_node.exceptions import OpenLedgerError


class AttributionError(OpenLedgerError):
    """Root of every error the attribution engine raises on purpose."""


class UnsupportedModuleError(AttributionError):
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"module {name!r} cannot be tracked: {reason}")


class IndexMismatchError(AttributionError):
    """The stored index was built for another model or another projection."""

    def __init__(self, field: str, stored: object, current: object) -> None:
        self.field = field
        self.stored = stored
        self.current = current
        super().__init__(f"index {field} is {stored!r} but the current value is {current!r}")


class IndexNotFoundError(AttributionError):
    def __init__(self, path: str, what: str = "index") -> None:
        self.path = path
        super().__init__(f"no {what} at {path}")
