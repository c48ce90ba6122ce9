"""ptmhub lineage: ancestors from each hub's own facts (HF base_model, timm fine-tune tags, TF Hub
variants' parents), descendants in the registry, license conflicts; on made-up records and on the
real tfhub.dev catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ptmhub import api
from ptmhub.ids import parse
from ptmhub.records import ModelRecord


def rec(id_: str, **kw) -> ModelRecord:
    mid = parse(id_)
    kw.setdefault("name", mid.name)
    kw.setdefault("owner", mid.owner)
    return ModelRecord(id=mid.key, platform=mid.platform, **kw)


@pytest.fixture
def family(sqlite_store):
    sqlite_store.upsert([
        rec("hf:org/base", license="cc-by-nc-4.0"),
        rec("hf:org/ft", license="apache-2.0", extra={"base_model": ["org/base"], "base_model_relation": "finetune"}),
        rec("hf:org/ft-of-ft", license="apache-2.0", extra={"base_model": ["org/ft"]}),
        rec("hf:org/adapter", license="cc-by-nc-4.0",
            extra={"base_model": ["org/base", "org/missing"], "base_model_relation": "adapter"}),
        rec("hf:loop/a", extra={"base_model": ["loop/b"]}),
        rec("hf:loop/b", extra={"base_model": ["loop/a"]}),
        rec("hf:timm/vit_x.augreg_in21k", license="apache-2.0", library="timm"),
        rec("hf:timm/vit_x.augreg_in21k_ft_in1k", license="apache-2.0", library="timm"),
        rec("tfhub:google/x/1", license="apache-2.0"),
        rec("tfhub:google/lite-model/x/1", extra={"parent": "tfhub:google/x/1", "doc_type": "Lite"}),
    ])
    return sqlite_store


def test_ancestors_descendants_and_the_license_trap(family):
    found = api.lineage("hf:org/ft-of-ft", store=family, offline=True)
    assert [(a.child, a.parent, a.depth) for a in found.ancestors] == [
        ("hf:org/ft-of-ft", "hf:org/ft", 1), ("hf:org/ft", "hf:org/base", 2)]
    assert found.ancestors[1].relation == "finetune" and found.ancestors[0].relation == "derived"
    # apache-2.0 fine-tune of a non-commercial base: warned, at every step where it happens
    assert found.warnings == ["hf:org/ft is apache-2.0 (permissive) but derives from hf:org/base, which is "
                              "cc-by-nc-4.0 (non-commercial): the base's terms still bind the weights"]
    base = api.lineage("hf:org/base", store=family, offline=True)
    assert base.ancestors == [] and [d.child for d in base.descendants] == ["hf:org/adapter", "hf:org/ft"]
    assert len(base.warnings) == 1  # the adapter keeps the base's license: no conflict
    adapter = api.lineage("hf:org/adapter", store=family, offline=True)
    assert [(a.parent, a.record is not None) for a in adapter.ancestors] == [("hf:org/base", True),
                                                                             ("hf:org/missing", False)]


def test_timm_tags_and_tfhub_variants(family):
    timm = api.lineage("hf:timm/vit_x.augreg_in21k_ft_in1k", store=family, offline=True)
    assert [(a.parent, a.relation) for a in timm.ancestors] == [("hf:timm/vit_x.augreg_in21k", "finetune")]
    assert "fine-tuned on in1k" in timm.ancestors[0].evidence and not timm.warnings
    lite = api.lineage("tfhub:google/lite-model/x/1", store=family, offline=True)
    assert [(a.parent, a.relation) for a in lite.ancestors] == [("tfhub:google/x/1", "converted")]
    assert [d.child for d in api.lineage("tfhub:google/x/1", store=family, offline=True).descendants] == [
        "tfhub:google/lite-model/x/1"]


def test_a_loop_in_the_data_ends(family):
    found = api.lineage("hf:loop/a", store=family, offline=True)
    assert [(a.child, a.parent) for a in found.ancestors] == [("hf:loop/a", "hf:loop/b"), ("hf:loop/b", "hf:loop/a")]


def test_cli(family, tmp_path):
    env = {**os.environ, "PTMHUB_DATABASE_URL": family.url}
    run = lambda *args: subprocess.run([sys.executable, "-m", "ptmhub", "--offline", *args],  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=120)
    out = run("lineage", "hf:org/ft")
    assert out.returncode == 0, out.stderr
    assert "derives from:" in out.stdout and "hf:org/base  [finetune]  cc-by-nc-4.0" in out.stdout
    assert "warning: hf:org/ft is apache-2.0" in out.stderr and "Traceback" not in out.stderr
    data = json.loads(run("lineage", "hf:org/base", "--json").stdout)
    assert [d["child"] for d in data["descendants"]] == ["hf:org/adapter", "hf:org/ft"]
    missing = run("lineage", "hf:org/nothing")
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1 and "not in the registry" in missing.stderr


def test_the_real_tfhub_catalog_links_variants_to_their_parents(sqlite_store, shared):
    api.sync("tfhub", store=sqlite_store, source=str(shared("catalogs", "tfhub.dev")))
    variants = [r for r in sqlite_store.iter_all(platform="tfhub") if (r.extra or {}).get("parent")]
    assert len(variants) > 100
    linked = 0
    for record in variants[:50]:
        found = api.lineage(record.id, store=sqlite_store, offline=True)
        assert found.ancestors and found.ancestors[0].relation == "converted"
        linked += found.ancestors[0].record is not None
    assert linked == 50  # every parent the catalog names is a model the same catalog describes
