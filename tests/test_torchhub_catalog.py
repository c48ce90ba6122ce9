"""The pytorch/hub docs importer, on the 52 real docs in ../shared/catalogs/pytorch-hub."""

from __future__ import annotations

import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ptmhub.catalogs import pytorch_hub
from ptmhub.catalogs.pytorch_hub import parse_doc, records_for
from ptmhub.errors import CatalogError, UsageError


@pytest.fixture
def hub_docs(shared):
    return shared("catalogs", "pytorch-hub")


@pytest.fixture
def synced(store, hub_docs):
    report = pytorch_hub.sync(store, source=str(hub_docs))
    return store, report


def _entrypoints(store, repo):
    return sorted(r.name for r in store.iter_all(platform="torchhub") if r.id.startswith(f"torchhub:{repo}/"))


# -- the whole real catalog ------------------------------------------------------------------------
def test_all_52_docs_import_without_problems(synced):
    store, report = synced
    assert report.counts["docs"] == 52
    assert report.problems == [] and report.skipped == 0
    # one record per (repository, entrypoint) the docs call, commented variants included
    assert report.counts == {"docs": 52, "entrypoints": 124, "repositories": 27}
    assert report.records == 124
    assert store.count(platform="torchhub") == 124
    assert len(store.search(platform="torchhub", limit=500)) == 124


def test_every_doc_yields_a_record(synced, hub_docs):
    store, _ = synced
    docs = {r.extra["doc"] for r in store.iter_all(platform="torchhub")}
    docs |= {d for r in store.iter_all(platform="torchhub") for d in r.extra.get("docs", [])}
    assert docs == {p.name for p in hub_docs.glob("*.md")}


def test_entrypoints_per_repository(synced):
    store, _ = synced
    assert _entrypoints(store, "pytorch/vision")[:6] == [
        "alexnet", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet101", "deeplabv3_resnet50",
        "densenet121", "densenet161"]
    assert len(_entrypoints(store, "pytorch/vision")) == 33
    # commented-out calls are variants too
    assert _entrypoints(store, "facebookresearch/WSL-Images") == [
        "resnext101_32x16d_wsl", "resnext101_32x32d_wsl", "resnext101_32x48d_wsl", "resnext101_32x8d_wsl"]
    assert len(_entrypoints(store, "facebookresearch/semi-supervised-ImageNet1K-models")) == 12
    # fairseq fills its hubconf's globals() with dotted names
    assert _entrypoints(store, "pytorch/fairseq") == [
        "roberta.large", "roberta.large.mnli", "transformer.wmt14.en-fr", "transformer.wmt19.de-en.single_model",
        "transformer.wmt19.en-de.single_model", "transformer.wmt19.en-ru.single_model",
        "transformer.wmt19.ru-en.single_model"]
    assert _entrypoints(store, "huggingface/pytorch-transformers") == [
        "config", "model", "modelForMaskedLM", "modelForQuestionAnswering", "modelForSequenceClassification",
        "tokenizer"]
    assert _entrypoints(store, "huggingface/transformers") == ["modelForCausalLM"]
    assert len(_entrypoints(store, "NVIDIA/DeepLearningExamples")) == 14


def test_entrypoints_held_in_variables_and_listed_in_comments(synced):
    store, _ = synced
    # model_name = 'x3d_s'; torch.hub.load('facebookresearch/pytorchvideo', model_name, ...)
    assert store.get("torchhub:facebookresearch/pytorchvideo/x3d_s").extra["found"] == "variable"
    # model_type = "DPT_Large" with the other choices commented out below it
    assert _entrypoints(store, "intel-isl/MiDaS") == ["DPT_Hybrid", "DPT_Large", "MiDaS_small", "transforms"]
    # "# proxyless_gpu, proxyless_mobile, proxyless_mobile14 are also avaliable."
    assert _entrypoints(store, "mit-han-lab/ProxylessNAS") == [
        "proxyless_cpu", "proxyless_gpu", "proxyless_mobile", "proxyless_mobile14"]
    assert store.get("torchhub:mit-han-lab/ProxylessNAS/proxyless_gpu").extra["found"] == "comment"
    assert _entrypoints(store, "mit-han-lab/once-for-all") == [
        "ofa_specialized_get", "ofa_supernet_mbv3_w10", "ofa_supernet_mbv3_w12", "ofa_supernet_proxyless",
        "ofa_supernet_resnet50", "resnet50D_MAC_4_1B"]
    # keyword arguments, spread over lines with a comment between them
    stt = store.get("torchhub:snakers4/silero-models/silero_stt")
    assert stt.extra["example"].startswith("torch.hub.load(repo_or_dir='snakers4/silero-models', model='silero_stt'")
    # a multi-line commented-out call
    assert _entrypoints(store, "facebookresearch/pytorch_GAN_zoo") == ["DCGAN", "PGAN"]


