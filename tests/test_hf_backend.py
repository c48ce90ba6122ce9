"""The Hugging Face backend against a loopback Hub serving recorded real responses and tiny real repos."""

from __future__ import annotations

import copy
import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
from hf_server import FakeHub, Reply, hf_hub  # noqa: F401  (fixture)
from safetensors.torch import save

from ptmhub import settings
from ptmhub.errors import (
    AuthError,
    GatedModelError,
    HubServerError,
    MalformedResponseError,
    ModelNotFoundError,
    NetworkError,
    NotCachedError,
    OfflineError,
    PtmhubError,
    RateLimitedError,
    UsageError,
)
from ptmhub.catalogs import sync_source
from ptmhub.hubs.base import backend_for
from ptmhub.hubs.huggingface import HuggingFaceBackend, record_from_info, select_pull_files, sync
from ptmhub.ids import parse

BERT = ("fixtures", "hf", "model_info__google-bert--bert-base-uncased.json")
SD21 = ("fixtures", "hf", "model_info__stabilityai--stable-diffusion-2-1.json")
LIST_PAGE = ("fixtures", "hf", "list_models_page__burncloud_TODO_2items.json")


@pytest.fixture
def backend():
    return HuggingFaceBackend()


@pytest.fixture
def bert_hub(hf_hub, shared):
    hf_hub.add_recorded(shared(*BERT))
    hf_hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    return hf_hub


def _env(monkeypatch, **values):
    for k, v in values.items():
        monkeypatch.setenv(k, str(v))
    settings.reload()


def _one_line(err: PtmhubError) -> str:
    text = str(err)
    assert "\n" not in text and err.hint, text
    return text


# -- resolve --------------------------------------------------------------------------------------------
def test_backend_is_registered():
    assert isinstance(backend_for("huggingface"), HuggingFaceBackend)
    assert sync_source("hf") is sync


def test_legacy_bert_resolves_to_its_canonical_id(bert_hub, backend, store):
    record = backend.resolve(parse("hf:bert-base-uncased"))
    assert record.id == "hf:google-bert/bert-base-uncased"
    assert record.aliases == ("hf:bert-base-uncased",)
    assert record.task == "fill-mask"
    assert record.license == "apache-2.0" and record.license_raw == "apache-2.0"
    assert record.parameters == 110_106_428 and record.parameters_source == "api"
    assert "per-dtype sum" in record.parameters_note
    assert record.library == "transformers" and record.framework == "pytorch" and record.format == "safetensors"
    assert record.revision == "86b5e0934494bd15c9632b12f734a8a67f723594"
    assert record.owner == "google-bert" and record.name == "bert-base-uncased"
    assert record.datasets == ("bookcorpus", "wikipedia") and record.languages == ("en",)
    assert record.downloads == 72_376_843 and record.likes == 2065 and record.gated is False
    assert record.last_modified.year == 2024 and record.architecture == "bert"
    assert record.extra["auto_model"] == "AutoModelForMaskedLM"
    assert record.extra["files_count"] == 16 and {"name": "model.safetensors", "size": None} in record.extra["files"]
    # the 307 was followed by huggingface_hub, not by a second call of ours
    assert [r[1] for r in bert_hub.requests_to("/api/models/")] == [
        "/api/models/bert-base-uncased", "/api/models/google-bert/bert-base-uncased"]
    assert not bert_hub.requests_to("/resolve/"), "the API count needs no header reads"

    store.upsert([record])
    for key in ("hf:bert-base-uncased", "hf:google-bert/bert-base-uncased", "bert-base-uncased"):
        found = store.get(key)
        assert found is not None and found.id == "hf:google-bert/bert-base-uncased"
        assert found.parameters == 110_106_428
    assert store.count() == 1


def test_resolve_with_a_revision_and_a_url(bert_hub, backend):
    record = backend.resolve(parse("hf:google-bert/bert-base-uncased@main"))
    assert record.revision == "86b5e0934494bd15c9632b12f734a8a67f723594"
    assert record.extra["requested_revision"] == "main"
    assert bert_hub.requests_to("/api/models/google-bert/bert-base-uncased/revision/main")
    url = "https://huggingface.co/google-bert/bert-base-uncased"
    assert backend.resolve(parse(url)).id == "hf:google-bert/bert-base-uncased"
    with pytest.raises(ModelNotFoundError, match="no such revision") as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased@nope"))
    _one_line(err.value)


