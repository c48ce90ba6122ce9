"""The Hugging Face cache (``HF_HUB_CACHE``) as huggingface_hub writes and reads it:
``models--OWNER--NAME/{blobs,snapshots,refs}``, each blob named by its ETag (the git blob sha1,
or the sha256 of an LFS file). Discovery goes through ``huggingface_hub.scan_cache_dir``,
deletion through its ``delete_revisions`` strategy; :meth:`HFCache.adopt` writes a folder in
the same layout, so transformers finds it offline like any download.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ... import settings
from ...errors import InvalidIdError
from ...ids import ModelId
from ...ids import parse as parse_id
from ...localmodel import PICKLE_WEIGHTS, folder_facts, record_from_facts, walk_files
from ...records import ModelRecord
from ..native import (
    STALE_PARTIAL_SECONDS,
    CachedModel,
    CacheHints,
    CacheProblem,
    FileCheck,
    Inventory,
    NativeCache,
    Removal,
    VerifyReport,
    broken_links,
    git_blob_sha1,
    mtime,
    remove_path,
    scan_note,
    sha256_file,
    size_of,
)

__all__ = ["HFCache", "adopt_folder", "hf_root"]


_HF_IGNORE = {".locks", "CACHEDIR.TAG", ".DS_Store", "Thumbs.db", "desktop.ini"}


_HF_TYPES = {"models", "datasets", "spaces", "kernels"}


_HEX40 = re.compile(r"^[0-9a-f]{40}$")


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


#: files hashed with sha256 (LFS) when an adopted folder has no .gitattributes: the Hub's defaults
_LFS_DEFAULT = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite",
                "*.pb", "*.gguf", "*.model", "*.npy", "*.npz", "*.pkl", "*.joblib", "*.tar.*", "*.zip", "*.gz")


_LFS_SIZE = 10 * 1024 * 1024


#: Files that hold weights: an HF snapshot without any (only config.json, say) is not a cached model.
_HF_WEIGHTS = (".safetensors", *PICKLE_WEIGHTS, ".pkl", ".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".mlmodel",
               ".tflite", ".gguf", ".keras", ".pb")


#: where :func:`adopt` works, inside the repo folder (same file system as ``blobs/``) but outside
#: ``blobs/``, where huggingface_hub's own partial downloads live: ``.adopt/<host>-<pid>-<id>/``
#: holds the temporary copies and the staged snapshot, and goes when the adoption ends
_ADOPT_DIR = ".adopt"


#: what a killed adopt of ptmhub 0.1 left in blobs/ (scan must not take it for a hub download)
_LEGACY_ADOPT = re.compile(r"^adopt-[0-9a-f]{32}\.incomplete$")


def hf_root() -> Path:
    return settings.get().hf_hub_cache


def _main_revision(repo: Any) -> Any:
    revisions = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
    for rev in revisions:
        if "main" in rev.refs:
            return rev
    for rev in revisions:
        if rev.refs:
            return rev
    return revisions[0] if revisions else None


def _missing_shards(snapshot: Path, names: set[str]) -> list[str]:
    missing = []
    for index in sorted(n for n in names if n.endswith((".safetensors.index.json", ".bin.index.json"))):
        try:
            weight_map = json.loads((snapshot / index).read_text(encoding="utf-8")).get("weight_map") or {}
        except (OSError, ValueError, AttributeError):
            continue
        folder = index.rsplit("/", 1)[0] + "/" if "/" in index else ""
        missing += [folder + s for s in sorted(set(weight_map.values())) if folder + s not in names]
    return missing


def _discover_hf(inv: Inventory) -> None:
    root = hf_root()
    inv.roots["hf"] = str(root)
    if not root.is_dir():
        return
    repos: dict[Path, ModelId] = {}
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name in _HF_IGNORE or (name == "blobs" and entry.is_dir() and not entry.is_symlink()):
            continue  # huggingface_hub's locks, tag file and shared blob store
        if entry.is_symlink() and not entry.exists():
            inv.problems.append(CacheProblem("broken-link", "hf", entry, "a link to nothing at the top of the cache"))
            continue
        kind, sep, rest = name.partition("--")
        if not entry.is_dir() or not sep or kind not in _HF_TYPES:
            inv.problems.append(CacheProblem("foreign", "hf", entry, "not part of huggingface_hub's cache layout",
                                             size_bytes=size_of(entry)))
            continue
        if kind != "models":
            inv.skipped[f"hf {kind}"] += 1
            continue
        try:
            repos[entry.resolve()] = parse_id("hf:" + rest.replace("--", "/"))
        except InvalidIdError:
            inv.problems.append(CacheProblem("foreign", "hf", entry, f"{rest!r} is not a valid repo id"))
    if not repos:
        return
    from huggingface_hub import scan_cache_dir

    info = inv.state["hf"] = scan_cache_dir(root)
    partial: dict[Path, list[Path]] = {}
    for f in info.incomplete_files:
        partial.setdefault(f.file_path.parent.parent.resolve(), []).append(f.file_path)
    scanned = {r.repo_path.resolve(): r for r in info.repos if r.repo_type == "model"}
    warnings = [str(w) for w in info.warnings]
    for path, mid in repos.items():
        adopting, leftovers = _adopt_leftovers(path, partial.get(path, []))
        parts = sorted(set(partial.get(path, [])) - set(leftovers))
        part_bytes = sum(size_of(p) for p in parts)
        repo = scanned.get(path)
        rev = _main_revision(repo) if repo is not None else None
        if repo is None or rev is None:
            broken = broken_links(path / "snapshots")
            if adopting or leftovers:
                inv.problems.append(_adopt_problem(path, mid, adopting, leftovers, complete=False))
            if parts:
                detail = (f"interrupted download: {len(parts)} partial blob(s) ({part_bytes:,} bytes), "
                          f"e.g. blobs/{parts[0].name}; 'ptmhub pull {mid}' completes it")
                inv.problems.append(CacheProblem("incomplete", "hf", path, detail, str(mid), part_bytes, parts))
            elif broken:
                shown = ", ".join(p.relative_to(path).as_posix() for p in broken[:3])
                inv.problems.append(CacheProblem("broken-link", "hf", path,
                                                 f"{len(broken)} snapshot file(s) link to missing blobs ({shown}); "
                                                 f"'ptmhub pull {mid}' fetches them again", str(mid)))
            elif not (adopting or leftovers):  # (an adoption that never got as far as its snapshot)
                said = next((w for w in warnings if str(path) in w), "no snapshot")
                inv.problems.append(CacheProblem("corrupt", "hf", path, f"huggingface_hub cannot read it: {said}",
                                                 str(mid)))
            continue
        files = sorted((f.file_path.relative_to(rev.snapshot_path).as_posix(), f.size_on_disk) for f in rev.files)
        names = {n for n, _ in files}
        # A partial blob (huggingface_hub writes <etag>[.<id>].incomplete and renames it to <etag>)
        # is pending, and the snapshot incomplete, when no finished blob has its ETag and it dates
        # from this snapshot's download (not older than its newest blob by over an hour). Others
        # are waste left by an interrupted download that was later completed, or by another revision.
        newest = max([f.blob_last_modified for f in rev.files] + [0.0])
        fresh = [p for p in parts if not (p.parent / p.name.split(".", 1)[0]).exists()
                 and mtime(p) >= newest - STALE_PARTIAL_SECONDS]
        missing = _missing_shards(rev.snapshot_path, names)
        weightless = not any(n.endswith(_HF_WEIGHTS) for n in names)
        if fresh or missing or weightless:
            why = (f"interrupted download: {len(fresh)} partial blob(s) ({sum(size_of(p) for p in fresh):,} bytes) "
                   f"of files the snapshot lacks" if fresh else
                   f"the snapshot lacks {len(missing)} shard(s) its index names ({missing[0]})" if missing else
                   "the snapshot is empty" if not files else
                   f"the snapshot holds no weights (only {', '.join(sorted(names)[:3])})")
            inv.problems.append(CacheProblem("incomplete", "hf", path, f"{why}; 'ptmhub pull {mid}' completes it",
                                             str(mid), part_bytes, parts))
            continue
        if adopting or leftovers:
            inv.problems.append(_adopt_problem(path, mid, adopting, leftovers, complete=True))
        if parts:
            inv.problems.append(CacheProblem("incomplete", "hf", path,
                                             f"{len(parts)} partial blob(s) ({part_bytes:,} bytes) left by an earlier "
                                             "interrupted download; the snapshot itself is complete "
                                             "('ptmhub cache prune --incomplete' removes them)", str(mid),
                                             part_bytes, parts))
        revisions = [{"commit": r.commit_hash, "refs": sorted(r.refs), "size_bytes": r.size_on_disk,
                      "files": len(r.files)} for r in sorted(repo.revisions, key=lambda r: r.commit_hash)]
        inv.models.append(CachedModel(
            model_id=str(mid), key=mid.key, cache="hf", path=rev.snapshot_path, size_bytes=repo.size_on_disk,
            files=files, revision=rev.commit_hash, last_accessed=max(repo.last_accessed, repo.last_modified),
            info={"repo_path": str(path), "revisions": revisions, "refs": sorted(rev.refs)}))


def _adopt_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) from an adoption's working folder name ``<host>-<pid>-<id>``."""
    host, _sep, rest = name.rpartition("-")[0].rpartition("-")
    pid = rest if host else ""
    return (host, int(pid)) if pid.isdigit() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def _adopt_leftovers(repo_path: Path, partials: Iterable[Path] | None = None) -> tuple[list[Path], list[Path]]:
    """(adoptions running now, what stopped adoptions left): working folders under ``.adopt/``
    and, from ptmhub 0.1, ``blobs/adopt-<id>.incomplete`` (among ``partials``, the repo's
    ``*.incomplete`` files scan_cache_dir listed, when given). A folder of another host is taken
    as running until it is untouched for :data:`STALE_PARTIAL_SECONDS`."""
    running: list[Path] = []
    left: list[Path] = []
    work = repo_path / _ADOPT_DIR
    here = socket.gethostname()
    if work.is_dir():
        for entry in sorted(work.iterdir()):
            owner = _adopt_owner(entry.name)
            if owner is not None and owner[0] == here:
                alive = _pid_alive(owner[1])
            else:
                alive = time.time() - mtime(entry) <= STALE_PARTIAL_SECONDS and owner is not None
            (running if alive else left).append(entry)
    if partials is None:
        partials = (repo_path / "blobs").glob("adopt-*.incomplete")
    left += sorted(p for p in partials if _LEGACY_ADOPT.match(p.name))
    return running, left


