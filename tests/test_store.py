"""The store, run identically on SQLite and PostgreSQL (the `store` fixture is parametrized)."""

from __future__ import annotations

import datetime as dt

import pytest

from ptmhub.errors import NotInRegistryError, SchemaOutdatedError, UsageError
from ptmhub.records import ModelRecord
from ptmhub.registry import open_store
from ptmhub.registry.store import SearchQuery


def rec(id_: str, **kw) -> ModelRecord:
    from ptmhub.ids import parse

    mid = parse(id_)
    kw.setdefault("name", mid.name)
    kw.setdefault("owner", mid.owner)
    return ModelRecord(id=mid.key, platform=mid.platform, **kw)


CATALOG = [
    rec("hf:google-bert/bert-base-uncased", task="fill-mask", parameters=110_106_428, parameters_source="api",
        license="apache-2.0", library="transformers", framework="pytorch", downloads=72_376_843, likes=2065,
        tags=["bert", "exbert"], summary="BERT base model (uncased)", aliases=["hf:bert-base-uncased"]),
    rec("hf:distilbert/distilbert-base-uncased", task="fill-mask", parameters=66_985_530, parameters_source="api",
        license="apache-2.0", library="transformers", downloads=10_000_000, tags=["distilbert"]),
    rec("hf:meta-llama/Llama-2-7b-hf", task="text-generation", parameters=6_738_415_616, license="llama2",
        library="transformers", downloads=900_000, tags=["llama"]),
    rec("hf:facebook/some-nc-model", task="image-classification", parameters=5_000_000, license="cc-by-nc-4.0",
        downloads=10, tags=["vit"]),
    rec("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5", task="image-classification",
        format="saved_model_2", fine_tunable=True, architecture="mobilenet-v2", framework="tensorflow",
        summary="Imagenet classification with MobileNet V2"),
    rec("torchhub:pytorch/vision/resnet50", task="image-classification", parameters=25_557_032,
        parameters_source="catalog", framework="pytorch", library="torchvision", license=None),
    rec("hf:timm/resnet50.a1_in1k", task="image-classification", parameters=25_557_032, license="apache-2.0",
        library="timm", framework="pytorch", downloads=1_000),
]


def test_upsert_get_and_aliases(store):
    assert store.upsert(CATALOG) == len(CATALOG)
    r = store.get("hf:bert-base-uncased")  # via alias
    assert r.id == "hf:google-bert/bert-base-uncased"
    assert r.parameters == 110_106_428 and r.license == "apache-2.0"
    assert r.tags == ("bert", "exbert") and r.aliases == ("hf:bert-base-uncased",)
    assert store.get("https://huggingface.co/google-bert/bert-base-uncased").id == r.id
    assert store.get("google-bert/bert-base-uncased@main").id == r.id  # revision is not part of the key
    assert store.get("hf:nobody/nothing") is None
    assert r.first_seen.tzinfo is not None


def test_upsert_is_idempotent_and_merges(store):
    store.upsert(CATALOG)
    first = store.get("hf:google-bert/bert-base-uncased")
    store.upsert(CATALOG)
    assert store.count() == len(CATALOG)
    # a thinner record never erases known facts; newer non-null values win
    store.upsert([rec("hf:google-bert/bert-base-uncased", downloads=80_000_000)])
    r = store.get("hf:google-bert/bert-base-uncased")
    assert r.downloads == 80_000_000
    assert (r.parameters, r.parameters_source, r.license, r.tags) == (110_106_428, "api", "apache-2.0", ("bert", "exbert"))
    assert r.first_seen == first.first_seen
    assert store.search(q="uncased BERT base model")[0].id == r.id  # summary words still found
    # a new parameter count replaces count *and* its source together
    store.upsert([rec("hf:google-bert/bert-base-uncased", parameters=1, parameters_source="safetensors-header")])
    r = store.get("hf:google-bert/bert-base-uncased")
    assert (r.parameters, r.parameters_source) == (1, "safetensors-header")


def test_duplicates_inside_one_batch(store):
    store.upsert([rec("hf:a/b", downloads=1), rec("hf:a/b", downloads=2)])
    assert store.count() == 1 and store.get("hf:a/b").downloads == 2


