"""Errors of the campaigns domain.

    OvilloError
    ├── NotFoundError
    │   └── CampaignNotFoundError            404 campaign_not_found
    ├── ConflictError
    │   └── CampaignStateError               409 campaign_state_conflict
    └── ValidationFailedError
        └── CampaignInvalidError             422 campaign_invalid

The template's own errors (not approved: 422 ``template_not_sendable``; unknown: 404
``template_not_found``) and the number's (404 ``channel_not_found``) come from their domains.
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, ValidationFailedError


class CampaignNotFoundError(NotFoundError):
    code = "campaign_not_found"
    title = "No such campaign in this workspace."


class CampaignStateError(ConflictError):
    """The action does not apply to the campaign as it stands (launch a completed one...)."""

    code = "campaign_state_conflict"
    title = "The campaign cannot do this in its current state."
    fields = ("state", "action")


class CampaignInvalidError(ValidationFailedError):
    """The campaign's definition cannot be sent as it is; ``violations`` says where."""

    code = "campaign_invalid"
    title = "The campaign is not valid."
    fields = ("violations",)