def test_front_matter_facts(synced):
    store, _ = synced
    resnet = store.get("torchhub:pytorch/vision/resnet50")
    assert resnet.extra["title"] == "ResNet"
    assert resnet.extra["found"] == "commented call"
    assert resnet.revision == "v0.10.0" and resnet.extra["ref"] == "v0.10.0"
    assert resnet.tags == ("vision", "scriptable")
    assert resnet.extra["github_id"] == "pytorch/vision" and resnet.extra["accelerator"] == "cuda-optional"
    assert resnet.summary == "Deep residual networks pre-trained on ImageNet"
    assert resnet.framework == "pytorch" and resnet.format == "hubconf"
    assert resnet.parameters is None and "no parameter count" in resnet.parameters_note
    assert resnet.license is None  # the docs have no license field
    # accelerator: “cuda-optional” (curly quotes in the YAML)
    assert store.get("torchhub:facebookresearch/pytorchvideo/x3d_s").extra["accelerator"] == "cuda-optional"
    assert store.get("torchhub:NVIDIA/DeepLearningExamples/nvidia_ssd").extra["accelerator"] == "cuda"
    assert store.get("torchhub:facebookresearch/pytorch_GAN_zoo/PGAN").tags == ("vision", "generative")
    assert store.get("torchhub:snakers4/silero-vad/silero_vad").tags == ("audio", "scriptable")
    assert store.get("torchhub:pytorch/fairseq/roberta.large").tags == ("nlp",)
    tags: dict[str, int] = {}
    for rec in store.iter_all(platform="torchhub"):
        for t in rec.tags:
            tags[t] = tags.get(t, 0) + 1
    assert tags == {"vision": 100, "scriptable": 55, "nlp": 14, "audio": 10, "generative": 2}


def test_repository_names_follow_github_id_and_keep_the_call_spelling_as_alias(synced):
    store, _ = synced
    rec = store.get("torchhub:hustvl/yolop/yolop")  # the call's spelling
    assert rec.id == "torchhub:hustvl/YOLOP/yolop"  # the doc's github-id spelling
    assert store.get("torchhub:datvuthanh/hybridnets/hybridnets").id == "torchhub:datvuthanh/HybridNets/hybridnets"


def test_an_entrypoint_in_several_docs_is_one_record(synced):
    store, _ = synced
    utils = store.get("torchhub:NVIDIA/DeepLearningExamples/nvidia_convnets_processing_utils")
    assert utils.revision == "torchhub"
    assert len(utils.extra["docs"]) == 5


def test_search_finds_catalog_models(synced):
    store, _ = synced
    ids = [r.id for r in store.search(q="silero", platform="torchhub")]
    assert sorted(ids) == ["torchhub:snakers4/silero-models/silero_stt", "torchhub:snakers4/silero-models/silero_tts",
                           "torchhub:snakers4/silero-vad/silero_vad"]


def test_resync_is_idempotent(synced, hub_docs):
    store, first = synced
    again = pytorch_hub.sync(store, source=str(hub_docs))
    assert again.records == first.records and store.count(platform="torchhub") == 124
    assert store.sync_state("torchhub")["docs"] == 52


# -- sources: archives and URLs --------------------------------------------------------------------
def _zip_of(folder) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hub-master/README.md", "# PyTorch Hub\nno front matter here\n")
        for doc in sorted(folder.glob("*.md")):
            zf.write(doc, f"hub-master/{doc.name}")
    return buf.getvalue()


def test_zip_and_tar_archives(store, hub_docs, tmp_path):
    archive = tmp_path / "hub.zip"
    archive.write_bytes(_zip_of(hub_docs))
    report = pytorch_hub.sync(store, source=str(archive))
    assert report.counts["docs"] == 52 and report.records == 124
    assert report.counts["markdown_without_front_matter"] == 1
    tgz = tmp_path / "hub.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for doc in sorted(hub_docs.glob("*.md"))[:5]:
            tar.add(doc, arcname=f"hub-master/{doc.name}")
    assert pytorch_hub.sync(store, source=str(tgz)).counts["docs"] == 5


@pytest.fixture
def doc_server(hub_docs):
    body = _zip_of(hub_docs)
    single = (hub_docs / "pytorch_vision_resnet.md").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = {"/hub/archive/master.zip": body, "/hub/raw/pytorch_vision_resnet.md": single}.get(self.path)
            if data is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_sources(store, doc_server):
    report = pytorch_hub.sync(store, source=f"{doc_server}/hub/archive/master.zip")
    assert report.records == 124
    one = pytorch_hub.sync(store, source=f"{doc_server}/hub/raw/pytorch_vision_resnet.md")
    assert one.counts == {"docs": 1, "entrypoints": 5, "repositories": 1}


