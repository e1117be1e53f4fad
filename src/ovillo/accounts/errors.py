"""Errors of the accounts domain.

OvilloError
├── NotFoundError
│   ├── WorkspaceNotFoundError   404 workspace_not_found
│   └── ApiKeyNotFoundError      404 api_key_not_found
├── ConflictError
│   └── EmailTakenError          409 email_taken
└── ValidationFailedError
    └── WeakPasswordError        422 weak_password
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, ValidationFailedError


class WorkspaceNotFoundError(NotFoundError):
    code = "workspace_not_found"
    title = "No such workspace."


class ApiKeyNotFoundError(NotFoundError):
    code = "api_key_not_found"
    title = "No such API key in this workspace."


class EmailTakenError(ConflictError):
    code = "email_taken"
    title = "A user with this email already exists."
    fields = ("email",)


class WeakPasswordError(ValidationFailedError):
    code = "weak_password"
    title = "The password is too short."
