"""The worker's own table: leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.types import UTCDateTime


class Lease(Base):
    """Who runs what: one holder at a time per name (a number's send pipeline, ingestion).

    Taken with a conditional UPDATE that works the same on SQLite and PostgreSQL; a holder
    that stops renewing loses it when ``expires_at`` passes.
    """

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fencing_token: Mapped[int] = mapped_column(Integer, default=0)
