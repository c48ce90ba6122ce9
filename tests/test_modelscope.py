"""The ModelScope backend and cache against a loopback hub that speaks ModelScope's REST protocol
(tests/modelscope_server.py), hosting a real tiny BERT saved by transformers in this test.

Nothing of ptmhub is stubbed: the backend, the cache services and the CLI run as users run them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from modelscope_server import FakeModelScope, Reply, envelope, model_info

REPO = "ptmhub-test/tiny-bert"
MID = f"ms:{REPO}"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
REGISTRATIONS = {
    "BACKENDS": ("modelscope", "ptmhub.hubs.modelscope:ModelScopeBackend"),
    "NATIVE_CACHES": ("modelscope", "ptmhub.hubs.modelscope.cache:ModelScopeCache"),
    "MATRIX_ROWS": ("modelscope", "ptmhub.hubs.modelscope.facts:MODELSCOPE"),
}


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A real BertForMaskedLM with its tokenizer, saved as safetensors; and its parameter count."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    # a ModelScope repo's own metadata file, as the hub's repos carry it
    (folder / "configuration.json").write_text(json.dumps({"framework": "pytorch", "task": "fill-mask"}))
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return {"folder": folder, "files": files, "parameters": sum(p.numel() for p in model.parameters()),
            "model": model, "tokenizer": tokenizer}


@pytest.fixture
def registered(monkeypatch):
    """The three registration lines (kept when base.py already has them)."""
    from ptmhub.hubs import base

    for attr, (key, target) in REGISTRATIONS.items():
        monkeypatch.setitem(getattr(base, attr), key, target)


@pytest.fixture
def ms(tmp_path, monkeypatch, tiny_bert, registered):
    """A loopback ModelScope hosting the tiny BERT; MODELSCOPE_DOMAIN and MODELSCOPE_CACHE point at
    the server and a fresh cache."""
    from ptmhub import settings

    hub = FakeModelScope().start()
    hub.add_repo(REPO, tiny_bert["files"], commit=COMMIT, tags=("v1.0",))
    monkeypatch.setenv("MODELSCOPE_DOMAIN", hub.url)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "mscache"))
    monkeypatch.delenv("MODELSCOPE_API_TOKEN", raising=False)
    monkeypatch.setenv("PTMHUB_MAX_RETRIES", "1")
    settings.reload()
    yield hub
    hub.stop()
    assert not hub.errors, hub.errors[0]


def _backend():
    from ptmhub.hubs.base import backend_for

    return backend_for("modelscope")


def _id(text: str = MID):
    from ptmhub.ids import parse

    return parse(text)


def _cache_dir() -> Path:
    from ptmhub import settings

    return settings.get().modelscope_cache


def _looks_complete() -> list[str]:
    """What a reader of the cache would take for a finished model: ptmhub's discovery and the
    client's own rule (a non-empty snapshots/REV folder)."""
    from ptmhub import cache

    found = [m.model_id for m in cache.discover(caches=["modelscope"]).models]
    snapshots = _cache_dir() / "models" / REPO.replace("/", "--") / "snapshots"
    found += [str(p) for p in snapshots.iterdir() if any(p.iterdir())] if snapshots.is_dir() else []
    return found


# -- resolve -----------------------------------------------------------------------------------------
def test_resolve_reads_the_api_and_counts_parameters_from_headers(ms, tiny_bert):
    record = _backend().resolve(_id())
    assert record.id == MID and record.platform == "modelscope"
    assert (record.owner, record.name) == ("ptmhub-test", "tiny-bert")
    assert record.task == "fill-mask"
    assert (record.license, record.license_raw) == ("apache-2.0", "Apache License 2.0")
    assert record.license_source.startswith("modelscope")
    assert (record.downloads, record.likes) == (1234, 56)
    assert set(record.tags) == {"bert", "tiny"}
    assert (record.framework, record.library, record.architecture) == ("pytorch", "transformers", "bert")
    assert record.revision == COMMIT and record.extra["ref"] == "master"
    assert record.size_bytes == sum(len(b) for b in tiny_bert["files"].values())
    assert record.summary == "A tiny BERT for tests."
    assert record.source_url == "https://modelscope.cn/models/ptmhub-test/tiny-bert"
    assert record.last_modified.isoformat() == "2024-06-01T00:00:00+00:00"
    assert record.format == "safetensors"
    # the count is the model's own, from the header alone
    assert record.parameters == tiny_bert["parameters"]
    assert record.parameters_source == "safetensors-header"
    weights = len(tiny_bert["files"]["model.safetensors"])
    assert weights > 16 * 1024, "the test model must be larger than one speculative header read"
    assert 0 < ms.bytes_sent["model.safetensors"] <= 16 * 1024
    assert all("Range" in h for _m, _p, q, h in ms.requests_to(r"/repo$") if q.get("FilePath") == ["model.safetensors"])
    # only the two API calls and the header read: nothing downloaded
    assert {p for _m, p, _q, _h in ms.requests} == {f"/api/v1/models/{REPO}", f"/api/v1/models/{REPO}/repo/files",
                                                   f"/api/v1/models/{REPO}/repo"}


