"""ORM tables (SQLAlchemy 2.0 typed). Only the store uses these; rows never leave it.

The schema itself is created and changed only by the Alembic revisions in ``migrations/``;
a test checks that these classes and the migrated database agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("id", name="uq_models_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(512), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(256), index=True)
    task: Mapped[str | None] = mapped_column(String(128), index=True)
    parameters: Mapped[int | None] = mapped_column(BigInteger, index=True)
    parameters_source: Mapped[str | None] = mapped_column(String(32))
    parameters_note: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(String(128), index=True)
    license_raw: Mapped[str | None] = mapped_column(Text)
    license_source: Mapped[str | None] = mapped_column(Text)
    framework: Mapped[str | None] = mapped_column(String(64))
    library: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(64))
    fine_tunable: Mapped[bool | None] = mapped_column(Boolean)
    downloads: Mapped[int | None] = mapped_column(BigInteger, index=True)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    tags: Mapped[Any] = mapped_column(JsonType, nullable=True)
    datasets: Mapped[Any] = mapped_column(JsonType, nullable=True)
    languages: Mapped[Any] = mapped_column(JsonType, nullable=True)
    architecture: Mapped[str | None] = mapped_column(String(128), index=True)
    revision: Mapped[str | None] = mapped_column(String(256))
    version: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    source_url: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    gated: Mapped[bool | None] = mapped_column(Boolean)
    last_modified: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    extra: Mapped[Any] = mapped_column(JsonType, nullable=True)
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cached: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, index=True)
    cache_path: Mapped[str | None] = mapped_column(Text)
    cache_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    last_used: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AliasRow(Base):
    __tablename__ = "aliases"

    alias: Mapped[str] = mapped_column(String(512), primary_key=True)
    model_id: Mapped[str] = mapped_column(
        String(512), ForeignKey("models.id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False, index=True
    )


class TrustedRepoRow(Base):
    __tablename__ = "trusted_repos"

    repo: Mapped[str] = mapped_column(String(256), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SyncStateRow(Base):
    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    state: Mapped[Any] = mapped_column(JsonType, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


Index("ix_models_platform_downloads", ModelRow.platform, ModelRow.downloads)