def test_search_full_text_and_filters(store):
    store.upsert(CATALOG)
    ids = lambda **kw: [r.id for r in store.search(**kw)]  # noqa: E731
    # words are token prefixes: "bert" finds bert-base-uncased, not distilbert (a different token)
    assert ids(q="bert") == ["hf:google-bert/bert-base-uncased"]
    assert ids(q="distil") == ["hf:distilbert/distilbert-base-uncased"]
    assert set(ids(q="base uncased")) == {"hf:google-bert/bert-base-uncased", "hf:distilbert/distilbert-base-uncased"}
    assert ids(q="mobilenet") == ["tfhub:google/imagenet/mobilenet_v2_100_224/classification/5"]
    assert ids(q="resnet", platform="torchhub") == ["torchhub:pytorch/vision/resnet50"]
    assert set(ids(q="resnet")) == {"torchhub:pytorch/vision/resnet50", "hf:timm/resnet50.a1_in1k"}
    assert ids(task="image-classification", license="permissive") == ["hf:timm/resnet50.a1_in1k"]
    assert "hf:meta-llama/Llama-2-7b-hf" not in ids(license="commercial-ok", limit=100)
    assert ids(license="non-commercial") == ["hf:facebook/some-nc-model"]
    assert ids(license="restricted") == ["hf:meta-llama/Llama-2-7b-hf"]
    assert set(ids(license="none", limit=100)) == {"tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
                                                  "torchhub:pytorch/vision/resnet50"}
    assert ids(license="Apache 2.0", framework="timm") == ["hf:timm/resnet50.a1_in1k"]
    # equal counts are ordered by id
    assert ids(max_parameters=30_000_000, min_parameters=6_000_000, sort="parameters") == [
        "hf:timm/resnet50.a1_in1k", "torchhub:pytorch/vision/resnet50"]
    assert ids(fine_tunable=True) == ["tfhub:google/imagenet/mobilenet_v2_100_224/classification/5"]
    assert ids(platform="hf", sort="downloads", limit=2) == ["hf:google-bert/bert-base-uncased",
                                                           "hf:distilbert/distilbert-base-uncased"]
    assert ids(platform="hf", sort="downloads", limit=2, offset=1)[0] == "hf:distilbert/distilbert-base-uncased"
    assert store.count(q="bert") == 1 and store.count(q="uncased") == 2
    assert store.count(SearchQuery(platform="huggingface")) == 5
    assert ids(q="zzzznothing") == []


def test_search_rejects_bad_queries(store):
    with pytest.raises(UsageError):
        store.search(sort="popularity")
    with pytest.raises(UsageError):
        store.search(q="!!!")
    with pytest.raises(UsageError):
        store.search(min_parameters=10, max_parameters=1)
    with pytest.raises(UsageError):
        store.search(platform="modelzoo")


def test_fts_follows_updates_and_deletes(store):
    store.upsert([rec("hf:a/one", summary="alpha")])
    assert [r.id for r in store.search(q="alpha")] == ["hf:a/one"]
    store.upsert([rec("hf:a/one", summary="beta")])
    assert store.search(q="alpha") == [] and [r.id for r in store.search(q="beta")] == ["hf:a/one"]
    assert store.delete("hf:a/one") and store.search(q="beta") == [] and store.get("hf:a/one") is None
    assert not store.delete("hf:a/one")


def test_cache_state_and_touch(store):
    store.upsert(CATALOG)
    store.set_cache_state("hf:bert-base-uncased", cached=True, cache_path="/c/x", cache_size_bytes=123)
    store.touch("hf:google-bert/bert-base-uncased")
    r = store.get("hf:google-bert/bert-base-uncased")
    assert (r.cached, r.cache_path, r.cache_size_bytes) == (True, "/c/x", 123)
    assert r.last_used and r.last_used <= dt.datetime.now(dt.timezone.utc)
    store.upsert(CATALOG)  # a re-sync keeps cache state
    assert store.get("hf:google-bert/bert-base-uncased").cached
    assert [x.id for x in store.search(cached=True)] == ["hf:google-bert/bert-base-uncased"]
    with pytest.raises(NotInRegistryError):
        store.touch("hf:nobody/nothing")
    stats = {s["platform"]: s for s in store.stats()}
    assert stats["huggingface"]["models"] == 5 and stats["huggingface"]["cached"] == 1
    assert stats["huggingface"]["cached_bytes"] == 123


