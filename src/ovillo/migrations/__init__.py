"""Alembic migrations, configured from Ovillo's settings instead of an alembic.ini.

File names are ``YYYY-MM-DD_slug``; autogenerate, then read and fix by hand.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from ovillo.core.db import Base
from ovillo.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent

# Every module that declares tables, so autogenerate sees the whole schema.
MODEL_MODULES: tuple[str, ...] = (
    "ovillo.accounts.models",
    "ovillo.campaigns.models",
    "ovillo.channels.models",
    "ovillo.contacts.models",
    "ovillo.inbox.models",
    "ovillo.templates.models",
    "ovillo.worker.models",
)


# Made by hand in migrations, not declared in the models (full-text search: FTS5 tables
# and triggers on SQLite, expression indexes on PostgreSQL); autogenerate must leave them.
HAND_MANAGED: tuple[str, ...] = ("message_search", "contact_search", "ix_message_search",
                                 "ix_contact_search", "search_vector")  # fmt: skip


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name``: everything but ``HAND_MANAGED`` (and FTS5's own tables,
    ``message_search_data`` and the like)."""
    if name is None or type_ not in ("table", "index", "column"):
        return True
    return not any(name == hand or name.startswith(hand + "_") for hand in HAND_MANAGED)


def target_metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    # Percent signs in URLs (encoded passwords) would be read as interpolation.
    config.set_main_option("sqlalchemy.url", settings.db.url.replace("%", "%%"))
    config.attributes["ovillo_settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database named by ``settings`` up to ``revision``."""
    command.upgrade(alembic_config(settings), revision)
