"""Hostile and mistaken input to the registry: numbers beyond 64 bits, corrupt, newer and
read-only registries, a --db in a missing folder, typos in IDs and search values. Each is one
line (a PtmhubError), never a traceback, and nothing is half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ptmhub import api
from ptmhub.errors import DatabaseError, NotInRegistryError, SchemaOutdatedError, UsageError
from ptmhub.records import ModelRecord
from ptmhub.registry import migrate, open_store
from ptmhub.registry.schema import KNOWN_REVISIONS, SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[1]


def rec(id_: str, **kw) -> ModelRecord:
    from ptmhub.ids import parse

    mid = parse(id_)
    kw.setdefault("name", mid.name)
    kw.setdefault("owner", mid.owner)
    return ModelRecord(id=mid.key, platform=mid.platform, **kw)


def cli(*args: str, db: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ptmhub", "--db", str(db), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    return proc.stderr


def test_known_revisions_are_the_migrations():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.script_location()))
    cfg.set_main_option("path_separator", "os")
    walked = [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    assert tuple(walked) == KNOWN_REVISIONS and walked[-1] == SCHEMA_HEAD


# -- numbers beyond 64 bits ---------------------------------------------------------------------
def test_numbers_beyond_64_bits_are_stored_as_unknown(store):
    huge = [rec(f"hf:org/h{i}", parameters=2**63 + i, parameters_source="api", downloads=2**64, likes=-(2**63) - 1,
                size_bytes=10**40, extra={"n": 10**5000, "nan": float("nan"), "inf": float("-inf"), "ok": 2**70,
                                          "nested": [{"deep": 10**4400}]})
            for i in range(3)]
    assert store.upsert(huge) == 3  # the multi-row fast path on SQLite
    store.upsert(huge[:1], authoritative=True)  # the statement path
    for i in range(3):
        got = store.get(f"hf:org/h{i}")
        assert (got.parameters, got.parameters_source, got.downloads, got.likes, got.size_bytes) == (
            None, None, None, None, None)
        assert "64-bit" in got.parameters_note
        assert got.extra["n"].startswith("<integer of") and got.extra["nan"] is None and got.extra["inf"] is None
        assert got.extra["ok"] == 2**70 and got.extra["nested"][0]["deep"].startswith("<integer of")
    assert store.save_revision(huge[0].replace(revision="abc1234"))
    assert store.get_revision("hf:org/h0@abc1234").parameters is None
    # a sensible count still arrives later
    store.upsert([rec("hf:org/h0", parameters=7, parameters_source="api")])
    assert store.get("hf:org/h0").parameters == 7


def test_search_numbers_beyond_64_bits_are_usage_errors(store):
    for kwargs in ({"limit": 2**63}, {"offset": 2**64}, {"min_parameters": 2**63}, {"max_parameters": 10**30},
                   {"limit": -1}, {"max_parameters": 10**5000}):
        with pytest.raises(UsageError) as err:
            api.search(store=store, **kwargs)
        assert "\n" not in str(err.value) and "out of range" in str(err.value)
    assert api.search(store=store, max_parameters=2**63 - 1, limit=2**63 - 1, offset=0) == []


# -- merge rules ---------------------------------------------------------------------------------
def test_a_count_is_not_replaced_by_a_worse_sourced_one(store):
    store.upsert([rec("hf:o/p", parameters=100, parameters_source="safetensors-header", parameters_note="checked")])
    store.upsert([rec("hf:o/p", parameters=90, parameters_source="catalog", parameters_note="a catalog said")])
    got = store.get("hf:o/p")
    assert (got.parameters, got.parameters_source, got.parameters_note) == (100, "safetensors-header", "checked")
    store.upsert([rec("hf:o/p", parameters=101, parameters_source="api")], authoritative=True)
    assert (store.get("hf:o/p").parameters, store.get("hf:o/p").parameters_source) == (101, "api")
    # an authoritative answer without a count does not erase one
    store.upsert([rec("hf:o/p", parameters_note="the Hub API publishes no safetensors parameter count")],
                 authoritative=True)
    assert store.get("hf:o/p").parameters == 101
    # while no count is known, the newest reason why is kept
    store.upsert([rec("hf:o/q", parameters_note="first reason")])
    store.upsert([rec("hf:o/q", parameters_note="a better reason")])
    assert store.get("hf:o/q").parameters_note == "a better reason"
    with pytest.raises(UsageError):
        store.upsert([rec("hf:o/q")], authoritative=["first_seen"])


# -- did you mean ----------------------------------------------------------------------------------
def test_unknown_task_or_license_names_close_values(store):
    store.upsert([rec("hf:o/a", task="fill-mask", license="apache-2.0"),
                  rec("hf:o/b", task="my-own-task", license="weird-license-1")])
    with pytest.raises(UsageError) as err:
        store.search(task="fil-mask")
    assert "fill-mask" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UsageError) as err:
        api.search(license="apache2.0x", store=store)
    assert "apache-2.0" in str(err.value) and "permissive" in str(err.value)
    with pytest.raises(UsageError) as err:
        store.count(task="my-own-tsk")
    assert "my-own-task" in str(err.value)
    # known values find nothing without an error; stored ones are valid
    assert store.search(task="text-to-video") == [] and store.search(license="gpl-3.0") == []
    assert [r.id for r in store.search(task="my-own-task", license="weird-license-1")] == ["hf:o/b"]
    assert [r.id for r in store.search(task="image-classifier")] == []  # a TF Hub task id


def test_unknown_id_offline_suggests_close_ids(store):
    store.upsert([rec("hf:google-bert/bert-base-uncased", downloads=10), rec("hf:google-bert/bert-large-cased"),
                  rec("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5")])
    assert store.suggest("hf:google-bert/bert-base-uncasd")[0] == "hf:google-bert/bert-base-uncased"
    with pytest.raises(NotInRegistryError) as err:
        api.show("hf:google-bert/bert-base-uncasd", store=store, offline=True)
    assert "did you mean hf:google-bert/bert-base-uncased" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(NotInRegistryError) as err:
        api.show("tfhub:google/imagenet/mobilenet_v2_100_224/clasification/5", store=store, offline=True)
    assert "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5" in str(err.value)
    assert store.suggest("hf:zzz/qqq") == []
    # a legacy ID without its owner, mistyped, finds the model it stands for
    assert store.suggest("hf:bert-base-uncasd") == ["hf:google-bert/bert-base-uncased"]
    # another model of the same owner is not a typo of the one asked for
    store.upsert([rec("hf:sentence-transformers/all-MiniLM-L6-v2")])
    assert store.suggest("hf:sentence-transformers/all-mpnet-base-v2") == []


def test_load_of_an_unknown_id_offline_suggests_close_ids(sqlite_store):
    from ptmhub.errors import NotCachedError

    sqlite_store.upsert([rec("hf:google-bert/bert-base-uncased")])
    with pytest.raises(NotCachedError) as err:
        api.load("hf:google-bert/bert-base-uncasd", store=sqlite_store, offline=True)
    assert "did you mean hf:google-bert/bert-base-uncased" in str(err.value)


# -- broken, newer, read-only registries -------------------------------------------------------------
def _corrupt_files(tmp_path: Path) -> dict[str, Path]:
    files = {"random": tmp_path / "random.db", "text": tmp_path / "text.db", "truncated": tmp_path / "trunc.db"}
    files["random"].write_bytes(hashlib.sha256(b"x").digest() * 200)
    files["text"].write_text("not a database\n")
    shutil.copy(ROOT / "registry.db.example", files["truncated"])
    with open(files["truncated"], "r+b") as f:
        f.truncate(os.path.getsize(files["truncated"]) // 3)
    return files


def test_corrupt_registry_files_are_one_line_errors(tmp_path):
    for kind, path in _corrupt_files(tmp_path).items():
        before = path.read_bytes()
        for args in (("db", "current"), ("db", "upgrade"), ("search", "bert"), ("show", "hf:a/b")):
            err = one_line_error(cli(*args, db=path), 8)
            assert str(path) in err, (kind, args, err)
        with pytest.raises(DatabaseError):
            open_store(f"sqlite:///{path}")
        assert path.read_bytes() == before, kind


def test_a_newer_registry_is_refused_and_never_called_behind(db_url):
    open_store(db_url)
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    for future in ("0099", "f00dcafe1234"):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num='{future}'")
        from ptmhub.registry import engine as eng

        eng.dispose_all()
        with pytest.raises(SchemaOutdatedError) as err:
            open_store(db_url)
        assert "upgrade ptmhub" in str(err.value) and "db upgrade'" not in str(err.value)
        with pytest.raises(SchemaOutdatedError) as err:
            migrate.upgrade(db_url)
        assert "upgrade ptmhub" in str(err.value)
        assert migrate.current(db_url) == future  # untouched
    engine.dispose()


def test_db_current_on_a_newer_registry_says_upgrade_ptmhub(tmp_path):
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}")
    con = __import__("sqlite3").connect(path)
    con.execute("UPDATE alembic_version SET version_num='0099'")
    con.commit()
    con.close()
    proc = cli("db", "current", db=path)
    assert proc.returncode == 0 and "upgrade ptmhub" in proc.stdout and "db upgrade" not in proc.stdout
    err = one_line_error(cli("db", "upgrade", db=path), 8)
    assert "upgrade ptmhub" in err
    one_line_error(cli("search", "x", db=path), 8)


def _read_only_urls(path: Path) -> list[str]:
    urls = [f"sqlite:///file:{path}?mode=ro&uri=true"]  # read-only even for root
    if os.geteuid() != 0:
        urls.append(f"sqlite:///{path}")  # with the file chmod 444 (root ignores modes)
    return urls


def test_writes_to_a_read_only_registry_are_one_line_errors(tmp_path):
    path = tmp_path / "ro.db"
    st = open_store(f"sqlite:///{path}")
    st.upsert([rec("hf:o/keep", downloads=1)])
    st.vacuum()
    from ptmhub.registry import engine as eng

    eng.dispose_all()
    path.chmod(0o444)
    before = path.read_bytes()
    try:
        for url in _read_only_urls(path):
            ro = open_store(url)
            assert ro.get("hf:o/keep").downloads == 1  # reading works
            writes = {
                "upsert (fast path)": lambda: ro.upsert([rec(f"hf:o/n{i}") for i in range(50)]),
                "upsert (authoritative)": lambda: ro.upsert([rec("hf:o/keep", license="mit")], authoritative=True),
                "history": lambda: ro.save_revision(rec("hf:o/keep", revision="abcdef0")),
                "trust": lambda: ro.trust_add("o/r"),
                "touch": lambda: ro.touch("hf:o/keep"),
                "sync state": lambda: ro.save_sync_state("hf", cursor="x"),
            }
            for what, write in writes.items():
                with pytest.raises(DatabaseError) as err:
                    write()
                assert str(path) in str(err.value) and "read-only" in str(err.value), (what, url)
                assert "\n" not in str(err.value)
            err = one_line_error(cli("trust", "add", "o/r", db=url), 8)
            assert str(path) in err
        assert path.read_bytes() == before  # nothing half-written
    finally:
        path.chmod(0o644)


def test_db_in_a_missing_folder_is_an_error_and_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such" / "dir"
    err = one_line_error(cli("search", "x", db=missing / "r.db"), 2)
    assert str(missing) in err
    err = one_line_error(cli("db", "upgrade", db=missing / "r.db"), 2)
    assert not (tmp_path / "no").exists()
    with pytest.raises(UsageError) as info:
        api.search(store=missing / "r.db")
    assert str(missing) in str(info.value)
    with pytest.raises(UsageError):
        open_store(f"sqlite:///{missing / 'r.db'}")
    assert not (tmp_path / "no").exists()
    # the default registry's own folder (PTMHUB_HOME) is still created on first use
    from ptmhub import settings

    home = tmp_path / "fresh-home"
    monkeypatch.setenv("PTMHUB_HOME", str(home))
    settings.reload()
    assert api.search() == [] and (home / "registry.db").exists()