def test_untouch_restores_last_used_unless_used_again(store):
    store.upsert(CATALOG)
    first = store.touch("hf:bert-base-uncased")  # through an alias: the canonical row is updated
    assert store.get("hf:google-bert/bert-base-uncased").last_used == first
    second = store.touch("hf:google-bert/bert-base-uncased", at=first + dt.timedelta(seconds=5))
    assert store.untouch("hf:google-bert/bert-base-uncased", at=second, previous=first)
    assert store.get("hf:google-bert/bert-base-uncased").last_used == first
    # another use recorded in between: that one stays
    third = store.touch("hf:google-bert/bert-base-uncased", at=first + dt.timedelta(seconds=9))
    assert not store.untouch("hf:google-bert/bert-base-uncased", at=second, previous=first)
    assert store.get("hf:google-bert/bert-base-uncased").last_used == third
    assert store.untouch("hf:google-bert/bert-base-uncased", at=third, previous=None)
    assert store.get("hf:google-bert/bert-base-uncased").last_used is None


def test_trust_and_sync_state(store):
    store.trust_add("Pytorch/Vision")
    store.trust_add("pytorch/vision")
    assert store.trusted() == ["pytorch/vision"]
    assert store.trust_remove("pytorch/vision") and store.trusted() == []
    assert store.sync_state("hf") is None
    store.save_sync_state("hf", cursor="next-page", pages=3, done=False)
    assert store.sync_state("hf") == {"cursor": "next-page", "pages": 3, "done": False}
    store.clear_sync_state("hf")
    assert store.sync_state("hf") is None


def test_bulk_upsert_in_batches(store):
    records = (rec(f"hf:owner{i % 7}/model-{i}", downloads=i, parameters=i * 1000) for i in range(2500))
    assert store.upsert(records, batch_size=300) == 2500
    assert store.count() == 2500
    assert sum(1 for _ in store.iter_all(batch_size=700)) == 2500
    assert store.search(sort="downloads", limit=1)[0].id == "hf:owner0/model-2499"


def test_iter_all_by_platform(store):
    store.upsert(CATALOG)
    assert [r.platform for r in store.iter_all(platform="tfhub")] == ["tfhub"]


def test_outdated_schema_names_the_upgrade_command(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_store(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num='0000'")
    engine.dispose()
    from ptmhub.registry import engine as eng

    eng.dispose_all()
    with pytest.raises(SchemaOutdatedError) as info:
        open_store(url)
    assert "ptmhub --db" in str(info.value) and "db upgrade" in str(info.value)


def test_foreign_database_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "foreign.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE models (x)")
    con.commit()
    con.close()
    with pytest.raises(SchemaOutdatedError):
        open_store(f"sqlite:///{path}")


def test_extra_merges_key_by_key(store):
    store.upsert([rec("hf:a/x", extra={"files": ["a.bin"], "base_model": "b"})])
    store.upsert([rec("hf:a/x", extra={"files": ["model.safetensors"], "private": False})])
    store.upsert([rec("hf:a/x")])
    assert dict(store.get("hf:a/x").extra) == {"files": ["model.safetensors"], "base_model": "b", "private": False}


def test_include_unknown_lets_models_of_unknown_size_through_a_size_filter(store):
    store.upsert([rec("hf:a/small", parameters=5_000_000), rec("hf:a/big", parameters=500_000_000),
                  rec("tfhub:a/unknown/1")])
    assert [r.id for r in store.search(max_parameters=30_000_000, sort="name")] == ["hf:a/small"]
    found = store.search(max_parameters=30_000_000, include_unknown=True, sort="name")
    assert [r.id for r in found] == ["hf:a/small", "tfhub:a/unknown/1"]
    assert store.count(min_parameters=1_000_000, max_parameters=30_000_000, include_unknown=True) == 2
    assert store.count(include_unknown=True) == 3  # no size filter: nothing to let through


def test_mark_cached_and_uncached(store):
    got = store.mark_cached(rec("hf:a/x", parameters=5, extra={"files": ["w"]}), cache_path="/c/x", cache_size_bytes=9)
    assert (got.cached, got.cache_path, got.cache_size_bytes, got.parameters) == (True, "/c/x", 9, 5)
    again = store.mark_cached(rec("hf:a/x"), cache_path="/c/y")  # the upsert's merge: known facts stay
    assert (again.cache_path, again.parameters, dict(again.extra)) == ("/c/y", 5, {"files": ["w"]})
    assert store.mark_uncached(["hf:a/x", "hf:not/there"]) == ["hf:a/x"]
    gone = store.get("hf:a/x")
    assert (gone.cached, gone.cache_path, gone.parameters) == (False, None, 5)
