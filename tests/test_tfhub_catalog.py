"""The tfhub.dev catalog importer, on the real catalog in ../shared/catalogs/tfhub.dev."""

from __future__ import annotations

import io
import shutil
import tarfile
import threading
import time
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.catalogs import tfhub as catalog
from ptmhub.catalogs.tfhub import parse_doc
from ptmhub.errors import CatalogError, LimitExceededError, UnsafeArchiveError, UsageError

MOBILENET = "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5"
DOC_COUNTS = {"Module": 1815, "Placeholder": 182, "Lite": 372, "Tfjs": 358, "Coral": 3,
              "Collection": 50, "Publisher": 39}
MODEL_RECORDS = 1815 + 182 + 372 + 358 + 3


@pytest.fixture
def tfhub_dev(shared):
    return shared("catalogs", "tfhub.dev")


# -- parse_doc --------------------------------------------------------------------------------
DOC = """\
# Module acme/vision/classifier/3
Image classifier for cats. It also knows dogs (e.g. terriers).
Second description line.

<!-- asset-path: https://example.invalid/model.tar.gz -->
<!-- task: image-classification -->
<!-- task: image-feature-vector -->
<!-- dataset: imagenet-ilsvrc-2012-cls -->
<!-- network-architecture: mobilenet-v2 -->
<!-- fine-tunable: true  -->
<!-- format: saved_model_2 -->
<!-- language: en-->

## Overview

```python
# Module inside code is not a heading
<!-- license: mit -->
```

<!-- colab: https://colab.research.google.com/x.ipynb -->
"""


def test_parse_doc_fields():
    doc = parse_doc(DOC)
    assert (doc.type, doc.publisher, doc.name, doc.version) == ("Module", "acme", "vision/classifier", "3")
    assert doc.handle == "acme/vision/classifier/3" and doc.key == "tfhub:acme/vision/classifier/3"
    assert doc.description.startswith("Image classifier for cats.") and doc.description.endswith("line.")
    assert doc.metadata["task"] == ("image-classification", "image-feature-vector")  # repeatable: a list
    assert doc.metadata["fine-tunable"] == ("true",)
    assert doc.metadata["language"] == ("en",)  # no space before '-->' is fine (the validator's regex)
    assert "license" not in doc.metadata  # inside a code block: not metadata
    assert doc.metadata["colab"] == ("https://colab.research.google.com/x.ipynb",)  # body metadata counts


def test_parse_variant_and_url_path():
    doc = parse_doc("# Lite google/yamnet/tflite/1\nTF Lite of yamnet.\n\n<!-- parent-model: google/yamnet/1 -->\n")
    assert doc.url_path == "google/lite-model/yamnet/tflite/1"
    assert doc.key == "tfhub:google/lite-model/yamnet/tflite/1"
    assert doc.first("parent-model") == "google/yamnet/1"


def test_parse_publisher_and_collection():
    pub = parse_doc("# Publisher acme\nAcme Corp.\n\n[![Icon URL]](https://x.invalid/i.png)\n\n## Acme\n")
    assert (pub.type, pub.handle, pub.description) == ("Publisher", "acme", "Acme Corp.")
    col = parse_doc("# Collection acme/set/1\n\nA set.\n\n<!-- task: text-embedding -->\n\n## Models\n"
                    "| [a](https://tfhub.dev/acme/a/2) | [b](https://tfhub.dev/acme/lite-model/b/1) |\n"  # parsed only
                    "<!-- (https://tfhub.dev/acme/c) -->\n")  # parsed only
    assert col.links == ("https://tfhub.dev/acme/a/2", "https://tfhub.dev/acme/lite-model/b/1",
                         "https://tfhub.dev/acme/c")


@pytest.mark.parametrize("text, problem", [
    ("# Model acme/x/1\nDesc.\n", "is not '# <Type> <handle>'"),
    ("# Module acme/x\nDesc.\n", "is not '# <Type> <handle>'"),   # no version
    ("# Module Acme/x/1\nDesc.\n", "is not '# <Type> <handle>'"),  # publisher ids are lowercase
    ("# Module acme/x/1\n\n\n<!-- task: x -->\n", "short description"),
    ("# Module acme/x/1\nDesc.\n\n<!-- task: image-classification -->\nstray text\n", "line 5"),
    ("", "is not '# <Type> <handle>'"),
])
def test_malformed_docs(text, problem):
    with pytest.raises(CatalogError, match=problem):
        parse_doc(text, path="acme/x/1.md")


