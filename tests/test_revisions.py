"""Revisions, authoritative re-resolves and case-insensitive Hugging Face IDs, through
``ptmhub.resolve``/``show`` against the loopback Hub, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hf_server import Reply, hf_hub  # noqa: F401  (fixture)

from ptmhub import api
from ptmhub.errors import NotInRegistryError
from ptmhub.records import ModelRecord
from ptmhub.registry import open_store

SHA_OLD = hashlib.sha1(b"old").hexdigest()
SHA_NEW = hashlib.sha1(b"new").hexdigest()


def info(repo_id: str, sha: str, *, license: str | None = None, task: str = "fill-mask", total: int | None = None) -> dict:
    """A Hub API answer for a model (the fields huggingface_hub's ModelInfo reads)."""
    body = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "author": repo_id.split("/")[0], "sha": sha, "private": False, "gated": False, "disabled": False,
            "downloads": 7, "likes": 1, "pipeline_tag": task, "library_name": "transformers",
            "tags": ["transformers", "pytorch"] + ([f"license:{license}"] if license else []),
            "cardData": {"license": license} if license else {}, "siblings": [],
            "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z"}
    if total is not None:
        body["safetensors"] = {"parameters": {"F32": total}, "total": total}
    return body


def test_a_license_the_hub_dropped_is_cleared_on_re_resolve(hf_hub, db_url):
    hf_hub.add_repo("org/m", info=info("org/m", SHA_OLD, license="mit"))
    first = api.resolve("hf:org/m", store=db_url)
    assert (first.license, first.license_raw) == ("mit", "mit") and first.license_source
    hf_hub.add_repo("org/m", info=info("org/m", SHA_NEW, license=None))
    again = api.resolve("hf:org/m", store=db_url)
    # the hub's fresh answer is authoritative: the whole license group goes, not just the id
    assert (again.license, again.license_raw, again.license_source) == (None, None, None)
    assert "license:mit" not in again.tags and again.revision == SHA_NEW
    assert again.first_seen == first.first_seen  # the same row, updated
    # a partial source (a catalog page without the field) still never clears what is known
    st = open_store(db_url)
    st.upsert([ModelRecord(id="hf:org/m", platform="huggingface", name="m", license="apache-2.0",
                           license_raw="Apache 2.0", license_source="a catalog")])
    st.upsert([ModelRecord(id="hf:org/m", platform="huggingface", name="m", downloads=9)])
    assert st.get("hf:org/m").license == "apache-2.0"


def test_a_pinned_resolve_goes_to_the_history_not_the_current_record(hf_hub, db_url):
    hf_hub.add_repo("org/m", info=info("org/m", SHA_OLD, license="mit", task="fill-mask"))
    api.resolve("hf:org/m", store=db_url)
    hf_hub.add_repo("org/m", info=info("org/m", SHA_NEW, license="apache-2.0", task="text-classification"))
    current = api.resolve("hf:org/m", store=db_url)
    assert (current.revision, current.license) == (SHA_NEW, "apache-2.0")
    # the Hub answers for the old commit with what it was then
    hf_hub.script("GET", rf"/api/models/org/m/revision/{SHA_OLD}", Reply(body=info("org/m", SHA_OLD, license="mit")))
    pinned = api.resolve(f"hf:org/m@{SHA_OLD}", store=db_url)
    assert (pinned.revision, pinned.license, pinned.task) == (SHA_OLD, "mit", "fill-mask")
    st = open_store(db_url)
    after = st.get("hf:org/m")
    assert (after.revision, after.license, after.task) == (SHA_NEW, "apache-2.0", "text-classification")
    assert [r["revision"] for r in st.revisions("hf:org/m")][:2] == [SHA_OLD, SHA_NEW]
    # show answers from the history, offline, by the full commit or a prefix of it
    for rev in (SHA_OLD, SHA_OLD[:10]):
        old = api.show(f"hf:org/m@{rev}", store=db_url, offline=True)
        assert (old.revision, old.license, old.id) == (SHA_OLD, "mit", "hf:org/m")
    assert api.show(f"hf:org/m@{SHA_NEW[:8]}", store=db_url, offline=True).license == "apache-2.0"
    assert api.show("hf:org/m", store=db_url, offline=True).revision == SHA_NEW
    with pytest.raises(NotInRegistryError) as err:
        api.show(f"hf:org/m@{'f' * 40}", store=db_url, offline=True)
    assert "revision" in str(err.value) and "\n" not in str(err.value)


def test_hf_ids_differing_only_in_case_are_one_model(hf_hub, db_url):
    st = open_store(db_url)
    # a catalog once stored the repo with other casing; the Hub's canonical casing wins on resolve
    st.upsert([ModelRecord(id="hf:Org/Model", platform="huggingface", name="Model", owner="Org", downloads=3,
                           summary="from a catalog")])
    first_seen = st.get("hf:Org/Model").first_seen
    hf_hub.add_repo("org/model", info=info("org/model", SHA_NEW, license="mit"))
    hf_hub.rename("Org/Model", "org/model")  # the real Hub answers any casing with the canonical id
    record = api.resolve("hf:Org/Model", store=db_url)
    assert record.id == "hf:org/model" and record.first_seen == first_seen
    assert st.count() == 1
    for spelling in ("hf:ORG/MODEL", "hf:org/model", "hf:Org/Model", "https://huggingface.co/oRg/mOdEl"):
        got = st.get(spelling)
        assert got is not None and got.id == "hf:org/model" and got.license == "mit", spelling
        assert api.show(spelling, store=db_url, offline=True).id == "hf:org/model"
    # a later partial record in yet another casing lands on the same row, keeping the casing
    st.upsert([ModelRecord(id="hf:ORG/model", platform="huggingface", name="model", likes=5)])
    assert st.count() == 1 and st.get("hf:org/model").likes == 5
    st.set_cache_state("hf:ORG/MODEL", cached=True, cache_path="/x", cache_size_bytes=1)
    assert st.get("hf:org/model").cached
    assert st.revisions("hf:ORG/Model")[0]["revision"] == SHA_NEW


def test_a_count_beyond_64_bits_from_the_hub_is_stored_as_unknown(hf_hub, db_url):
    hf_hub.add_repo("org/huge", info=info("org/huge", SHA_NEW, total=2**70))
    record = api.resolve("hf:org/huge", store=db_url)
    assert record.parameters is None and "64-bit" in record.parameters_note
    assert record.extra["parameters_by_dtype"]["F32"] == 2**70  # JSON holds it exactly
    assert open_store(db_url).get_revision(f"hf:org/huge@{SHA_NEW}").parameters is None


def test_store_takes_a_file_path(tmp_path):
    path = tmp_path / "paths.db"
    st = api.get_store(path)  # os.PathLike, as --db takes it
    st.upsert([ModelRecord(id="hf:a/b", platform="huggingface", name="b", task="fill-mask")])
    assert [r.id for r in api.search(store=path)] == ["hf:a/b"]
    assert [r.id for r in api.search(task="fill-mask", store=str(path))] == ["hf:a/b"]
    assert api.show("hf:a/b", store=str(path), offline=True).id == "hf:a/b"
    assert json.loads(json.dumps(api.show("hf:a/b", store=path, offline=True).to_dict()))["id"] == "hf:a/b"
