"""The Hugging Face backend against the loopback Hub in mirror mode: answering as a mirror serving git
repos does (olah: no pipeline_tag/library_name/safetensors/config in model info, no /api/models,
401 for unknown repos), plus what any endpoint can do wrong (a moved branch, a missing shard, a
weightless repo, a bad commit hash, 5xx and 404 files)."""

from __future__ import annotations

import json

import pytest
import torch
from hf_server import FakeHub, Reply, hf_hub  # noqa: F401  (fixture)

from ptmhub import cache
from ptmhub.errors import (
    HubServerError,
    IntegrityError,
    InvalidIdError,
    MalformedResponseError,
    ModelNotFoundError,
    NetworkError,
    PtmhubError,
)
from ptmhub.hubs.huggingface import HuggingFaceBackend
from ptmhub.ids import parse

CARD = "---\npipeline_tag: fill-mask\nlicense: apache-2.0\nlanguage: en\n---\n# tiny bert\n"
SHA_B = "b" * 40


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A real tiny BertForMaskedLM (tied decoder/embeddings) saved by transformers, with a card."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    d = tmp_path_factory.mktemp("mirror-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "is", "the", "of", "france"]
    (d / "vocab.txt").write_text("\n".join(vocab))
    out = d / "repo"
    BertTokenizer(vocab_file=str(d / "vocab.txt")).save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
                        vocab_size=len(vocab), max_position_embeddings=32)
    model = BertForMaskedLM(config)
    model.save_pretrained(out)
    (out / "README.md").write_text(CARD)
    return out, sum(p.numel() for p in model.parameters())


@pytest.fixture
def mirror(hf_hub):
    hf_hub.mirror = True
    return hf_hub


def _host(hub: FakeHub, folder, repo_id="test/tiny-bert", **kwargs):
    return hub.add_repo(repo_id, files={p.name: p for p in folder.iterdir()}, **kwargs)


def test_mirror_resolve_takes_task_and_architecture_from_card_and_config(mirror, tiny_bert):
    folder, n_params = tiny_bert
    _host(mirror, folder)
    record = HuggingFaceBackend().resolve(parse("hf:test/tiny-bert"))
    assert record.task == "fill-mask" and record.license == "apache-2.0"  # cardData
    assert record.library == "transformers" and record.framework == "pytorch"  # config.json's model_type
    assert record.architecture == "bert" and record.extra["architectures"] == ["BertForMaskedLM"]
    assert record.parameters == n_params and record.parameters_source == "safetensors-header"
    assert record.source_url == f"{mirror.url}/test/tiny-bert"  # HF_ENDPOINT, not huggingface.co
    # config.json was read, not cached: a resolve leaves no config-only snapshot for 'cache scan' to flag
    from ptmhub.hubs.huggingface import _storage_folder

    assert mirror.requests_to(r"/resolve/[0-9a-f]{40}/config\.json")
    assert not _storage_folder("test/tiny-bert").exists()


def test_mirror_pull_load_and_scan_agree(mirror, tiny_bert, store):
    from ptmhub import api

    folder, n_params = tiny_bert
    repo = _host(mirror, folder)
    resolved = HuggingFaceBackend().resolve(parse("hf:test/tiny-bert"))
    result = api.pull("hf:test/tiny-bert", store=store)
    assert result.record.revision == repo.sha
    # the download asked for the commit the file list came from, never for 'main' again
    assert not mirror.requests_to(r"/(revision|tree|resolve)/main\b")
    loaded = api.load("hf:test/tiny-bert", store=store)
    assert type(loaded.model).__name__ == "BertForMaskedLM"  # config.json's class, not a bare BertModel
    assert sum(p.numel() for p in loaded.model.parameters()) == n_params
    cache.scan(store=store)
    scanned = store.get("hf:test/tiny-bert")
    for field in ("task", "library", "architecture", "parameters", "revision"):
        assert getattr(scanned, field) == getattr(resolved, field), field


def test_mirror_unknown_repo_is_not_found(mirror):
    with pytest.raises(ModelNotFoundError, match="not found"):
        HuggingFaceBackend().resolve(parse("hf:test/nothing-here"))


def test_load_without_revision_follows_refs_main_not_the_record(hf_hub, tiny_bert):
    from ptmhub.hubs.huggingface import _storage_folder

    folder, _ = tiny_bert
    backend = HuggingFaceBackend()
    first = _host(hf_hub, folder)
    a = backend.pull(parse("hf:test/tiny-bert"))
    _host(hf_hub, folder, sha=SHA_B)  # the repo gets a new commit; the user pins it
    b = backend.pull(parse(f"hf:test/tiny-bert@{SHA_B}"))
    assert (_storage_folder("test/tiny-bert") / "refs" / "main").read_text() == first.sha
    loaded = backend.load(parse("hf:test/tiny-bert"), b.record)  # a record carrying the pinned commit
    assert loaded.model.name_or_path == a.path
    assert backend.load(parse(f"hf:test/tiny-bert@{SHA_B}"), b.record).model.name_or_path == b.path


