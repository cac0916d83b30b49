"""How long-running loops treat errors: by severity (op-node's derive/error.go).

Every loop that runs steps forever (the sequencer driver now; the batcher, the
L1 traversal and the validator next) runs each step through `StepRunner`:
a `TemporaryError`, or any error of no severity, is logged and retried with
exponential backoff; a `ResetError` calls the loop's reset hook (re-derive from
the last safe point) and retries; a `CriticalError` is raised to the loop, which
stops the service and reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from openledger_node.exceptions import CriticalError, OpenLedgerError, ResetError


class Severity(Enum):
    TEMPORARY = "temporary"
    RESET = "reset"
    CRITICAL = "critical"


def severity_of(exc: BaseException) -> Severity:
    if isinstance(exc, CriticalError):
        return Severity.CRITICAL
    if isinstance(exc, ResetError):
        return Severity.RESET
    return Severity.TEMPORARY


@dataclass
class Backoff:
    """Exponential backoff between retries of a failing step."""

    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        self._next = self.initial if self._next == 0 else min(self._next * self.factor, self.maximum)
        return self._next

    def reset(self) -> None:
        self._next = 0.0


class StepRunner:
    """Runs one step of a loop and says how long to wait before the next try."""

    def __init__(
        self,
        name: str,
        log: logging.Logger,
        on_reset: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.on_reset = on_reset
        self.backoff = backoff or Backoff()
        self.failures = 0

    def run(self, step: Callable[[], object]) -> float:
        """Run `step`. Returns 0.0 after a success, else the delay before retrying;
        raises the error if it is critical."""
        try:
            step()
        except Exception as exc:
            severity = severity_of(exc)
            if severity is Severity.CRITICAL:
                self.log.critical("%s stopped: %s", self.name, exc)
                raise
            self.failures += 1
            delay = self.backoff.next_delay()
            if severity is Severity.RESET:
                self.log.warning("%s resets after: %s", self.name, exc)
                if self.on_reset is not None:
                    self.on_reset()
            else:
                # An error raised on purpose is logged by its message; any other
                # is a bug to find, so it carries its traceback.
                self.log.warning(
                    "%s step failed (retry in %.2fs): %s", self.name, delay, exc,
                    exc_info=not isinstance(exc, OpenLedgerError),
                )
            return delay
        self.backoff.reset()
        return 0.0

