from __future__ import annotations

from datetime import UTC, datetime

from ovillo.core import ids

NOW = datetime(2026, 11, 25, 22, 50, 1, 234_000, tzinfo=UTC)


def test_ids_made_in_bulk_are_the_version_7_ids_of_their_millisecond() -> None:
    made = ids.new_ids(NOW, 1_000)
    single = ids.new_id(NOW)
    assert len(set(made)) == 1_000
    millis = int(NOW.timestamp() * 1000)
    for value in [*made, single]:
        assert value.version == 7
        assert value.variant == "specified in RFC 4122"
        assert value.int >> 80 == millis
    # The random bits are drawn per id: no two share their 74 bits' top or bottom half.
    assert len({value.int >> 64 & 0xFFF for value in made}) > 1
    assert len({value.int & (2**62 - 1) for value in made}) == 1_000


def test_no_ids_for_none() -> None:
    assert ids.new_ids(NOW, 0) == []
