"""Ovillo: a self-hostable WhatsApp Business Platform on Meta's Cloud API."""

from __future__ import annotations

__version__ = "0.1.0"
