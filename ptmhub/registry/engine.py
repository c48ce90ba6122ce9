"""Engines and transactions. SQLite gets WAL, a busy timeout, foreign keys, and ``BEGIN
IMMEDIATE`` for write transactions (so concurrent writers queue instead of failing with
"database is locked"); PostgreSQL goes through psycopg 3."""

from __future__ import annotations

import sqlite3  # noqa: F401  before any framework: TensorFlow ships its own SQLite without FTS5
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from ..errors import DatabaseError, UsageError

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
BUSY_TIMEOUT_MS = 60_000


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_path(url: sa.engine.URL) -> Path | None:
    db = url.database
    return None if not db or db == ":memory:" else Path(db)


def get_engine(url: str) -> Engine:
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
        return engine


def _parse_url(url: str) -> sa.engine.URL:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///") and "?" not in url and "%" not in url:
        # a plain file path: built directly, skipping the URL grammar (a regex compiled on first
        # use, ~1.5 ms of every CLI start-up)
        return sa.engine.URL.create("sqlite", database=url[len("sqlite:///"):])
    return sa.engine.make_url(url)


def _create(url: str) -> Engine:
    try:
        parsed = _parse_url(url)
    except sa.exc.ArgumentError:
        raise UsageError(f"cannot understand the database URL {url!r}",
                         hint="use sqlite:///PATH, a file path, or postgresql://USER@HOST:PORT/DB") from None
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None:
            if path.is_dir():
                raise UsageError(f"the registry path {path} is a folder", hint="give a file path such as registry.db")
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL is set once, when the registry is created (it persists in the file), so that
            # merely reading a shipped registry never rewrites it.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ptmhub_write") else "BEGIN")

        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("psycopg", "postgres", purpose="a PostgreSQL registry") from None
        return sa.create_engine(url, pool_pre_ping=True)
    raise UsageError(f"unsupported database {parsed.get_backend_name()!r}", hint="use SQLite or PostgreSQL")


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One managed transaction: commit on success, roll back on any error."""
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(ptmhub_write=True)
            with conn.begin():
                yield conn
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"the registry database failed: {str(exc.orig).splitlines()[0]}",
                            hint="check the --db path/URL and that the database is reachable") from None


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
