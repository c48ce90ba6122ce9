"""The registry's tables as SQLAlchemy Core objects: what the store queries.

They are Core (not ORM) so that a CLI search never imports ``sqlalchemy.orm`` or a PostgreSQL
dialect (about 70 ms of start-up); the typed ORM classes in :mod:`ptmhub.registry.orm` map onto
these same tables. The schema itself is created and changed only by the Alembic revisions in
``migrations/``; a test checks that these tables and the migrated database agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class JsonType(TypeDecorator):
    """JSON on SQLite, JSONB on PostgreSQL (its dialect imported only when used); ``None`` is
    SQL NULL, so that a merge can tell "unknown" from a value."""

    impl = JSON
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(none_as_null=True)

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))


TS = DateTime(timezone=True)

models = Table(
    "models", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(512), nullable=False),
    Column("platform", String(16), nullable=False),  # indexed by ix_models_platform_downloads
    Column("name", String(512), nullable=False),
    Column("owner", String(256)),
    Column("task", String(128), index=True),
    Column("parameters", BigInteger, index=True),
    Column("parameters_source", String(32)),
    Column("parameters_note", Text),
    Column("license", String(128), index=True),
    Column("license_raw", Text),
    Column("license_source", Text),
    Column("framework", String(64)),
    Column("library", String(64)),
    Column("format", String(64)),
    Column("fine_tunable", Boolean),
    Column("downloads", BigInteger, index=True),
    Column("likes", BigInteger),
    Column("tags", JsonType()),
    Column("datasets", JsonType()),
    Column("languages", JsonType()),
    Column("architecture", String(128)),
    Column("revision", String(256)),
    Column("version", String(64)),
    Column("size_bytes", BigInteger),
    Column("gflops", Float),
    Column("evaluations", JsonType()),
    Column("source_url", Text),
    Column("summary", Text),
    Column("gated", Boolean),
    Column("last_modified", TS),
    Column("extra", JsonType()),
    Column("search_text", Text, nullable=False, default=""),
    Column("first_seen", TS, nullable=False),
    Column("resolved_at", TS),
    Column("updated_at", TS, nullable=False),
    Column("cached", Boolean, nullable=False, default=False, index=True),
    Column("cache_path", Text),
    Column("cache_size_bytes", BigInteger),
    Column("last_used", TS),
    UniqueConstraint("id", name="uq_models_id"),
)
Index("ix_models_platform_downloads", models.c.platform, models.c.downloads)
# Hugging Face repo ids are case-insensitive: an exact miss is looked up by lower(id)
Index("ix_models_id_lower", func.lower(models.c.id))

# What the hub said about each resolved revision of a model (the record as JSON); ``models``
# holds the current one. See migrations/versions/0003.
model_revisions = Table(
    "model_revisions", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(512), nullable=False),
    Column("revision", String(256), nullable=False),
    Column("record", JsonType(), nullable=False),
    Column("resolved_at", TS, nullable=False),
    UniqueConstraint("model_id", "revision", name="uq_model_revisions_model_revision"),
)

# One row per published figure of a model (what ``models.evaluations`` holds, as rows): what
# ``--min-accuracy`` filters on and ``--sort accuracy`` orders by. Kept by the store alone, in the
# upsert's transaction; see migrations/versions/0004.
evaluations = Table(
    "evaluations", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(512), ForeignKey("models.id", ondelete="CASCADE", onupdate="CASCADE"),
           nullable=False, index=True),
    Column("dataset", String(160), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("value", Float, nullable=False),
)
Index("ix_evaluations_dataset_metric_value", evaluations.c.dataset, evaluations.c.metric, evaluations.c.value)

aliases = Table(
    "aliases", metadata,
    Column("alias", String(512), primary_key=True),
    Column("model_id", String(512), ForeignKey("models.id", ondelete="CASCADE", onupdate="CASCADE"),
           nullable=False, index=True),
)

trusted_repos = Table(
    "trusted_repos", metadata,
    Column("repo", String(256), primary_key=True),
    Column("added_at", TS, nullable=False),
)

sync_state = Table(
    "sync_state", metadata,
    Column("source", String(512), primary_key=True),
    Column("state", JsonType()),
    Column("updated_at", TS, nullable=False),
)
