"""The torch.hub backend against a loopback "GitHub" serving real zipballs of tiny hubconf
repositories: fetch, trust policy, static listing, meta-device counts, pull, load, torch.hub
interoperability and checkpoint hashes."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ptmhub import models, settings  # noqa: E402
from ptmhub.errors import (  # noqa: E402
    IntegrityError,
    LimitExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    NotCachedError,
    RepoDependencyError,
    UnsafeArchiveError,
    UntrustedRepoError,
    UsageError,
)
from ptmhub.hubs import torchhub as th  # noqa: E402
from ptmhub.hubs.torchhub import TorchHubBackend, list_entrypoints  # noqa: E402
from ptmhub.ids import parse  # noqa: E402

NET_PY = '''
import torch.nn as nn


class TinyNet(nn.Module):
    """Linear(4, width) -> ReLU -> Linear(width, 2)."""

    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))

    def forward(self, x):
        return self.body(x)
'''

HUBCONF = '''
dependencies = ["torch"]

import torch
from torch import nn
from tinymodels.net import TinyNet

GOOD = "{base}/weights/tinynet-{sha8}.pth"
BAD = "{base}/weights/tinynet-deadbeef.pth"


def tinynet(pretrained=False, width=8, **kwargs):
    """A tiny two-layer network.

    Args:
        pretrained: load the published weights.
        width: hidden width.
    """
    model = TinyNet(width)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url(GOOD, progress=False, check_hash=True,
                                                                 weights_only=True))
    return model


def tinynet_badhash(pretrained=False):
    """Same network; its checkpoint's name promises a hash the content does not have."""
    model = TinyNet(8)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url(BAD, progress=False, weights_only=True))
    return model


def tools():
    """Not a model: an entrypoint that takes no pretrained= argument."""
    return {{"version": 1}}


def _helper():
    return None
'''

EVIL_HUBCONF = '''
import pathlib

pathlib.Path({marker!r}).write_text("hubconf.py ran")


def model(pretrained=False):
    """Looks harmless."""
    pathlib.Path({marker!r}).write_text("entrypoint ran")
    return None
'''

NEEDY_HUBCONF = '''
dependencies = ["torch", "surely_not_an_installed_package"]


def needy(pretrained=False):
    """Needs a package nobody has."""
    import torch.nn as nn
    return nn.Linear(2, 2)
