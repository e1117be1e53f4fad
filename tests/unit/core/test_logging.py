"""Logging writes to whatever stderr is now, not to the one seen at configuration."""

from __future__ import annotations

import io
import sys

import pytest
import structlog

from ovillo.core.logging import configure_logging


def test_a_closed_stream_from_configuration_time_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    configure_logging(json_output=True)
    swapped.close()
    current = io.StringIO()
    monkeypatch.setattr(sys, "stderr", current)
    structlog.get_logger("test").info("message_sent", message_id="m1")
    assert '"event": "message_sent"' in current.getvalue()
