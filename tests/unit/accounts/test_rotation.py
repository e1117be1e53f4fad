"""Round robin's pick (``accounts.teams.next_in_turn``): pure, fair, online members only."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ovillo.accounts.teams import next_in_turn

A, B, C, D = (uuid.UUID(int=n) for n in (10, 20, 30, 40))


@pytest.mark.parametrize(
    ("members", "online", "last", "expected"),
    [
        ([A, B, C], {A, B, C}, None, A),  # first turn: the first member
        ([A, B, C], {A, B, C}, A, B),
        ([A, B, C], {A, B, C}, C, A),  # wraps around
        ([C, A, B], {A, B, C}, A, B),  # rotation order is by id, not as given
        ([A, B, C], {A, C}, A, C),  # an offline member is skipped
        ([A, B, C], {B}, B, B),  # the only one online gets it again
        ([A, B, C], set(), A, None),  # nobody online
        ([A, B, C], {D}, None, None),  # online, but not in the team
        ([A, C, D], {A, C, D}, B, C),  # the last pick left the team: the turn goes on
        ([], {A}, None, None),
    ],
)
def test_next_in_turn(
    members: list[uuid.UUID], online: set[uuid.UUID], last: uuid.UUID | None, expected: object
) -> None:
    assert next_in_turn(members=members, online=online, last=last) == expected


ids = st.lists(st.uuids(), min_size=1, max_size=6, unique=True)


# No deadline: a loaded machine may pause any example; the property is what is tested.
@settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(members=ids, rounds=st.integers(min_value=1, max_value=5), data=st.data())
def test_online_members_take_equal_turns(
    members: list[uuid.UUID], rounds: int, data: st.DataObject
) -> None:
    online = set(data.draw(st.lists(st.sampled_from(members), min_size=1, unique=True)))
    last = data.draw(st.none() | st.sampled_from(members))
    picks: Counter[uuid.UUID] = Counter()
    for _ in range(rounds * len(online)):
        last = next_in_turn(members=members, online=online, last=last)
        assert last in online
        picks[last] += 1
    assert set(picks) == online
    assert set(picks.values()) == {rounds}
