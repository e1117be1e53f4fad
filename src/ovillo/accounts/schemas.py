"""What the accounts API takes and answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ovillo.accounts.models import ApiKey, Workspace


class WorkspaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str
    created_at: datetime

    @classmethod
    def of(cls, workspace: Workspace) -> WorkspaceOut:
        return cls.model_validate(workspace)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["CRM sync"])


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, api_key: ApiKey) -> ApiKeyOut:
        return cls.model_validate(api_key)


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown this once: store it now.")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


class OptOutWords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: list[str] | None = Field(
        max_length=50,
        description="Replies that opt a contact out of marketing, compared without case, "
        "accents or surrounding punctuation. null: the defaults; []: none.",
        examples=[["STOP", "baja", "parar", "cancelar"]],
    )