def test_missing_source(store, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        pytorch_hub.sync(store, source=str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="--source"):
        pytorch_hub.sync(store)


# -- the parser on its own -------------------------------------------------------------------------
DOC = """---
title: “Tiny”
summary: a doc with every quirk
tags: [vision, generative]
github-id: acme/tiny
accelerator: “cuda-optional”
---

```bash
pip install tiny
```python
import torch
name = 'small_v1'
# small_v2, small_v3 are also available
model = torch.hub.load(‘acme/tiny:v2’, name, pretrained=True)
other = torch.hub.load(repo_or_dir="acme/tiny",
                       model="big",  # don't forget: 'quotes' in comments
                       **{'width': 2})
# legacy = torch.hub.load('acme/tiny', 'legacy_net')
torch.hub.load('acme/tiny', unknown_variable)
```
"""


def test_parser_quirks():
    doc = parse_doc(DOC, path="tiny.md")
    assert doc.meta["title"] == "Tiny" and doc.meta["accelerator"] == "cuda-optional"
    found = [(c.repo, c.ref, c.entrypoint, c.found) for c in doc.calls]
    assert found == [
        ("acme/tiny", "v2", "small_v1", "variable"),
        ("acme/tiny", "v2", "small_v2", "comment"),
        ("acme/tiny", "v2", "small_v3", "comment"),
        ("acme/tiny", None, "big", "call"),
        ("acme/tiny", None, "legacy_net", "commented call"),
    ]
    assert doc.problems == ["line 20: the entrypoint 'unknown_variable' is not a string the doc assigns"]
    records, problems = records_for(doc)
    assert [r.id for r in records] == ["torchhub:acme/tiny/small_v1", "torchhub:acme/tiny/small_v2",
                                       "torchhub:acme/tiny/small_v3", "torchhub:acme/tiny/big",
                                       "torchhub:acme/tiny/legacy_net"]
    assert problems == []
    assert records[3].extra["example"].endswith("**{'width': 2})")


def test_parser_rejects_and_skips():
    assert parse_doc("# README\n\ntorch.hub.load('a/b', 'c')\n") is None  # no front matter: not a model doc
    with pytest.raises(CatalogError, match="never closed"):
        parse_doc("---\ntitle: x\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        parse_doc("---\ntitle: [x\n---\n")
    with pytest.raises(CatalogError, match="mapping"):
        parse_doc("---\n- a\n- b\n---\n")
    doc = parse_doc("---\ntitle: x\n---\ntorch.hub.load('a/b', 'c'\n```\n")
    assert doc.calls == [] and "do not close" in doc.problems[0]
    bad_id = parse_doc("---\ntitle: x\n---\ntorch.hub.load('a/b/c', 'd')\n")
    records, problems = records_for(bad_id)
    assert records == [] and "two parts" in problems[0]


HOSTILE_DOCS = {  # doc -> the problem it must be reported with (a CatalogError for the front matter)
    "deep keyword": ("torch.hub.load('a/b', 'c', x=" + "+".join(["a"] * 1500) + ")",
                     "nested deeper than 100 levels"),
    "deep repository": ("torch.hub.load(" + "+".join(["a"] * 1500) + ", 'c')", "nested deeper than 100 levels"),
    "unary chain": ("torch.hub.load('a/b', " + "-" * 3000 + "1)", "nested too deeply to parse"),
    "attribute chain": ("torch.hub.load('a/b', " + ".".join(["a"] * 1900) + ")", "nested"),
    "null byte": ("torch.hub.load('a/b', 'c\x00')", "not valid Python"),
    "unhashable kwargs": ("torch.hub.load('a/b', 'c', **{[1]: 2})", None),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_DOCS))
def test_hostile_calls_are_one_line_problems(kind, store, tmp_path):
    body, problem = HOSTILE_DOCS[kind]
    text = f"---\ntitle: Hostile\n---\n```python\n{body}\n```\ntorch.hub.load('good/repo', 'fine')\n"
    doc = parse_doc(text, path="hostile.md")
    assert [c.entrypoint for c in doc.calls if c.repo == "good/repo"] == ["fine"]  # the rest of the doc is read
    if problem is not None:
        assert len(doc.problems) == 1 and problem in doc.problems[0] and "\n" not in doc.problems[0]
    (tmp_path / "hostile.md").write_text(text)
    report = pytorch_hub.sync(store, source=str(tmp_path))
    assert report.records >= 1 and store.get("torchhub:good/repo/fine") is not None


@pytest.mark.parametrize("front", [
    "tags: " + "[" * 20000 + "]" * 20000,
    "".join(" " * i + "a:\n" for i in range(3000)).rstrip("\n"),
    "? [1]\n: unhashable key",
    "tags: {[1]: 2}",
])
def test_hostile_front_matter_is_one_line(front):
    with pytest.raises(CatalogError) as info:
        parse_doc(f"---\n{front}\n---\ntorch.hub.load('a/b', 'c')\n", path="bad.md")
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.md: the front matter")
