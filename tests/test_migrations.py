"""Alembic revisions: the head matches the code, and the migrated schema matches the ORM."""

from __future__ import annotations

import sqlalchemy as sa

from ptmhub.registry import migrate, open_store
from ptmhub.registry.schema import SCHEMA_HEAD
from ptmhub.registry.orm import Base, ModelRow
from ptmhub.registry.tables import metadata


def test_head_matches_code():
    assert migrate.head() == SCHEMA_HEAD


def test_migrated_schema_matches_orm(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    open_store(db_url)
    from ptmhub.registry.engine import normalize_url

    engine = sa.create_engine(normalize_url(db_url))
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
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


def test_orm_classes_map_the_same_tables(tmp_path):
    from sqlalchemy.orm import Session

    from ptmhub.records import ModelRecord
    from ptmhub.registry import open_store

    assert Base.metadata is metadata
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    store.upsert([ModelRecord(id="hf:a/b", platform="huggingface", name="b", parameters=5, tags=("x",))])
    with Session(store.engine) as session:
        row = session.get(ModelRow, 1)
        assert (row.id, row.parameters, row.tags) == ("hf:a/b", 5, ["x"])