def test_resolve_through_the_services_stores_the_record(ms, sqlite_store):
    from ptmhub import api

    record = api.resolve(MID, store=sqlite_store)
    stored = sqlite_store.get(MID)
    assert stored is not None and stored.parameters == record.parameters and stored.task == "fill-mask"
    assert ms.requests_to(r"/repo/files$")[0][2]["Revision"] == ["master"]


def test_resolve_a_pinned_tag_asks_for_that_revision(ms):
    record = _backend().resolve(_id(f"{MID}@v1.0"))
    assert record.id == MID and record.extra["ref"] == "v1.0"
    assert {q["Revision"][0] for _m, _p, q, _h in ms.requests} == {"v1.0"}


def test_tasks_map_only_to_exact_pipeline_tags_and_no_safetensors_means_no_count(ms, tiny_bert):
    info = model_info("ptmhub-test/asr", Tasks=[{"Name": "auto-speech-recognition"}], License="",
                      Frameworks=["pytorch"], Libraries=[])
    ms.add_repo("ptmhub-test/asr", {"pytorch_model.bin": b"\0" * 64, "configuration.json": "{}"}, info=info)
    record = _backend().resolve(_id("ms:ptmhub-test/asr"))
    assert record.task == "automatic-speech-recognition"
    assert record.license is None and record.license_raw is None
    assert record.parameters is None and record.parameters_note == "the repo has no safetensors weights"
    info = model_info("ptmhub-test/seg", Tasks=[{"Name": "word-segmentation"}])
    ms.add_repo("ptmhub-test/seg", {"model.safetensors": tiny_bert["files"]["model.safetensors"]}, info=info)
    assert _backend().resolve(_id("ms:ptmhub-test/seg")).task == "word-segmentation"


# -- faults: one typed, one-line error each ------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("setup, error, words", [
    (lambda hub: None, "ModelNotFoundError", "was not found"),                      # unknown model: HTTP 404
    (lambda hub: setattr(hub, "not_found_as_200", True), "ModelNotFoundError", "Code 10010205"),  # 200 + envelope
    (lambda hub: hub.script(r"^/api/v1/models/[^/]+/[^/]+\?", Reply(500, body=envelope(None, code=500, success=False)),
                            Reply(500, body=envelope(None, code=500, success=False))), "HubServerError", "HTTP 500"),
    (lambda hub: hub.script(r"^/api/v1/models/[^/]+/[^/]+\?", Reply(200, body="<html>not json")),
     "MalformedResponseError", "malformed JSON"),
    (lambda hub: hub.script(r"^/api/v1/models/[^/]+/[^/]+\?", Reply(200, body={"unexpected": True})),
     "MalformedResponseError", "envelope"),
    (lambda hub: hub.script(r"^/api/v1/models/[^/]+/[^/]+\?", Reply(401, body=envelope(None, code=401, success=False))),
     "AuthError", "log in"),
    (lambda hub: hub.script(r"/repo/files", Reply(200, body=envelope({"Files": [
        {"Path": "../../escape.txt", "Type": "blob", "Size": 1, "Sha256": "0" * 64}]}))),
     "MalformedResponseError", "unsafe path"),
    (lambda hub: hub.script(r"/repo/files", Reply(200, body=envelope({"Files": [
        {"Path": "a.txt", "Type": "blob", "Size": 1, "Sha256": "0" * 64, "Revision": "../../x"}]}))),
     "MalformedResponseError", "invalid commit hash"),
])
def test_resolve_faults(ms, setup, error, words):
    name = "ms:ptmhub-test/nope" if error == "ModelNotFoundError" else MID
    setup(ms)
    with pytest.raises(Exception) as info:
        _backend().resolve(_id(name))
    assert type(info.value).__name__ == error
    assert words in _one_line(info.value)


