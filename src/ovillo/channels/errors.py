"""Errors of the channels domain.

    OvilloError
    ├── GraphAPIUnreachableError         502 graph_api_unreachable
    ├── NotFoundError
    │   └── ChannelNotFoundError         404 channel_not_found
    ├── ConflictError
    │   ├── ChannelAlreadyConnectedError 409 channel_already_connected
    │   └── ChannelDisconnectedError     409 channel_disconnected
    └── ValidationFailedError
        ├── InvalidPinError              422 invalid_pin
        └── MetaRefusedError             422 meta_refused
            ├── AccessTokenRefusedError  422 access_token_refused
            └── PhoneNumberNotInWabaError 422 phone_number_not_in_waba

The errors Meta answers with carry its code (``meta_code``) and trace id (``fbtrace_id``),
which Meta's support asks for.
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, OvilloError, ValidationFailedError


class ChannelNotFoundError(NotFoundError):
    code = "channel_not_found"
    title = "No such number in this workspace."


class ChannelAlreadyConnectedError(ConflictError):
    code = "channel_already_connected"
    title = "This number is already connected."
    fields = ("phone_number_id",)


class ChannelDisconnectedError(ConflictError):
    code = "channel_disconnected"
    title = "This number is disconnected."
    fields = ("channel_id",)


class MetaRefusedError(ValidationFailedError):
    """What was given to connect a number was refused by Meta (the input is wrong, not us)."""

    code = "meta_refused"
    title = "Meta refused the number's details."
    fields = ("meta_code", "fbtrace_id")


class AccessTokenRefusedError(MetaRefusedError):
    code = "access_token_refused"
    title = "The access token was refused by Meta."


class PhoneNumberNotInWabaError(MetaRefusedError):
    code = "phone_number_not_in_waba"
    title = "The phone number does not belong to that WhatsApp Business Account."
    fields = ("phone_number_id", "waba_id")


class GraphAPIUnreachableError(OvilloError):
    code = "graph_api_unreachable"
    status = 502
    title = "Meta's Graph API could not be reached."
    fields = ("graph_api_url",)


class InvalidPinError(ValidationFailedError):
    code = "invalid_pin"
    title = "The two-step verification PIN must be 6 digits."
