"""PyTorch Hub: hubconf repositories fetched the way torch.hub does, behind a trust policy.

torch.hub has no metadata API: a repository's ``hubconf.py`` *is* the catalog, and importing it
runs the repository's code. So ptmhub

* fetches ``OWNER/REPO`` at ``REF`` as torch.hub does (the zipball from
  ``PTMHUB_GITHUB_ENDPOINT``, default ``https://github.com``, path ``/OWNER/REPO/zipball/REF``)
  and, for trusted repositories, unpacks it into ``TORCH_HOME/hub/OWNER_REPO_REF`` -- torch.hub's
  own layout, so ``torch.hub.load('OWNER/REPO:REF', ..., source='github')`` then uses that cache;
* lists entrypoints, their docstrings and ``dependencies`` by *reading* ``hubconf.py`` with
  :mod:`ast` (nothing runs) unless the repository is trusted, in which case it is imported like
  ``torch.hub.list`` does;
* keeps untrusted code out of torch.hub's cache (``PTMHUB_HOME/torchhub/untrusted``): torch.hub
  treats any folder in its cache as trusted, so an untrusted repository must never land there;
* counts parameters exactly by building the entrypoint without weights on the meta device;
* pulls checkpoints into ``TORCH_HOME/hub/checkpoints`` and refuses a file whose name carries a
  sha256 prefix (``resnet18-f37072fd.pth``, torch.hub's ``check_hash`` convention) it does not match.

``pytorch/vision`` without a ref is answered by the installed torchvision (local, already-trusted
code): exact counts, weights variants (``torchhub:pytorch/vision/resnet50#IMAGENET1K_V2``) and
state dicts loaded with ``weights_only=True``.

Trust comes from, in order: ``trust=True`` (CLI ``--trust``), the registry's trust list
(``ptmhub trust add OWNER/REPO`` or ``OWNER/*``), torch.hub's trusted owners, and torch.hub's
``TORCH_HOME/hub/trusted_list``. When trusted code runs, ``OWNER_REPO`` is appended to that
``trusted_list`` as torch.hub itself does.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import inspect
import os
import re
import shutil
import sys
import urllib.error
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ... import http, settings
from ...errors import (
    IntegrityError,
    LimitExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    NetworkError,
    NotCachedError,
    RepoDependencyError,
    UntrustedRepoError,
    UsageError,
)
from ...ids import ModelId, parse
from ...records import ModelRecord
from ..base import NO_CONTEXT, Backend, BackendContext, Loaded, PullResult

if TYPE_CHECKING:
    from ...registry.store import Store

__all__ = [
    "TorchHubBackend", "list_entrypoints", "trust_add", "trust_remove", "trusted_repos", "trust_status",
    "builtin_trusted",
    "fetch_repo", "read_hubconf", "download_checkpoint", "verify_checkpoint", "hash_prefix",
    "count_parameters_on_meta", "detect_license", "repo_dir_name", "hub_dir", "checkpoints_dir",
    "RepoCheckout", "Entrypoint", "HubconfInfo",
]

#: torch.hub's own trusted owners (torch/hub.py ``_TRUSTED_REPO_OWNERS``), used when torch is absent.
FALLBACK_TRUSTED_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")
#: torch.hub's check_hash convention: ``name-<sha256 prefix>.ext`` (torch/hub.py ``HASH_REGEX``).
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
MIN_HASH_PREFIX = 8
MAX_REPO_BYTES = 4 * 1024**3
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENSE.rst", "LICENCE", "LICENCE.txt", "COPYING")


# -- paths -----------------------------------------------------------------------------------------
def hub_dir() -> Path:
    """torch.hub's cache: ``TORCH_HOME/hub`` (what ``torch.hub.get_dir()`` returns by default)."""
    return settings.get().torch_home / "hub"


def checkpoints_dir() -> Path:
    return hub_dir() / "checkpoints"


def _quarantine_dir() -> Path:
    return settings.get().home / "torchhub" / "untrusted"


def repo_dir_name(owner: str, repo: str, ref: str) -> str:
    """torch.hub's folder name for a repository at a ref: ``OWNER_REPO_REF`` with '/' -> '_'."""
    return "_".join([owner, repo, ref.replace("/", "_")])


# -- trust -----------------------------------------------------------------------------------------
def _torch_trusted_owners() -> tuple[str, ...]:
    try:
        import torch.hub
    except ImportError:
        return FALLBACK_TRUSTED_OWNERS
    return tuple(getattr(torch.hub, "_TRUSTED_REPO_OWNERS", FALLBACK_TRUSTED_OWNERS))


def _torch_trusted_list() -> list[str]:
    path = hub_dir() / "trusted_list"
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _torch_trusted_entry(owner: str, repo: str) -> str | None:
    """torch.hub's trusted_list line for ``OWNER/REPO`` (``OWNER_REPO``), or None when that line
    would not name it alone. torch.hub joins the two with '_', so ``a/b_c`` and ``a_b/c`` share the
    line ``a_b_c``; GitHub owner names have no '_', so ptmhub reads a line as OWNER up to its first
    '_' and never trusts (or writes, or removes) a line for an owner with a '_' in it."""
    return None if "_" in owner else f"{owner}_{repo}"


def _write_torch_trusted(owner: str, repo: str) -> None:
    """Append ``OWNER_REPO`` to torch.hub's trusted_list, as torch.hub does when a user trusts."""
    entry = _torch_trusted_entry(owner, repo)
    if entry is None:
        return  # the line would read as another repository's (a_b/c -> a_b_c -> a/b_c)
    if owner.lower() in {o.lower() for o in _torch_trusted_owners()}:
        return  # torch.hub trusts these without a line (and never writes one)
    if entry.lower() in {line.lower() for line in _torch_trusted_list()}:
        return
    path = hub_dir() / "trusted_list"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(entry + "\n")


def _remove_torch_trusted(owner: str, repo: str) -> bool:
    path = hub_dir() / "trusted_list"
    entry = _torch_trusted_entry(owner, repo)
    if entry is None:
        return False
    lines = _torch_trusted_list()
    keep = [line for line in lines if line.lower() != entry.lower()]
    if len(keep) == len(lines):
        return False
    tmp = path.with_name(f"trusted_list.{uuid.uuid4().hex[:8]}.partial")
    tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
    os.replace(tmp, path)
    return True


def _repo_arg(repo: str, *, allow_wildcard: bool = False) -> tuple[str, str]:
    """``OWNER/REPO`` (also with a ``torchhub:`` prefix) -> (owner, repo)."""
    text = repo.strip().removeprefix("torchhub:")
    parts = text.split("/")
    ok = len(parts) == 2 and _SEGMENT.match(parts[0]) and (
        _SEGMENT.match(parts[1]) or (allow_wildcard and parts[1] == "*"))
    if not ok:
        what = "OWNER/REPO or OWNER/*" if allow_wildcard else "OWNER/REPO"
        raise UsageError(f"{repo!r} is not a GitHub repository ({what})", hint="e.g. facebookresearch/dinov2")
    return parts[0], parts[1]


def trust_add(repo: str, *, store: Store) -> str:
    """Trust ``OWNER/REPO`` (or every repository of ``OWNER/*``) in the registry's trust list.

    Returns the entry as stored (lowercase: GitHub names are case-insensitive).

    Raises:
        UsageError: ``repo`` is not ``OWNER/REPO`` or ``OWNER/*``.
    """
    owner, name = _repo_arg(repo, allow_wildcard=True)
    entry = f"{owner}/{name}".lower()
    store.trust_add(entry)
    return entry


def trust_remove(repo: str, *, store: Store) -> bool:
    """Stop trusting ``OWNER/REPO``: removed from the registry's list and from torch.hub's
    ``trusted_list`` (where ptmhub may have written it). True if it was in either.

    torch.hub's trusted owners (``pytorch``, ``facebookresearch`` ...) stay trusted: they are
    part of torch itself.
    """
    owner, name = _repo_arg(repo, allow_wildcard=True)
    removed = store.trust_remove(f"{owner}/{name}".lower())
    if name != "*":
        removed = _remove_torch_trusted(owner, name) or removed
    return removed


def trusted_repos(*, store: Store) -> list[dict[str, str]]:
    """Everything that grants trust, for ``ptmhub trust ls``: ``[{"repo": ..., "source": ...}]``
    with source ``registry``, ``torch.hub trusted_list`` or ``torch.hub trusted owner``."""
    rows = [{"repo": r, "source": "registry"} for r in store.trusted()]
    return rows + [{"repo": r, "source": src} for r, src in builtin_trusted()]


