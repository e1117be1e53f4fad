"""The base of every Cloud API model.

Meta adds fields to its payloads every quarter, so every model keeps what it does not know
(``extra="allow"``) and serialises it back unchanged: a webhook that parses and is dumped
again is the webhook that arrived. Absent optional fields are left out on output
(``exclude_none``) because Meta rejects some explicit nulls.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON object as it travels to or from Meta."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object to send: by alias, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StrictWireModel(WireModel):
    """A request object whose unknown fields Meta refuses (error 100)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
