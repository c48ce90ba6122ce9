"""Initial registry: models, aliases, trusted repos, sync state, full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(512), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("owner", sa.String(256)),
        sa.Column("task", sa.String(128)),
        sa.Column("parameters", sa.BigInteger),
        sa.Column("parameters_source", sa.String(32)),
        sa.Column("parameters_note", sa.Text),
        sa.Column("license", sa.String(128)),
        sa.Column("license_raw", sa.Text),
        sa.Column("license_source", sa.Text),
        sa.Column("framework", sa.String(64)),
        sa.Column("library", sa.String(64)),
        sa.Column("format", sa.String(64)),
        sa.Column("fine_tunable", sa.Boolean),
        sa.Column("downloads", sa.BigInteger),
        sa.Column("likes", sa.BigInteger),
        sa.Column("tags", JSON),
        sa.Column("datasets", JSON),
        sa.Column("languages", JSON),
        sa.Column("architecture", sa.String(128)),
        sa.Column("revision", sa.String(256)),
        sa.Column("version", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("source_url", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("gated", sa.Boolean),
        sa.Column("last_modified", TS),
        sa.Column("extra", JSON),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("cache_path", sa.Text),
        sa.Column("cache_size_bytes", sa.BigInteger),
        sa.Column("last_used", TS),
        sa.UniqueConstraint("id", name="uq_models_id"),
    )
    for col in ("platform", "owner", "task", "parameters", "license", "downloads", "architecture", "cached"):
        op.create_index(f"ix_models_{col}", "models", [col])
    op.create_index("ix_models_platform_downloads", "models", ["platform", "downloads"])

    op.create_table(
        "aliases",
        sa.Column("alias", sa.String(512), primary_key=True),
        sa.Column("model_id", sa.String(512), sa.ForeignKey("models.id", ondelete="CASCADE", onupdate="CASCADE"),
                  nullable=False),
    )
    op.create_index("ix_aliases_model_id", "aliases", ["model_id"])
    op.create_table(
        "trusted_repos",
        sa.Column("repo", sa.String(256), primary_key=True),
        sa.Column("added_at", TS, nullable=False),
    )
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("state", JSON),
        sa.Column("updated_at", TS, nullable=False),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # External-content FTS5 index over models.search_text, kept in step by triggers.
        op.execute("CREATE VIRTUAL TABLE models_fts USING fts5(search_text, content='models', content_rowid='pk', "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER models_fts_ai AFTER INSERT ON models BEGIN "
                   "INSERT INTO models_fts(rowid, search_text) VALUES (new.pk, new.search_text); END")
        op.execute("CREATE TRIGGER models_fts_ad AFTER DELETE ON models BEGIN "
                   "INSERT INTO models_fts(models_fts, rowid, search_text) VALUES ('delete', old.pk, old.search_text); END")
        op.execute("CREATE TRIGGER models_fts_au AFTER UPDATE OF search_text ON models BEGIN "
                   "INSERT INTO models_fts(models_fts, rowid, search_text) VALUES ('delete', old.pk, old.search_text); "
                   "INSERT INTO models_fts(rowid, search_text) VALUES (new.pk, new.search_text); END")
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_models_fts ON models USING gin (to_tsvector('simple', search_text))")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trig in ("models_fts_ai", "models_fts_ad", "models_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS models_fts")
    op.drop_table("sync_state")
    op.drop_table("trusted_repos")
    op.drop_table("aliases")
    op.drop_table("models")
