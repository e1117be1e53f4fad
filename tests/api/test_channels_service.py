"""The channels service as ingestion uses it: lookups by Meta's ids and quality webhooks."""

from __future__ import annotations

from datetime import UTC, datetime

from ovillo.channels import service as channels_service
from ovillo.cloudapi.webhooks import PhoneNumberQualityUpdateValue
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import DatabaseSettings
from tests.factories import make_workspace, stub_channel

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def test_quality_updates_and_lookups_by_meta_ids(database_url: str) -> None:
    workspace_id, _ = await make_workspace(database_url)
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            channel = stub_channel(
                workspace_id=workspace_id,
                now=NOW,
                phone_number_id="1065",
                waba_id="2200",
                quality_rating="GREEN",
                messaging_limit_tier="TIER_250",
                throughput_mps=80,
            )
            session.add(channel)
            await session.commit()

        async with sessions() as session:
            found = await channels_service.get_channel_by_phone_number_id(
                session=session, phone_number_id="1065"
            )
            assert found is not None
            assert [c.id for c in await channels_service.get_channels_by_waba_id(
                session=session, waba_id="2200"
            )] == [found.id]  # fmt: skip
            assert (
                await channels_service.get_channels_by_waba_id(session=session, waba_id="9") == []
            )
            for event, limit in (("FLAGGED", None), ("UPGRADE", "TIER_2K"),
                                 ("THROUGHPUT_UPGRADE", None)):  # fmt: skip
                await channels_service.do_apply_quality_update(
                    session=session,
                    channel=found,
                    value=PhoneNumberQualityUpdateValue(
                        display_phone_number="15550100000", event=event, current_limit=limit
                    ),
                    now=NOW,
                )
            await session.commit()

        async with sessions() as session:
            stored = await channels_service.get_channel_or_raise(
                session=session, workspace_id=workspace_id, channel_id=channel.id
            )
        assert stored.quality_rating == "RED"
        assert stored.status == "FLAGGED"
        assert stored.messaging_limit_tier == "TIER_2K"
        assert stored.throughput_mps == 1000
    finally:
        await engine.dispose()
