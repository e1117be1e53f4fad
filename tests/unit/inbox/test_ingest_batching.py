"""How many logged events the applier takes per transaction."""

from __future__ import annotations

import pytest

from ovillo.inbox.ingest import (
    BATCH_SECONDS,
    MAX_BATCH,
    MIN_BATCH,
    MIN_BATCH_BY_DIALECT,
    next_batch_size,
)


@pytest.mark.parametrize(
    ("size", "seconds", "dialect", "expected"),
    [
        # Statuses at a millisecond each: as many as fit in the budget.
        (50, 0.05, "sqlite", 50),
        (50, 0.025, "sqlite", 100),
        (50, 0.05, "postgresql", 250),
        # New customers at tens of milliseconds each: few, but never fewer than MIN_BATCH.
        (10, 0.5, "sqlite", MIN_BATCH),
        # PostgreSQL keeps no one waiting: a slow batch (a busy event loop) stays large.
        (10, 0.5, "postgresql", MIN_BATCH_BY_DIALECT["postgresql"]),
        (100, 2.0, "postgresql", MIN_BATCH_BY_DIALECT["postgresql"]),
        # Fast batches grow, but no further than MAX_BATCH.
        (400, 0.01, "postgresql", MAX_BATCH),
        (10, 0.0, "sqlite", MAX_BATCH),
        # An unknown dialect is held to SQLite's budget, the tighter one.
        (50, 0.05, "mysql", 50),
    ],
)
def test_next_batch_size(size: int, seconds: float, dialect: str, expected: int) -> None:
    assert next_batch_size(size=size, seconds=seconds, dialect=dialect) == expected


def test_sqlite_keeps_the_receiver_waiting_less_than_postgresql() -> None:
    assert BATCH_SECONDS["sqlite"] < BATCH_SECONDS["postgresql"]
