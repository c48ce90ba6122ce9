"""Shared fixtures: a loopback-only network guard, isolated settings, registries on SQLite and
PostgreSQL, and the shared real-data folder."""

from __future__ import annotations

import ipaddress
import sqlite3  # noqa: F401  load Python's SQLite (with FTS5) before TensorFlow's copy
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PTMHUB_SHARED", ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- network guard: tests may only talk to loopback -------------------------------------------
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NonLoopbackConnection(AssertionError):
    pass


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}: only 127.0.0.1 is allowed")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None:
        h = host.decode() if isinstance(host, bytes) else str(host)
        if h not in ("localhost",) and not _is_loopback((h, 0)):
            raise NonLoopbackConnection(f"test tried to resolve {h!r}: only loopback is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


# -- isolated environment ---------------------------------------------------------------------
_ENV_VARS = (
    "PTMHUB_HOME", "PTMHUB_DATABASE_URL", "PTMHUB_OFFLINE", "PTMHUB_TFHUB_ENDPOINT", "PTMHUB_GITHUB_ENDPOINT",
    "HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TF_USE_LEGACY_KERAS", "TORCH_HOME", "TFHUB_CACHE_DIR", "KAGGLEHUB_CACHE", "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test gets its own PTMHUB_HOME and native cache dirs, never the user's."""
    base = tmp_path_factory.mktemp("env")
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTMHUB_HOME", str(base / "ptmhub"))
    monkeypatch.setenv("HF_HOME", str(base / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(base / "tfhub"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(base / "kagglehub"))
    monkeypatch.setenv("PTMHUB_MAX_WAIT", "3")
    monkeypatch.setenv("PTMHUB_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    from ptmhub import offline, settings

    settings.reload()
    offline.reset()  # offline mode lasts for a process: a test that turned it on must not leak it
    yield base
    settings.reload()


# -- real data in ../shared --------------------------------------------------------------------
def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips (or fails in CI) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"real data {path} is absent (it ships beside the project in ../shared)"
        if IN_CI:
            pytest.fail(reason + "; CI must have it")
        pytest.skip(reason)
    return path


@pytest.fixture
def shared():
    return shared_path


# -- registries --------------------------------------------------------------------------------
PG_URL = os.environ.get("PTMHUB_TEST_POSTGRES_URL")


def _db_params():
    return [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_db_params())
def db_url(request, tmp_path):
    """A fresh, empty registry URL: SQLite in tmp, and PostgreSQL when the test command started one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if not PG_URL:
        reason = "PostgreSQL is not running (PTMHUB_TEST_POSTGRES_URL unset): use 'make test'"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    import uuid

    import sqlalchemy as sa

    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    from ptmhub.registry import engine as eng

    eng.dispose_all()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def store(db_url):
    from ptmhub.registry import open_store

    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    from ptmhub.registry import open_store

    s = open_store(f"sqlite:///{tmp_path / 'registry.db'}")
    yield s
    s.close()
