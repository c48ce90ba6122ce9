"""TF Hub / Kaggle backends end to end against a loopback server: pull through tensorflow_hub's
cache machinery, count parameters, load offline with hub.KerasLayer in a tf_keras model.

TensorFlow is imported once for the module (``tf`` fixture); everything TF-heavy lives here."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.errors import (
    CorruptArchiveError,
    InvalidIdError,
    ModelNotFoundError,
    NetworkError,
    NotCachedError,
    OfflineError,
    UnsafeArchiveError,
    UsageError,
)
from ptmhub.hubs.base import backend_for
from ptmhub.hubs.tfhub import KaggleBackend, TFHubBackend, handle_url, kaggle_framework, module_dir
from ptmhub.ids import parse

TINY_PARAMETERS = 3 * 4 + 4  # w and b; the int64 step counter is not a parameter


# -- the tiny SavedModel and its archives ---------------------------------------------------
@pytest.fixture(scope="module")
def tf():
    from ptmhub.savedmodel import import_tensorflow

    return import_tensorflow()


@pytest.fixture(scope="module")
def tiny_saved_model(tf, tmp_path_factory) -> Path:
    # a Reusable SavedModel (the TF2 TF Hub convention): a callable with variables lists
    obj = tf.train.Checkpoint()
    obj.w = tf.Variable(tf.random.stateless_normal([3, 4], seed=[1, 2]), name="w")
    obj.b = tf.Variable(tf.zeros([4]), name="b")
    obj.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    obj.variables = [obj.w, obj.b, obj.step]
    obj.trainable_variables = [obj.w, obj.b]
    obj.__call__ = tf.function(lambda x: tf.matmul(x, obj.w) + obj.b,
                               input_signature=[tf.TensorSpec([None, 3], tf.float32)])

    path = tmp_path_factory.mktemp("tiny") / "saved_model"
    tf.saved_model.save(obj, str(path))
    return path


def _targz(add) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        add(tar)
    return buf.getvalue()


def _member(tar: tarfile.TarFile, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


@pytest.fixture(scope="module")
def archives(tiny_saved_model) -> dict[str, bytes]:
    """Archives as TF Hub serves them: a gzipped tar of the SavedModel folder's contents ("./...")."""
    good = _targz(lambda tar: tar.add(tiny_saved_model, arcname="."))

    def evil(member_args):  # noqa: ANN001
        def add(tar):  # noqa: ANN001
            tar.add(tiny_saved_model / "saved_model.pb", arcname="./saved_model.pb")
            _member(tar, *member_args)
        return _targz(add)

    return {
        "good": good,
        "traversal": evil(("./../../../escaped.txt", b"pwned")),
        "absolute": evil(("/tmp/ptmhub-absolute-escape.txt", b"pwned")),
        "symlink": evil(("./variables", b"", tarfile.SYMTYPE, "/")),
        "hardlink": evil(("./passwd", b"", tarfile.LNKTYPE, "/etc/passwd")),
    }


