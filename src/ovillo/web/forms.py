"""Reading the values of page forms.

A form field is a string that may be empty, as typed, or changed by hand: the routes of
every domain read ids from it in the same way here.
"""

from __future__ import annotations

import uuid


def form_id(value: str) -> uuid.UUID | None:
    """The id a form field names, or ``None`` when it is empty or not a uuid.

    A route that gives "empty" a meaning of its own (unassign, no team) tells the two
    apart by the field: ``value and form_id(value) is None`` is a malformed id.
    """
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
