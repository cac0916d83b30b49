"""Error severities in long-running loops: retry, reset or stop."""

from __future__ import annotations

import logging

import pytest

from openledger_node.exceptions import (
    CriticalError,
    InvalidTransaction,
    ResetError,
    StorageError,
    TemporaryError,
)
from openledger_node.service import Backoff, Severity, StepRunner, severity_of

log = logging.getLogger("tests.service")


@pytest.mark.parametrize(
    ("error", "severity"),
    [
        (TemporaryError("L1 timed out"), Severity.TEMPORARY),
        (InvalidTransaction("no severity of its own"), Severity.TEMPORARY),
        (RuntimeError("a bug"), Severity.TEMPORARY),
        (ResetError("L1 reorganised"), Severity.RESET),
        (CriticalError("stop"), Severity.CRITICAL),
        (StorageError("disk gone"), Severity.CRITICAL),
    ],
)
def test_severity_of(error: BaseException, severity: Severity) -> None:
    assert severity_of(error) is severity


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=0.5)
    assert [backoff.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_temporary_errors_back_off_until_a_success(caplog: pytest.LogCaptureFixture) -> None:
    runner = StepRunner("loop", log, backoff=Backoff(initial=1, maximum=8))
    outcomes = iter([TemporaryError("busy"), RuntimeError("bug"), None, TemporaryError("busy")])

    def step() -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    with caplog.at_level(logging.WARNING):
        assert [runner.run(step) for _ in range(4)] == [1, 2, 0.0, 1]
    assert runner.failures == 3
    # The error raised on purpose is logged by its message; the bug with its traceback.
    busy, bug = caplog.records[0], caplog.records[1]
    assert "busy" in busy.getMessage() and not busy.exc_info
    assert "bug" in bug.getMessage() and bug.exc_info


def test_reset_error_calls_the_reset_hook() -> None:
    resets: list[int] = []
    runner = StepRunner("loop", log, on_reset=lambda: resets.append(1))

    def step() -> None:
        raise ResetError("L1 reorganised under the origin")

    assert runner.run(step) > 0
    assert resets == [1]


def test_critical_error_is_raised_to_the_loop() -> None:
    runner = StepRunner("loop", log)

    def step() -> None:
        raise StorageError("write failed")

    with pytest.raises(StorageError):
        runner.run(step)