# -- the loopback hub -----------------------------------------------------------------------
class Hub(BaseHTTPRequestHandler):
    """tfhub.dev as it behaves since the move: the compressed-format URL redirects elsewhere."""

    files: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        Hub.requests.append(self.path)
        path, _, query = self.path.partition("?")
        if path.startswith("/storage/"):
            name = path.removeprefix("/storage/")
            body = self.files.get(name)
            if body is None:
                return self._send(404, b"no such object")
            if name.startswith("truncated"):  # announce more than we send, then hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) * 2))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            return self._send(200, body)
        if query != "tf-hub-format=compressed":
            return self._send(400, b"only the compressed format is served")
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "acme" and parts[1] in self.files:
            self.send_response(302)  # as tfhub.dev -> Kaggle -> storage
            self.send_header("Location", f"/storage/{parts[1]}?X-Goog-Signature=abc")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/x-tar")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def hub_server(archives):
    Hub.files = dict(archives)
    good = archives["good"]
    Hub.files["truncated"] = good[: len(good) // 2]
    Hub.files["notatar"] = b"<html>Model moved to Kaggle</html>"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(hub_server, monkeypatch, isolated_env):
    base = f"http://127.0.0.1:{hub_server.server_address[1]}"
    monkeypatch.setenv("PTMHUB_TFHUB_ENDPOINT", base)
    settings.reload()
    Hub.requests = []
    return base


@pytest.fixture
def backend() -> TFHubBackend:
    return TFHubBackend()


def _go_offline(monkeypatch) -> None:
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# -- TF Hub ---------------------------------------------------------------------------------
def test_backends_registered():
    assert isinstance(backend_for("tfhub"), TFHubBackend)
    assert isinstance(backend_for("kaggle"), KaggleBackend)


def test_handle_url_and_cache_layout(endpoint, isolated_env):
    mid = parse("https://tfhub.dev/acme/tiny/1?tf-hub-format=compressed")
    assert mid.key == "tfhub:acme/tiny/1"
    url = handle_url(mid)
    assert url == f"{endpoint}/acme/tiny/1"
    expected = isolated_env / "tfhub" / hashlib.sha1(url.encode()).hexdigest()
    assert module_dir(url) == expected == TFHubBackend().cache_path(mid)


def test_default_endpoint_is_tfhub_dev(isolated_env):
    settings.reload()
    assert handle_url(parse("tfhub:google/nnlm-en-dim128/2")) == "https://tfhub.dev/google/nnlm-en-dim128/2"


def test_pull_count_and_load_offline(tf, endpoint, backend, monkeypatch, isolated_env, archives):
    import tensorflow_hub as hub
    import tf_keras

    mid = parse("tfhub:acme/good/1")
    seen: list[int] = []
    result = backend.pull(mid, progress=seen.append)

    url = f"{endpoint}/acme/good/1"
    cache = isolated_env / "tfhub"
    sha = hashlib.sha1(url.encode()).hexdigest()
    assert result.path == str(cache / sha)
    # tensorflow_hub's layout: the module folder and its descriptor, no lock or tmp left behind
    assert sorted(os.listdir(cache)) == [sha, f"{sha}.descriptor.txt"]
    assert f"Module: {url}" in (cache / f"{sha}.descriptor.txt").read_text()
    assert "saved_model.pb" in result.files and "variables/variables.index" in result.files
    assert result.bytes_downloaded == len(archives["good"]) == sum(seen)
    assert Hub.requests == ["/acme/good/1?tf-hub-format=compressed", "/storage/good?X-Goog-Signature=abc"]

    record = result.record
    assert record.id == "tfhub:acme/good/1"
    assert record.parameters == TINY_PARAMETERS
    assert record.parameters_source == "saved-model"
    assert "2 floating-point variables" in record.parameters_note
    assert record.format == "saved_model_2"
    assert record.size_bytes == sum(p.stat().st_size for p in (cache / sha).rglob("*") if p.is_file())

    # from here on, no network: the server is still up but every request would be recorded
    Hub.requests = []
    _go_offline(monkeypatch)
    again = backend.pull(mid)
    assert again.path == result.path and again.bytes_downloaded == 0 and again.record.parameters == TINY_PARAMETERS

    # tensorflow_hub itself finds the model in its cache, as if it had downloaded it
    assert hub.resolve(url) == result.path
    module = hub.load(url)
    assert module(tf.ones([2, 3])).shape == (2, 4)

    # ptmhub's load: a Keras 2 layer, trainable, inside a tf_keras model, fine-tuned one step
    loaded = backend.load(mid, trainable=True)
    layer = loaded.model
    assert isinstance(layer, hub.KerasLayer) and isinstance(layer, tf_keras.layers.Layer)
    assert loaded.framework == "tensorflow"
    model = tf_keras.Sequential([tf_keras.Input(shape=(3,)), layer, tf_keras.layers.Dense(1)])
    assert sum(int(tf.size(w)) for w in layer.trainable_weights) == TINY_PARAMETERS
    before = layer.trainable_weights[0].numpy().copy()
    model.compile(optimizer=tf_keras.optimizers.SGD(0.1), loss="mse")
    model.fit(tf.ones([8, 3]), tf.ones([8, 1]) * 5.0, epochs=1, verbose=0)
    assert not (layer.trainable_weights[0].numpy() == before).all()  # the hub weights were fine-tuned

    frozen = backend.load(mid).model
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 3  # w, b, step
    as_model = backend.load(mid, kind="model", input_shape=(3,)).model
    assert isinstance(as_model, tf_keras.Sequential) and as_model(tf.ones([1, 3])).shape == (1, 4)
    assert backend.load(mid, kind="module").model(tf.ones([1, 3])).shape == (1, 4)
    assert Hub.requests == []


def test_pull_through_the_api_keeps_catalog_facts(tf, endpoint, sqlite_store, tmp_path, monkeypatch):
    """Catalog import, then pull: the record gains the exact count and cache state and keeps
    what the catalog said (task, license, doc metadata)."""
    import tf_keras

    from ptmhub import api
    from ptmhub.catalogs import tfhub as catalog

    docs = tmp_path / "tfhub.dev" / "assets" / "docs" / "acme"
    (docs / "models" / "good").mkdir(parents=True)
    (docs / "acme.md").write_text("# Publisher acme\nAcme.\n", encoding="utf-8")
    (docs / "models" / "good" / "1.md").write_text(
        "# Module acme/good/1\nA good tiny model. Really.\n\n<!-- asset-path: internal -->\n"
        "<!-- task: image-feature-vector -->\n<!-- fine-tunable: true -->\n<!-- format: saved_model_2 -->\n"
        "<!-- license: mit -->\n", encoding="utf-8")
    report = catalog.sync(sqlite_store, source=str(tmp_path / "tfhub.dev"))
    assert report.records == 1

    result = api.pull("tfhub:acme/good/1", store=sqlite_store)
    rec = sqlite_store.get("tfhub:acme/good/1")
    assert rec.cached and rec.cache_path == result.path and rec.cache_size_bytes == result.record.size_bytes
    assert (rec.parameters, rec.parameters_source) == (TINY_PARAMETERS, "saved-model")
    assert (rec.task, rec.license, rec.fine_tunable, rec.format) == ("image-feature-extraction", "mit", True,
                                                                    "saved_model_2")
    assert rec.extra["doc_type"] == "Module" and rec.summary == "A good tiny model."
    found = api.search(task="image-feature-extraction", license="permissive", max_parameters=100, store=sqlite_store)
    assert [r.id for r in found] == ["tfhub:acme/good/1"]

    Hub.requests = []
    _go_offline(monkeypatch)  # (api.load(offline=True) would set process-wide env vars)
    loaded = api.load("tfhub:acme/good/1", store=sqlite_store, trainable=True)
    assert isinstance(loaded.model, tf_keras.layers.Layer) and loaded.record.id == "tfhub:acme/good/1"
    assert Hub.requests == []
    assert sqlite_store.get("tfhub:acme/good/1").last_used is not None


def test_resolve_reads_headers_after_redirect(endpoint, backend, archives):
    record = backend.resolve(parse("tfhub:acme/good/1"))
    assert record.id == "tfhub:acme/good/1" and record.platform == "tfhub"
    assert (record.owner, record.name, record.version) == ("acme", "good", "1")
    assert record.size_bytes == len(archives["good"])
    assert dict(record.extra) == {}  # never clobbers the catalog's extra in the registry
    assert record.source_url == "https://tfhub.dev/acme/good/1"


def test_resolve_missing(endpoint, backend):
    with pytest.raises(ModelNotFoundError):
        backend.resolve(parse("tfhub:acme/nope/1"))


@pytest.mark.parametrize("name", ["traversal", "absolute", "symlink", "hardlink"])
def test_malicious_archive_refused_nothing_written(endpoint, backend, isolated_env, name):
    before = _files_under(isolated_env)
    with pytest.raises(UnsafeArchiveError):
        backend.pull(parse(f"tfhub:acme/{name}/1"))
    cache = isolated_env / "tfhub"
    assert _files_under(cache) == []  # no module dir, no tmp dir, no lock, no descriptor
    assert _files_under(isolated_env) == sorted(set(before) | {"tfhub"})
    assert not Path("/tmp/ptmhub-absolute-escape.txt").exists()
    assert not (isolated_env.parent / "escaped.txt").exists()
    with pytest.raises(NotCachedError):
        backend.load(parse(f"tfhub:acme/{name}/1"))


def test_interrupted_download_leaves_nothing_complete(endpoint, backend, isolated_env):
    with pytest.raises((NetworkError, CorruptArchiveError)):
        backend.pull(parse("tfhub:acme/truncated/1"))
    assert _files_under(isolated_env / "tfhub") == []


def test_not_an_archive(endpoint, backend, isolated_env):
    with pytest.raises(CorruptArchiveError):
        backend.pull(parse("tfhub:acme/notatar/1"))
    assert _files_under(isolated_env / "tfhub") == []


def test_pull_missing(endpoint, backend, isolated_env):
    with pytest.raises(ModelNotFoundError):
        backend.pull(parse("tfhub:acme/missing/1"))
    assert _files_under(isolated_env / "tfhub") == []


def test_offline_pull_of_uncached_model_opens_no_socket(endpoint, backend, monkeypatch):
    _go_offline(monkeypatch)
    with pytest.raises(OfflineError):
        backend.pull(parse("tfhub:acme/good/1"))
    assert Hub.requests == []


def test_load_not_cached(endpoint, backend):
    with pytest.raises(NotCachedError, match="ptmhub pull tfhub:acme/good/1"):
        backend.load(parse("tfhub:acme/good/1"))


def test_variants_and_other_hubs_cannot_be_pulled(endpoint, backend):
    with pytest.raises(UsageError, match="tflite"):
        backend.pull(parse("tfhub:google/lite-model/yamnet/tflite/1"))
    with pytest.raises(UsageError, match="not a tfhub ID"):
        backend.pull(parse("hf:google-bert/bert-base-uncased"))
    with pytest.raises(UsageError, match="not a kaggle ID"):
        KaggleBackend().pull(parse("tfhub:acme/good/1"))
    assert Hub.requests == []


def test_load_kind_errors(endpoint, backend):
    with pytest.raises(UsageError, match="unknown kind"):
        backend.load(parse("tfhub:acme/good/1"), kind="onnx")
    with pytest.raises(UsageError, match="input_shape"):
        backend.load(parse("tfhub:acme/good/1"), kind="model")


def test_import_tensorflow_selects_keras_2_and_keeps_sqlite_fts5():
    """In a fresh interpreter (TensorFlow may already be imported here): Keras 2 is tf.keras, and
    the registry's SQLite still has FTS5 after TensorFlow is loaded."""
    import subprocess
    import sys

    code = ("from ptmhub.savedmodel import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "import os, sqlite3, tf_keras\n"
            "assert os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
            "assert tf.keras.layers.Dense is tf_keras.layers.Dense\n"
            "sqlite3.connect(':memory:').execute('create virtual table t using fts5(x)')\n"
            "print('ok')\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


# -- parameter counting ---------------------------------------------------------------------
def test_count_keras_model_excludes_optimizer_state(tf, tmp_path):
    import tf_keras

    from ptmhub.savedmodel import count_parameters, detect_format

    model = tf_keras.Sequential([tf_keras.Input(shape=(3,)), tf_keras.layers.Dense(5),
                                 tf_keras.layers.BatchNormalization()])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(tf.ones([4, 3]), tf.ones([4, 5]), verbose=0)
    model.save(str(tmp_path / "keras"))
    count = count_parameters(tmp_path / "keras")
    assert count.parameters == model.count_params() == 3 * 5 + 5 + 4 * 5
    assert any("optimizer" in name for name in count.excluded)
    assert detect_format(tmp_path / "keras") == "saved_model_2"


def test_count_without_variables(tmp_path):
    from ptmhub.savedmodel import count_parameters, detect_format

    assert count_parameters(tmp_path).parameters is None
    (tmp_path / "saved_model.pb").write_bytes(b"")
    (tmp_path / "tfhub_module.pb").write_bytes(b"")
    count = count_parameters(tmp_path)
    assert count.parameters is None and "constants" in count.note
    assert detect_format(tmp_path) == "hub"


# -- Kaggle -----------------------------------------------------------------------------------
KAGGLE_ID = "kaggle:acme/tiny/tensorFlow2/default/2"


def test_kaggle_ids():
    mid = parse("https://www.kaggle.com/models/acme/tiny/frameworks/tensorFlow2/variations/default/versions/2")
    assert str(mid) == KAGGLE_ID and mid.key == KAGGLE_ID and mid.handle == "acme/tiny/tensorFlow2/default/2"
    assert parse("kaggle:acme/tiny/tensorFlow2/default").version is None
    with pytest.raises(InvalidIdError):
        parse("kaggle:acme/tiny/tensorFlow2")
    assert kaggle_framework("tensorFlow2") == "tensorflow" and kaggle_framework("pyTorch") == "pytorch"


def test_kaggle_unversioned_offline_asks_for_a_version(monkeypatch):
    _go_offline(monkeypatch)
    backend = KaggleBackend()
    for call in (backend.resolve, backend.pull):
        with pytest.raises(UsageError, match="has no version") as info:
            call(parse("kaggle:acme/tiny/tensorFlow2/default"))
        assert "kaggle:acme/tiny/tensorFlow2/default/1" in info.value.hint


def test_kaggle_offline_not_cached(monkeypatch):
    _go_offline(monkeypatch)
    with pytest.raises(NotCachedError):
        KaggleBackend().pull(parse(KAGGLE_ID))
    with pytest.raises(OfflineError):
        KaggleBackend().resolve(parse(KAGGLE_ID))


def test_kaggle_cached_model_pulls_and_loads_offline(tf, tiny_saved_model, monkeypatch, isolated_env):
    import shutil

    import tensorflow_hub as hub

    backend = KaggleBackend()
    target = backend.cache_path(parse(KAGGLE_ID))
    # kagglehub's own layout under KAGGLEHUB_CACHE, with its completion marker
    assert target == isolated_env / "kagglehub" / "models" / "acme" / "tiny" / "tensorFlow2" / "default" / "2"
    shutil.copytree(tiny_saved_model, target)
    _go_offline(monkeypatch)
    with pytest.raises(NotCachedError):  # files but no completion marker: an interrupted download
        backend.pull(parse(KAGGLE_ID))
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    Cache().mark_as_complete(parse_model_handle("acme/tiny/tensorFlow2/default/2"))
    result = backend.pull(parse(KAGGLE_ID))
    assert result.path == str(target)
    assert result.record.id == KAGGLE_ID and result.record.framework == "tensorflow"
    assert result.record.parameters == TINY_PARAMETERS and result.record.parameters_source == "saved-model"
    layer = backend.load(parse(KAGGLE_ID), trainable=True).model
    assert isinstance(layer, hub.KerasLayer) and len(layer.trainable_weights) == 2


# -- Kaggle through kagglehub, against a loopback Kaggle API ------------------------------------
# kagglesdk has no endpoint URL setting: KAGGLE_API_ENVIRONMENT=TEST points it at
# http://localhost:7777 (a fixed port), where this fake answers its RPC-style POSTs.
KAGGLE_PORT = 7777


class FakeKaggle(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    calls: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802
        import json

        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        method = self.path.rsplit("/", 1)[-1]
        FakeKaggle.calls.append((method, body))
        if body.get("ownerSlug") != "acme" or body.get("modelSlug") != "tiny":
            return self._json(404, {"code": 404, "message": "Not found"})
        if method == "GetModelInstance":
            return self._json(200, {"versionNumber": 2, "licenseName": "Apache 2.0", "fineTunable": True,
                                    "overview": "A tiny model for tests. It adds and multiplies.",
                                    "trainingData": ["imagenet"], "totalUncompressedBytes": 4321,
                                    "url": "/models/acme/tiny/tensorFlow2/default/2"})
        if method == "ListModelInstanceVersionFiles":
            return self._json(200, {"files": [{"name": n} for n in sorted(self.files)], "nextPageToken": ""})
        if method == "DownloadModelInstanceVersion":
            data = self.files.get(body.get("path", ""))
            if data is None:
                return self._json(404, {"code": 404, "message": "no such file"})
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._json(404, {"code": 404, "message": f"unknown method {method}"})

    def _json(self, status: int, payload: dict) -> None:
        import json

        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture
def fake_kaggle(tiny_saved_model, monkeypatch, tmp_path):
    try:
        server = ThreadingHTTPServer(("127.0.0.1", KAGGLE_PORT), FakeKaggle)
    except OSError:
        pytest.skip(f"port {KAGGLE_PORT} (kagglesdk's fixed TEST endpoint) is busy")
    FakeKaggle.files = {p.relative_to(tiny_saved_model).as_posix(): p.read_bytes()
                        for p in tiny_saved_model.rglob("*") if p.is_file()}
    FakeKaggle.calls = []
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))  # no credentials of the user's
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_kaggle_resolve_and_pull_through_kagglehub(tf, fake_kaggle, isolated_env):
    backend = KaggleBackend()
    unversioned = parse("kaggle:acme/tiny/tensorFlow2/default")
    record = backend.resolve(unversioned)
    assert record.id == KAGGLE_ID and record.version == "2"  # the latest version, asked of the hub
    assert list(backend.aliases_for(unversioned, record)) == ["kaggle:acme/tiny/tensorFlow2/default"]
    assert (record.license, record.license_raw) == ("apache-2.0", "Apache 2.0")
    assert record.fine_tunable is True and record.datasets == ("imagenet",) and record.size_bytes == 4321
    assert record.summary == "A tiny model for tests."
    assert record.framework == "tensorflow"

    result = backend.pull(unversioned)
    target = isolated_env / "kagglehub" / "models" / "acme" / "tiny" / "tensorFlow2" / "default" / "2"
    assert result.path == str(target)
    assert sorted(result.files) == sorted(FakeKaggle.files)
    assert result.record.id == KAGGLE_ID and result.record.parameters == TINY_PARAMETERS
    downloads = [c for c in FakeKaggle.calls if c[0] == "DownloadModelInstanceVersion"]
    assert len(downloads) == len(FakeKaggle.files)

    # cached now: pulling the versioned ID asks nothing of the hub
    FakeKaggle.calls = []
    assert backend.pull(parse(KAGGLE_ID)).path == str(target)
    assert FakeKaggle.calls == []


def test_kaggle_missing_model(fake_kaggle):
    with pytest.raises(ModelNotFoundError):
        KaggleBackend().resolve(parse("kaggle:acme/nothing/tensorFlow2/default/1"))
    with pytest.raises(ModelNotFoundError):
        KaggleBackend().pull(parse("kaggle:acme/nothing/tensorFlow2/default/1"))