def _sd_components():
    parts = {
        "unet/diffusion_pytorch_model.safetensors": {"conv_in.weight": torch.zeros(8, 4, 3, 3),
                                                     "conv_in.bias": torch.zeros(8)},
        "text_encoder/model.safetensors": {"embeddings.weight": torch.zeros(50, 16, dtype=torch.float16)},
        "vae/diffusion_pytorch_model.safetensors": {"decoder.weight": torch.zeros(4, 4)},
    }
    return {k: save(v) for k, v in parts.items()}, sum(t.numel() for v in parts.values() for t in v.values())


def test_stable_diffusion_counts_from_component_headers(hf_hub, shared, backend):
    repo = hf_hub.add_recorded(shared(*SD21))
    files, expected = _sd_components()
    for name, data in files.items():
        repo.add_file(name, data)
    record = backend.resolve(parse("hf:stabilityai/stable-diffusion-2-1"))
    assert record.parameters == expected and record.parameters_source == "safetensors-header"
    assert "pipeline components text_encoder, unet, vae" in record.parameters_note
    assert "HTTP Range" in record.parameters_note
    assert record.task == "text-to-image" and record.library == "diffusers"
    assert record.license == "openrail++" and record.framework == "pytorch"
    assert record.extra["parameters_by_dtype"] == {"F32": expected - 800, "F16": 800}
    # only the three component files were touched, each with one small Range read
    touched = {r[1] for r in hf_hub.requests_to("/resolve/")}
    assert touched == {f"/stabilityai/stable-diffusion-2-1/resolve/{repo.sha}/{n}" for n in files}
    assert all(r[3].get("Range", "").startswith("bytes=0-") for r in hf_hub.requests_to("/resolve/"))


def test_stable_diffusion_without_readable_headers_gets_none_and_the_reason(hf_hub, shared, backend):
    hf_hub.add_recorded(shared(*SD21))  # the files themselves are not served: 404
    record = backend.resolve(parse("hf:stabilityai/stable-diffusion-2-1"))
    assert record.parameters is None and record.parameters_source is None
    note = record.parameters_note
    assert "publishes no safetensors parameter count" in note
    assert "is not on the hub at this revision (404)" in note
    assert "no config.json" in note


def test_api_total_that_disagrees_with_its_dtypes_is_not_trusted(hf_hub, backend):
    data = save({"w": torch.zeros(6, 7)})
    repo = hf_hub.add_repo("test/wrong-total", files={"model.safetensors": data})
    repo.info.update(safetensors={"parameters": {"F32": 42}, "total": 4_200_000_000}, library_name="transformers")
    record = backend.resolve(parse("hf:test/wrong-total"))
    assert record.parameters == 42 and record.parameters_source == "safetensors-header"
    assert "disagrees with its per-dtype sum" not in record.parameters_note  # the count that was used is described
    assert record.extra["parameters_by_dtype"] == {"F32": 42}
    assert record.size_bytes == len(data)


def test_sharded_repo_counts_through_its_index(hf_hub, backend):
    weight_map, files, total = {}, {}, 0
    for i in range(2):
        tensors = {f"l{i}.w": torch.zeros(5, 3 + i)}
        files[f"model-0000{i + 1}-of-00002.safetensors"] = save(tensors)
        weight_map[f"l{i}.w"] = f"model-0000{i + 1}-of-00002.safetensors"
        total += sum(t.numel() for t in tensors.values())
    files["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map})
    hf_hub.add_repo("test/sharded", files=files)
    record = backend.resolve(parse("hf:test/sharded"))
    assert record.parameters == total and "shards in model.safetensors.index.json" in record.parameters_note


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A real tiny BERT checkpoint (safetensors + tokenizer), saved by transformers."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    d = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "paris", "is", "the", "of", "france"]
    (d / "vocab.txt").write_text("\n".join(vocab))
    out = d / "repo"
    BertTokenizer(vocab_file=str(d / "vocab.txt")).save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                        vocab_size=len(vocab), max_position_embeddings=64)
    model = BertForMaskedLM(config)
    model.save_pretrained(out)
    return out, sum(p.numel() for p in model.parameters())


