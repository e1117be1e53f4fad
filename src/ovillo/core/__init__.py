"""Settings, database, clock, logging, errors and ids shared by every domain."""

from __future__ import annotations
