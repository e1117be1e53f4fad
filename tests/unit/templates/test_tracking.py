"""Tracked links, the pure part: codes, UTMs, bots."""

from __future__ import annotations

import pytest

from ovillo.templates import tracking


def test_codes_are_unguessable_and_well_formed() -> None:
    codes = {tracking.new_link_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(code) >= 20 and tracking.is_well_formed_code(code) for code in codes)


@pytest.mark.parametrize("code", ["", "short", "a/b/../c", "x" * 65, "https://evil.example"])
def test_anything_else_is_not_a_code(code: str) -> None:
    assert not tracking.is_well_formed_code(code)


@pytest.mark.parametrize(
    ("method", "agent", "prefetch"),
    [
        ("GET", "WhatsApp/2.23.20.0 A", True),
        ("GET", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", True),
        ("HEAD", "Mozilla/5.0 (iPhone)", True),
        ("GET", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", False),
        ("GET", None, False),
    ],
)
def test_previews_and_probes_are_not_clicks(method: str, agent: str | None, prefetch: bool) -> None:
    assert tracking.is_prefetch(method=method, user_agent=agent) is prefetch


def test_utms_are_added_and_the_urls_own_parameters_kept() -> None:
    url = tracking.with_utm(
        "https://shop.example/spring?ref=a&utm_source=old#top",
        {"source": "whatsapp", "campaign": "spring sale", "medium": "", "other": "x"},
    )
    assert url == (
        "https://shop.example/spring?ref=a&utm_source=whatsapp&utm_campaign=spring+sale#top"
    )
    assert tracking.with_utm("https://shop.example/", {}) == "https://shop.example/"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://shop.example/spring", True),
        ("http://shop.example", True),
        ("javascript:alert(1)", False),
        ("shop.example/spring", False),
        ("https://shop.example/{{1}}", False),
    ],
)
def test_only_full_web_urls_are_destinations(url: str, ok: bool) -> None:
    assert (tracking.check_destination(url) is None) is ok


def test_a_tracked_button_points_at_our_short_link_with_the_code_as_suffix() -> None:
    url, sample = tracking.tracked_button_url("https://ovillo.example/")
    assert url == "https://ovillo.example/l/{{1}}"
    assert sample.startswith("https://ovillo.example/l/")
    assert sample.removeprefix("https://ovillo.example/l/") == tracking.SAMPLE_LINK_CODE