def _adopt_problem(path: Path, mid: ModelId, running: list[Path], left: list[Path], *, complete: bool) -> CacheProblem:
    size = sum(size_of(p) for p in left)
    again = f"'ptmhub add PATH --id {mid}'"
    if left:
        detail = (f"{len(left)} leftover(s) ({size:,} bytes, e.g. {left[0].relative_to(path).as_posix()}) of an "
                  f"adoption ({again}) that stopped before it finished")
    else:
        detail = f"an adoption ({again}) is running ({running[0].relative_to(path).as_posix()})"
    if complete:
        detail += "; the snapshot itself is complete"
        if left:
            detail += f" (the next {again} or 'ptmhub cache prune --incomplete' removes them)"
    elif left:
        detail += f"; run {again} again, which also removes them"
    return CacheProblem("incomplete", "hf", path, detail, str(mid), size, left)


def _verify_hf(model: CachedModel) -> VerifyReport:
    repo_path = Path(model.info["repo_path"])
    report = VerifyReport(model.model_id, "hf", str(repo_path),
                          note="each blob's name is the ETag the Hub published: sha256 for LFS files, the git "
                               "blob sha1 for the others")
    seen: set[Path] = set()
    for snapshot in sorted((repo_path / "snapshots").iterdir()):
        for name, _size, _t in walk_files(snapshot):
            link = snapshot / name
            blob = Path(os.path.realpath(link))
            label = f"{snapshot.name[:10]}/{name}"
            if blob in seen:
                continue
            seen.add(blob)
            etag = blob.name
            if not blob.is_file():
                report.checks.append(FileCheck(label, "missing", "none"))
            elif _HEX64.match(etag):
                actual = sha256_file(blob)
                report.checks.append(FileCheck(label, "ok" if actual == etag else "mismatch", "sha256", etag, actual,
                                               blob.stat().st_size))
            elif _HEX40.match(etag):
                actual = git_blob_sha1(blob)
                report.checks.append(FileCheck(label, "ok" if actual == etag else "mismatch", "git-blob-sha1", etag,
                                               actual, blob.stat().st_size))
            else:
                report.checks.append(FileCheck(label, "unverifiable", "none", None, None, blob.stat().st_size))
    return report


