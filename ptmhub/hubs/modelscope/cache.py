"""ModelScope's cache on disk, in the layout the ``modelscope`` client (1.38 and later, through
``modelscope_hub``) writes and reads::

    $MODELSCOPE_CACHE/models/OWNER--NAME/snapshots/REVISION/<the repo's files>

``REVISION`` is the branch or tag the download asked for (``master`` by default), not a commit.
The client writes each file as ``<file>.incomplete`` and renames it when done, keeps its locks in
``$MODELSCOPE_CACHE/.lock/``, and records no hash; offline (``local_files_only=True``) it takes
``snapshots/REVISION``, else ``snapshots/master``, ``snapshots/main``, else the only snapshot.

Older clients (1.37 and before) wrote ``$MODELSCOPE_CACHE/models/OWNER/NAME___`` (dots in the name
as ``___``), or ``~/.cache/modelscope/hub/models/OWNER/NAME___`` when ``MODELSCOPE_CACHE`` was unset,
with pickled ``.msc`` / ``.mdl`` metadata. The current client still reads those folders first;
discovery lists them as models of unknown revision (their pickles are never unpickled).

What ptmhub adds, outside the snapshot folders and so invisible to the client:
``models/OWNER--NAME/.ptmhub/REVISION.json`` (the file list with the sizes and sha256 the hub
published when ptmhub pulled that revision; :meth:`ModelScopeCache.verify` checks against it) and,
while a pull runs, ``models/OWNER--NAME/.ptmhub-pull-*`` staging folders that are moved to
``snapshots/REVISION`` only when every file is complete and verified.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ... import settings
from ...errors import InvalidIdError
from ...ids import ModelId
from ...ids import parse as parse_id
from ...localmodel import folder_facts, record_from_facts, walk_files
from ...records import ModelRecord
from ..native import (
    CachedModel,
    CacheHints,
    CacheProblem,
    FileCheck,
    Inventory,
    NativeCache,
    Removal,
    VerifyReport,
    remove_path,
    scan_note,
    sha256_file,
    size_of,
)

__all__ = [
    "DEFAULT_REVISION",
    "INCOMPLETE_SUFFIX",
    "MANIFEST_DIR",
    "STAGING_PREFIX",
    "ModelScopeCache",
    "cache_root",
    "legacy_dirs",
    "manifest_path",
    "read_manifest",
    "repo_dir",
    "snapshot_dir",
]

PLATFORM = "modelscope"
#: the client's default branch (``revision or "master"``)
DEFAULT_REVISION = "master"
#: the client's partial-file suffix (``modelscope_hub._download._incomplete_path``)
INCOMPLETE_SUFFIX = ".incomplete"
#: ptmhub's own folders beside ``snapshots/`` (never read by the client)
STAGING_PREFIX = ".ptmhub-pull-"
MANIFEST_DIR = ".ptmhub"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cache_root() -> Path:
    """``MODELSCOPE_CACHE`` (default ``~/.cache/modelscope``), as the client resolves it."""
    return settings.get().modelscope_cache


def repo_dir(repo_id: str) -> Path:
    """``models/OWNER--NAME``: the client's folder of one model repo (``_repo_cache_dir_path``)."""
    return cache_root() / "models" / repo_id.replace("/", "--")


def snapshot_dir(repo_id: str, revision: str) -> Path:
    """``models/OWNER--NAME/snapshots/REVISION``, where the client keeps one revision's files."""
    return repo_dir(repo_id) / "snapshots" / revision


def manifest_path(repo_id: str, revision: str) -> Path:
    return repo_dir(repo_id) / MANIFEST_DIR / f"{revision}.json"


def legacy_dirs(repo_id: str) -> list[Path]:
    """Where clients up to 1.37 kept the repo (the order the current client probes them in)."""
    owner, name = repo_id.split("/", 1)
    safe = name.replace(".", "___")
    root = cache_root()
    return [root / "models" / owner / safe, root / "hub" / "models" / owner / safe]


