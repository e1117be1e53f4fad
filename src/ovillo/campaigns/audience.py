"""A campaign's audience: its segment filter, checked, and its recipients' local time.

The filter is the contacts domain's segment (``contacts.segments.SegmentFilter``), stored as
JSON on the campaign. A recipient's time zone comes from their number's country
(phonenumbers' time zone data); a number spanning several zones takes the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone
from pydantic import ValidationError

from ovillo.contacts.segments import SegmentFilter

__all__ = ["check_audience", "next_window_start", "recipient_zone", "segment_filter"]

_UTC = ZoneInfo("UTC")


def segment_filter(audience: dict[str, Any]) -> SegmentFilter:
    """The stored audience as a segment filter (it was checked when the campaign was made)."""
    return SegmentFilter.model_validate(audience)


def check_audience(audience: dict[str, Any]) -> list[dict[str, str]]:
    """The audience's problems, each on its field (``audience.tags_any``...)."""
    try:
        SegmentFilter.model_validate(audience)
    except ValidationError as error:
        return [
            {
                "field": ".".join(["audience", *(str(part) for part in problem["loc"])]),
                "code": "audience_invalid",
                "message": problem["msg"],
            }
            for problem in error.errors()
        ]
    return []


def recipient_zone(number: str | None) -> ZoneInfo:
    """The time zone of a phone number (E.164 or WhatsApp's digits); UTC when unknown."""
    if not number:
        return _UTC
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}")
    except phonenumbers.NumberParseException:
        return _UTC
    for name in phone_timezone.time_zones_for_number(parsed):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return _UTC


def next_window_start(
    *, now: datetime, zone: ZoneInfo, start_minute: int, end_minute: int
) -> datetime:
    """``now`` if it falls in the daily window [start, end) of the recipient's local time,
    else when the window next opens (pure)."""
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if start_minute <= minute < end_minute:
        return now
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day = midnight if minute < start_minute else midnight + timedelta(days=1)
    # Wall-clock arithmetic, then back to UTC: a DST change keeps the local hour.
    opens = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=start_minute)
    return opens.astimezone(_UTC)