def _host_tiny_bert(hub: FakeHub, tiny_bert, repo_id="test/tiny-bert", **kwargs):
    folder, _ = tiny_bert
    files = {p.name: p for p in folder.iterdir()}
    # alternatives a pull must skip: pickle weights beside the safetensors, and TF weights
    files["pytorch_model.bin"] = b"\x80\x04pickle" * 1000
    files["tf_model.h5"] = b"HDF" * 1000
    repo = hub.add_repo(repo_id, files=files, **kwargs)
    repo.info.update(library_name="transformers", pipeline_tag="fill-mask", tags=["transformers", "safetensors"],
                     transformersInfo={"auto_model": "AutoModelForMaskedLM", "pipeline_tag": "fill-mask",
                                       "processor": "AutoTokenizer"},
                     config={"architectures": ["BertForMaskedLM"], "model_type": "bert"})
    return repo


@pytest.mark.slow
def test_config_json_on_the_meta_device_when_there_are_no_safetensors(hf_hub, backend, tiny_bert):
    folder, expected = tiny_bert
    repo = hf_hub.add_repo("test/bin-only", files={"config.json": (folder / "config.json").read_bytes(),
                                                    "pytorch_model.bin": b"never downloaded" * 100})
    repo.info.update(library_name="transformers")
    record = backend.resolve(parse("hf:test/bin-only"))
    assert record.parameters == expected and record.parameters_source == "config"
    assert "BertForMaskedLM" in record.parameters_note and "meta device" in record.parameters_note
    assert hf_hub.bytes_sent["/test/bin-only/resolve/" + repo.sha + "/pytorch_model.bin"] == 0


def test_custom_code_is_never_run_to_count(hf_hub, backend):
    repo = hf_hub.add_repo("test/custom", files={"config.json": json.dumps({"model_type": "x", "auto_map": {}}),
                                                  "pytorch_model.bin": b"x"})
    repo.info.update(library_name="transformers", tags=["custom_code"])
    record = backend.resolve(parse("hf:test/custom"))
    assert record.parameters is None and "custom code" in record.parameters_note


# -- mapping ----------------------------------------------------------------------------------------------
def test_list_page_items_map_to_records(shared):
    items = json.loads(shared(*LIST_PAGE).read_text())
    records = [record_from_info(i) for i in items]  # the JSON body itself is accepted too
    kimi, minimax = records
    assert kimi.id == "hf:moonshotai/Kimi-K2-Thinking" and kimi.task == "text-generation"
    assert kimi.license == "other" and kimi.license_source.endswith("license:*")
    assert minimax.license == "mit" and minimax.downloads == 846_249 and minimax.likes == 1178
    assert kimi.parameters is None and kimi.extra.get("custom_code") is True


def test_card_metadata_mapping():
    from huggingface_hub.hf_api import ModelInfo

    info = ModelInfo(id="me/llama-ft", sha="a" * 40, gated="manual", downloads=5, likes=1, siblings=None,
                     tags=["base_model:finetune:meta/llama", "license:other"],
                     cardData={"license": "other", "license_name": "llama3", "license_link": "LICENSE",
                               "language": ["en", "fr"], "datasets": "d1"},
                     safetensors={"parameters": {"BF16": 10, "F32": 5}, "total": 15})
    record = record_from_info(info)
    assert record.license == "llama3" and record.license_raw == "other (llama3, LICENSE)"
    assert record.gated is True and record.extra["gated_mode"] == "manual"
    assert record.extra["base_model"] == ["meta/llama"] and record.extra["base_model_relation"] == "finetune"
    assert record.languages == ("en", "fr") and record.datasets == ("d1",)
    assert record.parameters == 15 and record.extra["parameters_by_dtype"] == {"BF16": 10, "F32": 5}


