"""The periodic template sync: each connected number's WABA is pulled from the Graph API
every ``SYNC_INTERVAL``, so a template changed on Meta's side (or a status webhook that
was lost) shows up without anyone asking. Each round also uploads again the default
header media about to outlive Meta's 30 days."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from ovillo.core.errors import OvilloError
from ovillo.core.runtime import Runtime
from ovillo.templates import service

log = structlog.get_logger(__name__)

SYNC_INTERVAL = timedelta(minutes=15)
# Numbers synced per timer round, so one round never holds the timers lease for long.
SYNC_BATCH = 5


async def sync_due_templates(runtime: Runtime, *, now: datetime) -> int:
    """Sync the templates of up to ``SYNC_BATCH`` numbers not synced for ``SYNC_INTERVAL``;
    how many were synced. A failure is recorded and tried again after the interval."""
    async with runtime.sessionmaker() as session:
        due = await service.channels_due_for_sync(
            session=session, before=now - SYNC_INTERVAL, limit=SYNC_BATCH
        )
    synced = 0
    async with runtime.sessionmaker() as session:
        try:
            await service.refresh_header_media(session=session, runtime=runtime, now=now)
        except OvilloError as error:
            await session.rollback()
            log.warning("template_header_media_refresh_failed", error_code=error.code)
    for workspace_id, channel_id in due:
        async with runtime.sessionmaker() as session:
            try:
                await service.sync_templates(
                    session=session, runtime=runtime, workspace_id=workspace_id,
                    channel_id=channel_id, now=now,
                )  # fmt: skip
                synced += 1
            except OvilloError as error:
                await session.rollback()
                await service.do_record_sync_failure(
                    session=session, workspace_id=workspace_id, channel_id=channel_id,
                    error=str(error)[:1000], now=now,
                )  # fmt: skip
                await session.commit()
                log.warning(
                    "templates_sync_failed", channel_id=str(channel_id), error_code=error.code
                )
    return synced
