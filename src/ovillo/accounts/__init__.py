"""Workspaces, users, roles and API keys."""

from __future__ import annotations
