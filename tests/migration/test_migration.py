"""An empty database upgrades to head and then matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ovillo.core.settings import Settings
from ovillo.migrations import include_name, target_metadata, upgrade


def test_upgrade_to_head_leaves_nothing_to_autogenerate(sqlite_settings: Settings) -> None:
    upgrade(sqlite_settings)
    sync_url = sqlite_settings.db.url.replace("+aiosqlite", "")
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "render_as_batch": True, "include_name": include_name},
            )
            assert compare_metadata(context, target_metadata()) == []
    finally:
        engine.dispose()
