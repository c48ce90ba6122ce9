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
    if not db or db == ":memory:" or str(url.query.get("uri", "")).lower() == "true":
        return None  # in memory, or an SQLite URI filename (file:...?mode=ro): SQLite checks it
    return Path(db)


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


def _is_default_registry(path: Path) -> bool:
    """Whether ``path`` is the default registry (PTMHUB_HOME/registry.db), whose folder ptmhub
    creates on first use."""
    from .. import settings

    current = settings.get()
    return current.database_url_env is None and path == current.home / "registry.db"


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
            if not path.parent.is_dir() and not _is_default_registry(path):
                # never create folders for a given path: a typo would leave a new folder tree
                # (at the filesystem root, for an absolute one); only the default home is made
                raise UsageError(f"the folder {path.parent} of the registry {path.name} does not exist",
                                 hint="create it first, or give --db a path in an existing folder")
            path.parent.mkdir(parents=True, exist_ok=True)  # exists, or is the default home
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
    """One managed transaction: commit on success, roll back on any error.

    Every database failure leaves as one :class:`DatabaseError` naming the registry: those
    SQLAlchemy raises, and the driver's own (``sqlite3.Error``) from the raw-cursor fast path
    of the SQLite upsert, which SQLAlchemy never sees (a read-only file, a full disk).
    """
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(ptmhub_write=True)
            with conn.begin():
                yield conn
    except (sa.exc.DBAPIError, sqlite3.Error) as exc:
        raise database_error(engine, exc) from None


def registry_name(engine: Engine) -> str:
    """The registry as a user knows it: a SQLite file's path, or a URL without credentials."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True).split("@")[-1]


def database_error(engine: Engine, exc: BaseException) -> DatabaseError:
    """A database failure as one line naming the registry, with a hint fitting the cause."""
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    name = registry_name(engine)
    low = text.lower()
    if "readonly" in low or "read-only" in low or "read only" in low:
        hint = "the file or its folder is read-only: fix the permissions or use another --db"
    elif "not a database" in low or "malformed" in low or "disk image" in low:
        hint = "the file is not a ptmhub registry or is damaged: point --db at another file"
    elif "unable to open" in low:
        hint = "check that the file and its folder can be read and written"
    else:
        hint = "check the --db path/URL and that the database is reachable"
    return DatabaseError(f"the registry {name} failed: {text}", hint=hint)
def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