def builtin_trusted() -> list[tuple[str, str]]:
    """What torch.hub itself trusts, as ``(repo, source)``: its trusted_list lines (``OWNER_REPO``)
    and its trusted owners (``OWNER/*``)."""
    return ([(line, "torch.hub trusted_list") for line in _torch_trusted_list()]
            + [(f"{o}/*", "torch.hub trusted owner") for o in _torch_trusted_owners()])


def trust_status(owner: str, repo: str, *, trust: bool = False, entries: Iterable[str] = ()) -> str | None:
    """Why ``OWNER/REPO`` is trusted (``--trust``, ``registry``, ...), or None if it is not.
    ``entries``: the registry's trust list (``Store.trusted()``, passed down by the caller)."""
    if trust:
        return "--trust"
    entries = {e.lower() for e in entries}
    if f"{owner}/{repo}".lower() in entries:
        return "registry"
    if f"{owner}/*".lower() in entries:
        return "registry (owner)"
    if owner.lower() in {o.lower() for o in _torch_trusted_owners()}:
        return "torch.hub trusted owner"
    entry = _torch_trusted_entry(owner, repo)
    if entry is not None and entry.lower() in {line.lower() for line in _torch_trusted_list()}:
        return "torch.hub trusted_list"
    return None


def _require_trust(owner: str, repo: str, *, context: BackendContext, what: str) -> str:
    reason = trust_status(owner, repo, trust=context.trust, entries=context.trusted)
    if reason is None:
        raise UntrustedRepoError(
            f"{owner}/{repo} is not trusted, so ptmhub will not run its hubconf.py to {what}",
            hint=f"if you trust its code: 'ptmhub trust add {owner}/{repo}' (or pass --trust)",
            model_id=f"torchhub:{owner}/{repo}")
    return reason


# -- fetching a repository --------------------------------------------------------------------------
@dataclass
class RepoCheckout:
    """A repository unpacked on disk."""

    owner: str
    repo: str
    ref: str
    path: Path
    trusted: bool
    commit: str | None = None
    bytes_downloaded: int = 0
    canonical: str | None = None      # OWNER/REPO as GitHub spells it (from the zipball's folder)


#: The file ptmhub writes into every repository folder it makes, naming what the folder holds:
#: torch.hub's folder name ``OWNER_REPO_REF`` is the same for ``a_b/c@main``, ``a/b_c@main`` and
#: ``a/b@c_main``, so the name alone cannot say which repository's code is inside.
ORIGIN_FILE = ".ptmhub-origin.json"
#: A git commit id as GitHub gives it: 40 hex digits (SHA-1), or 64 for SHA-256 repositories.
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_SHORT_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


def valid_commit(value: Any, *, short: bool = False) -> str | None:
    """``value`` if it is a commit id (hex, 40 or 64 digits; 7-64 with ``short``), else None: a
    server-supplied sha is checked before it is stored or used in a path."""
    if isinstance(value, str) and (_SHORT_COMMIT if short else _COMMIT).match(value):
        return value
    return None


def _write_origin(folder: Path, owner: str, repo: str, ref: str, commit: str | None) -> None:
    import json

    data = {"repo": f"{owner}/{repo}", "ref": ref, "commit": valid_commit(commit, short=True)}
    (folder / ORIGIN_FILE).write_text(json.dumps(data) + "\n", encoding="utf-8")


def _read_origin(folder: Path) -> dict[str, Any] | None:
    """The origin ptmhub recorded in ``folder``; None when there is none (torch.hub made the
    folder, or an older ptmhub), ``{}`` when the file is unreadable (so it matches nothing)."""
    import json

    path = folder / ORIGIN_FILE
    try:
        raw = path.read_bytes()[:4096]
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("repo"), str) or not isinstance(data.get("ref"), str):
        return {}
    return {"repo": data["repo"], "ref": data["ref"], "commit": valid_commit(data.get("commit"), short=True)}


def _check_origin(folder: Path, owner: str, repo: str, ref: str, *, model_id: str | None) -> dict[str, Any] | None:
    """Refuse a folder whose recorded origin is another repository or ref (the folder names
    collide); returns the origin (None when unrecorded).

    Raises:
        UsageError: the folder holds another repository's code.
    """
    origin = _read_origin(folder)
    if origin is None:
        return None
    if origin.get("repo", "").lower() == f"{owner}/{repo}".lower() and origin.get("ref") == ref:
        return origin
    held = f"{origin['repo']}@{origin['ref']}" if origin else "something unrecognisable"
    raise UsageError(
        f"{folder} holds {held}, not {owner}/{repo}@{ref}: torch.hub gives both the same folder name "
        f"({folder.name}), so ptmhub will neither use nor replace it",
        hint=f"if {held} is no longer needed, delete that folder and retry", model_id=model_id)


def _cached(owner: str, repo: str, ref: str, *, trusted_only: bool, model_id: str | None = None) -> Path | None:
    """The cached folder of ``OWNER/REPO`` at ``ref``: torch.hub's cache first, then (unless
    ``trusted_only``) the quarantine.

    Raises:
        UsageError: the folder of that name holds another repository (see :func:`_check_origin`).
    """
    name = repo_dir_name(owner, repo, ref)
    places = [hub_dir()] + ([] if trusted_only else [_quarantine_dir()])
    for base in places:
        if (base / name / "hubconf.py").is_file():
            _check_origin(base / name, owner, repo, ref, model_id=model_id)
            return base / name
    return None


def _cached_checkout(owner: str, repo: str, ref: str, folder: Path, *, trusted: bool) -> RepoCheckout:
    origin = _read_origin(folder) or {}
    return RepoCheckout(owner, repo, ref, folder, trusted=trusted, commit=origin.get("commit"))


# -- is the ref the repository's own? (torch/hub.py _validate_not_a_forked_repo) --------------------
def github_api_base() -> str:
    """The GitHub REST API for ``PTMHUB_GITHUB_ENDPOINT``: ``https://api.github.com`` for
    github.com, ``ENDPOINT/api/v3`` for any other (GitHub Enterprise's layout; the tests' loopback)."""
    endpoint = settings.get().github_endpoint
    if urlsplit(endpoint).netloc.lower() in ("github.com", "www.github.com"):
        return "https://api.github.com"
    return f"{endpoint}/api/v3"


def _api_list(url: str, *, what: str, model_id: str | None) -> list[dict[str, Any]]:
    """One page of GitHub's branches or tags, checked: ``[{"name": str, "commit": {"sha": hex}}]``."""
    page = http.get_json(url, model_id=model_id, what=what, headers={"Accept": "application/vnd.github+json"})
    bad = MalformedResponseError(f"{what}: GitHub's answer is not a list of names and commits",
                                 model_id=model_id)
    if not isinstance(page, list):
        raise bad
    for item in page:
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("commit"), dict)
                and valid_commit(item["commit"].get("sha"))):
            raise bad
    return page


