"""Revision history, and Hugging Face IDs found regardless of case.

``model_revisions`` keeps what the hub said about each revision of a model that was resolved
(``resolve hf:X@<commit>`` pinned, and every plain resolve's current commit): one row per
(model, revision), the record as JSON. ``models`` keeps one row per model, the current revision
(``refs/main``), so a pinned resolve never overwrites it and ``show hf:X@<commit>`` answers from
the history. The record is kept as JSON (not columns) so that the history needs no migration when
the record gains a field.

``ix_models_id_lower`` indexes ``lower(id)``: Hugging Face repo ids are case-insensitive, so the
store looks an ID up by its folded form when the exact one misses, and an upsert folds a record
onto the row that differs from it only in case.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_revisions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(512), nullable=False),
        sa.Column("revision", sa.String(256), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model_id", "revision", name="uq_model_revisions_model_revision"),
    )
    op.create_index("ix_models_id_lower", "models", [sa.text("lower(id)")])


def downgrade() -> None:
    op.drop_index("ix_models_id_lower", table_name="models")
    op.drop_table("model_revisions")