def _remove_hf(groups: list[list[CachedModel]], mid: ModelId | None, dry_run: bool,
               info: Any = None) -> list[Removal]:
    """Remove Hugging Face repos (all their revisions, or the one ``mid`` names) through
    huggingface_hub's own deletion: one ``scan_cache_dir()`` (or ``info``, the one discovery made)
    and one ``delete_revisions(...).execute()`` for every repo at once, so that removing N repos
    does not rescan the cache N times. One :class:`Removal` per repo, as each would be alone."""
    from huggingface_hub import scan_cache_dir

    if info is None:
        info = scan_cache_dir(hf_root())
    by_path = {r.repo_path.resolve(): r for r in info.repos}
    removals: list[Removal] = []
    planned: list[tuple[Path | None, Removal]] = []  # (the repo folder when it goes whole, its removal)
    every: list[str] = []
    for models in groups:
        repo_path = Path(models[0].info["repo_path"])
        repo = by_path.get(repo_path)
        hashes = [r.commit_hash for r in repo.revisions
                  if mid is None or not mid.revision or mid.revision == r.commit_hash or mid.revision in r.refs
                  ] if repo is not None else []
        if repo is None or not hashes:
            size = size_of(repo_path)
            if not dry_run:
                shutil.rmtree(repo_path, ignore_errors=True)
            removals.append(Removal([models[0].key], "hf", [str(repo_path)], size,
                                    "folder removed (huggingface_hub cannot read it)"))
            continue
        plan = info.delete_revisions(*hashes)  # in memory: this repo's part of the deletion
        whole = repo_path in {p.resolve() for p in plan.repos}
        paths = [str(repo_path)] if whole else [str(p) for p in sorted(plan.snapshots)]
        removal = Removal([models[0].key], "hf", paths, plan.expected_freed_size,
                          f"huggingface_hub delete_revisions({len(hashes)} revision(s)).execute()")
        removals.append(removal)
        planned.append((repo_path if whole else None, removal))
        every += hashes
    if planned and not dry_run:
        info.delete_revisions(*every).execute()
        for gone, _removal in planned:
            if gone is not None:
                shutil.rmtree(hf_root() / ".locks" / gone.name, ignore_errors=True)
    if len(planned) > 1:
        for _path, removal in planned:
            removal.how += f" (one deletion for {len(planned)} repos)"
    return removals


