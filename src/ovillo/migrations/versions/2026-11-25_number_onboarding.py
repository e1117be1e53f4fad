"""number onboarding: what Meta says about a number's name review, registration and webhooks

``channel`` gains ``name_status``, ``code_verification_status``, ``platform_type`` (CLOUD_API
once registered), ``webhooks_subscribed`` (our app gets the WABA's webhooks) and
``callback_url`` (where Meta sends them), read from ``GET /{phone-number-id}`` and
``GET /{waba-id}/subscribed_apps``; the numbers page and the connection checklist show them.
All nullable: None until the number is next read from Meta.

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-25 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_status", sa.String(length=32)))
        batch_op.add_column(sa.Column("code_verification_status", sa.String(length=32)))
        batch_op.add_column(sa.Column("platform_type", sa.String(length=32)))
        batch_op.add_column(sa.Column("webhooks_subscribed", sa.Boolean()))
        batch_op.add_column(sa.Column("callback_url", sa.String(length=500)))


def downgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_column("callback_url")
        batch_op.drop_column("webhooks_subscribed")
        batch_op.drop_column("platform_type")
        batch_op.drop_column("code_verification_status")
        batch_op.drop_column("name_status")