def test_summary_is_first_sentence():
    from ptmhub.records import SUMMARY_MAX, summarize

    assert summarize("Image classifier (e.g. cats). Trained on [ImageNet](https://x). More.") == \
        "Image classifier (e.g. cats)."
    assert summarize("Version 1.0 of the model, no full stop") == "Version 1.0 of the model, no full stop"
    assert len(summarize("word " * 200)) <= SUMMARY_MAX


# -- the real catalog -------------------------------------------------------------------------
def test_every_doc_parses(tfhub_dev):
    docs = list(catalog.iter_catalog(tfhub_dev))
    assert len(docs) == 2819
    assert [p for p, d in docs if isinstance(d, CatalogError)] == []
    counts: dict[str, int] = {}
    for _, doc in docs:
        counts[doc.type] = counts.get(doc.type, 0) + 1
    assert counts == DOC_COUNTS


def test_sync_full_catalog(store, tfhub_dev):
    start = time.perf_counter()
    report = catalog.sync(store, source=str(tfhub_dev))
    elapsed = time.perf_counter() - start
    print(f"\ntfhub.dev: {report.records} records in {elapsed:.2f} s ({report.records / elapsed:.0f} records/s)")
    assert {k: report.counts[k] for k in DOC_COUNTS} == DOC_COUNTS
    assert report.records == MODEL_RECORDS == store.count(platform="tfhub")
    assert report.problems == [] and report.skipped == 0
    assert report.unknown_values == {}  # the published catalog passed the repository's own validator
    assert report.counts["variants_linked"] == 718 and report.counts["variants_without_parent"] == 15
    assert elapsed < 30

    rec = store.get(MOBILENET)
    assert rec.task == "image-classification"
    assert rec.format == "saved_model_2"
    assert rec.fine_tunable is True
    assert rec.architecture == "mobilenet-v2"
    assert rec.datasets == ("imagenet-ilsvrc-2012-cls",)
    assert rec.license is None and rec.license_raw is None  # no license line: unknown, not a default
    assert (rec.platform, rec.framework, rec.library, rec.owner, rec.version) == \
        ("tfhub", "tensorflow", "tensorflow-hub", "google", "5")
    assert rec.name == "imagenet/mobilenet_v2_100_224/classification"
    assert rec.summary == "Imagenet (ILSVRC-2012-CLS) classification with MobileNet V2 (depth multiplier 1.00)."
    assert rec.source_url == "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5"
    assert rec.extra["doc_type"] == "Module"
    assert rec.extra["doc_path"] == "google/models/imagenet/mobilenet_v2_100_224/classification/5.md"
    assert rec.extra["collections"] == ["google/image/1"]
    assert rec.extra["metadata"]["asset-path"] == ["internal"]
    # the same record through the URL form users paste
    assert store.get("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5").id == MOBILENET

    # TF1 Hub format, multilingual, licensed placeholder
    assert store.get("tfhub:google/imagenet/mobilenet_v2_100_224/classification/1").format == "hub"
    use = store.get("tfhub:google/universal-sentence-encoder-multilingual/3")
    assert use.task == "feature-extraction" and "text-embedding" in use.tags
    assert len(use.languages) == 16 and use.languages[:2] == ("ar", "zh-cn")
    scene = store.get("tfhub:sayannath/image-scene/1")
    assert scene.extra["doc_type"] == "Placeholder" and scene.format is None and scene.library is None
    assert (scene.license, scene.license_raw, scene.license_source) == ("apache-2.0", "apache-2.0", "tfhub.dev doc")

    # variants link both ways, and say what they inherited; the license is never inherited
    yamnet = store.get("tfhub:google/yamnet/1")
    assert sorted(yamnet.extra["variants"]) == ["tfhub:google/lite-model/yamnet/tflite/1",
                                                "tfhub:google/tfjs-model/yamnet/tfjs/1"]
    lite = store.get("tfhub:google/lite-model/yamnet/tflite/1")
    assert (lite.format, lite.library, lite.task) == ("tflite", "tflite", "audio-classification")
    assert lite.extra["parent"] == "tfhub:google/yamnet/1"
    assert lite.extra["doc_handle"] == "google/yamnet/tflite/1"
    assert "task" in lite.extra["inherited_from_parent"]
    scene_lite = store.get("tfhub:sayannath/lite-model/image-scene/1")
    assert scene_lite.extra["parent"] == "tfhub:sayannath/image-scene/1" and scene_lite.license is None
    coral = store.get("tfhub:google/coral-model/yamnet/classification/coral/1")
    assert coral.format == "coral" and coral.extra["parent"] == "tfhub:google/yamnet/classification/1"
    # an unversioned parent-model means the latest version
    assert store.get("tfhub:iree/lite-model/mobilebert_edgetpu_s/fp32/1").extra["parent"].startswith(
        "tfhub:iree/mobilebert_edgetpu_s/fp32/")

    # collections are groupings, not records; publishers neither
    assert store.get("tfhub:silero/silero-stt/1") is None
    assert store.get("tfhub:silero/silero-stt/en/1").extra["collections"] == ["silero/silero-stt/1"]
    assert store.get("tfhub:silero/silero-stt/en/1").extra["publisher_name"] == "Silero AI"
    state = store.sync_state("tfhub")
    assert len(state["collections"]) == 50 and len(state["publishers"]) == 39
    assert state["collections"]["silero/silero-stt/1"]["members"] == [
        "tfhub:silero/silero-stt/en/1", "tfhub:silero/silero-stt/de/1", "tfhub:silero/silero-stt/es/1"]

    # search by task and license
    assert store.count(platform="tfhub", license="mit") == 150
    assert store.count(platform="tfhub", license="apache-2.0") == 144
    assert store.count(platform="tfhub", license="none") == MODEL_RECORDS - 320
    hits = store.search(task="image-classification", license="permissive", platform="tfhub", limit=500)
    assert hits and all(h.task == "image-classification" and h.license in ("mit", "apache-2.0", "bsd-3-clause")
                        for h in hits)
    assert MOBILENET in {h.id for h in store.search(q="mobilenet_v2_100_224 classification", limit=50)}
    assert store.count(platform="tfhub", fine_tunable=True) == 1409