def check_ref_is_the_repos_own(owner: str, repo: str, ref: str, *, model_id: str | None = None) -> str:
    """Check, before a trusted repository's code at ``ref`` is downloaded, that ``ref`` is the
    repository's own and not a commit of a fork (GitHub serves a fork's commits under the parent's
    name). torch.hub's rule (``_validate_not_a_forked_repo``): ``ref`` is one of its branches or
    tags, or the start of the commit one of them points at; and, beyond torch.hub, a commit id that
    its default branch contains (GitHub's compare API says ``behind`` or ``identical``).

    Returns how the ref was found (``branch``, ``tag``, ``branch head``, ``tag head``, ``on BRANCH``).

    Raises:
        UntrustedRepoError: the ref is not the repository's own.
        LimitExceededError: more pages of branches and tags than PTMHUB_MAX_REMOTE_REQUESTS.
        MalformedResponseError: GitHub's answers have the wrong shape.
        NetworkError, ModelNotFoundError, AuthError: as for any request (404: no such repository).
    """
    api = f"{github_api_base()}/repos/{owner}/{repo}"
    budget = settings.get().max_remote_requests
    as_commit = ref.lower() if valid_commit(ref.lower(), short=True) else None
    for kind in ("branch", "tag"):
        page_no = 0
        while True:
            page_no += 1
            if budget <= 0:
                raise LimitExceededError(
                    f"checking that {ref!r} is {owner}/{repo}'s own took more than "
                    f"{settings.get().max_remote_requests} requests (PTMHUB_MAX_REMOTE_REQUESTS)",
                    hint="raise PTMHUB_MAX_REMOTE_REQUESTS, or give a branch or tag", model_id=model_id)
            budget -= 1
            page = _api_list(f"{api}/{kind}es?per_page=100&page={page_no}" if kind == "branch"
                             else f"{api}/tags?per_page=100&page={page_no}",
                             what=f"listing the {kind}es of {owner}/{repo}", model_id=model_id)
            if not page:
                break
            for item in page:
                if item["name"] == ref:
                    return kind
                if as_commit and item["commit"]["sha"].startswith(as_commit):
                    return f"{kind} head"
    if as_commit:
        info = http.get_json(api, model_id=model_id, what=f"reading {owner}/{repo}'s default branch")
        branch = info.get("default_branch") if isinstance(info, dict) else None
        if not isinstance(branch, str) or not _SEGMENT.match(branch.replace("/", "-")):
            raise MalformedResponseError(f"GitHub's answer for {owner}/{repo} names no usable default branch",
                                         model_id=model_id)
        compare = http.get_json(f"{api}/compare/{branch}...{as_commit}", model_id=model_id,
                                allow_status=(404,), what=f"looking for {as_commit} on {owner}/{repo}'s {branch}")
        status = compare.get("status") if isinstance(compare, dict) else None
        if status in ("behind", "identical"):
            return f"on {branch}"
    raise UntrustedRepoError(
        f"{ref!r} is not a branch, tag or commit of {owner}/{repo}'s own (a commit of a fork, which GitHub "
        f"also serves under {owner}/{repo}?), so trusting {owner}/{repo} does not cover its code",
        hint="use the fork's own OWNER/REPO (and trust it if you do), or a branch, tag or commit of "
             f"{owner}/{repo}", model_id=model_id)


def default_ref(owner: str, repo: str, *, model_id: str | None = None) -> str:
    """The ref torch.hub would use when none is given: ``main`` if the repository has it,
    else ``master``. Offline, whichever of the two is cached."""
    if settings.get().offline:
        for ref in ("main", "master"):
            if _cached(owner, repo, ref, trusted_only=False):
                return ref
        raise NotCachedError(f"{owner}/{repo} is not in torch.hub's cache and offline mode is on",
                             hint=f"run 'ptmhub pull {model_id or owner + '/' + repo}' while online",
                             model_id=model_id)
    url = f"{settings.get().github_endpoint}/{owner}/{repo}/tree/main/"
    response = http.request("HEAD", url, allow_status=(404,), model_id=model_id,
                            what=f"finding the default branch of {owner}/{repo}")
    response.close()
    return "main" if response.status_code < 400 else "master"


def _download_zipball(owner: str, repo: str, ref: str, dest: Path, *, model_id: str | None,
                      progress: Callable[[int], None] | None) -> int:
    base = settings.get().github_endpoint
    url = f"{base}/{owner}/{repo}/zipball/{ref}"
    what = f"downloading {owner}/{repo} at {ref}"
    response = http.request("GET", url, stream=True, allow_status=(300,), model_id=model_id, what=what)
    if response.status_code == 300:
        # torch.hub: a ref that is both a tag and a branch; like git, assume the branch
        response.close()
        response = http.request("GET", f"{base}/{owner}/{repo}/zipball/refs/heads/{ref}", stream=True,
                                model_id=model_id, what=what)
    with open(dest, "wb") as fh:
        return http.stream_to_file(response, fh, progress=progress)


def fetch_repo(owner: str, repo: str, ref: str, *, trusted: bool, model_id: str | None = None,
               progress: Callable[[int], None] | None = None, force: bool = False,
               verify_ref: bool = False) -> RepoCheckout:
    """Make ``OWNER/REPO`` at ``ref`` available on disk, downloading its zipball if needed.

    Trusted repositories go to torch.hub's cache (``TORCH_HOME/hub/OWNER_REPO_REF``); untrusted
    ones to ptmhub's quarantine, where nothing imports them. Each folder records what it holds
    (:data:`ORIGIN_FILE`); a folder of the same name holding another repository is refused.
    With ``verify_ref`` (a ref the user gave), a trusted download first checks that the ref is
    the repository's own, as torch.hub does (:func:`check_ref_is_the_repos_own`).

    Raises:
        OfflineError: not cached and offline mode is on.
        ModelNotFoundError: the repository or ref does not exist (404).
        UntrustedRepoError: ``verify_ref`` and the ref is not the repository's own (a fork's commit).
        UsageError: torch.hub's folder name for it holds another repository.
        UnsafeArchiveError, CorruptArchiveError, MalformedResponseError: a bad zipball.
    """
    from ...archive import safe_extract_zip

    name = repo_dir_name(owner, repo, ref)
    base = hub_dir() if trusted else _quarantine_dir()
    dest = base / name
    if not force:
        found = _cached(owner, repo, ref, trusted_only=trusted, model_id=model_id)
        if found is not None:
            return _cached_checkout(owner, repo, ref, found, trusted=trusted)
    if dest.exists():
        _check_origin(dest, owner, repo, ref, model_id=model_id)  # never replace another repository's folder
    http.check_online(f"fetching {owner}/{repo}", model_id=model_id)
    if trusted and verify_ref:
        check_ref_is_the_repos_own(owner, repo, ref, model_id=model_id)
    base.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    zip_path = base / f".{name}.{token}.zip.partial"
    extract = base / f".{name}.{token}.extract"
    try:
        size = _download_zipball(owner, repo, ref, zip_path, model_id=model_id, progress=progress)
        files = safe_extract_zip(zip_path, extract, max_bytes=MAX_REPO_BYTES)
        tops = {f.split("/", 1)[0] for f in files}
        if len(tops) != 1 or any("/" not in f for f in files):
            raise MalformedResponseError(f"the zipball of {owner}/{repo} at {ref} is not one top folder "
                                         "(OWNER-REPO-SHA/) as GitHub serves it", model_id=model_id)
        top = extract / tops.pop()
        if not (top / "hubconf.py").is_file():
            raise ModelNotFoundError(f"{owner}/{repo} at {ref} has no hubconf.py, so it is not a torch.hub repository",
                                     hint="torch.hub needs a hubconf.py at the repository root", model_id=model_id)
        m = re.search(r"-([0-9a-f]{7,64})$", top.name)
        commit = valid_commit(m.group(1), short=True) if m else None
        canonical = None
        if top.name.lower().startswith(f"{owner}-{repo}-".lower()):  # GitHub: OWNER-REPO-SHA
            canonical = f"{top.name[:len(owner)]}/{top.name[len(owner) + 1:len(owner) + 1 + len(repo)]}"
        _write_origin(top, owner, repo, ref, commit)
        if dest.exists():
            _check_origin(dest, owner, repo, ref, model_id=model_id)  # again: it may have appeared meanwhile
            shutil.rmtree(dest)
        os.replace(top, dest)
    finally:
        zip_path.unlink(missing_ok=True)
        shutil.rmtree(extract, ignore_errors=True)
    old = _quarantine_dir() / name
    if trusted and old.is_dir():  # an older untrusted copy is superseded (if it is this repository's)
        with contextlib.suppress(UsageError):
            _check_origin(old, owner, repo, ref, model_id=model_id)
            shutil.rmtree(old, ignore_errors=True)
    return RepoCheckout(owner, repo, ref, dest, trusted=trusted, commit=commit,
                        bytes_downloaded=size, canonical=canonical)


# -- reading hubconf.py without running it ----------------------------------------------------------
#: How deep an expression or block of hubconf.py (or a module it re-exports from) may nest. Python's
#: own parser stops at 200 nested brackets, but ``a+a+...`` or ``f()()...`` nest without brackets and
#: make ``ast`` recurse until RecursionError (``ast.unparse`` and ``ast.literal_eval`` already fail
#: near 500 levels).
MAX_AST_DEPTH = 100
#: How many of the repository's modules the static listing reads to find the docstrings of names
#: hubconf.py imports (each file is parsed once, whatever the star imports between them).
MAX_FOLLOWED_FILES = 32
#: Steps (module, name) the search for re-exported names may take in all, over every entrypoint.
MAX_FOLLOW_STEPS = 100_000
_FOLLOW_DEPTH = 8
#: Limits that scale with PTMHUB_MAX_HUBCONF_BYTES (B): tokens per file B/20 (a parsed token costs
#: ~1 KiB of AST at peak, a hand-written hubconf has one per 4-8 bytes), tokens over all followed
#: modules B/5, entrypoints B/100.
_TOKENS_PER_BYTE = 1 / 20
_FOLLOWED_TOKENS_PER_BYTE = 1 / 5
_NAMES_PER_BYTE = 1 / 100
_HUBCONF_HINT = ("a hubconf.py past these limits is not a hand-written one; raise PTMHUB_MAX_HUBCONF_BYTES "
                 "(every static-listing limit scales with it) only if you know why it is so large")


