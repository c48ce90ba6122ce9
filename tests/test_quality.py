"""Quality as data (issue 17, item 2): published figures from torchvision's weights meta and
Hugging Face ``model-index`` in the registry, searchable and sortable, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from hf_server import FakeHub, hf_hub  # noqa: F401  (fixture)

from ptmhub import quality
from ptmhub.errors import UsageError
from ptmhub.records import Evaluation, ModelRecord


def _rec(name: str, *figures: tuple[str, str, float], platform="torchhub", task="image-classification",
         **kw) -> ModelRecord:
    evs = tuple(Evaluation(d, m, v, source="test") for d, m, v in figures)
    mid = f"torchhub:pytorch/vision/{name}" if platform == "torchhub" else f"hf:org/{name}"
    return ModelRecord(id=mid, platform=platform, name=name, task=task, evaluations=evs, **kw)


# -- the vocabulary -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, key", [("ImageNet-1K", "imagenet-1k"), ("imagenet", "imagenet-1k"),
                                       ("ILSVRC/imagenet-1k", "imagenet-1k"), ("COCO-val2017", "coco-2017")])
def test_dataset_names_fold_across_hubs(name, key):
    assert quality.dataset_key(name) == key


def test_configs_and_metrics_fold():
    assert quality.dataset_key("glue", "sst2") == "glue/sst2" == quality.dataset_key("sst2")
    assert quality.dataset_key("wikitext", "default") == "wikitext"
    assert [quality.metric_key(m) for m in ("acc@1", "Top-1 Accuracy", "accuracy", "acc@5", "WER")] == \
        ["accuracy", "accuracy", "accuracy", "top5-accuracy", "wer"]
    assert quality.higher_is_better("accuracy") and not quality.higher_is_better("wer")


def test_min_accuracy_reads_fractions_and_percent_alike_and_refuses_nonsense():
    assert quality.parse_min_accuracy("imagenet-1k:acc@1=80") == ("imagenet-1k", "accuracy", 80.0)
    assert quality.parse_min_accuracy("ImageNet=0.8") == ("imagenet-1k", "accuracy", 80.0)
    assert quality.parse_min_accuracy("librispeech_asr:wer=0.05") == ("librispeech_asr", "wer", 0.05)
    for bad in ("imagenet-1k:acc@1", "=80", "imagenet-1k=abc", "imagenet-1k=nan", ":acc=3"):
        with pytest.raises(UsageError):
            quality.parse_min_accuracy(bad)


# -- Hugging Face model-index ---------------------------------------------------------------------
def _card_model_index() -> list[dict]:
    """A model-index as huggingface_hub itself writes one into a card (the format the Hub serves)."""
    from huggingface_hub import EvalResult, ModelCardData

    card = ModelCardData(model_name="vit-finetuned", eval_results=[
        EvalResult(task_type="image-classification", dataset_type="imagenet-1k", dataset_name="ImageNet",
                   metric_type="accuracy", metric_value=0.8113, dataset_split="validation", verified=True),
        EvalResult(task_type="image-classification", dataset_type="imagenet-1k", dataset_name="ImageNet",
                   metric_type="top-5", metric_value=0.9561, dataset_split="validation"),
        EvalResult(task_type="text-classification", dataset_type="glue", dataset_name="GLUE SST2",
                   dataset_config="sst2", metric_type="f1", metric_value=91.05, metric_name="F1"),
    ])
    return card.to_dict()["model-index"]


def test_model_index_agrees_with_huggingface_hubs_own_reader():
    from huggingface_hub.repocard_data import model_index_to_eval_results

    index = _card_model_index()
    _, theirs = model_index_to_eval_results(index)
    ours = quality.from_model_index(index)
    assert len(ours) == len(theirs) == 3
    for mine, ref in zip(ours, theirs):
        assert mine.dataset == quality.dataset_key(ref.dataset_type, ref.dataset_config)
        assert mine.metric == quality.metric_key(ref.metric_type)
        scale = 100 if 0 < ref.metric_value <= 1 else 1
        assert math.isclose(mine.value, ref.metric_value * scale)
        assert mine.split == ref.dataset_split and mine.task == ref.task_type
    assert [e.label for e in ours] == ["imagenet-1k:accuracy", "imagenet-1k:top5-accuracy", "glue/sst2:f1"]
    assert ours[0].verified is True and ours[1].verified is None


@pytest.mark.parametrize("index", [
    None, "text", 5, [1, "a", None], [{"results": "x"}], [{"results": [{"dataset": "x", "metrics": []}]}],
    [{"results": [{"dataset": {"type": ["list"]}, "metrics": [{"type": "acc", "value": 1}]}]}],
    [{"results": [{"dataset": {"type": "d"}, "metrics": [{"type": "acc", "value": v}]}]}
     for v in (float("nan"), float("inf"), True, "n/a", None, [1], 10**400)][0],
])
def test_a_malformed_model_index_is_skipped_never_raised(index):
    assert quality.from_model_index(index) == ()


def test_long_names_fit_the_registry_on_postgresql_too(store):
    long = "d" * 300
    figures = quality.from_model_index([{"results": [{"dataset": {"type": long, "config": "c" * 300},
                                                      "metrics": [{"type": "m" * 300, "value": 50}]}]}])
    store.upsert([ModelRecord(id="hf:org/long", platform="huggingface", name="long", evaluations=figures)])
    [stored] = store.get("hf:org/long").evaluations
    assert len(stored.dataset) == quality.DATASET_KEY_MAX and len(stored.metric) == 128


def test_a_huge_model_index_is_bounded():
    results = [{"dataset": {"type": f"d{i}"}, "metrics": [{"type": "accuracy", "value": 50}]} for i in range(5000)]
    assert len(quality.from_model_index([{"results": results}])) == quality.MAX_EVALUATIONS


def test_resolve_stores_the_cards_figures_and_search_finds_them(hf_hub, store):  # noqa: F811
    from ptmhub import api

    body = {"id": "org/vit-ft", "modelId": "org/vit-ft", "author": "org", "sha": "a" * 40, "private": False,
            "gated": False, "disabled": False, "downloads": 5, "likes": 0, "tags": ["image-classification"],
            "pipeline_tag": "image-classification", "siblings": [], "model-index": _card_model_index(),
            "cardData": {"license": "apache-2.0"}, "lastModified": "2024-01-01T00:00:00.000Z"}
    hf_hub.add_repo("org/vit-ft", info=body)
    record = api.resolve("hf:org/vit-ft", store=store)
    assert {e.label for e in record.evaluations} == {"imagenet-1k:accuracy", "imagenet-1k:top5-accuracy",
                                                     "glue/sst2:f1"}
    assert store.get("hf:org/vit-ft").evaluation("imagenet-1k", "accuracy").value == pytest.approx(81.13)
    store.upsert([_rec("resnet50", ("imagenet-1k", "accuracy", 80.858))])
    found = api.search(min_accuracy="imagenet:acc@1=81", store=store)
    assert [r.id for r in found] == ["hf:org/vit-ft"]
    ranked = api.search(sort="accuracy", store=store)
    assert [r.id for r in ranked] == ["hf:org/vit-ft", "torchhub:pytorch/vision/resnet50"]

    # the card drops its figures: the hub's fresh answer clears them (and the index table)
    hf_hub.repos["org/vit-ft"].info.pop("model-index")
    assert api.resolve("hf:org/vit-ft", store=store).evaluations == ()
    assert api.search(min_accuracy="imagenet:acc@1=81", store=store) == []


def test_sync_hf_asks_for_the_model_index_and_stores_the_figures(hf_hub, store):  # noqa: F811
    from ptmhub.hubs.huggingface import sync

    base = {"author": "org", "downloads": 10, "likes": 0, "private": False, "gated": False,
            "lastModified": "2025-01-01T00:00:00.000Z", "tags": [], "pipeline_tag": "image-classification"}
    hf_hub.listing = [{**base, "_id": "0" * 24, "id": "org/with-results", "sha": "1" * 40,
                       "model-index": _card_model_index()},
                      {**base, "_id": "1" * 24, "id": "org/without", "sha": "2" * 40}]
    assert sync(store, page_size=10).records == 2
    assert "model-index" in hf_hub.requests_to("/api/models$")[0][2]["expand"]
    assert store.get("hf:org/with-results").evaluation("imagenet-1k", "accuracy").value == pytest.approx(81.13)
    assert store.get("hf:org/without").evaluations == ()
    # a later sync page without the field keeps the figures (a page is not the Hub's whole answer)
    hf_hub.listing[0].pop("model-index")
    sync(store, page_size=10)
    assert [r.id for r in store.search(min_accuracy="imagenet-1k=80")] == ["hf:org/with-results"]


def test_a_mirror_serving_the_card_front_matter_gives_the_same_figures(hf_hub):  # noqa: F811
    import yaml

    from ptmhub.hubs.huggingface import HuggingFaceBackend
    from ptmhub.ids import parse

    hf_hub.mirror = True
    card = "---\n" + yaml.safe_dump({"license": "mit", "model-index": _card_model_index()}) + "---\n# model\n"
    hf_hub.add_repo("org/mirrored", files={"README.md": card, "config.json": json.dumps({"model_type": "vit"})})
    record = HuggingFaceBackend().resolve(parse("hf:org/mirrored"))
    assert record.evaluation("glue/sst2", "f1").value == 91.05


# -- torchvision ------------------------------------------------------------------------------------
def test_torchvision_records_carry_every_published_figure_and_gflops():
    pytest.importorskip("torchvision")
    import torchvision.models as tvm

    from ptmhub.hubs.torchhub import torchvision as tv

    checked = 0
    for name in tvm.list_models():
        enum = tvm.get_model_weights(name)
        if not list(enum):
            continue
        meta = enum.DEFAULT.meta
        record = tv.record_for(name)
        published = {(d, m): v for d, ms in meta.get("_metrics", {}).items() for m, v in ms.items()
                     if isinstance(v, (int, float)) and math.isfinite(v)}
        assert len(record.evaluations) == len(published), name
        for (dataset, metric), value in published.items():
            found = record.evaluation(quality.dataset_key(dataset), quality.metric_key(metric))
            assert found is not None and found.value == pytest.approx(value), (name, dataset, metric)
            assert found.dataset_name == dataset and found.metric_name == metric
        assert record.gflops == meta.get("_ops")
        checked += 1
    assert checked > 100


# -- the store ------------------------------------------------------------------------------------------
def test_store_filters_sorts_merges_and_clears_figures(store):
    store.upsert([
        _rec("a", ("imagenet-1k", "accuracy", 76.1), ("imagenet-1k", "top5-accuracy", 92.9), gflops=4.1,
             parameters=25_000_000),
        _rec("b", ("imagenet-1k", "accuracy", 84.2), parameters=88_000_000),
        _rec("c", ("coco-2017", "box-map", 37.0)),
        _rec("d", parameters=1_000, downloads=10**6),
        _rec("asr", ("librispeech_asr", "wer", 3.2), platform="huggingface", task="automatic-speech-recognition"),
        _rec("asr2", ("librispeech_asr", "wer", 2.1), platform="huggingface", task="automatic-speech-recognition"),
    ])
    ids = lambda rs: [r.id.rsplit("/", 1)[-1] for r in rs]  # noqa: E731
    assert ids(store.search(min_accuracy=("imagenet-1k", "accuracy", 80))) == ["b"]
    assert ids(store.search(min_accuracy="imagenet-1k=70", max_parameters=30_000_000)) == ["a"]
    assert ids(store.search(sort="accuracy", task="image-classification")) == ["b", "a", "d", "c"]
    assert store.accuracy_basis(store_query(sort="accuracy")) == ("imagenet-1k", "accuracy")
    # an error metric: at most, and lower first
    assert ids(store.search(min_accuracy="librispeech_asr:wer=3")) == ["asr2"]
    assert ids(store.search(sort="accuracy", accuracy_on="librispeech_asr:wer", limit=2)) == ["asr2", "asr"]
    assert store.get("torchhub:pytorch/vision/a").gflops == 4.1

    # a record without figures (a catalog page) keeps the stored ones; an authoritative one clears
    store.upsert([ModelRecord(id="torchhub:pytorch/vision/b", platform="torchhub", name="b")])
    assert ids(store.search(min_accuracy="imagenet-1k=80")) == ["b"]
    store.upsert([ModelRecord(id="torchhub:pytorch/vision/b", platform="torchhub", name="b")], authoritative=True)
    assert store.get("torchhub:pytorch/vision/b").evaluations == ()
    assert store.search(min_accuracy="imagenet-1k=80") == []
    # new figures replace the old, in the table too
    store.upsert([_rec("a", ("imagenet-1k", "accuracy", 90.0))])
    assert [e.label for e in store.get("torchhub:pytorch/vision/a").evaluations] == ["imagenet-1k:accuracy"]
    assert store.search(min_accuracy="imagenet-1k:top5-accuracy=1") == []
    assert store.delete("torchhub:pytorch/vision/a") and store.search(min_accuracy="imagenet-1k=1") == []


def store_query(**kw):
    from ptmhub.registry.store import SearchQuery

    return SearchQuery(**kw)


def test_unrepresentable_figures_are_unknown_not_errors(store):
    store.upsert([ModelRecord(id="hf:org/x", platform="huggingface", name="x", gflops=float("nan"),
                              evaluations=(Evaluation("d", "accuracy", float("inf")), Evaluation("d", "f1", 50)))])
    got = store.get("hf:org/x")
    assert got.gflops is None and [e.label for e in got.evaluations] == ["d:f1"]


def test_hf_case_fold_rename_keeps_the_figures(store):
    store.upsert([_rec("Model", ("imagenet-1k", "accuracy", 70.0), platform="huggingface")])
    store.upsert([ModelRecord(id="hf:org/model", platform="huggingface", name="model")], authoritative={"task"})
    assert [r.id for r in store.search(min_accuracy="imagenet-1k=60")] == ["hf:org/model"]


def test_the_migration_fills_figures_for_torchvision_records_already_stored(db_url):
    from alembic import command

    import sqlalchemy as sa

    from ptmhub.registry import migrate, open_store
    from ptmhub.registry.engine import get_engine, normalize_url, transaction

    pytest.importorskip("torchvision")
    from ptmhub.hubs.torchhub import torchvision as tv

    engine = get_engine(normalize_url(db_url))
    with transaction(engine, write=True) as conn:
        command.upgrade(migrate._config(conn), "0003")
        models = sa.Table("models", sa.MetaData(), autoload_with=conn)
        rec = tv.record_for("resnet50")
        now = rec.first_seen or __import__("datetime").datetime(2026, 1, 1)
        conn.execute(models.insert(), [{"id": rec.id, "platform": rec.platform, "name": rec.name, "task": rec.task,
                                        "library": "torchvision", "extra": dict(rec.extra), "search_text": "resnet50",
                                        "first_seen": now, "updated_at": now, "cached": False}])
    migrate.upgrade(db_url)
    store = open_store(db_url)
    stored = store.get(rec.id)
    assert stored.gflops == rec.gflops and stored.evaluations == rec.evaluations
    assert [r.id for r in store.search(min_accuracy="imagenet-1k:acc@1=80")] == [rec.id]


# -- a local card --------------------------------------------------------------------------------------
def test_a_local_folders_card_brings_its_figures(tmp_path, sqlite_store):
    import yaml

    from ptmhub import cache

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (folder / "README.md").write_text("---\n" + yaml.safe_dump({"model-index": _card_model_index()}) + "---\n")
    record = cache.add(folder, store=sqlite_store)
    assert sqlite_store.get(record.id).evaluation("imagenet-1k", "accuracy").value == pytest.approx(81.13)


# -- the CLI --------------------------------------------------------------------------------------------
def _cli(db: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PTMHUB_DATABASE_URL": db}
    return subprocess.run([sys.executable, "-m", "ptmhub", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_search_show_and_compare_show_the_figures(tmp_path):
    from ptmhub.registry import open_store

    db = f"sqlite:///{tmp_path / 'r.db'}"
    open_store(db).upsert([_rec("a", ("imagenet-1k", "accuracy", 76.13), gflops=4.1),
                           _rec("b", ("imagenet-1k", "accuracy", 84.25)), _rec("c")])
    out = _cli(db, "search", "--sort", "accuracy")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "TASK", "PARAMS", "ACC"]
    assert [line.split()[0].rsplit("/", 1)[-1] for line in lines[2:]] == ["b", "a", "c"]
    assert "84.25" in lines[2] and "sorted by imagenet-1k accuracy: 2 of 3 matches publish it" in out.stderr
    out = _cli(db, "search", "--min-accuracy", "imagenet-1k:acc@1=80", "--json")
    assert [r["name"] for r in json.loads(out.stdout)] == ["b"]
    assert json.loads(out.stdout)[0]["evaluations"][0]["value"] == 84.25
    out = _cli(db, "show", "torchhub:pytorch/vision/a")
    assert "4.1 GFLOPs" in out.stdout and "imagenet-1k  accuracy  76.13" in out.stdout
    out = _cli(db, "compare", "torchhub:pytorch/vision/a", "torchhub:pytorch/vision/b", "--json")
    rows = {r["field"]: r for r in json.loads(out.stdout)["rows"]}
    assert rows["eval:imagenet-1k:accuracy"]["values"] == [76.13, 84.25]
    assert rows["gflops"]["values"] == [4.1, None]
    for bad in (["--min-accuracy", "imagenet-1k:acc@1"], ["--min-accuracy", "x=y"], ["--accuracy-on", ":"]):
        out = _cli(db, "search", *bad)
        assert out.returncode == 2 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr, bad
        assert len(out.stderr.strip().splitlines()) == 1


def test_the_compare_page_plots_the_shared_figure_with_its_pareto_front():
    from ptmhub.comparison import compare_records
    from ptmhub.report import comparison_html

    recs = [_rec("small", ("imagenet-1k", "accuracy", 70.0), parameters=5_000_000),
            _rec("mid", ("imagenet-1k", "accuracy", 80.0), parameters=25_000_000),
            _rec("worse", ("imagenet-1k", "accuracy", 75.0), parameters=60_000_000),
            _rec("nofig", parameters=1_000)]
    page = comparison_html(compare_records(recs))
    assert 'id="quality-section"' in page and "accuracy on imagenet-1k against size" in page
    assert page.count("(Pareto front)") == 2 and 'id="front"' in page  # small and mid; worse is dominated
    assert "3 of the compared models publish" in page
    assert 'id="quality-section"' not in comparison_html(compare_records(recs[2:]))  # one figure: no chart


def _json_values():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats() | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(["results", "dataset", "metrics", "type", "name", "value",
                                                           "config", "split", "task", "verified", "x"]), inner,
                                          max_size=5), max_leaves=30)


def test_any_json_as_model_index_gives_finite_figures_or_none():
    from hypothesis import given, settings

    @settings(max_examples=400, deadline=None)
    @given(_json_values())
    def check(index):
        for e in quality.from_model_index(index):
            assert math.isfinite(e.value) and e.dataset and e.metric
            assert len(e.dataset) <= quality.DATASET_KEY_MAX and len(e.metric) <= 128

    check()