def test_sync_is_idempotent(sqlite_store, tfhub_dev):
    first = catalog.sync(sqlite_store, source=str(tfhub_dev))
    seen = sqlite_store.get(MOBILENET).first_seen
    second = catalog.sync(sqlite_store, source=str(tfhub_dev))
    assert first.records == second.records == sqlite_store.count(platform="tfhub") == MODEL_RECORDS
    assert sqlite_store.get(MOBILENET).first_seen == seen
    assert first.counts == second.counts


# -- damaged copies ---------------------------------------------------------------------------
@pytest.fixture
def catalog_copy(tfhub_dev, tmp_path):
    root = tmp_path / "tfhub.dev"
    shutil.copytree(tfhub_dev, root)
    return root


def test_malformed_doc_is_reported_and_skipped(sqlite_store, catalog_copy):
    docs = catalog_copy / "assets" / "docs"
    broken = docs / "google" / "models" / "yamnet" / "1.md"
    broken.write_text("# Moduel google/yamnet/1\nTypo in the type.\n", encoding="utf-8")
    (docs / "acme").mkdir()
    (docs / "acme" / "acme.md").write_text("# Publisher acme\nAcme.\n", encoding="utf-8")
    (docs / "acme" / "new").mkdir()
    (docs / "acme" / "new" / "1.md").write_text(
        "# Module acme/new/1\nA new model.\n\n<!-- asset-path: internal -->\n<!-- format: saved_model_3 -->\n"
        "<!-- task: image-teleportation -->\n<!-- fine-tunable: maybe -->\n<!-- license: wtfpl -->\n"
        "<!-- dataset: imagenet-ilsvrc-2012-cls -->\n<!-- flavour: vanilla -->\n", encoding="utf-8")
    (docs / "acme" / "binary.md").write_bytes(b"\xff\xfe# Module")

    report = catalog.sync(sqlite_store, source=str(catalog_copy))
    problems = dict(report.problems)
    assert set(problems) == {"google/models/yamnet/1.md", "acme/binary.md"}
    assert "'# Moduel google/yamnet/1' is not '# <Type> <handle>'" in problems["google/models/yamnet/1.md"]
    assert "UTF-8" in problems["acme/binary.md"]
    assert report.skipped == 2
    assert report.records == MODEL_RECORDS - 1 + 1
    assert sqlite_store.get("tfhub:google/yamnet/1") is None
    # the yamnet variants lost their parent: still imported, parent kept as unresolved
    assert sqlite_store.get("tfhub:google/lite-model/yamnet/tflite/1").extra["parent_unresolved"] == "google/yamnet/1"
    # unknown values are reported, not dropped
    assert report.unknown_values == {"fine-tunable": ["maybe"], "format": ["saved_model_3"], "license": ["wtfpl"],
                                     "metadata-key": ["flavour"], "task": ["image-teleportation"]}
    new = sqlite_store.get("tfhub:acme/new/1")
    assert (new.task, new.format, new.license, new.fine_tunable) == \
        ("image-teleportation", "saved_model_3", "wtfpl", None)
    assert new.extra["metadata"]["flavour"] == ["vanilla"]