@dataclass(frozen=True)
class _Limits:
    """The static listing's bounds, read from PTMHUB_MAX_HUBCONF_BYTES."""

    file_bytes: int
    file_tokens: int
    followed_tokens: int
    names: int

    @classmethod
    def current(cls) -> _Limits:
        b = settings.get().max_hubconf_bytes
        return cls(b, max(int(b * _TOKENS_PER_BYTE), 1000), max(int(b * _FOLLOWED_TOKENS_PER_BYTE), 4000),
                   max(int(b * _NAMES_PER_BYTE), 100))


class _OverLimit(Exception):
    """A module beyond a static-analysis bound (turned into LimitExceededError or a partial listing)."""


def _count_tokens(text: str, max_tokens: int) -> int:
    """Tokens in ``text``, counted lazily with O(1) memory; _OverLimit past ``max_tokens``. The parse
    that follows builds ~1.5 AST nodes per token, so this bounds its memory before it allocates any.

    Raises:
        _OverLimit: more than ``max_tokens`` tokens.
        SyntaxError: the tokenizer stops early (IndentationError, unclosed bracket or string).
    """
    import io
    import tokenize

    count = 0
    try:
        for _ in tokenize.generate_tokens(io.StringIO(text).readline):
            count += 1
            if count > max_tokens:
                raise _OverLimit(f"has more than {max_tokens:,} tokens")
    except tokenize.TokenError as exc:
        # not valid Python; refused here, so the parser never sees the part that was not counted
        error = SyntaxError(str(exc.args[0]))
        error.lineno = exc.args[1][0] if len(exc.args) > 1 else None
        raise error from None
    return count


def ast_depth_exceeds(tree: ast.AST, max_depth: int = MAX_AST_DEPTH) -> bool:
    """Whether ``tree`` nests deeper than ``max_depth`` nodes (iteratively: no recursion)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def parse_bounded(text: str, *, max_tokens: int | None = None, max_depth: int = MAX_AST_DEPTH,
                  mode: str = "exec") -> ast.AST:
    """``ast.parse`` for untrusted source with bounded memory and nesting: at most ``max_tokens``
    tokens (counted before parsing) and ``max_depth`` levels, so ``ast.unparse``/``literal_eval``
    on the result cannot recurse out of the stack.

    Raises:
        SyntaxError: not valid Python (null bytes included).
        _OverLimit: past a bound (the message says which).
    """
    if max_tokens is not None:
        _count_tokens(text, max_tokens)
    try:
        tree = ast.parse(text, mode=mode)
    except (RecursionError, MemoryError):
        # CPython's parser gives up on deep nesting this way ("too complex"/recursion during AST
        # construction), before our own check could run
        raise _OverLimit(f"nests deeper than Python's parser allows (limit here: {max_depth} levels)") from None
    except SystemError as exc:
        # CPython 3.11: after a RecursionError in the AST constructor, a later parse in the same
        # process may fail with "AST constructor recursion depth mismatch"; a new process parses it
        raise _OverLimit(f"could not be parsed in this process ({exc}); run the command again") from None
    if ast_depth_exceeds(tree, max_depth):
        raise _OverLimit(f"nests deeper than {max_depth} levels")
    return tree


def _read_source(path: Path, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes (at most ``max_bytes``; _OverLimit beyond) and its text for ``ast``."""
    import io
    import tokenize

    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        size = max(path.stat().st_size, len(data))
        raise _OverLimit(f"is {size:,} bytes, over the {max_bytes:,}-byte limit (PTMHUB_MAX_HUBCONF_BYTES)")
    try:  # as Python reads a source file: a BOM or a ``coding:`` line (PEP 263), else UTF-8
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        # bytes Python would refuse to import: still listed, with U+FFFD where they do not decode
        text = data.decode("utf-8", errors="replace")
    return data, text


@dataclass
class Entrypoint:
    name: str
    doc: str | None = None
    params: list[str] | None = None   # parameter names when known; "**" marks **kwargs
    kind: str = "function"            # function | class | imported | assigned


_DEPENDENCY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class HubconfInfo:
    entrypoints: dict[str, Entrypoint] = field(default_factory=dict)
    dependencies: list[str] | None = None
    dynamic: bool = False             # names may appear only at import time (globals(), *, exec)
    sha256: str | None = None
    partial: str | None = None        # why docstrings of some imported names were not looked up
    dependencies_problem: str | None = None  # ``dependencies`` is there but not a list of names

    def missing_dependencies(self) -> list[str]:
        """Dependencies not installed (checked by top-level name; nothing is imported). A name
        that cannot be a module (``torch>=2``) counts as missing."""
        missing = []
        for dep in self.dependencies or []:
            top = dep.split(".", 1)[0]
            try:
                found = bool(_DEPENDENCY.match(dep)) and importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):  # e.g. a name whose module has no __spec__
                found = False
            if not found:
                missing.append(dep)
        return missing


def _dependencies(value: ast.expr) -> tuple[list[str] | None, str | None]:
    """``dependencies = [...]``: (names, None), or (None, why it is not a list of names)."""
    try:
        deps = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        # not a literal, or one Python cannot build (``{[1]: 2}``: an unhashable key)
        return None, "not a literal list of package names"
    if not isinstance(deps, (list, tuple)) or not all(isinstance(d, str) for d in deps):
        return None, "not a list of package names (strings)"
    return [" ".join(d.split()) for d in deps], None