'''

LICENSE_MIT = "MIT License\n\nCopyright (c) 2024 Acme\n\nPermission is hereby granted, free of charge, to any person..."


def zipball(top: str, files: dict[str, str]) -> bytes:
    """A zip laid out like GitHub's zipball: one OWNER-REPO-SHA/ folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/", "")
        for name, text in files.items():
            info = zipfile.ZipInfo(f"{top}/{name}")
            info.external_attr = 0o100644 << 16  # a regular file, as git archive writes it
            zf.writestr(info, text)
    return buf.getvalue()


class FakeGitHub:
    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                server.requests.append((self.command, self.path))
                body = server.routes.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._answer(True)

            def do_HEAD(self):  # noqa: N802
                self._answer(False)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add_repo(self, owner: str, repo: str, files: dict[str, str], *, refs=("main",), sha="0123abc") -> None:
        for ref in refs:
            self.routes[f"/{owner}/{repo}/zipball/{ref}"] = zipball(f"{owner}-{repo}-{sha}", files)
        if "main" in refs:
            self.routes[f"/{owner}/{repo}/tree/main/"] = b"<html>tree</html>"
        # the REST API torch.hub (and ptmhub) ask whether a ref is the repository's own; refs
        # named v* are tags, the others branches
        full = sha.ljust(40, "0")
        self.add_refs(owner, repo, branches={r: full for r in refs if not r.startswith("v")},
                      tags={r: full for r in refs if r.startswith("v")})

    def add_refs(self, owner: str, repo: str, *, branches: dict[str, str], tags: dict[str, str],
                 per_page: int = 100) -> None:
        api = f"/api/v3/repos/{owner}/{repo}"
        for kind, refs in (("branches", branches), ("tags", tags)):
            items = [{"name": name, "commit": {"sha": sha, "url": "x"}} for name, sha in refs.items()]
            pages = [items[i:i + per_page] for i in range(0, len(items), per_page)] + [[]]
            for n, page in enumerate(pages, 1):
                self.routes[f"{api}/{kind}?per_page=100&page={n}"] = json.dumps(page).encode()
        self.routes[api] = json.dumps({"full_name": f"{owner}/{repo}", "default_branch": "main"}).encode()

    def hits(self, prefix: str) -> int:
        return sum(1 for _, path in self.requests if path.startswith(prefix))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def github(monkeypatch, tmp_path):
    gh = FakeGitHub()
    monkeypatch.setenv("PTMHUB_GITHUB_ENDPOINT", gh.base)
    settings.reload()
    state = TinyNetState(gh, tmp_path)
    yield state
    gh.close()


class TinyNetState:
    """The served repositories: acme/tiny (a real model with a checkpoint), evil/repo (writes a
    file when imported), acme/needy (a missing dependency)."""

    def __init__(self, gh: FakeGitHub, tmp_path: Path):
        self.gh = gh
        torch.manual_seed(0)
        from torch import nn

        model = nn.Sequential()
        model.add_module("body", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        self.checkpoint = buf.getvalue()
        self.sha = hashlib.sha256(self.checkpoint).hexdigest()
        self.weight = model.state_dict()["body.0.weight"].clone()
        gh.routes[f"/weights/tinynet-{self.sha[:8]}.pth"] = self.checkpoint
        gh.routes["/weights/tinynet-deadbeef.pth"] = self.checkpoint
        files = {
            "hubconf.py": HUBCONF.format(base=gh.base, sha8=self.sha[:8]),
            "tinymodels/__init__.py": "",
            "tinymodels/net.py": NET_PY,
            "LICENSE": LICENSE_MIT,
            "README.md": "# tiny\n",
        }
        gh.add_repo("acme", "tiny", files, refs=("main", "v1.0"))
        self.marker = tmp_path / "evil-was-here"
        gh.add_repo("evil", "repo", {"hubconf.py": EVIL_HUBCONF.format(marker=str(self.marker))})
        gh.add_repo("acme", "needy", {"hubconf.py": NEEDY_HUBCONF})


def hub() -> Path:
    return th.hub_dir()


class _AsServicesCallIt:
    """The backend called the way ptmhub.models calls it: each call gets a context read from
    the registry by ``models.context_for`` (the model's record, the trust list)."""

    def __init__(self, store):
        self.backend, self.store = TorchHubBackend(), store

    def _context(self, model_id, trust=False):
        return models.context_for(parse(model_id), self.store, trust=trust)

    def resolve(self, model_id, *, trust=False):
        return self.backend.resolve(model_id, context=self._context(model_id, trust))

    def pull(self, model_id, *, trust=False, **kwargs):
        return self.backend.pull(model_id, context=self._context(model_id, trust), **kwargs)

    def load(self, model_id, record=None, *, trust=False, **kwargs):
        return self.backend.load(model_id, record, context=self._context(model_id, trust), **kwargs)


@pytest.fixture
def backend(sqlite_store):
    return _AsServicesCallIt(sqlite_store)


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connect fails, loopback included."""

    def refuse(self, address):
        raise OSError(f"network forbidden in this test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# -- trust ------------------------------------------------------------------------------------------
def test_trust_list(sqlite_store):
    assert th.trust_status("acme", "tiny", entries=sqlite_store.trusted()) is None
    assert th.trust_add("Acme/Tiny", store=sqlite_store) == "acme/tiny"
    assert th.trust_status("acme", "tiny", entries=sqlite_store.trusted()) == "registry"
    assert th.trust_status("ACME", "TINY", entries=sqlite_store.trusted()) == "registry"  # GitHub names ignore case
    assert th.trust_add("other/*", store=sqlite_store) == "other/*"
    assert th.trust_status("other", "anything", entries=sqlite_store.trusted()) == "registry (owner)"
    # torch.hub's own trusted owners, read from torch/hub.py
    assert "pytorch" in torch.hub._TRUSTED_REPO_OWNERS
    assert th.trust_status("pytorch", "vision", entries=sqlite_store.trusted()) == "torch.hub trusted owner"
    assert th.trust_status("facebookresearch", "dinov2", entries=sqlite_store.trusted()) == "torch.hub trusted owner"
    assert th.trust_status("evil", "repo", trust=True, entries=sqlite_store.trusted()) == "--trust"
    rows = th.trusted_repos(store=sqlite_store)
    assert {"repo": "acme/tiny", "source": "registry"} in rows
    assert {"repo": "pytorch/*", "source": "torch.hub trusted owner"} in rows
    assert th.trust_remove("acme/tiny", store=sqlite_store) is True
    assert th.trust_status("acme", "tiny", entries=sqlite_store.trusted()) is None
    assert th.trust_remove("acme/tiny", store=sqlite_store) is False
    for bad in ("acme", "a/b/c", "../x", "acme/*/x"):
        with pytest.raises(UsageError):
            th.trust_add(bad, store=sqlite_store)


def test_torch_hub_trusted_list_is_honoured_and_cleaned(sqlite_store):
    (hub()).mkdir(parents=True, exist_ok=True)
    (hub() / "trusted_list").write_text("acme_tiny\n")
    assert th.trust_status("acme", "tiny", entries=sqlite_store.trusted()) == "torch.hub trusted_list"
    assert {"repo": "acme_tiny", "source": "torch.hub trusted_list"} in th.trusted_repos(store=sqlite_store)
    assert th.trust_remove("acme/tiny", store=sqlite_store) is True
    assert (hub() / "trusted_list").read_text() == ""


# -- the untrusted repository ----------------------------------------------------------------------
def test_untrusted_repo_runs_no_code(github, backend, sqlite_store):
    rec = backend.resolve("torchhub:evil/repo/model")
    # read statically: entrypoint and docstring known, nothing counted, nothing ran
    assert rec.summary == "Looks harmless." and rec.extra["entrypoints"] == ["model"]
    assert rec.parameters is None and "not trusted" in rec.parameters_note
    assert rec.extra["listing"] == "ast" and "trusted" not in rec.extra
    assert list_entrypoints("evil/repo", trusted=sqlite_store.trusted()) == [
        {"name": "model", "doc": "Looks harmless.", "kind": "function", "source": "ast"}]
    for call in (lambda: backend.load("torchhub:evil/repo/model"),
                 lambda: backend.pull("torchhub:evil/repo/model")):
        with pytest.raises(UntrustedRepoError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "ptmhub trust add evil/repo" in message
    assert not github.marker.exists()
    # never in torch.hub's cache (torch.hub trusts whatever it finds there) nor its trusted_list
    assert not (hub() / "evil_repo_main").exists()
    assert "evil_repo" not in ((hub() / "trusted_list").read_text() if (hub() / "trusted_list").exists() else "")
    quarantined = settings.get().home / "torchhub" / "untrusted" / "evil_repo_main" / "hubconf.py"
    assert quarantined.is_file()
    assert github.gh.hits("/evil/repo/zipball/") == 1  # the listing reused the quarantined copy


def test_untrusted_load_refuses_before_any_request(github, backend):
    with pytest.raises(UntrustedRepoError):
        backend.load("torchhub:evil/repo:main/model")
    assert github.gh.requests == [] and not github.marker.exists()


def test_an_entrypoint_that_is_not_there(github, backend):
    with pytest.raises(ModelNotFoundError, match="no entrypoint 'nope'.*its entrypoints: model"):
        backend.resolve("torchhub:evil/repo/nope")
    with pytest.raises(ModelNotFoundError, match="not found"):
        backend.resolve("torchhub:evil/missing/model")
    assert not github.marker.exists()


# -- the trusted repository ------------------------------------------------------------------------
def test_static_listing_matches_torch_hub_list(github, sqlite_store, no_network_after_fetch):
    static = list_entrypoints("acme/tiny", trusted=sqlite_store.trusted())
    assert [e["name"] for e in static] == ["TinyNet", "tinynet", "tinynet_badhash", "tools"]
    by_name = {e["name"]: e for e in static}
    assert by_name["tinynet"]["doc"].startswith("A tiny two-layer network.\n\nArgs:")
    assert by_name["TinyNet"]["doc"] == "Linear(4, width) -> ReLU -> Linear(width, 2)."  # followed into the repo
    assert by_name["TinyNet"]["kind"] == "class"
    info = th.read_hubconf(settings.get().home / "torchhub" / "untrusted" / "acme_tiny_main")
    assert info.dependencies == ["torch"] and info.missing_dependencies() == [] and not info.dynamic
    imported = list_entrypoints("acme/tiny:main", trust=True, trusted=sqlite_store.trusted())
    assert [e["source"] for e in imported] == ["hubconf"] * 4
    assert [(e["name"], e["doc"]) for e in imported] == [(e["name"], e["doc"]) for e in static]
    no_network_after_fetch()
    listed = torch.hub.list("acme/tiny:main", trust_repo="check", verbose=False)
    assert sorted(listed) == [e["name"] for e in static]


@pytest.fixture
def no_network_after_fetch(monkeypatch):
    def forbid():
        def refuse(self, address):
            raise OSError(f"network forbidden in this test: {address!r}")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    return forbid


def test_trusted_resolve_counts_on_the_meta_device(github, backend, sqlite_store):
    th.trust_add("acme/tiny", store=sqlite_store)
    rec = backend.resolve("torchhub:acme/tiny/tinynet")
    assert rec.parameters == 4 * 8 + 8 + 8 * 2 + 2 == 58
    assert rec.parameters_source == "meta-device"
    assert rec.parameters_note == "built on the meta device with pretrained=False"
    assert rec.summary == "A tiny two-layer network."
    assert rec.revision == "main" and rec.extra["commit"] == "0123abc"
    assert rec.extra["trusted"] == "registry" and rec.extra["listing"] == "hubconf"
    assert rec.extra["dependencies"] == ["torch"]
    assert rec.license == "mit" and rec.license_source.startswith("code: the repository's LICENSE")
    assert rec.library == "torch.hub" and rec.format == "hubconf"
    assert not any((hub() / "checkpoints").glob("*")) if (hub() / "checkpoints").exists() else True
    # in torch.hub's layout, with torch.hub's trusted_list entry
    assert (hub() / "acme_tiny_main" / "hubconf.py").is_file()
    assert (hub() / "trusted_list").read_text().splitlines() == ["acme_tiny"]
    tools = backend.resolve("torchhub:acme/tiny/tools")
    assert tools.parameters is None and "neither pretrained= nor weights=" in tools.parameters_note
    with pytest.raises(ModelNotFoundError, match="no entrypoint '_helper'"):
        backend.resolve("torchhub:acme/tiny/_helper")


def test_the_api_uses_the_trust_list_of_the_store_it_is_given(github, sqlite_store):
    """api.resolve/pull/load(..., store=X) read the trust list of the default registry, not X's."""
    from ptmhub import api

    th.trust_add("acme/tiny", store=sqlite_store)
    assert api.get_store().url != sqlite_store.url and api.get_store().trusted() == []
    with pytest.raises(UntrustedRepoError):
        api.pull("torchhub:acme/tiny/tinynet")  # the default registry trusts nothing
    rec = api.resolve("torchhub:acme/tiny/tinynet", store=sqlite_store)
    assert rec.extra["trusted"] == "registry" and rec.parameters == 58
    assert api.pull("torchhub:acme/tiny/tinynet", store=sqlite_store).record.cached
    assert type(api.load("torchhub:acme/tiny/tinynet", store=sqlite_store).model).__name__ == "TinyNet"
    assert api.get_store().get("torchhub:acme/tiny/tinynet") is None  # nothing went to the default one


def test_explicit_ref_and_trust_flag(github, backend):
    rec = backend.resolve("torchhub:acme/tiny:v1.0/tinynet", trust=True)
    assert rec.revision == "v1.0" and rec.parameters == 58
    assert (hub() / "acme_tiny_v1.0").is_dir()
    assert github.gh.hits("/acme/tiny/tree/") == 0  # a ref needs no default-branch lookup


def test_pull_then_load_offline_and_through_torch_hub(github, backend, sqlite_store, monkeypatch,
                                                      no_network_after_fetch):
    th.trust_add("acme/tiny", store=sqlite_store)
    result = backend.pull("torchhub:acme/tiny/tinynet")
    checkpoint = hub() / "checkpoints" / f"tinynet-{github.sha[:8]}.pth"
    assert checkpoint.read_bytes() == github.checkpoint
    assert result.path == str(hub() / "acme_tiny_main")
    assert result.files == [str(checkpoint)]
    assert result.record.extra["checkpoints"] == [checkpoint.name]
    assert result.bytes_downloaded >= len(github.checkpoint)
    assert result.record.cache_size_bytes >= len(github.checkpoint)

    no_network_after_fetch()
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    loaded = backend.load("torchhub:acme/tiny/tinynet")
    assert loaded.framework == "pytorch" and type(loaded.model).__name__ == "TinyNet"
    assert torch.equal(loaded.model.body[0].weight, github.weight)
    assert not loaded.model.training
    # torch.hub itself finds the repository and the checkpoint in its cache
    model = torch.hub.load("acme/tiny:main", "tinynet", source="github", pretrained=True, trust_repo="check",
                           verbose=False)
    assert torch.equal(model.body[0].weight, github.weight)
    # an entrypoint never pulled: its checkpoint is not cached
    with pytest.raises(NotCachedError, match="ptmhub pull"):
        backend.load("torchhub:acme/tiny/tinynet_badhash")


def test_offline_without_cache(github, backend, sqlite_store, monkeypatch):
    th.trust_add("acme/tiny", store=sqlite_store)
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    with pytest.raises(NotCachedError, match="not in torch.hub's cache"):
        backend.load("torchhub:acme/tiny/tinynet")
    assert github.gh.requests == []


def test_checkpoint_with_a_wrong_hash_is_refused(github, backend, sqlite_store):
    with pytest.raises(IntegrityError, match="tinynet-deadbeef.pth: its sha256 is"):
        th.download_checkpoint(f"{github.gh.base}/weights/tinynet-deadbeef.pth")
    assert not (hub() / "checkpoints" / "tinynet-deadbeef.pth").exists()
    assert not list((hub() / "checkpoints").glob("*.partial"))
    # the same file fetched by the repository's own code is checked after the run, and deleted
    th.trust_add("acme/tiny", store=sqlite_store)
    with pytest.raises(IntegrityError, match="deadbeef"):
        backend.pull("torchhub:acme/tiny/tinynet_badhash")
    assert not (hub() / "checkpoints" / "tinynet-deadbeef.pth").exists()
    # a name that carries the right prefix downloads
    path, size = th.download_checkpoint(f"{github.gh.base}/weights/tinynet-{github.sha[:8]}.pth")
    assert size == len(github.checkpoint) and th.verify_checkpoint(path) is True


def test_hash_prefix_convention():
    assert th.hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert th.hash_prefix("vgg16_features-amdegroot-88682ab5.pth") == "88682ab5"
    assert th.hash_prefix("model.pth") is None
    assert th.hash_prefix("model-abc.pth") is None  # too short to be a hash


def test_missing_dependencies(github, backend, sqlite_store):
    th.trust_add("acme/needy", store=sqlite_store)
    rec = backend.resolve("torchhub:acme/needy/needy")
    assert rec.extra["missing_dependencies"] == ["surely_not_an_installed_package"]
    assert rec.parameters is None and "surely_not_an_installed_package" in rec.parameters_note
    with pytest.raises(RepoDependencyError, match="surely_not_an_installed_package"):
        backend.load("torchhub:acme/needy/needy")


def test_unsafe_zipball_is_refused(github, backend):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("bad-repo-1/hubconf.py", "../../escape.py"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100644 << 16
            zf.writestr(info, "x = 1\n")
    github.gh.routes["/bad/repo/zipball/main"] = buf.getvalue()
    github.gh.routes["/bad/repo/tree/main/"] = b"ok"
    with pytest.raises(UnsafeArchiveError):
        backend.resolve("torchhub:bad/repo/x")
    assert not (hub() / "bad_repo_main").exists()
    assert not list(hub().parent.rglob("escape.py"))


def test_default_branch_falls_back_to_master(github, backend):
    github.gh.add_repo("old", "repo", {"hubconf.py": "def net(pretrained=False):\n    '''Old.'''\n"},
                       refs=("master",))
    rec = backend.resolve("torchhub:old/repo/net")
    assert rec.revision == "master" and rec.summary == "Old."


def test_ids_take_githubs_spelling_of_the_repository(github, backend, sqlite_store):
    # GitHub answers hustvl/yolop with the zipball of hustvl/YOLOP
    hubconf = 'def yolop(pretrained=False):\n    """Panoptic driving perception."""\n'
    github.gh.routes["/hustvl/yolop/zipball/main"] = zipball("hustvl-YOLOP-4f3e2d1", {"hubconf.py": hubconf})
    github.gh.routes["/hustvl/yolop/tree/main/"] = b"ok"
    rec = backend.resolve("torchhub:hustvl/yolop/yolop")
    assert rec.id == "torchhub:hustvl/YOLOP/yolop" and rec.owner == "hustvl"
    assert rec.aliases == ("torchhub:hustvl/yolop/yolop",) and rec.extra["commit"] == "4f3e2d1"
    # torch.hub's folder keeps the spelling torch.hub.load would be given
    assert (settings.get().home / "torchhub" / "untrusted" / "hustvl_yolop_main").is_dir()
    sqlite_store.upsert([rec])
    # later, from the cache (no folder name to read), the registry's spelling is used
    again = backend.resolve("torchhub:hustvl/yolop/yolop")
    assert again.id == "torchhub:hustvl/YOLOP/yolop" and again.summary == "Panoptic driving perception."


# -- torchvision through the backend --------------------------------------------------------------
def test_torchvision_pull_refuses_a_checkpoint_that_fails_its_hash(backend, monkeypatch, github):
    pytest.importorskip("torchvision")
    from torchvision.models import ResNet18_Weights

    # serve something else under resnet18's real file name (resnet18-f37072fd.pth)
    name = Path(ResNet18_Weights.DEFAULT.url).name
    github.gh.routes[f"/models/{name}"] = b"not the weights"
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", f"{github.gh.base}/models/{name}")
    with pytest.raises(IntegrityError, match=name):
        backend.pull("torchhub:pytorch/vision/resnet18")
    assert not (hub() / "checkpoints" / name).exists()


def test_torchvision_load_uses_the_cached_checkpoint(backend, monkeypatch, no_network):
    tvm = pytest.importorskip("torchvision.models")
    # a checkpoint already in TORCH_HOME/hub/checkpoints (as after a pull): squeezenet1_1 is small
    weights = tvm.SqueezeNet1_1_Weights.DEFAULT
    model = tvm.squeezenet1_1(num_classes=1000)
    (hub() / "checkpoints").mkdir(parents=True)
    torch.save(model.state_dict(), hub() / "checkpoints" / Path(weights.url).name)
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    loaded = backend.load("torchhub:pytorch/vision/squeezenet1_1")
    assert torch.equal(loaded.model.features[0].weight, model.features[0].weight)
    assert loaded.preprocess is not None and not loaded.model.training
    with pytest.raises(NotCachedError):
        backend.load("torchhub:pytorch/vision/resnet18")
    names = [e["name"] for e in list_entrypoints("pytorch/vision")]
    assert "resnet50" in names and all(e["source"] == "torchvision" for e in list_entrypoints("pytorch/vision"))


# -- trust is per OWNER/REPO, exactly (issue 14) ------------------------------------------------------
WRITES_MARKER = '''
import pathlib

