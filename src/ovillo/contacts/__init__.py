"""The WhatsApp users a workspace talks to."""

from __future__ import annotations