def _params(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        return _params(init)[1:] if init is not None else []
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return []
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    if a.kwarg is not None:
        names.append("**")
    return names


def _module_file(root: Path, base: Path, module: str | None, level: int) -> Path | None:
    if level:
        start = base
        for _ in range(level - 1):
            start = start.parent
    else:
        start = root
    parts = [p for p in (module or "").split(".") if p]
    target = start.joinpath(*parts) if parts else start
    for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
        if candidate is not None and candidate.is_file():
            try:
                candidate.resolve().relative_to(root.resolve())
            except ValueError:
                return None
            return candidate
    return None


@dataclass
class _Module:
    """What the listing needs from one of the repository's modules, kept instead of its AST.
    Modules are named by their resolved path, as a string (cheap to hash and compare)."""

    defs: dict[str, Entrypoint]
    imports: dict[str, tuple[str, str]]    # local name -> (module, name there)
    stars: list[str]                       # modules star-imported, in order, each once


class _Follower:
    """Finds where names that hubconf.py imports are defined, for their docstrings and
    parameters. Each module is parsed once and only its summary kept; files, tokens and search
    steps are bounded, and running out leaves a *partial* listing (``HubconfInfo.partial``)."""

    def __init__(self, root: Path, limits: _Limits):
        self.root = root.resolve()
        self.limits = limits
        self.modules: dict[str, _Module | None] = {}
        self.tokens_left = limits.followed_tokens
        self.steps_left = MAX_FOLLOW_STEPS
        self.partial: str | None = None

    def _stop(self, why: str) -> None:
        self.partial = self.partial or why

    def module(self, key: str) -> _Module | None:
        if key in self.modules:
            return self.modules[key]
        if len(self.modules) >= MAX_FOLLOWED_FILES:
            self._stop(f"more than {MAX_FOLLOWED_FILES} modules to read")
            return None
        self.modules[key] = None
        path = Path(key)
        rel = path.relative_to(self.root).as_posix()
        try:
            _, text = _read_source(path, self.limits.file_bytes)
            budget = min(self.limits.file_tokens, self.tokens_left)
            tokens = _count_tokens(text, budget)
            self.tokens_left -= tokens
            tree = parse_bounded(text)
        except _OverLimit as exc:
            self._stop(f"{rel} {exc}")
            return None
        except (SyntaxError, ValueError, OSError):
            return None  # a broken module: its names stay without docstrings
        mod = _Module({}, {}, [])
        for node in tree.body:  # type: ignore[attr-defined]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                mod.defs.setdefault(node.name, Entrypoint(node.name, ast.get_docstring(node), _params(node), kind))
            elif isinstance(node, ast.ImportFrom):
                target = _module_file(self.root, path.parent, node.module, node.level)
                if target is None:
                    continue
                tkey = str(target.resolve())
                for alias in node.names:
                    if alias.name == "*":
                        if tkey not in mod.stars:
                            mod.stars.append(tkey)
                    else:
                        mod.imports.setdefault(alias.asname or alias.name, (tkey, alias.name))
        self.modules[key] = mod
        return mod

    def find(self, file: Path, name: str) -> Entrypoint | None:
        """``name``'s definition, starting in ``file`` and following re-exports breadth first
        (the nearest definition wins), each (module, name) queued once; every queued step
        counts against :data:`MAX_FOLLOW_STEPS` for the whole listing."""
        from collections import deque

        start = (str(file.resolve()), name)
        queue: deque[tuple[str, str, int]] = deque([(*start, 0)])
        seen: set[tuple[str, str]] = {start}
        cut = None
        while queue:
            key, wanted, depth = queue.popleft()
            mod = self.module(key)
            if mod is None:
                continue
            if wanted in mod.defs:
                return mod.defs[wanted]
            if wanted in mod.imports:
                nexts = [mod.imports[wanted]]
            else:
                nexts = [(star, wanted) for star in mod.stars]
            for nxt in nexts:
                if nxt in seen:
                    continue
                if depth + 1 > _FOLLOW_DEPTH:
                    cut = cut or f"a name re-exported through more than {_FOLLOW_DEPTH} modules"
                    continue
                if self.steps_left <= 0:
                    self._stop(f"more than {MAX_FOLLOW_STEPS:,} import steps to follow")
                    return None
                self.steps_left -= 1
                seen.add(nxt)
                queue.append((*nxt, depth + 1))
        if cut is not None:
            self._stop(cut)
        return None


def _is_installed_submodule(module: str | None, name: str, level: int) -> bool:
    """Whether ``from MODULE import NAME`` names a sub-module of an installed package, judged
    from the file system: nothing is imported (the names come from untrusted code)."""
    if level or not module:
        return False
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: the package is located, not run
    except (ImportError, ValueError):
        return False
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location).joinpath(*rest)
        if (folder / name).is_dir() or (folder / f"{name}.py").is_file():
            return True
    return False


_DYNAMIC_CALLS = {"globals", "setattr", "exec", "vars", "locals", "__import__"}


def _is_partial_call(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "partial") or \
        (isinstance(func, ast.Attribute) and func.attr == "partial")


def read_hubconf(repo_dir: str | os.PathLike[str]) -> HubconfInfo:
    """Entrypoints, docstrings and ``dependencies`` of a repository's ``hubconf.py``, read with
    :mod:`ast`: no code of the repository runs. Names imported from the repository's own modules
    are followed there for their docstrings.

    The work is bounded (limits scale with ``PTMHUB_MAX_HUBCONF_BYTES``): hubconf.py itself must
    fit its byte, token, nesting and entrypoint limits, or nothing is listed; following imports
    stops after :data:`MAX_FOLLOWED_FILES` modules (or their token budget), and the listing says
    so in ``partial`` (those names keep no docstring).

    Raises:
        ModelNotFoundError: there is no hubconf.py.
        MalformedResponseError: hubconf.py is not valid Python.
        LimitExceededError: hubconf.py is beyond a static-listing limit.
    """
    root = Path(repo_dir)
    path = root / "hubconf.py"
    if not path.is_file():
        raise ModelNotFoundError(f"{root.name} has no hubconf.py",
                                 hint="torch.hub needs a hubconf.py at the repository root")
    limits = _Limits.current()
    label = f"hubconf.py of {root.name}"
    try:
        source, text = _read_source(path, limits.file_bytes)
        tree = parse_bounded(text, max_tokens=limits.file_tokens)
    except _OverLimit as exc:
        raise LimitExceededError(f"{label} {exc}, past the limits for reading it without running it",
                                 hint=_HUBCONF_HINT) from None
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else f" ({exc.msg})"
        raise MalformedResponseError(f"{label} is not valid Python{where}") from None
    info = HubconfInfo(sha256=hashlib.sha256(source).hexdigest())
    follower = _Follower(root, limits)
    installed: dict[tuple[str | None, str, int], bool] = {}

    def add(entry: Entrypoint) -> None:
        if entry.name not in info.entrypoints and len(info.entrypoints) >= limits.names:
            raise LimitExceededError(f"{label} defines more than {limits.names:,} entrypoints, past the limits "
                                     "for reading it without running it", hint=_HUBCONF_HINT)
        info.entrypoints[entry.name] = entry

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not node.name.startswith("_"):
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    add(Entrypoint(node.name, ast.get_docstring(node), _params(node), kind))
                continue
            if isinstance(node, ast.ImportFrom):
                target = _module_file(root, root, node.module, node.level)
                for alias in node.names:
                    if alias.name == "*":
                        info.dynamic = True
                        continue
                    local = alias.asname or alias.name
                    if local.startswith("_"):
                        continue
                    found = follower.find(target, alias.name) if target is not None else None
                    if found is None and target is None:
                        key = (node.module, alias.name, node.level)
                        if key not in installed:
                            installed[key] = _is_installed_submodule(node.module, alias.name, node.level)
                        if installed[key]:
                            continue  # ``from torch import nn``: a module, not a callable
                    add(Entrypoint(local, found.doc if found else None, found.params if found else None,
                                   found.kind if found else "imported"))
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                value = node.value
                if "dependencies" in names and value is not None:
                    info.dependencies, info.dependencies_problem = _dependencies(value)
                    if info.dependencies_problem:
                        info.dynamic = True
                    continue
                for name in names:
                    if name.startswith("_") or value is None:
                        continue
                    if isinstance(value, ast.Lambda):
                        add(Entrypoint(name, None, _params(value), "assigned"))
                    elif isinstance(value, ast.Name) and value.id in info.entrypoints:
                        src = info.entrypoints[value.id]
                        add(Entrypoint(name, src.doc, src.params, src.kind))
                    elif isinstance(value, ast.Call) and _is_partial_call(value.func):
                        add(Entrypoint(name, None, None, "assigned"))
            if isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []) or [])
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body)
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in _DYNAMIC_CALLS:
                    info.dynamic = True

    visit(tree.body)  # type: ignore[attr-defined]
    info.partial = follower.partial
    return info


def _listing(info: HubconfInfo) -> str:
    """How an untrusted repository was listed: ``ast``; ``ast (may be incomplete)`` when the
    hubconf makes names at import time; ``ast (partial: WHY)`` when a bound stopped the search
    for docstrings of imported names (those keep none)."""
    if info.partial:
        return f"ast (partial: {info.partial})"
    return "ast (may be incomplete)" if info.dynamic else "ast"


# -- running hubconf.py (trusted repositories only) -------------------------------------------------
@contextlib.contextmanager
def _hubconf(repo_dir: Path, repo_label: str) -> Iterator[Any]:
    """Import ``hubconf.py`` the way torch.hub does, with the repository on ``sys.path`` for as
    long as the context lasts (entrypoints import lazily)."""
    path = str(repo_dir)
    sys.path.insert(0, path)
    try:
        spec = importlib.util.spec_from_file_location("hubconf", repo_dir / "hubconf.py")
        if spec is None or spec.loader is None:
            raise ModelNotFoundError(f"{repo_label}: cannot import hubconf.py")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ModuleNotFoundError as exc:
            raise RepoDependencyError(f"{repo_label}'s hubconf.py imports {exc.name!r}, which is not installed",
                                      hint=f"install {exc.name} (the repository needs it)") from None
        yield module
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def _imported_entrypoints(module: Any) -> dict[str, Entrypoint]:
    out = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if name.startswith("_") or not callable(obj):
            continue
        try:
            params = [p.name if p.kind is not p.VAR_KEYWORD else "**"
                      for p in inspect.signature(obj).parameters.values()]
        except (TypeError, ValueError):
            params = None
        kind = "class" if inspect.isclass(obj) else "function"
        out[name] = Entrypoint(name, inspect.getdoc(obj), params, kind)
    return out