def test_offline_resolve_opens_no_socket(ms, monkeypatch):
    from ptmhub import settings
    from ptmhub.errors import OfflineError

    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    with pytest.raises(OfflineError):
        _backend().resolve(_id())
    assert ms.requests == []


@pytest.mark.parametrize("reply, error, words", [
    (Reply(truncate=100), "NetworkError", "model.safetensors"),  # "broke off" / "ended after 100 of"
    (Reply(corrupt=True), "IntegrityError", "sha256"),
    (Reply(500), "HubServerError", "HTTP 500"),
    (Reply(404), "ModelNotFoundError", "model.safetensors is not in ms:ptmhub-test/tiny-bert"),
])
def test_pull_faults_leave_nothing_that_looks_complete(ms, reply, error, words):
    ms.script(r"FilePath=model\.safetensors", reply, reply)
    with pytest.raises(Exception) as info:
        _backend().pull(_id())
    assert type(info.value).__name__ == error
    assert words in _one_line(info.value)
    assert _looks_complete() == []
    repo = _cache_dir() / "models" / REPO.replace("/", "--")
    leftovers = [p for p in repo.rglob("*")] if repo.is_dir() else []
    assert leftovers == [], leftovers  # the staging folder went too, and no empty folders stay


# -- pull, load, and the client's own lookup -----------------------------------------------------------
def test_pull_writes_the_client_layout_and_loads_offline(ms, sqlite_store, tiny_bert, monkeypatch):
    torch = pytest.importorskip("torch")
    from ptmhub import api, settings

    seen: list[int] = []
    result = api.pull(MID, store=sqlite_store, progress=seen.append)
    snapshot = _cache_dir() / "models" / "ptmhub-test--tiny-bert" / "snapshots" / "master"
    assert Path(result.path) == snapshot
    assert {p.relative_to(snapshot).as_posix(): p.read_bytes() for p in snapshot.rglob("*") if p.is_file()} \
        == tiny_bert["files"]
    assert result.bytes_downloaded == sum(seen) == sum(len(b) for b in tiny_bert["files"].values())
    manifest = json.loads((snapshot.parent.parent / ".ptmhub" / "master.json").read_text())
    assert manifest["commit"] == COMMIT and set(manifest["files"]) == set(tiny_bert["files"])
    stored = sqlite_store.get(MID)
    assert stored.cached and stored.cache_path == str(snapshot) and stored.parameters == tiny_bert["parameters"]
    # a second pull reuses what is there (hashes checked), downloads nothing
    ms.reset()
    again = api.pull(MID, store=sqlite_store)
    assert again.bytes_downloaded == 0 and ms.bytes_sent == {}

    ms.stop()  # no hub at all from here on
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    loaded = api.load(MID, store=sqlite_store)
    assert type(loaded.model).__name__ == "BertForMaskedLM" and loaded.framework == "pytorch"
    assert loaded.preprocess is not None
    batch = tiny_bert["tokenizer"]("the cat [MASK] on the mat", return_tensors="pt")
    with torch.no_grad():
        expected = tiny_bert["model"](**batch).logits
        got = loaded.model(**loaded.preprocess("the cat [MASK] on the mat", return_tensors="pt")).logits
    assert torch.equal(expected, got)


def test_load_of_a_model_not_pulled_names_the_pull(ms):
    from ptmhub.errors import NotCachedError

    with pytest.raises(NotCachedError) as info:
        _backend().load(_id())
    assert f"ptmhub pull {MID}" in _one_line(info.value)


def _modelscope_python() -> str | None:
    """A Python with the modelscope client: this one, or PTMHUB_TEST_MODELSCOPE_PYTHON."""
    if importlib.util.find_spec("modelscope") is not None:
        return sys.executable
    return os.environ.get("PTMHUB_TEST_MODELSCOPE_PYTHON") or None


