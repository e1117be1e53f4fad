"""The page shell, shared templates and static files."""

from __future__ import annotations