def _check_dependencies(info: HubconfInfo, label: str) -> None:
    if info.dependencies_problem:
        raise RepoDependencyError(f"{label}'s hubconf.py declares dependencies that are "
                                  f"{info.dependencies_problem}, so ptmhub cannot check them",
                                  hint="dependencies must be a list of package names, e.g. ['torch', 'scipy']")
    missing = info.missing_dependencies()
    if missing:
        raise RepoDependencyError(f"{label} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                                  "not installed", hint="pip install " + " ".join(missing))


@contextlib.contextmanager
def _torch_hub_dir() -> Iterator[None]:
    """Point torch.hub at ``TORCH_HOME/hub`` (as settings see it) while repository code runs, so
    its ``load_state_dict_from_url`` calls land in ``hub/checkpoints``."""
    import torch.hub

    ours = str(hub_dir())
    if os.path.abspath(torch.hub.get_dir()) == os.path.abspath(ours):
        yield
        return
    previous = getattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(ours)
    try:
        yield
    finally:
        torch.hub._hub_dir = previous  # type: ignore[attr-defined]


# -- parameter counts ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Every parameter moves to the meta device as it is registered: for builders whose
    set-up computes with tensors (torchvision's RegNet widths) and so cannot run entirely under
    ``torch.device('meta')``."""
    import torch.nn as nn

    original = nn.Module.register_parameter

    def register_parameter(module: Any, name: str, param: Any) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            cls = type(module._parameters[name])
            module._parameters[name] = cls(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def count_parameters_on_meta(build: Callable[[], Any]) -> int:
    """Exact parameter count of the ``nn.Module`` that ``build()`` returns, built on the meta
    device: shapes only, no memory for weights, nothing downloaded by ptmhub.

    Raises:
        TypeError: ``build()`` did not return an ``nn.Module``.
    """
    import torch

    try:
        with torch.device("meta"):
            model = build()
    except (NotImplementedError, RuntimeError) as exc:
        if "meta" not in str(exc).lower():
            raise
        with _parameters_on_meta():
            model = build()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"the entrypoint returned a {type(model).__name__}, not an nn.Module")
    return sum(p.numel() for p in model.parameters())


def _has(params: list[str] | None, name: str) -> bool:
    return params is not None and name in params


def _no_weights_kwargs(params: list[str] | None) -> dict[str, Any] | None:
    """Arguments that build an entrypoint without pretrained weights, or None if it takes none
    of the usual ones (then building it might download weights, so it is not built)."""
    kwargs: dict[str, Any] = {}
    if _has(params, "pretrained"):
        kwargs["pretrained"] = False
    if _has(params, "weights"):
        kwargs["weights"] = None
    if not kwargs:
        return None
    if _has(params, "weights_backbone"):
        kwargs["weights_backbone"] = None
    if _has(params, "pretrained_backbone"):
        kwargs["pretrained_backbone"] = False
    if _has(params, "progress"):
        kwargs["progress"] = False
    return kwargs


def _weights_kwargs(params: list[str] | None, variant: str | None, *, owner: str, repo: str,
                    entry: str) -> dict[str, Any]:
    """Arguments that make an entrypoint load its pretrained weights (pull / load)."""
    if variant is not None:
        if _has(params, "weights") or _has(params, "**"):
            return {"weights": variant}
        raise UsageError(f"{owner}/{repo} {entry} takes no weights= argument, so '#{variant}' cannot be applied",
                         hint=f"drop '#{variant}' from the ID")
    if _has(params, "pretrained"):
        return {"pretrained": True}
    if _has(params, "weights") and f"{owner}/{repo}".lower() == "pytorch/vision":
        return {"weights": "DEFAULT"}
    return {}


# -- checkpoints --------------------------------------------------------------------------------------
def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a checkpoint's name carries (``resnet18-f37072fd.pth`` -> ``f37072fd``),
    torch.hub's ``check_hash`` convention; None when the name carries none (fewer than 8 hex digits)."""
    m = HASH_REGEX.search(filename)
    return m.group(1) if m and len(m.group(1)) >= MIN_HASH_PREFIX else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked_prefix(name: str, model_id: str | None) -> str | None:
    """:func:`hash_prefix`, refusing a prefix no sha256 can have (over 64 hex digits) before
    anything is downloaded or kept under that name.

    Raises:
        IntegrityError: the name promises a hash longer than sha256's.
    """
    prefix = hash_prefix(name)
    if prefix is not None and len(prefix) > 64:
        raise IntegrityError(f"{name}: its name carries a {len(prefix)}-digit hash, longer than a sha256 (64)",
                             hint="the checkpoint URL is wrong or hostile; report it to the repository",
                             model_id=model_id)
    return prefix


def _hash_error(name: str, prefix: str, digest: str, model_id: str | None) -> IntegrityError:
    return IntegrityError(f"{name}: its sha256 is {digest[:16]}..., not the {prefix}... its file name promises",
                          hint="the file is corrupt or was altered; it was deleted: retry, or report it upstream",
                          model_id=model_id)


def verify_checkpoint(path: str | os.PathLike[str], *, model_id: str | None = None) -> bool | None:
    """Check a checkpoint against the sha256 prefix in its name; a mismatching file is deleted.

    Returns True when checked, None when the name carries no hash.

    Raises:
        IntegrityError: the content does not match.
    """
    path = Path(path)
    try:
        prefix = _checked_prefix(path.name, model_id)
    except IntegrityError:
        path.unlink(missing_ok=True)
        raise
    if prefix is None:
        return None
    digest = _sha256(path)
    if not digest.startswith(prefix):
        path.unlink(missing_ok=True)
        raise _hash_error(path.name, prefix, digest, model_id)
    return True


def download_checkpoint(url: str, *, model_id: str | None = None, progress: Callable[[int], None] | None = None,
                        check_hash: bool = True) -> tuple[Path, int]:
    """Download a checkpoint into ``TORCH_HOME/hub/checkpoints`` (where torch.hub looks for it):
    to ``<name>.<uuid>.partial`` first, renamed only when complete and, if its name carries a
    sha256 prefix, only when the content matches it. Returns (path, bytes downloaded); a file
    already there is not downloaded again.

    Raises:
        IntegrityError: the content does not match the hash in its name (nothing is kept).
        OfflineError, NetworkError, ModelNotFoundError: as for any download.
    """
    name = os.path.basename(urlsplit(url).path)
    if not name or name in (".", "..") or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$", name):
        raise UsageError(f"the checkpoint URL {url!r} does not end in a usable file name")
    prefix = _checked_prefix(name, model_id) if check_hash else None
    dest = checkpoints_dir() / name
    if dest.is_file():
        return dest, 0
    http.check_online(f"downloading {name}", model_id=model_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{name}.{uuid.uuid4().hex}.partial")
    digest = hashlib.sha256()
    size = 0
    try:
        response = http.request("GET", url, stream=True, model_id=model_id, what=f"downloading {name}")
        with open(tmp, "wb") as fh:
            size = http.stream_to_file(response, fh, progress=progress, digest=digest)
        if prefix is not None and not digest.hexdigest().startswith(prefix):
            raise _hash_error(name, prefix, digest.hexdigest(), model_id)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest, size


def _checkpoint_files() -> set[Path]:
    folder = checkpoints_dir()
    if not folder.is_dir():
        return set()
    return {p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".partial")}


# -- licenses -----------------------------------------------------------------------------------------
_LICENSE_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("apache license", "version 2.0"), "apache-2.0"),
    (("gnu affero general public license",), "agpl-3.0"),
    (("gnu lesser general public license", "version 3"), "lgpl-3.0"),
    (("gnu lesser general public license",), "lgpl-2.1"),
    (("gnu general public license", "version 3"), "gpl-3.0"),
    (("gnu general public license",), "gpl-2.0"),
    (("mozilla public license", "2.0"), "mpl-2.0"),
    (("attribution-noncommercial-sharealike 4.0",), "cc-by-nc-sa-4.0"),
    (("attribution-noncommercial 4.0",), "cc-by-nc-4.0"),
    (("attribution 4.0 international",), "cc-by-4.0"),
    (("permission is hereby granted, free of charge",), "mit"),
    (("redistribution and use in source and binary forms", "neither the name"), "bsd-3-clause"),
    (("redistribution and use in source and binary forms", "names of its contributors"), "bsd-3-clause"),
    (("redistribution and use in source and binary forms",), "bsd-2-clause"),
    (("free and unencumbered software released into the public domain",), "unlicense"),
)