def test_pull_selection_prefers_safetensors(shared):
    body = json.loads(shared(*SD21).read_text())
    wanted, skipped = select_pull_files(s["rfilename"] for s in body["siblings"])
    assert "unet/diffusion_pytorch_model.safetensors" in wanted
    assert not [n for n in wanted if n.endswith((".bin", ".ckpt")) or ".fp16." in n]
    assert "v2-1_768-ema-pruned.safetensors" in skipped
    body = json.loads(shared(*BERT).read_text())
    wanted, _ = select_pull_files(s["rfilename"] for s in body["siblings"])
    assert wanted == [".gitattributes", "LICENSE", "README.md", "config.json", "model.safetensors",
                      "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert select_pull_files(["pytorch_model.bin", "config.json"])[0] == ["config.json", "pytorch_model.bin"]
    sharded = ["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
               "model.fp16-00001-of-00002.safetensors", "model.safetensors.index.fp16.json",
               "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "config.json"]
    assert select_pull_files(sharded)[0] == ["config.json", "model-00001-of-00002.safetensors",
                                             "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    assert select_pull_files(["model.fp16.safetensors", "config.json"])[0] == ["config.json", "model.fp16.safetensors"]


# -- errors -----------------------------------------------------------------------------------------------
def test_not_found_private_and_bad_token(hf_hub, backend, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="or it is private") as err:  # the Hub's 401 to anonymous callers
        backend.resolve(parse("hf:nobody/nothing"))
    assert "ptmhub search nothing" in _one_line(err.value)
    hf_hub.add_repo("me/secret", private=True, files={"model.safetensors": save({"w": torch.zeros(2)})})
    with pytest.raises(ModelNotFoundError):
        backend.resolve(parse("hf:me/secret"))
    _env(monkeypatch, HF_TOKEN=hf_hub.token)
    assert backend.resolve(parse("hf:me/secret")).parameters == 2
    assert all(r[3].get("Authorization") == f"Bearer {hf_hub.token}" for r in hf_hub.requests[-2:])
    with pytest.raises(ModelNotFoundError, match=r"was not found on the hub \(404\)") as err:
        backend.resolve(parse("hf:nobody/nothing"))
    _one_line(err.value)
    _env(monkeypatch, HF_TOKEN="hf_wrongwrongwrongwrong")
    with pytest.raises(AuthError, match="refused your token") as err:
        backend.resolve(parse("hf:me/secret"))
    assert "hf_wrong" not in _one_line(err.value)


def test_gated_repo_401_403_and_granted(hf_hub, backend, tiny_bert, monkeypatch):
    _host_tiny_bert(hf_hub, tiny_bert, "org/gated", gated="manual")
    record = backend.resolve(parse("hf:org/gated"))  # metadata is public on the Hub
    assert record.gated is True and record.parameters is None
    assert "gated" in record.parameters_note
    with pytest.raises(GatedModelError, match=r"log in \(401\)") as err:
        backend.pull(parse("hf:org/gated"))
    assert "accept the terms" in _one_line(err.value)
    _env(monkeypatch, HF_TOKEN=hf_hub.token)
    with pytest.raises(GatedModelError, match=r"not been granted access \(403\)") as err:
        backend.pull(parse("hf:org/gated"))
    _one_line(err.value)
    hf_hub.granted.add("org/gated")
    assert backend.resolve(parse("hf:org/gated")).parameters == tiny_bert[1]


def test_429_with_retry_after_is_retried(bert_hub, backend):
    path = "/api/models/google-bert/bert-base-uncased"
    bert_hub.script("GET", path, Reply(429, {"Retry-After": "0"}), Reply(429, {"RateLimit": '"api";r=0;t=0'}))
    assert backend.resolve(parse("hf:google-bert/bert-base-uncased")).parameters == 110_106_428
    assert len(bert_hub.requests_to(path)) == 3


def test_429_asking_for_longer_than_the_budget_fails_at_once(bert_hub, backend):
    path = "/api/models/google-bert/bert-base-uncased"
    headers = {"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    bert_hub.script("GET", path, *[Reply(429, headers)] * 10)
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="asks to wait 55 s") as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    assert time.monotonic() - started < 2
    assert len(bert_hub.requests_to(path)) == 1
    assert "HF_TOKEN" in _one_line(err.value)


def test_429_without_headers_backs_off_within_the_budget(bert_hub, backend, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_RETRIES=3, PTMHUB_MAX_WAIT=2)
    path = "/api/models/google-bert/bert-base-uncased"
    bert_hub.script("GET", path, *[Reply(429)] * 10)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    assert time.monotonic() - started < 4
    assert 2 <= len(bert_hub.requests_to(path)) <= 4
    _one_line(err.value)


def test_500_is_retried_then_reported(bert_hub, backend, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_RETRIES=2)
    path = "/api/models/google-bert/bert-base-uncased"
    bert_hub.script("GET", path, Reply(500, body="oops"), Reply(503))
    assert backend.resolve(parse("hf:google-bert/bert-base-uncased")).task == "fill-mask"
    bert_hub.script("GET", path, *[Reply(500)] * 5)
    with pytest.raises(HubServerError, match="HTTP 500 after retries") as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    _one_line(err.value)
    assert len(bert_hub.requests_to(path)) == 3 + 3  # 500, 503, 200; then three 500s


def test_timeouts_are_bounded(bert_hub, backend, monkeypatch):
    _env(monkeypatch, PTMHUB_HTTP_TIMEOUT=0.3, PTMHUB_MAX_RETRIES=1)
    path = "/api/models/google-bert/bert-base-uncased"
    bert_hub.script("GET", path, *[Reply(200, body="{}", delay=1.5)] * 2)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="timed out") as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    assert time.monotonic() - started < 3
    _one_line(err.value)


@pytest.mark.parametrize("body", ['{"id": "google-bert/bert-base-uncased", "sha": ', "[1, 2, 3]", '{"no": "id"}'])
def test_malformed_answers(bert_hub, backend, body):
    bert_hub.script("GET", "/api/models/google-bert/bert-base-uncased", Reply(200, body=body))
    with pytest.raises(MalformedResponseError) as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    _one_line(err.value)


def test_unreachable_endpoint(monkeypatch, backend):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _env(monkeypatch, HF_ENDPOINT=f"http://127.0.0.1:{port}", PTMHUB_MAX_RETRIES=1)
    with pytest.raises(NetworkError, match="could not reach") as err:
        backend.resolve(parse("hf:google-bert/bert-base-uncased"))
    _one_line(err.value)


# -- pull, load, offline ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_pull_into_the_hf_cache_and_load_with_transformers(hf_hub, backend, tiny_bert, monkeypatch):
    folder, n_params = tiny_bert
    repo = _host_tiny_bert(hf_hub, tiny_bert)
    got: list[int] = []
    result = backend.pull(parse("hf:test/tiny-bert"), progress=got.append)

    cache = settings.get().hf_hub_cache
    assert cache == Path(os.environ["HF_HOME"]) / "hub"  # the standard cache under HF_HOME
    assert result.path == str(cache / "models--test--tiny-bert" / "snapshots" / repo.sha)
    assert (cache / "models--test--tiny-bert" / "refs" / "main").read_text() == repo.sha
    assert sorted(result.files) == sorted(p.name for p in folder.iterdir())
    assert "pytorch_model.bin" not in result.files and "tf_model.h5" not in result.files
    assert hf_hub.bytes_sent[f"/test/tiny-bert/resolve/{repo.sha}/pytorch_model.bin"] == 0
    assert hf_hub.bytes_sent[f"/test/tiny-bert/resolve/{repo.sha}/tf_model.h5"] == 0
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert result.bytes_downloaded == size and sum(got) == size
    # the weights were sent once, whole: no header Range reads before a download
    weights = f"/test/tiny-bert/resolve/{repo.sha}/model.safetensors"
    assert hf_hub.bytes_sent[weights] == (folder / "model.safetensors").stat().st_size
    assert "local HF cache" in result.record.parameters_note
    record = result.record
    assert record.revision == repo.sha and record.cached and record.cache_path == result.path
    assert record.cache_size_bytes == size and record.parameters == n_params

    # again: nothing new is downloaded, and resolve counts from the cached headers
    hf_hub.reset_counters()
    again = backend.pull(parse("hf:test/tiny-bert"))
    assert again.bytes_downloaded == 0 and again.path == result.path
    assert not [p for p, n in hf_hub.bytes_sent.items() if p.endswith(".safetensors") and n]
    resolved = backend.resolve(parse("hf:test/tiny-bert"))
    assert resolved.parameters == n_params and "local HF cache" in resolved.parameters_note

    # load from the cache only: the server may be gone
    hf_hub.stop()
    loaded = backend.load(parse("hf:test/tiny-bert"), record)
    assert type(loaded.model).__name__ == "BertForMaskedLM"
    assert sum(p.numel() for p in loaded.model.parameters()) == n_params
    batch = loaded.preprocess("paris is the [MASK] of france", return_tensors="pt")
    logits = loaded.model(**batch).logits
    assert logits.shape[-1] == 12


def test_load_needs_a_pull_first(hf_hub, backend):
    with pytest.raises(NotCachedError, match="not in the Hugging Face cache") as err:
        backend.load(parse("hf:test/never-pulled"))
    assert "ptmhub pull hf:test/never-pulled" in _one_line(err.value)


@pytest.fixture
def no_sockets(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"offline code opened a socket to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def test_offline_never_opens_a_socket(bert_hub, backend, store, monkeypatch, no_sockets):
    _env(monkeypatch, PTMHUB_OFFLINE=1)
    with pytest.raises(NotCachedError, match="neither in the registry nor in the HF cache") as err:
        backend.resolve(parse("hf:bert-base-uncased"))
    assert "ptmhub pull hf:bert-base-uncased" in _one_line(err.value)
    with pytest.raises(NotCachedError):
        backend.pull(parse("hf:google-bert/bert-base-uncased"))
    with pytest.raises(OfflineError) as err:
        sync(store)
    _one_line(err.value)
    assert bert_hub.requests == []


@pytest.mark.slow
def test_offline_answers_from_the_cache(hf_hub, backend, tiny_bert, monkeypatch, request):
    repo = _host_tiny_bert(hf_hub, tiny_bert)
    backend.pull(parse("hf:test/tiny-bert"))
    hf_hub.reset_counters()
    _env(monkeypatch, PTMHUB_OFFLINE=1)
    request.getfixturevalue("no_sockets")
    record = backend.resolve(parse("hf:test/tiny-bert"))
    assert record.revision == repo.sha and record.cached and record.library == "transformers"
    assert record.parameters == tiny_bert[1] and "offline" in record.parameters_note
    assert backend.pull(parse("hf:test/tiny-bert")).path == record.cache_path
    assert hf_hub.requests == []


# -- sync ------------------------------------------------------------------------------------------------------
def _listing(shared, n_extra: int) -> list[dict]:
    """The two recorded list items, plus items of the same shape with every expand field."""
    items = json.loads(shared(*LIST_PAGE).read_text())
    base = copy.deepcopy(items[1])
    for i in range(n_extra):
        item = copy.deepcopy(base)
        item.update(id=f"org{i % 3}/model-{i:03d}", modelId=f"org{i % 3}/model-{i:03d}", _id=f"{i:024x}",
                    downloads=1000 - i, likes=i, author=f"org{i % 3}", sha=f"{i:040x}",
                    lastModified="2025-01-01T00:00:00.000Z", gated=False,
                    cardData={"license": "mit", "language": ["en"]},
                    safetensors={"parameters": {"BF16": 1000 + i}, "total": 1000 + i},
                    pipeline_tag="text-classification" if i % 2 else "text-generation")
        items.append(item)
    return items


def test_sync_pages_through_the_list(hf_hub, shared, store):
    hf_hub.listing = _listing(shared, 23)
    seen: list[int] = []
    report = sync(store, page_size=10, progress=seen.append)
    assert report.records == 25 and report.counts["pages"] == 3 and seen == [10, 10, 5]
    assert store.count(platform="huggingface") == 25
    minimax = store.get("hf:MiniMaxAI/MiniMax-M2")
    assert minimax.downloads == 846_249 and minimax.license == "mit" and minimax.task == "text-generation"
    assert store.get("hf:org1/model-004").parameters == 1004
    state = store.sync_state("hf")
    assert state["done"] is True and state["count"] == 25 and state["next_url"] is None
    first = hf_hub.requests_to("/api/models$")[0][2]
    assert first["limit"] == ["10"] and first["sort"] == ["downloads"] and "safetensors" in first["expand"]
    # a second run refreshes rather than duplicating
    assert sync(store, page_size=10).records == 25 and store.count(platform="huggingface") == 25


def test_sync_filters_are_sent_to_the_hub(hf_hub, shared, store):
    hf_hub.listing = _listing(shared, 12)
    report = sync(store, search="model", author="org1", task="text-classification", library="transformers",
                  sort="likes", limit=3, page_size=2)
    assert report.records == 2 or report.records == 3
    query = hf_hub.requests_to("/api/models$")[0][2]
    assert query["search"] == ["model"] and query["author"] == ["org1"] and query["sort"] == ["likes"]
    assert query["pipeline_tag"] == ["text-classification"] and query["filter"] == ["transformers"]
    assert all(r.id.startswith("hf:org1/") for r in store.search(limit=50))
    assert report.source.startswith("hf?search=model")
    with pytest.raises(UsageError, match="unknown sort"):
        sync(store, sort="random")


def test_sync_resumes_after_an_interruption(hf_hub, shared, store, monkeypatch):
    _env(monkeypatch, PTMHUB_MAX_RETRIES=1)
    hf_hub.listing = _listing(shared, 28)  # 30 items, 3 pages of 10
    hf_hub.script("GET", r"/api/models\?.*cursor=MjA", *[Reply(500)] * 2)  # page 3 (offset 20) fails
    with pytest.raises(HubServerError):
        sync(store, page_size=10)
    state = store.sync_state("hf")
    assert state["count"] == 20 and not state["done"] and "cursor=MjA" in state["next_url"]
    assert store.count(platform="huggingface") == 20
    hf_hub.reset_counters()
    report = sync(store, page_size=10)
    assert report.counts["resumed_at"] == 20 and report.records == 10 and report.counts["pages"] == 1
    assert [r[2].get("cursor") for r in hf_hub.requests_to("/api/models$")] == [["MjA="]]  # no page fetched twice
    assert store.count(platform="huggingface") == 30
    assert store.sync_state("hf")["done"] is True


def test_sync_resumes_after_ctrl_c_and_respects_the_limit(hf_hub, shared, store):
    hf_hub.listing = _listing(shared, 28)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync(store, page_size=10, limit=25, progress=interrupt)
    assert store.count(platform="huggingface") == 10
    report = sync(store, page_size=10, limit=25)
    assert report.counts["resumed_at"] == 10 and store.count(platform="huggingface") == 25
    assert store.sync_state("hf")["done"] is True


def test_sync_malformed_page(hf_hub, store):
    hf_hub.script("GET", r"/api/models\?", Reply(200, body="[{"))
    with pytest.raises(MalformedResponseError) as err:
        sync(store)
    _one_line(err.value)
    hf_hub.script("GET", r"/api/models\?", Reply(200, body='{"error": "nope"}'))
    with pytest.raises(MalformedResponseError):
        sync(store)


@pytest.mark.slow
def test_sentence_transformers_model_loads_as_one(hf_hub, backend, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    base = tmp_path / "base"
    BertTokenizer(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(base)
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
                         vocab_size=len(vocab), max_position_embeddings=32)).save_pretrained(base)
    encoder = Transformer(str(base))
    out = tmp_path / "st"
    # no model card: writing one asks the Hub about the base model (a network call of the fixture)
    SentenceTransformer(modules=[encoder, Pooling(16)]).save(str(out), create_model_card=False)
    files = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    repo = hf_hub.add_repo("test/tiny-st", files=files)
    repo.info.update(library_name="sentence-transformers", pipeline_tag="sentence-similarity")
    # a custom cache location (HF_HUB_CACHE) is honoured by pull and load alike
    _env(monkeypatch, HF_HUB_CACHE=tmp_path / "custom-cache")
    result = backend.pull(parse("hf:test/tiny-st"))
    assert result.path.startswith(str(tmp_path / "custom-cache" / "models--test--tiny-st" / "snapshots"))
    assert "1_Pooling/config.json" in result.files
    assert result.record.library == "sentence-transformers" and result.record.task == "sentence-similarity"
    hf_hub.stop()
    loaded = backend.load(parse("hf:test/tiny-st"), result.record)
    assert isinstance(loaded.model, SentenceTransformer)
    assert loaded.model.encode(["hello world"]).shape == (1, 16)


def test_cli_end_to_end_in_a_fresh_process(bert_hub, shared, isolated_env):
    """The CLI in a new interpreter: nothing may rely on modules a test happened to import."""
    import subprocess
    import sys

    bert_hub.listing = json.loads(shared(*LIST_PAGE).read_text())
    env = {k: v for k, v in os.environ.items()}
    env.update(HF_ENDPOINT=bert_hub.url)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ptmhub", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    out = run("resolve", "hf:bert-base-uncased", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["id"] == "hf:google-bert/bert-base-uncased" and record["parameters"] == 110_106_428
    assert "hf:bert-base-uncased" in record["aliases"]
    out = run("sync", "hf", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["records"] == 2
    out = run("resolve", "hf:nobody/nothing")
    assert out.returncode == 3 and "was not found on the hub" in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1
