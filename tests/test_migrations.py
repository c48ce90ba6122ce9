"""Alembic revisions: the head matches the code, and the migrated schema matches the ORM."""

from __future__ import annotations

import sqlalchemy as sa

from ptmhub.registry import migrate, open_store
from ptmhub.registry.schema import SCHEMA_HEAD
from ptmhub.registry.tables import Base


def test_head_matches_code():
    assert migrate.head() == SCHEMA_HEAD


def test_migrated_schema_matches_orm(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    open_store(db_url)
    from ptmhub.registry.engine import normalize_url

    engine = sa.create_engine(normalize_url(db_url))
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    # the FTS table and its shadow tables are created by the migration on purpose
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name.startswith("models_fts"))
             and not (d[0] == "remove_index" and d[1].name == "ix_models_fts")]
    assert diffs == []


def test_upgrade_downgrade_upgrade(db_url):
    from alembic import command

    from ptmhub.registry.engine import get_engine, transaction

    before, after = migrate.upgrade(db_url)
    assert (before, after) == (None, SCHEMA_HEAD)
    assert migrate.upgrade(db_url) == (SCHEMA_HEAD, SCHEMA_HEAD)
    with transaction(get_engine(db_url), write=True) as conn:
        command.downgrade(migrate._config(conn), "base")
    assert migrate.current(db_url) is None
    assert migrate.upgrade(db_url) == (None, SCHEMA_HEAD)
    assert migrate.current(db_url) == SCHEMA_HEAD


def test_migrations_ship_with_the_package():
    loc = migrate.script_location()
    assert (loc / "env.py").exists() and (loc / "versions" / "0001_initial.py").exists()
