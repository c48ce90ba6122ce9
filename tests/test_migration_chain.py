"""A registry created at every schema revision, filled with data, upgrades to head with every
row intact, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ptmhub.registry import migrate
from ptmhub.registry.engine import get_engine, normalize_url, transaction
from ptmhub.registry.schema import SCHEMA_HEAD


def _revisions() -> list[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.script_location()))
    cfg.set_main_option("path_separator", "os")
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]


def _fill(conn: sa.Connection, n: int) -> list[dict]:
    """Rows written with plain SQL against whatever columns the revision has."""
    models = sa.Table("models", sa.MetaData(), autoload_with=conn)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(n):
        row = {"id": f"hf:org/m{i}", "platform": "huggingface", "name": f"m{i}", "owner": "org",
               "task": "fill-mask", "parameters": 1000 + i, "parameters_source": "api", "license": "mit",
               "downloads": i, "tags": ["a", f"t{i}"], "extra": {"k": i}, "search_text": f"org m{i}",
               "first_seen": now, "updated_at": now, "cached": bool(i % 2)}
        rows.append({k: v for k, v in row.items() if k in models.c})
    conn.execute(models.insert(), rows)
    if "aliases" in sa.inspect(conn).get_table_names():
        conn.execute(sa.text("INSERT INTO aliases (alias, model_id) VALUES ('hf:m0', 'hf:org/m0')"))
    return rows


def test_every_revision_upgrades_with_rows_intact(db_url):
    from alembic import command

    revisions = _revisions()
    assert revisions[-1] == SCHEMA_HEAD
    engine = get_engine(normalize_url(db_url))
    for i, revision in enumerate(revisions):
        with transaction(engine, write=True) as conn:
            command.downgrade(migrate._config(conn), "base")
            command.upgrade(migrate._config(conn), revision)
            written = _fill(conn, 50)
        migrate.upgrade(db_url)
        assert migrate.current(db_url) == SCHEMA_HEAD
        from ptmhub.registry import open_store

        store = open_store(db_url)
        for row in written:
            record = store.get(row["id"])
            assert record is not None, (revision, row["id"])
            assert (record.parameters, record.license, list(record.tags), dict(record.extra), record.cached) == (
                row["parameters"], row["license"], row["tags"], row["extra"], row["cached"]), revision
        assert store.get("hf:m0").id == "hf:org/m0"
        assert [r.id for r in store.search(q="m7")] == ["hf:org/m7"]  # full-text index survives
