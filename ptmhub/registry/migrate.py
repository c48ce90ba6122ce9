"""The migration runner: ``ptmhub db upgrade`` / ``db current`` go through here."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ..errors import DatabaseError, SchemaOutdatedError
from .engine import get_engine, transaction
from .schema import SCHEMA_HEAD, describe


def script_location() -> Path:
    """migrations/ from a source checkout, or ptmhub/migrations inside an installed wheel."""
    pkg = Path(__file__).resolve().parents[1]
    for candidate in (pkg / "migrations", pkg.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise DatabaseError("ptmhub's migration scripts are missing from this installation",
                        hint="reinstall ptmhub")


def _config(conn: sa.Connection):
    from alembic.config import Config

    loc = script_location()
    cfg = Config(str(loc / "alembic.ini"))
    cfg.set_main_option("script_location", str(loc))
    cfg.set_main_option("version_locations", str(loc / "versions"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = conn
    return cfg


def current(url: str) -> str | None:
    """The revision a database is at (None for an empty database)."""
    engine = get_engine(url)
    with transaction(engine) as conn:
        return _current(conn)


def _current(conn: sa.Connection) -> str | None:
    insp = sa.inspect(conn)
    if not insp.has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def has_tables(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table("models")


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade a database; returns (before, after)."""
    from alembic import command

    from alembic.util import CommandError

    engine = get_engine(url)
    with transaction(engine, write=True) as conn:
        before = _current(conn)
        if before is None and has_tables(conn):
            raise SchemaOutdatedError("the registry has tables but no schema version",
                                      hint="it was not created by ptmhub; point --db at another file")
        if describe(before) == "newer":
            raise _newer(before, url)
        try:
            command.upgrade(_config(conn), revision)
        except CommandError as exc:
            raise DatabaseError(f"cannot upgrade the registry {_shown(url)}: {str(exc).splitlines()[0]}") from None
        after = _current(conn)
    return before, after


def _shown(url: str) -> str:
    return url.split("@")[-1]


def _newer(rev: str, url: str) -> SchemaOutdatedError:
    return SchemaOutdatedError(
        f"the registry {_shown(url)} is at schema {rev[:64]!r}, which this ptmhub does not know "
        f"(it knows up to {SCHEMA_HEAD}): a newer ptmhub wrote it",
        hint="upgrade ptmhub to use it; this version cannot downgrade a registry")


def head() -> str:
    from alembic.script import ScriptDirectory

    loc = script_location()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(loc))
    cfg.set_main_option("path_separator", "os")
    return ScriptDirectory.from_config(cfg).get_current_head()


def check(conn: sa.Connection, url: str) -> str | None:
    """Raise SchemaOutdatedError unless the database is at SCHEMA_HEAD; returns the revision."""
    rev = _current(conn)
    if rev == SCHEMA_HEAD:
        return rev
    if rev is None:
        return None
    if describe(rev) == "newer":
        raise _newer(rev, url)
    shown = _shown(url)
    raise SchemaOutdatedError(f"the registry {shown} is at schema {rev}, this ptmhub needs {SCHEMA_HEAD}",
                              hint=f"run 'ptmhub --db {shown} db upgrade'")
