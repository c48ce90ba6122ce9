"""Drop three secondary indexes on models that no query uses.

``ix_models_platform`` is the leading column of ``ix_models_platform_downloads``, which serves
every query it served; ``ix_models_owner`` and ``ix_models_architecture`` serve no query (search
filters by task, license, platform, framework, parameters and cache state; owner and architecture
are read, never searched by index). Each index costs every write: measured with the bare SQLite
driver on 100,000 synthetic records, the nine secondary indexes cost 6-8 us a row of the ~26 us
the full schema takes (docs/benchmarks.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DROPPED = ("platform", "owner", "architecture")


def upgrade() -> None:
    for col in DROPPED:
        op.drop_index(f"ix_models_{col}", table_name="models")


def downgrade() -> None:
    for col in DROPPED:
        op.create_index(f"ix_models_{col}", "models", [col])