pathlib.Path({marker!r}).write_text({who!r})


def {entry}(pretrained=False):
    """{who}'s entrypoint."""
    import torch.nn as nn
    return nn.Linear(2, 2)
'''


def test_trusting_a_slash_b_c_does_not_trust_a_b_slash_c(sqlite_store):
    th.trust_add("a/b_c", store=sqlite_store)
    assert th.trust_status("a", "b_c", entries=sqlite_store.trusted()) == "registry"
    assert th.trust_status("a_b", "c", entries=sqlite_store.trusted()) is None
    # torch.hub's trusted_list holds OWNER_REPO: the line a_b_c is a/b_c's (GitHub owners have no '_')
    hub().mkdir(parents=True, exist_ok=True)
    (hub() / "trusted_list").write_text("a_b_c\n")
    th.trust_remove("a/b_c", store=sqlite_store)
    (hub() / "trusted_list").write_text("a_b_c\n")
    assert th.trust_status("a", "b_c", entries=sqlite_store.trusted()) == "torch.hub trusted_list"
    assert th.trust_status("a_b", "c", entries=sqlite_store.trusted()) is None
    # trusting a_b/c never writes (nor removes) the line that reads as a/b_c
    th._write_torch_trusted("x_y", "z")
    assert (hub() / "trusted_list").read_text() == "a_b_c\n"
    assert th.trust_remove("a_b/c", store=sqlite_store) is False
    assert (hub() / "trusted_list").read_text() == "a_b_c\n"
    assert th.trust_status("x", "y_z", entries=sqlite_store.trusted()) is None


def test_two_repositories_with_one_torch_hub_folder_name(github, backend, sqlite_store, tmp_path):
    ran = tmp_path / "ran"
    github.gh.add_repo("a", "b_c", {"hubconf.py": WRITES_MARKER.format(marker=str(ran), who="a/b_c", entry="x")})
    github.gh.add_repo("a_b", "c", {"hubconf.py": WRITES_MARKER.format(marker=str(ran), who="a_b/c", entry="y")})
    th.trust_add("a/b_c", store=sqlite_store)
    th.trust_add("a_b/c", store=sqlite_store)
    assert backend.resolve("torchhub:a/b_c/x").parameters == 6 and ran.read_text() == "a/b_c"
    folder = hub() / "a_b_c_main"
    assert json.loads((folder / th.ORIGIN_FILE).read_text()) == {"repo": "a/b_c", "ref": "main",
                                                                 "commit": "0123abc"}
    ran.unlink()
    for call in (lambda: backend.resolve("torchhub:a_b/c/y"), lambda: backend.load("torchhub:a_b/c/y"),
                 lambda: backend.pull("torchhub:a_b/c/y"), lambda: list_entrypoints("a_b/c", trusted=sqlite_store.trusted())):
        with pytest.raises(UsageError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "a_b_c_main holds a/b_c@main, not a_b/c@main" in message
    assert not ran.exists()  # a/b_c's code never ran for a_b/c, nor a_b/c's
    assert "a/b_c's entrypoint" in (folder / "hubconf.py").read_text()  # and its folder was not replaced
    assert github.gh.hits("/a_b/c/zipball/") == 0
    # the same in the quarantine, for untrusted listings
    th.trust_remove("a/b_c", store=sqlite_store)
    th.trust_remove("a_b/c", store=sqlite_store)
    github.gh.add_repo("p", "q_r", {"hubconf.py": "def one():\n    'P.'\n"})
    github.gh.add_repo("p_q", "r", {"hubconf.py": "def two():\n    'PQ.'\n"})
    assert [e["name"] for e in list_entrypoints("p/q_r", trusted=sqlite_store.trusted())] == ["one"]
    with pytest.raises(UsageError, match="p_q_r_main holds p/q_r@main, not p_q/r@main"):
        list_entrypoints("p_q/r", trusted=sqlite_store.trusted())


def test_a_folder_torch_hub_made_itself_is_used_as_torch_hub_uses_it(backend, sqlite_store, no_network):
    # no origin file: torch.hub downloaded it (torch.hub.load trusts what its cache holds, too)
    folder = hub() / "acme_tiny_main"
    folder.mkdir(parents=True)
    (folder / "hubconf.py").write_text("def made_by_torch(pretrained=False):\n    'From torch.hub.'\n")
    th.trust_add("acme/tiny", store=sqlite_store)
    assert [e["name"] for e in list_entrypoints("acme/tiny:main", trusted=sqlite_store.trusted())] == ["made_by_torch"]


def fork_setup(github) -> str:
    fork_commit = "f00d" * 10
    files = {"hubconf.py": 'def tinynet(pretrained=False):\n    """A fork\'s code."""\n', "LICENSE": LICENSE_MIT}
    github.gh.routes[f"/acme/tiny/zipball/{fork_commit}"] = zipball(f"acme-tiny-{fork_commit[:7]}", files)
    github.gh.routes[f"/api/v3/repos/acme/tiny/compare/main...{fork_commit}"] = b'{"status": "diverged"}'
    return fork_commit


def test_a_ref_that_is_a_forks_commit_is_refused_before_download(github, backend, sqlite_store):
    fork_commit = fork_setup(github)
    th.trust_add("acme/tiny", store=sqlite_store)
    for call in (lambda: backend.resolve(f"torchhub:acme/tiny:{fork_commit}/tinynet"),
                 lambda: backend.pull(f"torchhub:acme/tiny:{fork_commit}/tinynet"),
                 lambda: backend.load(f"torchhub:acme/tiny:{fork_commit}/tinynet"),
                 lambda: list_entrypoints(f"acme/tiny:{fork_commit}", trusted=sqlite_store.trusted())):
        with pytest.raises(UntrustedRepoError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "not a branch, tag or commit of acme/tiny's own" in message
    assert github.gh.hits(f"/acme/tiny/zipball/{fork_commit}") == 0
    assert not (hub() / f"acme_tiny_{fork_commit}").exists()
    # untrusted, it is only read (statically, in the quarantine): no check needed, nothing runs
    th.trust_remove("acme/tiny", store=sqlite_store)
    assert backend.resolve(f"torchhub:acme/tiny:{fork_commit}/tinynet").summary == "A fork's code."


def test_refs_that_are_the_repos_own(github, backend, sqlite_store):
    th.trust_add("acme/tiny", store=sqlite_store)
    gh = github.gh
    files = {"hubconf.py": HUBCONF.format(base=gh.base, sha8=github.sha[:8]), "tinymodels/__init__.py": "",
             "tinymodels/net.py": NET_PY}
    on_main = "beef" * 10
    head = "0123abc".ljust(40, "0")
    for ref in (on_main, head[:7], "release/2"):
        gh.routes[f"/acme/tiny/zipball/{ref}"] = zipball("acme-tiny-0123abc", files)
    gh.routes[f"/api/v3/repos/acme/tiny/compare/main...{on_main}"] = b'{"status": "behind"}'
    # 150 branches: "release/2" is on the second page
    branches = {f"b{i}": head for i in range(149)} | {"release/2": head}
    gh.add_refs("acme", "tiny", branches=branches, tags={"v1.0": head}, per_page=100)
    assert th.check_ref_is_the_repos_own("acme", "tiny", "release/2") == "branch"
    assert th.check_ref_is_the_repos_own("acme", "tiny", "v1.0") == "tag"
    assert th.check_ref_is_the_repos_own("acme", "tiny", head[:7]) == "branch head"   # torch.hub's rule
    assert th.check_ref_is_the_repos_own("acme", "tiny", on_main) == "on main"         # GitHub's compare
    assert backend.resolve(f"torchhub:acme/tiny:{on_main}/tinynet").parameters == 58
    assert backend.resolve("torchhub:acme/tiny:release/2/tinynet").parameters == 58
    assert (hub() / "acme_tiny_release_2" / th.ORIGIN_FILE).is_file()


def test_the_ref_check_is_bounded_and_checks_what_github_says(github, sqlite_store, monkeypatch):
    gh = github.gh
    gh.add_refs("acme", "tiny", branches={f"b{i}": "a" * 40 for i in range(250)}, tags={}, per_page=100)
    monkeypatch.setenv("PTMHUB_MAX_REMOTE_REQUESTS", "2")
    settings.reload()
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_REQUESTS"):
        th.check_ref_is_the_repos_own("acme", "tiny", "nope")
    monkeypatch.delenv("PTMHUB_MAX_REMOTE_REQUESTS")
    settings.reload()
    api = "/api/v3/repos/acme/tiny/branches?per_page=100&page=1"
    for body in (b'{"message": "x"}', b'[{"name": "main"}]', b'[{"name": "main", "commit": {"sha": "../../x"}}]',
                 b'[{"name": 1, "commit": {"sha": "' + b"a" * 40 + b'"}}]', b"[1, 2]", b"not json"):
        gh.routes[api] = body
        with pytest.raises(MalformedResponseError) as info:
            th.check_ref_is_the_repos_own("acme", "tiny", "main")
        assert "\n" not in str(info.value)


def test_server_supplied_shas_are_checked(github, backend, sqlite_store):
    assert th.valid_commit("a" * 40) == "a" * 40 and th.valid_commit("b" * 64) == "b" * 64
    for bad in ("A" * 40, "a" * 39, "a" * 41, "../" + "a" * 37, "g" * 40, None, 40, ["a" * 40]):
        assert th.valid_commit(bad) is None
    assert th.valid_commit("0123abc", short=True) == "0123abc" and th.valid_commit("012", short=True) is None
    # an origin file tampered with: its commit is not believed
    folder = hub() / "acme_tiny_main"
    folder.mkdir(parents=True)
    (folder / "hubconf.py").write_text("def tinynet(pretrained=False):\n    'T.'\n")
    (folder / th.ORIGIN_FILE).write_text('{"repo": "acme/tiny", "ref": "main", "commit": "../../etc"}')
    assert th._read_origin(folder)["commit"] is None
    th.trust_add("acme/tiny", store=sqlite_store)
    assert "commit" not in backend.resolve("torchhub:acme/tiny/tinynet").extra
    (folder / th.ORIGIN_FILE).write_bytes(b"\xff{[")
    with pytest.raises(UsageError, match="holds something unrecognisable"):
        backend.resolve("torchhub:acme/tiny/tinynet")
    # a checkpoint name promising a hash longer than sha256 is refused before any request
    name = "tinynet-" + "a" * 70 + ".pth"
    github.gh.routes[f"/weights/{name}"] = github.checkpoint
    with pytest.raises(IntegrityError, match="70-digit hash"):
        th.download_checkpoint(f"{github.gh.base}/weights/{name}")
    assert github.gh.hits(f"/weights/{name}") == 0 and not (hub() / "checkpoints" / name).exists()