def read_manifest(path: Path) -> dict[str, Any] | None:
    """ptmhub's record of a pull (see the module docstring), or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def _non_empty(path: Path) -> bool:
    try:
        return path.is_dir() and any(path.iterdir())
    except OSError:
        return False


def _mid(repo_id: str, revision: str | None = None) -> ModelId | None:
    try:
        mid = parse_id(f"ms:{repo_id}" + (f"@{revision}" if revision else ""))
    except InvalidIdError:
        return None
    return mid if mid.platform == PLATFORM else None


def _discover_repo(inv: Inventory, folder: Path) -> None:
    """One ``models/OWNER--NAME`` folder: its complete snapshots, and what is left unfinished."""
    owner, sep, name = folder.name.partition("--")
    mid = _mid(f"{owner}/{name}") if sep else None
    if mid is None:
        inv.problems.append(CacheProblem("foreign", "modelscope", folder,
                                         "not a models/OWNER--NAME folder of a ModelScope repo",
                                         size_bytes=size_of(folder)))
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(STAGING_PREFIX):
            inv.problems.append(CacheProblem("incomplete", "modelscope", entry,
                                             "an unfinished ptmhub pull (files are moved into snapshots/ only when "
                                             f"all are verified); 'ptmhub pull {mid}' starts it again",
                                             str(mid), size_of(entry), [entry]))
        elif entry.name not in ("snapshots", MANIFEST_DIR):
            inv.problems.append(CacheProblem("foreign", "modelscope", entry, "not part of the client's cache layout",
                                             str(mid), size_of(entry)))
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return
    for snap in sorted(snapshots.iterdir()):
        rev_mid = _mid(mid.path, snap.name)
        if not snap.is_dir() or rev_mid is None:
            inv.problems.append(CacheProblem("foreign", "modelscope", snap, "not a revision folder",
                                             str(mid), size_of(snap)))
            continue
        listing = walk_files(snap)
        partial = [snap / n for n, _s, _t in listing if n.endswith(INCOMPLETE_SUFFIX)]
        if partial:
            inv.problems.append(CacheProblem(
                "incomplete", "modelscope", snap,
                f"{len(partial)} file(s) still downloading or abandoned ({partial[0].name}, ...); "
                f"'ptmhub pull {rev_mid}' completes it", str(rev_mid), sum(s for _n, s, _t in listing), partial))
            continue
        if not listing:
            inv.problems.append(CacheProblem("incomplete", "modelscope", snap, "an empty revision folder",
                                             str(rev_mid), 0, [snap]))
            continue
        manifest = manifest_path(mid.path, snap.name)
        data = read_manifest(manifest)
        info: dict[str, Any] = {"unit": str(snap), "repo_path": None, "layout": "snapshots",
                                "manifest": str(manifest) if data is not None else None}
        if data is not None and isinstance(data.get("commit"), str):
            info["commit"] = data["commit"]
        inv.models.append(CachedModel(
            model_id=str(rev_mid), key=mid.key, cache="modelscope", path=snap,
            size_bytes=sum(s for _n, s, _t in listing), files=[(n, s) for n, s, _t in listing],
            revision=snap.name, last_accessed=max([t for _n, _s, t in listing] + [0.0]), info=info))


def _discover_legacy(inv: Inventory, base: Path, label: str) -> None:
    """``BASE/OWNER/NAME___`` folders written by clients up to 1.37."""
    if not base.is_dir():
        return
    for owner in sorted(base.iterdir()):
        if not owner.is_dir() or "--" in owner.name:
            continue
        for folder in sorted(owner.iterdir()):
            if not folder.is_dir():
                continue
            mid = _mid(f"{owner.name}/{folder.name.replace('___', '.')}")
            listing = [(n, s, t) for n, s, t in walk_files(folder) if n not in (".msc", ".mdl", ".mv")]
            if mid is None or not listing:
                inv.problems.append(CacheProblem("foreign", "modelscope", folder,
                                                 f"not a model folder of the {label} layout", size_bytes=size_of(folder)))
                continue
            inv.models.append(CachedModel(
                model_id=str(mid), key=mid.key, cache="modelscope", path=folder,
                size_bytes=sum(s for _n, s, _t in listing), files=[(n, s) for n, s, _t in listing],
                revision=None, last_accessed=max([t for _n, _s, t in listing] + [0.0]),
                info={"unit": str(folder), "layout": label}))


def _discover(inv: Inventory) -> None:
    root = cache_root()
    inv.roots["modelscope"] = str(root)
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name in ("datasets", "studios", "mcps", "skills") and entry.is_dir():
            inv.skipped[f"modelscope {entry.name}"] += 1
    models = root / "models"
    if models.is_dir():
        for folder in sorted(models.iterdir()):
            if folder.is_dir() and "--" in folder.name:
                _discover_repo(inv, folder)
    _discover_legacy(inv, models, "legacy models/OWNER/NAME")
    _discover_legacy(inv, root / "hub" / "models", "legacy hub/models/OWNER/NAME")


class ModelScopeCache(NativeCache):
    """``MODELSCOPE_CACHE``: models the ``modelscope`` client (or ptmhub) downloaded."""

    name = "modelscope"
    platform = PLATFORM

    def root(self) -> Path | None:
        return cache_root()

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover(inv)

    def matches(self, model: CachedModel, mid: ModelId) -> bool:
        """``ms:X@REV``: the snapshot of that branch or tag, or the commit ptmhub pulled there."""
        return not mid.revision or mid.revision in (model.revision, model.info.get("commit"))

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord:
        mid = parse_id(model.model_id).with_(revision=None)
        facts = folder_facts(model.path, [n for n, _ in model.files])
        commit = model.info.get("commit")
        return record_from_facts(mid, platform=PLATFORM, facts=facts, files=model.files,
                                 revision=commit or model.revision, source_url=mid.url(),
                                 extra={"ref": model.revision, "cache_layout": model.info.get("layout"),
                                        "cache_scan": scan_note(model)})

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        """sha256 of every file against ptmhub's record of what the hub published when it pulled
        this revision; without one (a folder the client wrote) every file is unverifiable: the
        client keeps no hash on disk."""
        manifest = read_manifest(Path(model.info["manifest"])) if model.info.get("manifest") else None
        if manifest is None:
            return VerifyReport(model.model_id, model.cache, str(model.path),
                                checks=[FileCheck(n, "unverifiable", "none", size_bytes=s) for n, s in model.files],
                                note="the modelscope client keeps no hash of the files it downloads, and ptmhub did "
                                     "not pull this copy; 'ptmhub cache rm' then 'ptmhub pull' makes it verifiable")
        published: dict[str, Any] = manifest["files"]
        report = VerifyReport(model.model_id, model.cache, str(model.path),
                              note=f"sha256 published by the hub's file list when ptmhub pulled revision "
                                   f"{manifest.get('revision')} ({manifest.get('pulled_at')})")
        on_disk = dict(model.files)
        for name in sorted(set(published) | set(on_disk)):
            meta = published.get(name) if isinstance(published.get(name), dict) else {}
            expected = meta.get("sha256") if isinstance(meta.get("sha256"), str) else None
            if name not in on_disk:
                report.checks.append(FileCheck(name, "missing", "sha256", expected))
            elif name not in published or not expected or not _SHA256.match(expected):
                report.checks.append(FileCheck(name, "unverifiable", "none", size_bytes=on_disk[name]))
            else:
                actual = sha256_file(model.path / name)
                report.checks.append(FileCheck(name, "ok" if actual == expected else "mismatch", "sha256", expected,
                                               actual, on_disk[name]))
        return report

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        """One snapshot folder and ptmhub's manifest of it; the repo folder too when nothing else is
        left in it. A legacy folder goes whole. The client has no deletion of one revision."""
        first = models[0]
        paths = [first.path]
        if first.info.get("layout") == "snapshots":
            repo = first.path.parent.parent
            manifest = repo / MANIFEST_DIR / f"{first.path.name}.json"
            if manifest.exists():
                paths.append(manifest)
        if not dry_run:
            for path in paths:
                remove_path(path)
            if first.info.get("layout") == "snapshots":
                _prune_empty(first.path.parent.parent)
        return Removal(sorted({m.key for m in models}), "modelscope", [str(p) for p in paths], first.size_bytes,
                       "folder removed (the modelscope client has no per-revision deletion)")

    def partial_targets(self, problem: CacheProblem) -> list[Path]:
        return problem.partial or [problem.path]

    def remove_partial(self, path: Path) -> None:
        remove_path(path)


def _prune_empty(repo: Path) -> None:
    """Remove ``snapshots/``, ``.ptmhub/`` and the repo folder when they hold nothing any more."""
    for path in (repo / "snapshots", repo / MANIFEST_DIR, repo):
        try:
            path.rmdir()
        except OSError:
            pass

