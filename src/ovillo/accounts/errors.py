"""Errors of the accounts domain.

OvilloError
├── NotFoundError
│   ├── WorkspaceNotFoundError   404 workspace_not_found
│   └── ApiKeyNotFoundError      404 api_key_not_found
│   └── InvitationNotFoundError  404 invitation_not_found (unknown, expired or used)
│   └── TeamNotFoundError        404 team_not_found
├── ConflictError
│   └── EmailTakenError          409 email_taken
│   └── TeamNameTakenError       409 team_name_taken
├── ValidationFailedError
│   └── WeakPasswordError        422 weak_password
│   └── InvalidTeamNameError     422 invalid_team_name
│   └── InvalidTeamMemberError   422 invalid_team_member
├── AuthenticationRequiredError
│   └── SignInFailedError        401 sign_in_failed
├── PermissionDeniedError
│   └── RoleTooHighError         403 role_too_high
└── SignInThrottledError         429 sign_in_throttled
"""

from __future__ import annotations

from ovillo.core.errors import (
    AuthenticationRequiredError,
    ConflictError,
    NotFoundError,
    OvilloError,
    PermissionDeniedError,
    ValidationFailedError,
)


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


class InvitationNotFoundError(NotFoundError):
    code = "invitation_not_found"
    title = "This invitation does not exist, has expired or was already used."


class SignInFailedError(AuthenticationRequiredError):
    code = "sign_in_failed"
    title = "The email or the password is not right."


class SignInThrottledError(OvilloError):
    code = "sign_in_throttled"
    status = 429
    title = "Too many failed sign-ins; try again later."
    fields = ("retry_at",)


class RoleTooHighError(PermissionDeniedError):
    code = "role_too_high"
    title = "You cannot give a role above your own."


class TeamNotFoundError(NotFoundError):
    code = "team_not_found"
    title = "No such team in this workspace."


class TeamNameTakenError(ConflictError):
    code = "team_name_taken"
    title = "A team with this name already exists."
    fields = ("name",)


class InvalidTeamNameError(ValidationFailedError):
    code = "invalid_team_name"
    title = "A team needs a name of 1 to 100 characters."


class InvalidTeamMemberError(ValidationFailedError):
    code = "invalid_team_member"
    title = "Only active users of the workspace can be in its teams."
    fields = ("user_id",)