def detect_license(repo_dir: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(license id, file name) from the repository's LICENSE file, recognised by its standard
    wording; (None, file name) when the file is there but not recognised, (None, None) without one."""
    root = Path(repo_dir)
    for name in _LICENSE_FILES:
        path = root / name
        if path.is_file():
            text = " ".join(path.read_text(encoding="utf-8", errors="replace")[:40000].lower().split())
            for needles, license_id in _LICENSE_RULES:
                if all(n in text for n in needles):
                    return license_id, name
            return None, name
    return None, None


# -- records ---------------------------------------------------------------------------------------
def _summary(doc: str | None) -> str | None:
    if not doc:
        return None
    first = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(first.split())[:500] or None


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _is_torchvision(mid: ModelId) -> bool:
    if mid.path.lower() != "pytorch/vision" or mid.revision is not None:
        return False
    try:
        from . import torchvision as tv

        return mid.entrypoint in tv.model_names()
    except ImportError:
        return False


def _mid(model_id: ModelId | str) -> ModelId:
    mid = parse(model_id) if isinstance(model_id, str) else model_id
    if mid.platform != "torchhub":
        raise UsageError(f"{mid} is not a torchhub ID",
                         hint="torchhub IDs look like torchhub:OWNER/REPO[:REF]/ENTRYPOINT")
    return mid


_EXAMPLE_ARGS = re.compile(r"""torch\.hub\.load\(\s*['"][^'"]+['"]\s*,\s*['"][^'"]+['"]\s*,\s*['"]([^'"]+)['"]""")


class TorchHubBackend(Backend):
    """PyTorch Hub (hubconf repositories) and the installed torchvision."""

    platform = "torchhub"
    #: the pytorch/hub docs, torchvision and a repository's hubconf.py describe the same
    #: entrypoints: a record adds to the stored one's ``extra`` and ``tags`` (``Store.upsert(combine=)``)
    combines = True
    uses_trust = True  # hubconf.py runs only for trusted repositories: the context carries the trust list

    def describe_origin(self, record: ModelRecord) -> str | None:
        extra = record.extra or {}
        if extra.get("torchvision_version"):
            return f"torchvision {extra['torchvision_version']} weights meta"
        if extra.get("hubconf_sha256") or extra.get("entrypoints"):
            return "the repository's hubconf.py"
        if extra.get("catalog") == "pytorch/hub":
            return f"pytorch/hub doc {extra.get('doc') or ''}".strip()
        return None

    def architecture_hint(self, record: ModelRecord) -> tuple[str, str] | None:
        """For loader entrypoints (``model``, ``modelForMaskedLM``...): the model the pytorch/hub
        doc's example call loads (``torch.hub.load(REPO, 'model', 'bert-base-uncased')``)."""
        example = (record.extra or {}).get("example")
        if not isinstance(example, str) or not (record.name or "").startswith("model"):
            return None
        m = _EXAMPLE_ARGS.search(example)
        return (m.group(1), f"the pytorch/hub doc's example loads {m.group(1)!r}") if m else None

    # -- resolve -------------------------------------------------------------------------------
    def resolve(self, model_id: ModelId | str, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """A record for the entrypoint: torchvision's facts for ``pytorch/vision``, otherwise the
        repository's hubconf.py read statically, plus a meta-device count when trusted.

        Raises:
            ModelNotFoundError: no such repository, ref or entrypoint.
            OfflineError, NetworkError: fetching the repository failed.
        """
        mid = _mid(model_id)
        if _is_torchvision(mid):
            from . import torchvision as tv

            if mid.variant is not None:
                tv.resolve_weights(mid.entrypoint or "", mid.variant)
            return tv.record_for(mid.entrypoint or "", check_meta_device=True)
        owner, repo = mid.path.split("/")
        reason = trust_status(owner, repo, trust=context.trust, entries=context.trusted)
        ref = mid.revision or default_ref(owner, repo, model_id=str(mid))
        checkout = fetch_repo(owner, repo, ref, trusted=reason is not None, model_id=str(mid),
                              verify_ref=mid.revision is not None)
        return self._record(mid, checkout, reason, context.known)

    def _record_id(self, mid: ModelId, checkout: RepoCheckout, known: ModelRecord | None) -> str:
        """The registry key, in GitHub's spelling of OWNER/REPO (names are case-insensitive):
        the zipball's folder name on a fresh download, else the record the registry already has."""
        if checkout.canonical and checkout.canonical.lower() == mid.path.lower():
            return f"torchhub:{checkout.canonical}/{mid.entrypoint}"
        return known.id if known is not None else mid.key

    def _record(self, mid: ModelId, checkout: RepoCheckout, reason: str | None,
                known: ModelRecord | None) -> ModelRecord:
        owner, repo, entry = checkout.owner, checkout.repo, mid.entrypoint or ""
        label = f"{owner}/{repo}"
        info = read_hubconf(checkout.path)
        entrypoints = dict(info.entrypoints)
        parameters = None
        source = None
        if reason is None:
            note = (f"not counted: {label} is not trusted, so its code was not run "
                    f"('ptmhub trust add {label}' or --trust to count on the meta device)")
            if entry not in entrypoints and not info.dynamic:
                raise ModelNotFoundError(f"{label} has no entrypoint {entry!r}",
                                         hint="its entrypoints: " + (", ".join(sorted(entrypoints)) or "none"),
                                         model_id=str(mid))
        else:
            _write_torch_trusted(owner, repo)
            parameters, note = None, None
            missing = info.missing_dependencies()
            if info.dependencies_problem:
                note = f"not counted: its hubconf.py declares dependencies that are {info.dependencies_problem}"
            elif missing:
                note = f"not counted: the repository needs {', '.join(missing)}, which is not installed"
            else:
                with _hubconf(checkout.path, label) as module, _torch_hub_dir():
                    entrypoints = _imported_entrypoints(module)
                    if entry not in entrypoints:
                        raise ModelNotFoundError(f"{label} has no entrypoint {entry!r}",
                                                 hint="its entrypoints: " + (", ".join(entrypoints) or "none"),
                                                 model_id=str(mid))
                    fn = getattr(module, entry)
                    kwargs = _no_weights_kwargs(entrypoints[entry].params)
                    if kwargs is None:
                        note = ("not counted: the entrypoint takes neither pretrained= nor weights=, so building it "
                                "might download weights")
                    else:
                        try:
                            parameters = count_parameters_on_meta(lambda: fn(**kwargs))
                            source = "meta-device"
                            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                            note = f"built on the meta device with {shown}"
                        except Exception as exc:  # repository code: any failure is only a missing count
                            note = f"not counted: building on the meta device failed ({type(exc).__name__}: " \
                                   f"{' '.join(str(exc).split())[:160]})"
        ep = entrypoints.get(entry)
        license_id, license_file = detect_license(checkout.path)
        extra: dict[str, Any] = {
            "ref": checkout.ref,
            "commit": checkout.commit,
            "entrypoints": sorted(entrypoints),
            "doc": inspect.cleandoc(ep.doc) if ep and ep.doc else None,
            "params": ep.params if ep else None,
            "dependencies": info.dependencies,
            "missing_dependencies": info.missing_dependencies() or None,
            "trusted": reason,
            "listing": "hubconf" if reason else _listing(info),
            "dependencies_problem": info.dependencies_problem,
            "hubconf_sha256": info.sha256,
            "cache_dir": str(checkout.path),
        }
        if mid.variant:
            extra["variant"] = mid.variant
        record_id = self._record_id(mid, checkout, known)
        return ModelRecord(
            id=record_id, platform="torchhub", name=entry, owner=record_id.split(":", 1)[1].split("/", 1)[0],
            aliases=(mid.key,) if mid.key != record_id else (), framework="pytorch", library="torch.hub",
            format="hubconf", revision=checkout.ref, source_url=mid.with_(revision=checkout.ref, variant=None).url(),
            summary=_summary(ep.doc if ep else None),
            parameters=parameters, parameters_source=source, parameters_note=note,
            license=license_id, license_raw=license_file,
            license_source=(f"code: the repository's {license_file} (it may not cover the weights)"
                            if license_file else None),
            extra={k: v for k, v in extra.items() if v is not None},
        )

    # -- pull ----------------------------------------------------------------------------------
    def pull(self, model_id: ModelId | str, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        """Fetch the entrypoint's code and checkpoint into ``TORCH_HOME/hub``.

        torchvision: the weights file of the variant (``DEFAULT`` if none). Other repositories
        (trusted only): the repository, then the entrypoint is run with its pretrained weights,
        which torch.hub downloads into ``hub/checkpoints``; new files are then checked against
        the sha256 prefix in their names.

        Raises:
            UntrustedRepoError: the repository is not trusted (nothing is downloaded).
            IntegrityError: a checkpoint does not match the hash in its name (it is deleted).
        """
        mid = _mid(model_id)
        if _is_torchvision(mid):
            from . import torchvision as tv

            name = mid.entrypoint or ""
            weights = tv.resolve_weights(name, mid.variant)
            path, size = download_checkpoint(weights.url, model_id=str(mid), progress=progress)
            record = tv.record_for(name)
            record = record.replace(cache_size_bytes=path.stat().st_size)
            return PullResult(record=record, path=str(path), bytes_downloaded=size, files=[str(path)])
        owner, repo = mid.path.split("/")
        reason = _require_trust(owner, repo, context=context, what="download its weights")
        ref = mid.revision or default_ref(owner, repo, model_id=str(mid))
        checkout = fetch_repo(owner, repo, ref, trusted=True, model_id=str(mid), progress=progress,
                              verify_ref=mid.revision is not None)
        record = self._record(mid, checkout, reason, context.known)
        _, new_files = self._run_entry(mid, checkout, {})
        files = sorted(str(p) for p in new_files)
        size = _dir_size(checkout.path) + sum(p.stat().st_size for p in new_files)
        extra = {**record.extra, "checkpoints": [Path(f).name for f in files]} if files else record.extra
        record = record.replace(cache_size_bytes=size, extra=extra)
        downloaded = checkout.bytes_downloaded + sum(p.stat().st_size for p in new_files)
        return PullResult(record=record, path=str(checkout.path), bytes_downloaded=downloaded, files=files)

    def _run_entry(self, mid: ModelId, checkout: RepoCheckout, kwargs: dict[str, Any]) -> tuple[Any, set[Path]]:
        """Run a trusted entrypoint with its pretrained weights; verify the checkpoints it fetched."""
        owner, repo, entry = checkout.owner, checkout.repo, mid.entrypoint or ""
        label = f"{owner}/{repo}"
        _write_torch_trusted(owner, repo)
        _check_dependencies(read_hubconf(checkout.path), label)
        before = _checkpoint_files()
        with _hubconf(checkout.path, label) as module, _torch_hub_dir():
            fn = getattr(module, entry, None)
            if fn is None or not callable(fn):
                raise ModelNotFoundError(f"{label} has no entrypoint {entry!r}", model_id=str(mid))
            entrypoints = _imported_entrypoints(module)
            args = {**_weights_kwargs(entrypoints[entry].params, mid.variant, owner=owner, repo=repo, entry=entry),
                    **kwargs}
            try:
                obj = fn(**args)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:  # torch.hub's download failed
                new = _checkpoint_files() - before
                for path in new:
                    path.unlink(missing_ok=True)
                if settings.get().offline:
                    raise NotCachedError(f"{mid}: its weights are not in TORCH_HOME/hub/checkpoints "
                                         "and offline mode is on",
                                         hint=f"run 'ptmhub pull {mid}' while online", model_id=str(mid)) from None
                raise NetworkError(f"{mid}: fetching its weights failed ({type(exc).__name__}: {exc})",
                                   model_id=str(mid)) from None
        new_files = _checkpoint_files() - before
        for path in sorted(new_files):
            verify_checkpoint(path, model_id=str(mid))
        return obj, new_files

    # -- load ----------------------------------------------------------------------------------
    def load(self, model_id: ModelId | str, record: ModelRecord | None = None, *,
             context: BackendContext = NO_CONTEXT, **kwargs: Any) -> Loaded:
        """Build the entrypoint with its pretrained weights from the cache (works offline once
        pulled). ``kwargs`` go to the entrypoint.

        Raises:
            UntrustedRepoError: the repository is not trusted (no code runs, nothing is fetched).
            NotCachedError: offline and the repository or checkpoint is not cached.
        """
        mid = _mid(model_id)
        if _is_torchvision(mid):
            from . import torchvision as tv

            name = mid.entrypoint or ""
            weights = tv.resolve_weights(name, mid.variant)
            path = checkpoints_dir() / os.path.basename(urlsplit(weights.url).path)
            if not path.is_file():
                if settings.get().offline:
                    raise NotCachedError(f"{mid}: {path.name} is not in {checkpoints_dir()} and offline mode is on",
                                         hint=f"run 'ptmhub pull {mid}' while online", model_id=str(mid))
                path, _ = download_checkpoint(weights.url, model_id=str(mid))
            model = tv.load_model(name, weights, str(path), **kwargs)
            return Loaded(model=model.eval(), preprocess=weights.transforms(), framework="pytorch", record=record)
        owner, repo = mid.path.split("/")
        _require_trust(owner, repo, context=context, what="load it")
        ref = mid.revision or default_ref(owner, repo, model_id=str(mid))
        cached = _cached(owner, repo, ref, trusted_only=True, model_id=str(mid))
        if cached is not None:
            checkout = _cached_checkout(owner, repo, ref, cached, trusted=True)
        else:
            checkout = fetch_repo(owner, repo, ref, trusted=True, model_id=str(mid),
                                  verify_ref=mid.revision is not None)
        model, _ = self._run_entry(mid, checkout, kwargs)
        if hasattr(model, "eval") and callable(model.eval):
            model.eval()
        return Loaded(model=model, framework="pytorch", record=record)


# -- entrypoint listing (CLI: ptmhub entrypoints REPO) -----------------------------------------------
def _repo_and_ref(model_or_repo_id: str | ModelId) -> tuple[str, str, str | None]:
    if isinstance(model_or_repo_id, ModelId):
        owner, repo = _mid(model_or_repo_id).path.split("/")
        return owner, repo, model_or_repo_id.revision
    text = model_or_repo_id.strip().removeprefix("torchhub:")
    m = re.match(r"^([^/:]+)/([^/:]+)(?::([^/]+))?/?$", text)
    if m and _SEGMENT.match(m.group(1)) and _SEGMENT.match(m.group(2)):
        return m.group(1), m.group(2), m.group(3)
    mid = _mid(parse("torchhub:" + text))
    owner, repo = mid.path.split("/")
    return owner, repo, mid.revision


def list_entrypoints(model_or_repo_id: str | ModelId, *, trust: bool = False,
                     trusted: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The entrypoints of a repository (``OWNER/REPO[:REF]`` or any torchhub model ID of it):
    ``[{"name", "doc", "kind", "source"}]``, sorted by name. ``trusted``: the registry's trust
    list (``Store.trusted()``).

    Untrusted repositories are read with :mod:`ast` (``source: "ast"``; nothing runs; names a
    hubconf creates at import time are missed; ``"ast (partial: WHY)"`` when a static-listing bound
    stopped the search for the docstrings of imported names). Trusted ones are imported like ``torch.hub.list``
    (``source: "hubconf"``). ``pytorch/vision`` without a ref lists the installed torchvision's
    builders (``source: "torchvision"``).
    """
    owner, repo, ref = _repo_and_ref(model_or_repo_id)
    if f"{owner}/{repo}".lower() == "pytorch/vision" and ref is None:
        try:
            from . import torchvision as tv

            tvm = tv._tv()
            return [{"name": n, "doc": inspect.getdoc(tvm.get_model_builder(n)), "kind": "function",
                     "source": "torchvision"} for n in sorted(tv.model_names())]
        except ImportError:
            pass
    label = f"torchhub:{owner}/{repo}"
    reason = trust_status(owner, repo, trust=trust, entries=trusted)
    explicit = ref is not None
    ref = ref or default_ref(owner, repo, model_id=label)
    checkout = fetch_repo(owner, repo, ref, trusted=reason is not None, model_id=label, verify_ref=explicit)
    if reason is None:
        info = read_hubconf(checkout.path)
        entries, source = info.entrypoints, f"ast (partial: {info.partial})" if info.partial else "ast"
    else:
        _write_torch_trusted(owner, repo)
        with _hubconf(checkout.path, f"{owner}/{repo}") as module:
            entries, source = _imported_entrypoints(module), "hubconf"
    return [{"name": e.name, "doc": inspect.cleandoc(e.doc) if e.doc else None, "kind": e.kind, "source": source}
            for e in sorted(entries.values(), key=lambda e: e.name)]