def test_missing_source(sqlite_store, tmp_path):
    with pytest.raises(UsageError):
        catalog.sync(sqlite_store, source=str(tmp_path / "nope"))
    with pytest.raises(UsageError):
        catalog.sync(sqlite_store, source="")
    with pytest.raises(CatalogError, match="no assets/docs"):
        catalog.sync(sqlite_store, source=str(tmp_path))


# -- archives and URLs ------------------------------------------------------------------------
def _repo_archive(tfhub_dev: Path, dest: Path, publishers=("silero", "google")) -> Path:
    """A GitHub-style archive of the repository (one top folder), with a few publishers."""
    top = "tfhub.dev-master"
    with tarfile.open(dest, "w:gz") as tar:
        for yaml in sorted((tfhub_dev / "tags").glob("*.yaml")):
            tar.add(yaml, f"{top}/tags/{yaml.name}")
        for pub in publishers:
            tar.add(tfhub_dev / "assets" / "docs" / pub, f"{top}/assets/docs/{pub}")
        info = tarfile.TarInfo(f"{top}/README.md")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"readme"))
        link = tarfile.TarInfo(f"{top}/docs-link")  # a link elsewhere in the repo is skipped, not extracted
        link.type, link.linkname = tarfile.SYMTYPE, "assets"
        tar.addfile(link)
    return dest


def _count_docs(tfhub_dev: Path, publishers) -> int:
    return sum(1 for p in publishers for f in (tfhub_dev / "assets" / "docs" / p).rglob("*.md")
               if f.read_text(encoding="utf-8").split(" ", 2)[1] in catalog.MODEL_TYPES)


def test_sync_from_tar_archive(sqlite_store, tfhub_dev, tmp_path):
    archive = _repo_archive(tfhub_dev, tmp_path / "tfhub.dev-master.tar.gz")
    report = catalog.sync(sqlite_store, source=str(archive))
    assert report.problems == []
    assert report.records == _count_docs(tfhub_dev, ("silero", "google")) == sqlite_store.count(platform="tfhub")
    assert sqlite_store.get(MOBILENET).architecture == "mobilenet-v2"


def test_sync_from_zip_archive(sqlite_store, tfhub_dev, tmp_path):
    archive = tmp_path / "master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (tfhub_dev / "assets" / "docs" / "silero").rglob("*.md"):
            zf.write(f, "tfhub.dev-master/" + f.relative_to(tfhub_dev).as_posix())
        for f in (tfhub_dev / "tags").glob("*.yaml"):
            zf.write(f, "tfhub.dev-master/tags/" + f.name)
    report = catalog.sync(sqlite_store, source=str(archive))
    assert report.records == 3 and report.counts["Collection"] == 1 and report.counts["Publisher"] == 1


def test_malicious_catalog_archive_is_refused(sqlite_store, tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("tfhub.dev-master/assets/docs/../../../../escaped.md")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UnsafeArchiveError):
        catalog.sync(sqlite_store, source=str(archive))
    assert not (tmp_path / "escaped.md").exists()
    assert sqlite_store.count(platform="tfhub") == 0