def test_index_naming_a_missing_shard_fails_and_is_not_cached(hf_hub, tiny_bert, store):
    from ptmhub import api
    from ptmhub.hubs.huggingface import _storage_folder

    folder, _ = tiny_bert
    index = {"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                           "b.weight": "model-00002-of-00002.safetensors"}}
    hf_hub.add_repo("test/sharded", files={"config.json": (folder / "config.json").read_bytes(),
                                           "model.safetensors.index.json": json.dumps(index),
                                           "model-00001-of-00002.safetensors": (folder / "model.safetensors")})
    with pytest.raises(IntegrityError, match="model-00002-of-00002.safetensors") as err:
        api.pull("hf:test/sharded", store=store)
    assert err.value.exit_code != 0 and "\n" not in str(err.value)
    assert store.get("hf:test/sharded") is None or not store.get("hf:test/sharded").cached
    assert not (_storage_folder("test/sharded") / "refs" / "main").exists()
    assert "hf:test/sharded" not in cache.scan(store=store).registered


def test_a_snapshot_with_only_config_json_is_not_cached(hf_hub, tiny_bert, store):
    from ptmhub import api

    folder, _ = tiny_bert
    hf_hub.add_repo("test/config-only", files={"config.json": (folder / "config.json").read_bytes()})
    with pytest.raises(ModelNotFoundError, match="no weight files"):
        api.pull("hf:test/config-only", store=store)
    report = cache.scan(store=store)
    assert "hf:test/config-only" not in report.registered
    assert any(p.model_id == "hf:test/config-only" and p.kind == "incomplete" for p in report.inventory.problems)


def test_a_missing_file_is_not_retried_and_a_failing_one_stays_in_budget(hf_hub, tiny_bert, monkeypatch):
    import huggingface_hub.utils._http as hf_http

    folder, _ = tiny_bert
    _host(hf_hub, folder)
    weights = r"/resolve/[0-9a-f]+/model\.safetensors"
    hf_hub.script("*", weights, Reply(404, {"X-Error-Code": "EntryNotFound"}))
    with pytest.raises(ModelNotFoundError):
        HuggingFaceBackend().pull(parse("hf:test/tiny-bert"))
    assert len(hf_hub.requests_to(weights)) == 1  # a 404 is an answer, not a failure

    slept: list[float] = []
    monkeypatch.setattr(hf_http.time, "sleep", slept.append)  # the far end's backoff, not waited out here
    hf_hub.reset_counters()
    hf_hub.script("*", weights, *[Reply(500)] * 100)
    with pytest.raises(HubServerError):
        HuggingFaceBackend().pull(parse("hf:test/tiny-bert"))
    # huggingface_hub's own backoff only (it was wrapped in ptmhub's: 35 requests, 119 s)
    assert len(hf_hub.requests_to(weights)) <= 7  # its 6 tries of the HEAD, and one more look
    # huggingface_hub's per-file backoff is fixed (1+2+4+8+8 s); PTMHUB_MAX_WAIT cannot shorten it
    assert sum(slept) <= 23


def test_error_codes_and_ids_the_library_refuses(hf_hub):
    backend = HuggingFaceBackend()
    with pytest.raises(InvalidIdError) as err:  # huggingface_hub's validate_repo_id refuses '--'
        backend.resolve(parse("hf:some--owner/model"))
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert not hf_hub.requests
    hf_hub.add_repo("test/x")
    hf_hub.script("GET", r"/api/models/test/x", Reply(404, {"X-Error-Code": "RouteNotFound"}, b"{}"))
    with pytest.raises(NetworkError, match="cannot answer this request") as err:
        backend.resolve(parse("hf:test/x"))
    assert not isinstance(err.value, ModelNotFoundError)


@pytest.mark.parametrize("sha", ["../../../../escape", "g" * 40, "A" * 40, 12])
def test_a_server_commit_hash_is_checked_before_use(hf_hub, tiny_bert, sha):
    from ptmhub.hubs.huggingface import _storage_folder

    folder, _ = tiny_bert
    repo = _host(hf_hub, folder)
    repo.info["sha"] = sha
    backend = HuggingFaceBackend()
    with pytest.raises(MalformedResponseError, match="commit hash"):
        backend.resolve(parse("hf:test/tiny-bert"))
    with pytest.raises(PtmhubError):
        backend.pull(parse("hf:test/tiny-bert"))
    assert not _storage_folder("test/tiny-bert").exists()


def test_a_mirror_without_the_listing_api_cannot_list_models(mirror, sqlite_store):
    from ptmhub.errors import AuthError
    from ptmhub.hubs.huggingface import sync

    with pytest.raises(NetworkError, match="cannot list models") as err:
        sync(sqlite_store, limit=5)
    assert not isinstance(err.value, (AuthError, ModelNotFoundError))  # not "log in", not "no such model"
    assert "sync hf" in err.value.hint and "\n" not in str(err.value)
    # what an olah-like mirror answers to a route it lacks, with its own error code
    mirror.script("GET", r"/api/models\?", Reply(401, {"X-Error-Code": "RouteNotFound"}, b"{}"))
    with pytest.raises(NetworkError, match=r"cannot list models \(HTTP 401, X-Error-Code RouteNotFound\)"):
        sync(sqlite_store, limit=5)
    assert sqlite_store.count() == 0


def test_a_refused_token_on_the_listing_is_an_auth_error(hf_hub, sqlite_store, monkeypatch):
    from ptmhub import settings
    from ptmhub.errors import AuthError
    from ptmhub.hubs.huggingface import sync

    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    settings.reload()
    hf_hub.script("GET", r"/api/models\?", Reply(401, {"X-Error-Message": "Invalid credentials in Authorization header"},
                                                 b"{}"))
    with pytest.raises(AuthError, match="refused your token"):
        sync(sqlite_store, limit=5)
