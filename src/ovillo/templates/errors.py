"""Errors of the templates domain.

    OvilloError
    ├── NotFoundError
    │   ├── TemplateNotFoundError            404 template_not_found
    │   └── LinkNotFoundError                404 link_not_found
    ├── ConflictError
    │   └── TemplateAlreadyExistsError       409 template_already_exists
    └── ValidationFailedError
        ├── TemplateInvalidError             422 template_invalid
        ├── TemplateRefusedError             422 template_refused
        ├── TemplateNotSendableError         422 template_not_sendable
        └── TemplateParametersInvalidError   422 template_parameters_invalid

``violations`` is a list of ``{"field", "code", "message", ...}``, every problem at once,
each on the path of the request field it is about (``components[1].text``).
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, ValidationFailedError


class TemplateNotFoundError(NotFoundError):
    code = "template_not_found"
    title = "No such template in this workspace."


class LinkNotFoundError(NotFoundError):
    code = "link_not_found"
    title = "No such link."


class TemplateAlreadyExistsError(ConflictError):
    code = "template_already_exists"
    title = "A template with this name already exists in this language."
    fields = ("name", "language", "template_id")


class TemplateInvalidError(ValidationFailedError):
    """The template breaks Meta's rules; nothing was sent to Meta."""

    code = "template_invalid"
    title = "The template breaks WhatsApp's rules."
    fields = ("violations",)


class TemplateRefusedError(ValidationFailedError):
    """Meta refused the template (or the call) although our checks passed."""

    code = "template_refused"
    title = "Meta refused the template."
    fields = ("meta_code", "meta_subcode", "fbtrace_id")


class TemplateNotSendableError(ValidationFailedError):
    """The template is not approved (pending, rejected, paused, disabled...)."""

    code = "template_not_sendable"
    title = "This template cannot be sent now."
    fields = ("field", "template_id", "template_status", "reason")


class TemplateParametersInvalidError(ValidationFailedError):
    """The values of a template send do not fit the stored template."""

    code = "template_parameters_invalid"
    title = "The template's values do not fit the template."
    fields = ("violations",)
