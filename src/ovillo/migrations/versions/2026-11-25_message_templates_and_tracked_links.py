"""message templates and tracked links: templates, their history and sync, short links, clicks

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-25 16:44:35.647540
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "template",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("previous_category", sa.String(length=32), nullable=True),
        sa.Column("parameter_format", sa.String(length=16), nullable=False),
        sa.Column(
            "components", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("meta_template_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_reason", sa.String(length=64), nullable=True),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("quality_score", sa.String(length=16), nullable=True),
        sa.Column("header_media_id", sa.String(length=128), nullable=True),
        sa.Column(
            "tracked_buttons",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("utm", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_template_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_template_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template")),
        sa.UniqueConstraint(
            "workspace_id",
            "waba_id",
            "name",
            "language",
            name=op.f("uq_template_workspace_id_waba_id_name_language"),
        ),
    )
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.create_index("ix_template_meta_template_id", ["meta_template_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_template_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "template_sync",
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_template_sync_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_template_sync_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_template_sync")),
    )
    with op.batch_alter_table("template_sync", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_sync_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "template_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=32), nullable=True),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["template.id"],
            name=op.f("fk_template_event_template_id_template"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_event")),
    )
    with op.batch_alter_table("template_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_event_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "tracked_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["template.id"],
            name=op.f("fk_tracked_link_template_id_template"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_tracked_link_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_link")),
        sa.UniqueConstraint("code", name=op.f("uq_tracked_link_code")),
    )
    with op.batch_alter_table("tracked_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracked_link_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracked_link_template_id"), ["template_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracked_link_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "link_click",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["tracked_link.id"],
            name=op.f("fk_link_click_link_id_tracked_link"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_click")),
    )
    with op.batch_alter_table("link_click", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_click_link_id"), ["link_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_link_click_template_id"), ["template_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("link_click", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_click_template_id"))
        batch_op.drop_index(batch_op.f("ix_link_click_link_id"))

    op.drop_table("link_click")
    with op.batch_alter_table("tracked_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracked_link_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_tracked_link_template_id"))
        batch_op.drop_index(batch_op.f("ix_tracked_link_message_id"))

    op.drop_table("tracked_link")
    with op.batch_alter_table("template_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_event_template_id"))

    op.drop_table("template_event")
    with op.batch_alter_table("template_sync", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_sync_workspace_id"))

    op.drop_table("template_sync")
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_workspace_id"))
        batch_op.drop_index("ix_template_meta_template_id")

    op.drop_table("template")