def _lfs_patterns(folder: Path) -> list[str]:
    attributes = folder / ".gitattributes"
    patterns = []
    try:
        for line in attributes.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.lstrip().startswith("#") and "filter=lfs" in parts[1:]:
                patterns.append(parts[0])
    except OSError:
        return list(_LFS_DEFAULT)
    return patterns or list(_LFS_DEFAULT)


def _is_lfs(name: str, size: int, patterns: list[str]) -> bool:
    if size > _LFS_SIZE:
        return True
    base = name.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = name if "/" in pattern else base
        pattern = pattern.lstrip("/").replace("**/", "*")
        if fnmatch.fnmatchcase(target, pattern):
            return True
    return False


def _hash_file(path: Path, lfs: bool) -> str:
    return sha256_file(path) if lfs else git_blob_sha1(path)


def _copy_hashing(src: Path, blobs: Path, lfs: bool, tmp_dir: Path) -> str:
    """Copy ``src`` into ``blobs`` under its ETag (sha256 for LFS, git blob sha1 otherwise): to a
    temporary file in ``tmp_dir`` first (outside ``blobs/``, so never taken for a huggingface_hub
    download), renamed only when complete. A blob already under the ETag is kept only when its
    own hash matches (a flipped byte keeps the size); otherwise the new copy replaces it."""
    size = src.stat().st_size
    tmp = tmp_dir / uuid.uuid4().hex
    digest = hashlib.sha256() if lfs else hashlib.sha1(f"blob {size}\0".encode())
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                digest.update(chunk)
                fout.write(chunk)
        etag = digest.hexdigest()
        target = blobs / etag
        if target.is_file() and target.stat().st_size == size and _hash_file(target, lfs) == etag:
            return etag
        os.replace(tmp, target)
        return etag
    finally:
        tmp.unlink(missing_ok=True)


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _clean_adopt_leftovers(storage: Path) -> None:
    """Remove what stopped adoptions left in this repo folder (their process is gone)."""
    _running, left = _adopt_leftovers(storage)
    for p in left:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
    _rmdir_if_empty(storage / _ADOPT_DIR)


