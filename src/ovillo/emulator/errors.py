"""The emulator's way of failing a Graph API call: raise ``GraphAPIError``.

The Graph router renders it with ``cloudapi.errors.graph_error_body`` and the HTTP status
from Meta's table, so every refusal has Meta's shape and code.
"""

from __future__ import annotations

from typing import Any

from ovillo.cloudapi.errors import graph_error_body, spec_for


class GraphAPIError(Exception):
    """A Graph API call refused with Meta's error ``code``."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        message: str | None = None,
        http_status: int | None = None,
        error_subcode: int | None = None,
    ) -> None:
        self.code = code
        self.details = details
        self.message = message
        self.error_subcode = error_subcode
        spec = spec_for(code)
        self.http_status = http_status or (spec.http_status if spec is not None else 400)
        super().__init__(message or details or str(code))

    def body(self) -> dict[str, Any]:
        return graph_error_body(
            self.code, self.details, self.message, error_subcode=self.error_subcode
        )


def invalid_parameter(details: str) -> GraphAPIError:
    """Meta's answer to a request it cannot accept as shaped (code 100)."""
    return GraphAPIError(100, details, message="(#100) Invalid parameter")


def unknown_node(node_id: str, method: str) -> GraphAPIError:
    # Meta's exact wording for ids that do not exist or are not the caller's.
    return GraphAPIError(
        100,
        None,
        message=(
            f"Unsupported {method.lower()} request. Object with ID '{node_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
        error_subcode=33,
    )


def unknown_path(path: str) -> GraphAPIError:
    return GraphAPIError(2500, None, message=f"Unknown path components: {path}", http_status=400)
