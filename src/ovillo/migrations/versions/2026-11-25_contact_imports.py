"""contact imports: an import's progress and counters, and the rows it rejected

Revision ID: 0020
Revises: 0015
Create Date: 2026-11-25 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "contact_import",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("default_country", sa.String(length=2), nullable=True),
        sa.Column("columns", _JSON, nullable=False),
        sa.Column("mapping", _JSON, nullable=False),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_contact_import_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_import")),
    )
    with op.batch_alter_table("contact_import", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_import_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "contact_import_reject",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("cells", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_import.id"],
            name=op.f("fk_contact_import_reject_import_id_contact_import"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_contact_import_reject")),
    )


def downgrade() -> None:
    op.drop_table("contact_import_reject")
    with op.batch_alter_table("contact_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_import_workspace_id"))
    op.drop_table("contact_import")
