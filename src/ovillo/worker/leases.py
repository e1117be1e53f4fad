"""Leases: one holder at a time per name, across every worker of a deployment.

A lease is a row of ``lease``: ``name`` (what is held: ``send:{channel_id}``, ``ingest``),
``holder`` (which worker), ``expires_at`` and a ``fencing_token`` that grows each time the
lease changes hands. It is taken and renewed with one conditional upsert that works the
same on SQLite and PostgreSQL::

    INSERT INTO lease (name, holder, expires_at, fencing_token) VALUES (:name, :holder, ...)
    ON CONFLICT (name) DO UPDATE SET holder = :holder, expires_at = :expires_at,
        fencing_token = CASE WHEN lease.holder = :holder THEN lease.fencing_token
                             ELSE lease.fencing_token + 1 END
    WHERE lease.holder = :holder OR lease.expires_at < :now
    RETURNING fencing_token

A row comes back only when the lease is ours after the statement: it was free (missing or
expired) or already ours (a renewal). A holder that dies stops renewing, and the lease goes
to the next worker that asks once ``expires_at`` has passed. Work done under a lease can be
fenced: a write guarded by ``holder`` and ``fencing_token`` matches nothing once another
worker has taken over (see `lease_is_held`).

Times come from the caller's clock (``now``), never from the database server's, so tests
that move the clock move lease expiry too. Workers must therefore share one clock source,
which real deployments do (NTP); keep ``ttl_seconds`` well above any clock skew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.worker.models import Lease

__all__ = ["acquire_lease", "acquire_lease_token", "lease_is_held", "release_lease"]

# A released lease expires "long ago": free for anyone at once, and its fencing token kept
# (deleting the row would restart the token and let an old holder's token match again).
_RELEASED_AT = datetime(1970, 1, 1, tzinfo=UTC)


async def acquire_lease_token(
    *, session: AsyncSession, name: str, holder: str, ttl_seconds: float, now: datetime
) -> int | None:
    """Take or renew the lease ``name`` for ``holder``; its fencing token, or None if held.

    Commits. The token is unchanged by a renewal and grows by one when the lease changes
    hands, so a holder can tell whether it kept the lease all along.
    """
    if ttl_seconds <= 0:
        raise ValueError(f"a lease needs a positive time to live: {ttl_seconds}")
    expires_at = now + timedelta(seconds=ttl_seconds)
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = Lease.__table__
    statement = insert(table).values(
        name=name, holder=holder, expires_at=expires_at, fencing_token=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={
            "holder": holder,
            "expires_at": expires_at,
            "fencing_token": case(
                (table.c.holder == holder, table.c.fencing_token),
                else_=table.c.fencing_token + 1,
            ),
        },
        where=or_(table.c.holder == holder, table.c.expires_at < now),
    ).returning(table.c.fencing_token)
    token = (await session.execute(statement)).scalar_one_or_none()
    await session.commit()
    return None if token is None else int(token)


async def acquire_lease(
    *, session: AsyncSession, name: str, holder: str, ttl_seconds: float, now: datetime
) -> bool:
    """Take or renew the lease ``name`` for ``holder``: True if it is ours until now + ttl.

    Commits. Renewing is acquiring again by the same holder.
    """
    token = await acquire_lease_token(
        session=session, name=name, holder=holder, ttl_seconds=ttl_seconds, now=now
    )
    return token is not None


async def release_lease(*, session: AsyncSession, name: str, holder: str) -> bool:
    """Give the lease up if ``holder`` has it, so another worker need not wait for expiry.

    Commits. False when the lease was not ours (expired and taken, or never held).
    """
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=_RELEASED_AT)
        .returning(Lease.name)
    )
    released = result.scalar_one_or_none() is not None
    await session.commit()
    return released


def lease_is_held(*, name: str, holder: str, fencing_token: int) -> ColumnElement[bool]:
    """A SQL condition, true while ``holder`` still holds ``name`` with ``fencing_token``.

    Put it in the WHERE of a write done under the lease: once another worker has taken the
    lease over, the write matches nothing. It does not look at ``expires_at``: a lease that
    expired but was taken by nobody is still safely ours.
    """
    return exists(
        select(Lease.name).where(
            and_(
                Lease.name == name,
                Lease.holder == holder,
                Lease.fencing_token == fencing_token,
            )
        )
    )
