"""ptmhub recommend (issue 17, item 3): ranked cross-hub picks with evidence, plans and the Pareto front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptmhub.errors import UsageError
from ptmhub.records import Evaluation, ModelRecord
from ptmhub.recommend import WEIGHTS, pareto_front, recommend

ROOT = Path(__file__).resolve().parents[1]


def _m(mid: str, *, acc=None, params=None, downloads=None, license="apache-2.0", gflops=None, **kw) -> ModelRecord:
    platform = {"hf": "huggingface", "torchhub": "torchhub", "tfhub": "tfhub"}[mid.split(":")[0]]
    evs = (Evaluation("imagenet-1k", "accuracy", acc, source="test card"),) if acc is not None else ()
    return ModelRecord(id=mid, platform=platform, name=mid.rsplit("/", 1)[-1], task="image-classification",
                       parameters=params, downloads=downloads, license=license, gflops=gflops, evaluations=evs, **kw)


@pytest.fixture
def filled(store):
    store.upsert([
        _m("hf:org/vit-small", acc=81.4, params=22_000_000, downloads=90_000, gflops=4.6),
        _m("hf:org/vit-huge", acc=88.5, params=630_000_000, downloads=5_000, gflops=167.0),
        _m("hf:org/deit-tiny", acc=72.2, params=5_700_000, downloads=40_000, license="cc-by-nc-4.0"),
        _m("hf:org/no-card", params=11_000_000, downloads=2_000_000),
        _m("torchhub:pytorch/vision/resnet50", acc=80.9, params=25_600_000, gflops=4.1, license="bsd-3-clause"),
        _m("torchhub:pytorch/vision/resnet152", acc=80.6, params=60_200_000, gflops=11.5, license="bsd-3-clause"),
        _m("torchhub:pytorch/vision/resnet50_quantized", acc=80.2, params=25_600_000, fine_tunable=False,
           license="bsd-3-clause"),
        _m("tfhub:google/imagenet/efficientnet_v2_imagenet1k_s/classification/2", params=None),
    ])
    return store


def test_ranks_with_evidence_and_respects_every_constraint(filled):
    found = recommend("image-classification", store=filled, max_parameters=100_000_000, train_size=500, num_labels=3)
    ids = [p.record.id for p in found.picks]
    assert found.basis == ("imagenet-1k", "accuracy")
    assert "hf:org/vit-huge" not in ids  # over the parameter budget
    assert "tfhub:google/imagenet/efficientnet_v2_imagenet1k_s/classification/2" not in ids  # size unknown
    assert "torchhub:pytorch/vision/resnet50_quantized" not in ids and any("quantized" in n for n in found.notes)
    # resnet152 is less accurate, larger and no more popular than resnet50: it never ranks above it
    assert ids.index("torchhub:pytorch/vision/resnet50") < ids.index("torchhub:pytorch/vision/resnet152")
    assert not next(p for p in found.picks if p.record.id.endswith("resnet152")).pareto
    # the scores are the documented weighted sum
    for p in found.picks:
        expected = sum(WEIGHTS[k] * v for k, v in p.parts.items()) + (0.05 if p.pareto else 0)
        assert p.score == pytest.approx(expected)
        assert all(0 <= v <= 1 for v in p.parts.values())
    top = found.picks[0]
    assert top.record.id == "hf:org/vit-small"
    assert any("accuracy 81.4 on imagenet-1k (test card)" in e for e in top.evidence)
    assert any("90,000 downloads on Hugging Face" in e for e in top.evidence)
    assert any("license apache-2.0: permissive" in e for e in top.evidence)
    # a model without a published figure is said to be so, and scores 0 for quality
    blind = next(p for p in found.picks if p.record.id == "hf:org/no-card")
    assert blind.parts["quality"] == 0 and any("quality unknown" in e for e in blind.evidence)
    # the non-commercial model's verdict says so
    nc = next(p for p in found.picks if p.record.id == "hf:org/deit-tiny")
    assert nc.parts["license"] == 0 and any("non-commercial" in e for e in nc.evidence)
    # plans for the top three only, by train size
    assert [p.plan is not None for p in found.picks] == [True] * 3 + [False] * (len(found.picks) - 3)
    assert top.plan["strategy"] == "feature_extraction" and "500 labelled examples" in top.plan["why"]
    assert top.plan["steps"][0] == "ptmhub pull hf:org/vit-small"
    assert "num_labels=3, train_size=500" in top.plan["steps"][-1]


def test_filters_by_license_group_and_compute(filled):
    found = recommend("image-classification", store=filled, license="permissive", max_gflops=5)
    assert {p.record.id for p in found.picks} == {"hf:org/vit-small", "torchhub:pytorch/vision/resnet50"}
    assert any("GFLOPs" in n and "--include-unknown" in n for n in found.notes)
    kept = recommend("image-classification", store=filled, license="permissive", max_gflops=5, include_unknown=True)
    assert "hf:org/no-card" in {p.record.id for p in kept.picks}


def test_the_plan_follows_the_data_size(filled):
    big = recommend("image-classification", store=filled, train_size=50_000, plans=1).picks[0].plan
    mid = recommend("image-classification", store=filled, train_size=5_000, plans=1).picks[0].plan
    assert (big["strategy"], mid["strategy"]) == ("full", "partial")


def test_without_any_figure_it_says_so(store):
    store.upsert([_m("hf:org/a", params=1000, downloads=5), _m("hf:org/b", params=2000, downloads=50)])
    found = recommend("image-classification", store=store)
    assert found.basis is None and [p.record.id for p in found.picks] == ["hf:org/b", "hf:org/a"]
    assert any("no candidate publishes a quality figure" in n for n in found.notes)


@pytest.mark.parametrize("kwargs", [{"task": ""}, {"task": "image-classification", "limit": -1},
                                    {"task": "image-classification", "max_gflops": float("nan")},
                                    {"task": "image-clasification"}, {"task": "image-classification",
                                                                      "license": "permissve"}])
def test_bad_input_is_a_usage_error(filled, kwargs):
    kwargs = dict(kwargs)
    task = kwargs.pop("task")
    with pytest.raises(UsageError):
        recommend(task, store=filled, **kwargs)


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 30)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_undominated_points(points):
    keyed = [(str(i), float(size), float(acc)) for i, (size, acc) in enumerate(points)]
    front = pareto_front(keyed)
    value = {k: (s, a) for k, s, a in keyed}
    undominated = {(s, a) for _, s, a in keyed
                   if not any(s2 <= s and a2 >= a and (s2 < s or a2 > a) for _, s2, a2 in keyed)}
    assert {value[k] for k in front} == undominated and len(front) == len(undominated)  # one of equal twins
    assert [value[k][0] for k in front] == sorted(value[k][0] for k in front)  # small to large
    # lower-is-better metrics mirror it
    flipped = pareto_front([(k, s, -a) for k, s, a in keyed], higher_is_better=False)
    assert flipped == front


def _cli(db: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ptmhub", "--db", db, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ})


def test_cli_text_json_and_html(filled, tmp_path):
    db = filled.url
    out = _cli(db, "recommend", "--task", "image-classification", "--max-params", "100M", "--train-size", "500",
               "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["picks"][0]["id"] == "hf:org/vit-small" and data["basis"]["metric"] == "accuracy"
    assert data["pareto_front"][0] == "hf:org/deit-tiny"
    page = tmp_path / "rec.html"
    out = _cli(db, "recommend", "-t", "image-classification", "-n", "3", "--html", str(page))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].split()[:3] == ["#", "ID", "PARAMS"] and "1. hf:org/vit-small" in out.stdout
    text = page.read_text()
    assert 'id="front"' in text and "#1 vit-small" in text and "<script" not in text
    for bad in (["--max-gflops", "lots"], ["--max-params", "-5"], []):
        out = _cli(db, "recommend", *(["-t", "image-classification"] if bad else []), *bad)
        assert out.returncode == 2 and "Traceback" not in out.stderr, bad


def test_the_example_registry_answers_the_issue_question():
    db = str(ROOT / "registry.db.example")
    from ptmhub import api

    found = api.recommend("image-classification", license="permissive", max_parameters=30_000_000, store=db,
                          limit=20)
    assert found.picks and all(p.record.parameters <= 30_000_000 for p in found.picks)
    assert all(p.license_category == "permissive" for p in found.picks)
    measured = [p for p in found.picks if p.figure is not None]
    assert measured and found.front
    # nothing outside the front is both smaller and more accurate than a front model
    for r in found.front:
        acc = r.evaluation("imagenet-1k", "accuracy").value
        assert not any(o.parameters < r.parameters and e.value > acc for o, e in found.plotted)


def test_html_to_a_bad_place_is_one_line_and_leaves_nothing(filled, tmp_path):
    db = filled.url
    pages = tmp_path / "pages"
    pages.mkdir()
    for target, words in ((pages / "missing" / "x.html", "does not exist"), (pages, "is a folder")):
        out = _cli(db, "recommend", "-t", "image-classification", "--html", str(target))
        assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert list(pages.iterdir()) == []  # no .partial left
    out = _cli(db, "recommend", "-t", "image-classification", "--accuracy-on", "imagenet-1k:zzz", "--json")
    notes = json.loads(out.stdout)["notes"]
    assert any("--accuracy-on imagenet-1k:accuracy" in n for n in notes)