def adopt_folder(folder: Path, files: list[tuple[str, int]], mid: ModelId) -> tuple[ModelRecord, Path, int]:
    """Copy a model folder into the Hugging Face cache as ``model_id`` (``hf:OWNER/NAME``), in the
    layout huggingface_hub itself writes: blobs named by their ETag (sha256 for files the folder's
    ``.gitattributes`` puts in LFS, or that are over 10 MB; the git blob sha1 otherwise), a snapshot
    of relative links, and ``refs/main``. Afterwards transformers, sentence-transformers and
    ``ptmhub load`` find it offline like any pulled model, and ``ptmhub cache verify`` can check it.

    The snapshot is named by the commit in ``hf:OWNER/NAME@COMMIT`` when given; otherwise by the
    sha1 of the adopted file list (not a Hub commit: the record's note says so).

    Every temporary file lives in the repo folder's ``.adopt/<host>-<pid>-<id>/`` (outside
    ``blobs/``, where a partial file would pass for a huggingface_hub download): blob copies are
    renamed to their ETag only when complete, the snapshot is moved into place whole, then the ref
    is written, so an interrupted adoption never looks complete. A blob already under its ETag is
    reused only if its hash matches (a corrupt one is replaced). What a killed adoption left is
    reported by :func:`scan` as such and removed by the next adoption of the same repo.

    Returns the record, the snapshot folder and the size of the files.
    """
    from huggingface_hub.file_download import repo_folder_name

    storage = hf_root() / repo_folder_name(repo_id=mid.path, repo_type="model")
    blobs = storage / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    _clean_adopt_leftovers(storage)
    # all temporary files live here: a kill leaves them where scan knows them as ours
    work = storage / _ADOPT_DIR / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    (work / "blobs").mkdir(parents=True)
    try:
        patterns = _lfs_patterns(folder)
        etags = {name: _copy_hashing(folder / name, blobs, _is_lfs(name, size, patterns), work / "blobs")
                 for name, size in files}
        if mid.revision and _HEX40.match(mid.revision):
            commit, ref = mid.revision, None
            note = "the commit given with the ID"
        else:
            manifest = "\n".join(f"{name}\t{etags[name]}" for name, _ in files)
            commit, ref = hashlib.sha1(manifest.encode()).hexdigest(), mid.revision or "main"
            note = "not a Hub commit: the sha1 of the adopted file list"
        snapshot = storage / "snapshots" / commit
        staging = work / "snapshot"
        for name, _size in files:
            link = staging / name
            link.parent.mkdir(parents=True, exist_ok=True)
            blob = blobs / etags[name]
            try:  # relative to where the link will be once the snapshot is moved into place
                os.symlink(os.path.relpath(blob, (snapshot / name).parent), link)
            except OSError:  # no symlinks (some file systems): huggingface_hub copies then too
                shutil.copyfile(blob, link)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        if snapshot.exists():  # moved aside (and removed with the work folder): no moment without one
            os.replace(snapshot, work / "previous")
        os.replace(staging, snapshot)
        refs = [ref] if ref else ([] if (storage / "refs" / "main").exists() else ["main"])
        for r in refs:
            ref_file = storage / "refs" / r
            ref_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = work / f"ref-{uuid.uuid4().hex[:8]}"  # not in refs/: huggingface_hub reads every file there
            tmp.write_text(commit)
            os.replace(tmp, ref_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _rmdir_if_empty(storage / _ADOPT_DIR)
    facts = folder_facts(snapshot, [n for n, _ in files])
    plain = mid.with_(revision=None)
    record = record_from_facts(plain, platform="huggingface", facts=facts, files=files, revision=commit, source_url=plain.url(),
                     extra={"adopted_from": str(folder), "revision_note": note})
    return record, snapshot, sum(s for _n, s in files)


class HFCache(NativeCache):
    """``HF_HUB_CACHE``: models pulled by huggingface_hub (or transformers, or ptmhub)."""

    name = "hf"
    platform = "huggingface"

    def root(self) -> Path | None:
        return hf_root()

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover_hf(inv)

    def matches(self, model: CachedModel, mid: ModelId) -> bool:
        """``hf:X@REV``: the copy holding that commit, or the revision a ref names."""
        return not mid.revision or any(mid.revision == r["commit"] or mid.revision in r["refs"]
                                       for r in model.info.get("revisions", ()))

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord:
        mid = parse_id(model.model_id)
        facts = folder_facts(model.path, [n for n, _ in model.files])
        return record_from_facts(mid.with_(revision=None), platform="huggingface", facts=facts, files=model.files,
                                 revision=model.revision, source_url=mid.with_(revision=None).url(),
                                 extra={"cache_revisions": model.info.get("revisions"),
                                        "cache_scan": scan_note(model)})

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        return _verify_hf(model)

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        return _remove_hf([models], mid, dry_run)[0]

    def remove(self, groups: list[list[CachedModel]], mid: ModelId | None, dry_run: bool,
               inv: Inventory | None = None) -> list[Removal]:
        """Every repo in one huggingface_hub deletion, planned on the scan discovery made."""
        return _remove_hf(groups, mid, dry_run, inv.state.get("hf") if inv is not None else None) if groups else []

    def remove_partial(self, path: Path) -> None:
        remove_path(path)
        if path.parent.name == _ADOPT_DIR:
            _rmdir_if_empty(path.parent)

    def adopt(self, folder: Path, files: list[tuple[str, int]], mid: ModelId) -> tuple[ModelRecord, Path, int]:
        return adopt_folder(folder, files, mid)