@pytest.fixture
def catalog_tmp(tmp_path, monkeypatch):
    """Where the importer makes its temporary folder (ptmhub-tfhub-*), to see that it is removed."""
    import tempfile

    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def test_catalog_bomb_in_a_skipped_member_is_refused(sqlite_store, tfhub_dev, tmp_path, catalog_tmp):
    # the importer keeps only docs and vocabularies, but a tar stream decompresses every member
    archive = _repo_archive(tfhub_dev, tmp_path / "a.tar.gz", publishers=("silero",))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(tmp_path / "bomb.tar.gz", "wb") as out:
        with tarfile.open(archive) as src:
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w") as tar:
                for m in src.getmembers():
                    tar.addfile(m, src.extractfile(m) if m.isreg() else None)
                info = tarfile.TarInfo("tfhub.dev-master/assets/images/big.png")
                info.size = 256 * 1024**2
                tar.addfile(info)  # header only: the zeros are streamed below
                end = tar.offset
        out.write(comp.compress(raw.getvalue()[:end]))  # without the end-of-archive blocks
        for _ in range(256):
            out.write(comp.compress(bytes(1024**2)))
        out.write(comp.compress(bytes(1024)) + comp.flush())
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_ARCHIVE_RATIO"):
        catalog.sync(sqlite_store, source=str(tmp_path / "bomb.tar.gz"))
    assert sqlite_store.count(platform="tfhub") == 0
    assert list(catalog_tmp.iterdir()) == []


def test_catalog_archive_over_the_entry_limit_is_one_line_at_the_cli(tfhub_dev, tmp_path, catalog_tmp, monkeypatch,
                                                                    capsys):
    from ptmhub.cli import main

    archive = _repo_archive(tfhub_dev, tmp_path / "a.tar.gz", publishers=("silero", "google"))
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_FILES", "100")
    settings.reload()
    with pytest.raises(SystemExit) as info:
        main(["--db", str(tmp_path / "r.db"), "sync", "tfhub", "--source", str(archive)])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 7
    assert "more than 100 entries" in err and "PTMHUB_MAX_ARCHIVE_FILES" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert list(catalog_tmp.iterdir()) == []


class _Files(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):  # noqa: N802
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sync_from_url(sqlite_store, tfhub_dev, tmp_path, file_server):
    server, base = file_server
    archive = _repo_archive(tfhub_dev, tmp_path / "a.tar.gz", publishers=("silero", "vtab"))
    _Files.routes = {"/tensorflow/tfhub.dev/archive/refs/heads/master.tar.gz": (200, archive.read_bytes())}
    seen: list[int] = []
    report = catalog.sync(sqlite_store, source=f"{base}/tensorflow/tfhub.dev/archive/refs/heads/master.tar.gz",
                          progress=seen.append)
    assert report.records == _count_docs(tfhub_dev, ("silero", "vtab")) > 3
    assert sum(seen) == report.records  # progress counts records written


def test_sync_from_missing_url(sqlite_store, file_server):
    from ptmhub.errors import ModelNotFoundError

    _, base = file_server
    _Files.routes = {}
    with pytest.raises(ModelNotFoundError):
        catalog.sync(sqlite_store, source=f"{base}/missing.tar.gz")


def test_catalog_download_is_capped_while_it_arrives(sqlite_store, tfhub_dev, tmp_path, file_server, catalog_tmp,
                                                     monkeypatch):
    _, base = file_server
    archive = _repo_archive(tfhub_dev, tmp_path / "a.tar.gz", publishers=("silero", "vtab"))
    _Files.routes = {"/master.tar.gz": (200, archive.read_bytes())}
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_BYTES", str(archive.stat().st_size // 2))
    settings.reload()
    with pytest.raises(LimitExceededError, match="catalog download is larger.*PTMHUB_MAX_ARCHIVE_BYTES"):
        catalog.sync(sqlite_store, source=f"{base}/master.tar.gz")
    assert sqlite_store.count(platform="tfhub") == 0
    assert list(catalog_tmp.iterdir()) == []
