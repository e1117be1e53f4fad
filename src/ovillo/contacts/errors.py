"""Errors of the contacts domain.

OvilloError
├── NotFoundError
│   └── ContactNotFoundError      404 contact_not_found
├── ConflictError
│   └── ContactExistsError        409 contact_exists
└── ValidationFailedError
    └── InvalidContactInputError      422 (base of the contacts' input errors)
        ├── InvalidPhoneNumberError   422 invalid_phone_number
        ├── InvalidCursorError        422 invalid_cursor
        └── InvalidOptOutCategoryError 422 invalid_opt_out_category
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, ValidationFailedError


class ContactNotFoundError(NotFoundError):
    code = "contact_not_found"
    title = "No such contact in this workspace."


class ContactExistsError(ConflictError):
    code = "contact_exists"
    title = "A contact with this number already exists."
    fields = ("contact_id",)


class InvalidContactInputError(ValidationFailedError):
    code = "invalid_contact_input"
    title = "The contact's details are not valid."


class InvalidPhoneNumberError(InvalidContactInputError):
    code = "invalid_phone_number"
    title = "This is not a phone number WhatsApp could know."
    fields = ("field", "value", "reason")


class InvalidCursorError(InvalidContactInputError):
    code = "invalid_cursor"
    title = "The cursor is not one this API gave out."


class InvalidOptOutCategoryError(InvalidContactInputError):
    code = "invalid_opt_out_category"
    title = "Unknown opt-out category."
    fields = ("category",)
