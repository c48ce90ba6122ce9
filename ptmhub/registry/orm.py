"""Typed ORM classes over the registry's Core tables (SQLAlchemy 2.0 ``Mapped[]``), for code
and tools that want mapped objects. The store itself uses the Core tables directly and never
hands rows out: callers get :class:`~ptmhub.records.ModelRecord` values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from . import tables


class Base(DeclarativeBase):
    metadata = tables.metadata


class ModelRow(Base):
    __table__ = tables.models

    pk: Mapped[int]
    id: Mapped[str]
    platform: Mapped[str]
    name: Mapped[str]
    owner: Mapped[str | None]
    task: Mapped[str | None]
    parameters: Mapped[int | None]
    parameters_source: Mapped[str | None]
    parameters_note: Mapped[str | None]
    license: Mapped[str | None]
    license_raw: Mapped[str | None]
    license_source: Mapped[str | None]
    framework: Mapped[str | None]
    library: Mapped[str | None]
    format: Mapped[str | None]
    fine_tunable: Mapped[bool | None]
    downloads: Mapped[int | None]
    likes: Mapped[int | None]
    tags: Mapped[Any]
    datasets: Mapped[Any]
    languages: Mapped[Any]
    architecture: Mapped[str | None]
    revision: Mapped[str | None]
    version: Mapped[str | None]
    size_bytes: Mapped[int | None]
    source_url: Mapped[str | None]
    summary: Mapped[str | None]
    gated: Mapped[bool | None]
    last_modified: Mapped[dt.datetime | None]
    extra: Mapped[Any]
    search_text: Mapped[str]
    first_seen: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    cached: Mapped[bool]
    cache_path: Mapped[str | None]
    cache_size_bytes: Mapped[int | None]
    last_used: Mapped[dt.datetime | None]


class AliasRow(Base):
    __table__ = tables.aliases

    alias: Mapped[str]
    model_id: Mapped[str]


class TrustedRepoRow(Base):
    __table__ = tables.trusted_repos

    repo: Mapped[str]
    added_at: Mapped[dt.datetime]


class SyncStateRow(Base):
    __table__ = tables.sync_state

    source: Mapped[str]
    state: Mapped[Any]
    updated_at: Mapped[dt.datetime]
