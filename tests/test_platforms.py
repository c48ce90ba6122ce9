"""ptmhub.platforms: the static facts are complete and agree with the code and the real catalog; the
live columns are the registry's figures; `ptmhub platforms` prints, --json and --html."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ptmhub import platforms, settings
from ptmhub.errors import UnknownPlatformError
from ptmhub.ids import PLATFORMS
from ptmhub.records import FIELDS, ModelRecord

ROOT = Path(__file__).resolve().parents[1]


def test_every_platform_has_every_fact():
    names = [f.name for f in platforms.FACTS]
    assert len(names) == len(set(names))
    assert [f.name for f in platforms.FACTS if f.supported] == list(PLATFORMS)
    assert [f.name for f in platforms.FACTS if not f.supported] == ["tfjs", "sagemaker", "paperswithcode"]
    for f in platforms.FACTS:
        for key, label in platforms.FACETS:
            value = getattr(f, key)
            assert isinstance(value, str) and value.strip(), (f.name, key)
        assert f.publishes <= set(FIELDS), f.name


def test_id_schemes_are_the_parsers():
    from ptmhub.ids import PREFIXES

    for f in platforms.FACTS:
        if f.supported:
            prefix = next(p for p, name in PREFIXES.items() if name == f.name)
            assert f.id_scheme.startswith(f"{prefix}:"), f.name


def test_cache_env_vars_are_the_ones_settings_reads(monkeypatch, tmp_path):
    """The documented variable moves the cache ptmhub (and the hub's library) uses."""
    source = (ROOT / "ptmhub" / "settings.py").read_text()
    for f in platforms.FACTS:
        if not f.supported:
            continue
        var = re.match(r"[A-Z_]+", f.cache_env).group(0)
        assert f'"{var}"' in source, (f.name, var)
        monkeypatch.setenv(var, str(tmp_path / var))
        settings.reload()
        location = platforms.cache_location(f.name)
        assert str(location).startswith(str(tmp_path / var)), (f.name, location)
    assert platforms.cache_location("tfjs") is None


def test_facts_lookup():
    assert platforms.facts("hf").name == "huggingface"
    assert platforms.facts("torchhub").title == "PyTorch Hub"
    with pytest.raises(UnknownPlatformError):
        platforms.facts("modelzoo")
    assert platforms.publishes("huggingface", "downloads") is True
    assert platforms.publishes("tfhub", "downloads") is False
    assert platforms.publishes("nowhere", "downloads") is None


def test_tfhub_license_share_stated_matches_the_real_catalog(shared, sqlite_store):
    """The TF Hub row says how many catalog docs carry a license; check it against the catalog."""
    from ptmhub.catalogs import sync_source

    sync_source("tfhub")(sqlite_store, source=str(shared("catalogs", "tfhub.dev")))
    row = next(r for r in sqlite_store.stats() if r["platform"] == "tfhub")
    m = re.search(r"\((\d[\d,]*) of the (\d[\d,]*) model docs\)", platforms.facts("tfhub").license_info)
    assert m, platforms.facts("tfhub").license_info
    stated_with, stated_total = (int(g.replace(",", "")) for g in m.groups())
    assert (row["with_license"], row["models"]) == (stated_with, stated_total)
    assert row["with_parameters"] == 0  # "not published" indeed


def _records():
    return [
        ModelRecord(id="hf:a/one", platform="huggingface", name="one", task="fill-mask", parameters=100,
                    parameters_source="api", license="mit"),
        ModelRecord(id="hf:a/two", platform="huggingface", name="two", task="fill-mask", parameters=300,
                    parameters_source="api"),
        ModelRecord(id="hf:a/three", platform="huggingface", name="three", task="text-classification",
                    parameters=200, parameters_source="api", license="apache-2.0"),
        ModelRecord(id="hf:a/four", platform="huggingface", name="four"),
        ModelRecord(id="tfhub:google/x/1", platform="tfhub", name="x", task="image-classification"),
        ModelRecord(id="torchhub:pytorch/vision/resnet18", platform="torchhub", name="resnet18",
                    parameters=11_689_512, parameters_source="catalog", license="bsd-3-clause"),
    ]


def test_matrix_live_columns(store):
    store.upsert(_records())
    store.set_cache_state("hf:a/one", cached=True, cache_path="/x", cache_size_bytes=1000)
    store.set_cache_state("hf:a/two", cached=True, cache_path="/y", cache_size_bytes=500)
    m = platforms.matrix(store=store)
    rows = {r.facts.name: r for r in m.rows}
    hf = rows["huggingface"].live
    assert (hf.models, hf.tasks, hf.with_license, hf.with_parameters) == (4, 2, 2, 3)
    assert hf.license_share == 0.5 and hf.parameters_share == 0.75
    assert hf.median_parameters == 200 and (hf.cached, hf.cached_bytes) == (2, 1500)
    tf = rows["tfhub"].live
    assert (tf.models, tf.tasks, tf.license_share, tf.median_parameters) == (1, 1, 0.0, None)
    kaggle = rows["kaggle"].live
    assert kaggle.models == 0 and kaggle.license_share is None
    assert rows["torchhub"].live.median_parameters == 11_689_512
    assert all(rows[n].live is None for n in ("tfjs", "sagemaker", "paperswithcode"))
    assert rows["huggingface"].cache_dir == str(settings.get().hf_hub_cache)
    data = json.loads(json.dumps(m.to_dict()))
    assert [p["name"] for p in data["platforms"]] == [f.name for f in platforms.FACTS]
    assert data["platforms"][0]["live"]["parameters_share"] == 0.75
    assert data["platforms"][-1]["informational"] is True and data["platforms"][-1]["live"] is None


def test_matrix_without_registry():
    m = platforms.matrix(live=False)
    assert m.database is None and all(r.live is None for r in m.rows)


def test_shown_url_hides_passwords():
    assert platforms.shown_url("postgresql://me:secret@db:5432/reg") == "postgresql://db:5432/reg"
    assert platforms.shown_url("sqlite:////tmp/r.db") == "sqlite:////tmp/r.db"


def run(args, capsys):
    from ptmhub.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_platforms(tmp_path, capsys):
    from ptmhub.registry import open_store

    db = tmp_path / "reg.db"
    open_store(f"sqlite:///{db}").upsert(_records())
    code, out, err = run(["--db", str(db), "platforms"], capsys)
    assert code == 0, err
    hf_line = next(line for line in out.splitlines() if line.startswith("huggingface "))
    assert re.search(r"huggingface\s+4\s+2\s+50%\s+75%\s+200\s+0\s+-", hf_line), hf_line
    assert "sagemaker (informational)" in out and "informational: platforms ptmhub has no backend for" in out
    assert "Remote code trust" in out and "trust_remote_code=True" in out
    code, out, _ = run(["--db", str(db), "platforms", "--json"], capsys)
    assert code == 0 and json.loads(out)["platforms"][0]["live"]["models"] == 4
    page = tmp_path / "platforms.html"
    code, out, err = run(["--db", str(db), "platforms", "--html", str(page)], capsys)
    assert code == 0 and "wrote" in err
    text = page.read_text()
    assert 'id="platforms-live"' in text and 'id="platforms-facts"' in text and "Papers with Code" in text
    code, _, err = run(["--db", str(db), "platforms", "--json", "--html", str(page)], capsys)
    assert code == 2 and "choose one of" in err
