"""hub.store.conflicts: a transaction PostgreSQL aborted for a deadlock runs again; other
errors do not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.core.errors import StorageError
from hub.store.conflicts import is_write_conflict, retry_on_conflict


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _storage_error(sqlstate: str) -> StorageError:
    """What Database.write() raises when the driver failed with ``sqlstate``."""
    error = StorageError("database write failed")
    error.__cause__ = DBAPIError("INSERT ...", {}, _DriverError(sqlstate))
    return error


@pytest.mark.parametrize(
    ("sqlstate", "conflict"), [("40P01", True), ("40001", True), ("23505", False), ("57014", False)]
)
def test_deadlocks_and_serialization_failures_are_conflicts(sqlstate: str, conflict: bool) -> None:
    assert is_write_conflict(_storage_error(sqlstate)) is conflict
    assert is_write_conflict(DBAPIError("SELECT 1", {}, _DriverError(sqlstate))) is conflict


def test_an_error_without_a_driver_state_is_no_conflict() -> None:
    assert not is_write_conflict(ValueError("a bug"))
    assert not is_write_conflict(IntegrityError("INSERT", {}, Exception("duplicate")))


async def test_a_conflict_runs_the_transaction_again() -> None:
    outcomes: list[StorageError | str] = [_storage_error("40P01"), _storage_error("40001"), "ok"]
    calls = 0

    async def run() -> str:
        nonlocal calls
        calls += 1
        outcome = outcomes.pop(0)
        if isinstance(outcome, StorageError):
            raise outcome
        return outcome

    assert await retry_on_conflict(run, pause_s=0.001) == "ok"
    assert calls == 3


async def test_other_errors_and_the_last_conflict_are_raised() -> None:
    async def broken() -> None:
        raise _storage_error("23505")

    with pytest.raises(StorageError):
        await retry_on_conflict(broken, pause_s=0.001)

    calls = 0

    async def always_deadlocked() -> None:
        nonlocal calls
        calls += 1
        raise _storage_error("40P01")

    with pytest.raises(StorageError):
        await retry_on_conflict(always_deadlocked, attempts=3, pause_s=0.001)
    assert calls == 3