def test_the_modelscope_client_finds_what_ptmhub_pulled(ms, tmp_path):
    python = _modelscope_python()
    if python is None:
        pytest.skip("the modelscope client is not installed (set PTMHUB_TEST_MODELSCOPE_PYTHON to a Python with it)")
    _backend().pull(_id())
    _backend().pull(_id(f"{MID}@v1.0"))
    code = ("import sys\nfrom modelscope import snapshot_download\n"
            "print(snapshot_download(sys.argv[1], local_files_only=True))\n"
            "print(snapshot_download(sys.argv[1], revision='v1.0', local_files_only=True))\n"
            "print(snapshot_download(sys.argv[1], cache_dir=sys.argv[2], local_files_only=True))\n")
    env = {**os.environ, "MODELSCOPE_CACHE": str(_cache_dir()), "MODELSCOPE_DOMAIN": ms.url}
    proc = subprocess.run([python, "-c", code, REPO, str(_cache_dir())], check=False, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    snapshots = _cache_dir() / "models" / "ptmhub-test--tiny-bert" / "snapshots"
    assert [Path(line) for line in proc.stdout.split()] == [snapshots / "master", snapshots / "v1.0",
                                                             snapshots / "master"]


def test_ptmhub_finds_and_loads_what_the_client_downloaded(ms, sqlite_store, monkeypatch):
    pytest.importorskip("transformers")
    python = _modelscope_python()
    if python is None:
        pytest.skip("the modelscope client is not installed (set PTMHUB_TEST_MODELSCOPE_PYTHON to a Python with it)")
    from ptmhub import api, cache, settings

    code = "import sys\nfrom modelscope import snapshot_download\nprint(snapshot_download(sys.argv[1]))\n"
    env = {**os.environ, "MODELSCOPE_CACHE": str(_cache_dir()), "MODELSCOPE_DOMAIN": ms.url}
    proc = subprocess.run([python, "-c", code, REPO], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (model,) = cache.discover(caches=["modelscope"]).models
    assert (model.model_id, Path(proc.stdout.split()[-1])) == (f"{MID}@master", model.path)
    (report,) = cache.verify(MID, store=sqlite_store)
    assert set(report.counts) == {"unverifiable"}  # the client keeps no hash; ptmhub claims none
    ms.stop()
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    assert type(api.load(MID, store=sqlite_store).model).__name__ == "BertForMaskedLM"


# -- the cache services -----------------------------------------------------------------------------------
def test_cache_scan_verify_rm(ms, sqlite_store, tiny_bert):
    from ptmhub import api, cache
    from ptmhub.errors import NotCachedError

    api.pull(MID, store=sqlite_store)
    report = cache.scan(store=sqlite_store, caches=["modelscope"])
    assert MID in report.updated + report.registered
    rows, _inv = cache.ls(store=sqlite_store, caches=["modelscope"])
    assert [(r["id"], r["revision"]) for r in rows] == [(MID, "master")]
    record = sqlite_store.get(MID)
    assert record.parameters == tiny_bert["parameters"] and record.revision == COMMIT

    (reports,) = cache.verify(MID, store=sqlite_store)
    assert reports.ok and reports.counts == {"ok": len(tiny_bert["files"])}
    assert {c.method for c in reports.checks} == {"sha256"}
    weights = Path(record.cache_path) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    (reports,) = cache.verify(MID, store=sqlite_store)
    assert not reports.ok and [c.name for c in reports.checks if c.status == "mismatch"] == ["model.safetensors"]

    removals = cache.rm(MID, store=sqlite_store)
    assert removals and not (_cache_dir() / "models" / "ptmhub-test--tiny-bert").exists()
    assert not sqlite_store.get(MID).cached
    with pytest.raises(NotCachedError):
        cache.rm(MID, store=sqlite_store)


def test_discovery_of_client_written_folders_and_leftovers(ms, tiny_bert, sqlite_store):
    from ptmhub import cache

    root = _cache_dir()
    # what the client itself wrote: no manifest, so nothing to verify against
    client = root / "models" / "someone--other.model" / "snapshots" / "master"
    client.mkdir(parents=True)
    (client / "config.json").write_text("{}")
    # a client download still running (a .incomplete file), and an interrupted ptmhub pull
    running = root / "models" / "someone--other.model" / "snapshots" / "v2"
    running.mkdir(parents=True)
    (running / "model.safetensors.incomplete").write_bytes(b"x")
    staging = root / "models" / "ptmhub-test--tiny-bert" / ".ptmhub-pull-abc"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"partial")
    # a 1.37-and-earlier client's folder (dots in the name as ___)
    legacy = root / "models" / "old" / "net___v2"
    legacy.mkdir(parents=True)
    (legacy / "pytorch_model.bin").write_bytes(b"\0")
    (legacy / ".mdl").write_bytes(b"pickle, never read")

    inv = cache.discover(caches=["modelscope"])
    assert sorted(m.model_id for m in inv.models) == ["ms:old/net.v2", "ms:someone/other.model@master"]
    problems = {(p.kind, p.model_id) for p in inv.problems}
    assert ("incomplete", "ms:someone/other.model@v2") in problems
    assert ("incomplete", MID) in problems
    (report,) = cache.verify("ms:someone/other.model", store=sqlite_store)
    assert report.counts == {"unverifiable": 1} and "keeps no hash" in report.note
    assert cache.rm(MID, store=sqlite_store)  # the leftover of the interrupted pull goes
    assert not staging.exists()


# -- the CLI, as a user runs it ---------------------------------------------------------------------------
def _cli(args: list[str], env: dict[str, str], db: Path) -> subprocess.CompletedProcess[str]:
    """``python -m ptmhub --db DB ARGS``, with ModelScope registered (as base.py will have it)."""
    register = "; ".join(f"base.{attr}.setdefault({key!r}, {target!r})"
                         for attr, (key, target) in REGISTRATIONS.items())
    code = f"import sys; import ptmhub.hubs.base as base; {register}; from ptmhub.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "--db", str(db), *args], check=False, capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_resolve_pull_load(ms, tmp_path, tiny_bert):
    env = {**os.environ, "MODELSCOPE_DOMAIN": ms.url, "MODELSCOPE_CACHE": str(_cache_dir())}
    db = tmp_path / "cli.db"
    proc = _cli(["resolve", MID, "--json"], env, db)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    record = out[0] if isinstance(out, list) else out
    assert record["id"] == MID and record["parameters"] == tiny_bert["parameters"]

    proc = _cli(["pull", MID, "--json"], env, db)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["path"].endswith("models/ptmhub-test--tiny-bert/snapshots/master")

    ms.stop()
    proc = _cli(["load", MID, "--json"], {**env, "PTMHUB_OFFLINE": "1"}, db)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "BertForMaskedLM"

    proc = _cli(["load", "ms:ptmhub-test/never-pulled"], {**env, "PTMHUB_OFFLINE": "1"}, db)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "ptmhub pull ms:ptmhub-test/never-pulled" in proc.stderr


def test_cli_unknown_model_is_one_line(ms, tmp_path):
    env = {**os.environ, "MODELSCOPE_DOMAIN": ms.url, "MODELSCOPE_CACHE": str(_cache_dir())}
    proc = _cli(["resolve", "ms:ptmhub-test/nope"], env, tmp_path / "cli.db")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "not found" in proc.stderr


def test_platform_row_is_complete(registered):
    from ptmhub.hubs.base import FACETS, load_target
    from ptmhub.records import FIELDS

    row = load_target(REGISTRATIONS["MATRIX_ROWS"][1])
    assert row.name == "modelscope" and row.supported and row.id_scheme.startswith("ms:")
    for key, _label in FACETS:
        assert isinstance(getattr(row, key), str) and getattr(row, key).strip(), key
    assert row.publishes <= set(FIELDS) and row.cache_env.startswith("MODELSCOPE_CACHE")


def test_a_private_model_needs_the_token_which_goes_only_to_the_endpoint(ms, tiny_bert, sqlite_store, monkeypatch):
    from ptmhub import api, settings
    from ptmhub.errors import PtmhubError

    secret = "ms-" + "s3cr3t" * 6
    ms.token = secret
    ms.add_repo("acme/private-bert", tiny_bert["files"], commit="c" * 40, private=True)
    with pytest.raises(PtmhubError) as err:  # no token: refused in one line, nothing stored
        api.resolve("ms:acme/private-bert", store=sqlite_store)
    assert "\n" not in str(err.value) and secret not in str(err.value) and sqlite_store.count() == 0
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", secret)
    settings.reload()
    record = api.resolve("ms:acme/private-bert", store=sqlite_store)
    assert record.id == "ms:acme/private-bert" and record.parameters == tiny_bert["parameters"]
    sent = [h for _m, _p, _q, h in ms.requests if h.get("Authorization") == f"Bearer {secret}"]
    assert sent  # the token went to the endpoint ...
    db = Path(sqlite_store.url.removeprefix("sqlite:///")).read_bytes()
    assert secret.encode() not in db and secret not in json.dumps(record.to_dict())  # ... and nowhere else
