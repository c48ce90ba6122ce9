"""Native caches: what every hub's own cache on disk must answer (:class:`NativeCache`), and the
types the answers are made of. One implementation per cache lives in its hub's package
(``ptmhub/hubs/<hub>/cache.py``) and is registered in :data:`ptmhub.hubs.base.NATIVE_CACHES`;
:mod:`ptmhub.cache` (the services layer) runs discovery, scan, verify, rm and prune over all of
them without knowing any by name.

A cache never gets the registry: what it may use of it (the records of its platform) comes in
:class:`CacheHints`, read by the services layer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..ids import ModelId
from ..ids import parse as parse_id
from ..localmodel import walk_files
from ..records import ModelRecord

__all__ = [
    "NativeCache", "CacheHints", "CachedModel", "CacheProblem", "Inventory", "FileCheck", "VerifyReport", "Removal",
    "STALE_PARTIAL_SECONDS", "cache_for", "cache_names", "caches_of", "git_blob_sha1", "sha256_file", "size_of",
    "mtime", "iso", "stat_times", "broken_links", "units", "remove_path", "scan_note",
]


#: partial downloads untouched for this long are waste: ``prune(incomplete=True)`` leaves younger
#: ones alone (a download may be running), and an HF partial this much older than its snapshot's
#: newest blob is not part of that snapshot's download
STALE_PARTIAL_SECONDS = 3600


@dataclass
class CachedModel:
    """One model found complete in a native cache."""

    model_id: str                 # canonical ID of what is cached (may carry @REV, :REF, #VARIANT)
    key: str                      # the registry key
    cache: str                    # hf | torchhub | tfhub | kagglehub | local
    path: Path                    # what the registry records as cache_path
    size_bytes: int
    files: list[tuple[str, int]] = field(default_factory=list)
    revision: str | None = None
    last_accessed: float | None = None       # newest access/modification time on disk (POSIX seconds)
    info: dict[str, Any] = field(default_factory=dict)  # cache-specific facts

    @property
    def platform(self) -> str:
        return cache_for(self.cache).platform

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.model_id, "key": self.key, "cache": self.cache, "platform": self.platform,
                "path": str(self.path), "size_bytes": self.size_bytes, "files": len(self.files),
                "revision": self.revision, "last_accessed": iso(self.last_accessed),
                **{k: v for k, v in self.info.items() if k in ("revisions", "checkpoints", "url", "variant", "ref")}}


@dataclass
class CacheProblem:
    """Something in a cache that is not a complete model."""

    kind: str       # incomplete | broken-link | foreign | corrupt | unattributed | elsewhere | missing
    cache: str
    path: Path
    detail: str
    model_id: str | None = None
    size_bytes: int = 0
    partial: list[Path] = field(default_factory=list)  # files of an unfinished download (prune --incomplete)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cache": self.cache, "path": str(self.path), "detail": self.detail,
                "model_id": self.model_id, "size_bytes": self.size_bytes, "partial": [str(p) for p in self.partial]}

    def __str__(self) -> str:
        who = f"{self.model_id}: " if self.model_id else ""
        return f"[{self.kind}] {who}{self.detail} ({self.path})"


@dataclass
class Inventory:
    """What :func:`discover` found: complete models and problems, per cache root."""

    models: list[CachedModel] = field(default_factory=list)
    problems: list[CacheProblem] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)    # e.g. HF datasets, kagglehub datasets
    seconds: float = 0.0
    # what a cache's discovery learnt and its deletion can reuse (huggingface_hub's scan_cache_dir() answer)
    state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def find(self, model_id: str | ModelId) -> list[CachedModel]:
        """The cached copies of one model: every copy for a bare ID, only the matching one when the
        ID names a revision (HF), a ref (torchhub) or a weights variant (torchvision)."""
        mid = parse_id(model_id)
        out = []
        for m in self.models:
            if m.key.lower() != mid.key.lower():
                continue
            if cache_for(m.cache).matches(m, mid):
                out.append(m)
        return out

    @property
    def size_bytes(self) -> int:
        return sum(units(self.models).values(), start=0) if self.models else 0

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models], "problems": [p.to_dict() for p in self.problems],
                "roots": self.roots, "skipped": dict(self.skipped), "seconds": round(self.seconds, 3)}


@dataclass
class FileCheck:
    name: str
    status: str                  # ok | mismatch | missing | unverifiable
    method: str                  # sha256 | git-blob-sha1 | sha256-prefix | crc32c | none
    expected: str | None = None
    actual: str | None = None
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    model_id: str
    cache: str
    path: str
    checks: list[FileCheck] = field(default_factory=list)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status in ("mismatch", "missing") for c in self.checks)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(c.status for c in self.checks))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.model_id, "cache": self.cache, "path": self.path, "ok": self.ok, "counts": self.counts,
                "note": self.note, "checks": [c.to_dict() for c in self.checks]}


@dataclass
class Removal:
    """One unit removed (or that would be, in a dry run)."""

    model_ids: list[str]
    cache: str
    paths: list[str]
    size_bytes: int
    how: str                           # what did the deletion
    last_used: str | None = None
    reason: str | None = None          # prune: why it was chosen

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None


def stat_times(path: Path) -> float:
    try:
        st = path.stat()
    except OSError:
        return 0.0
    return max(st.st_atime, st.st_mtime)


def broken_links(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink() and not p.exists():
                out.append(p)
    return sorted(out)


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The git blob id of a file: ``sha1(b"blob <size>\\0" + content)`` (the Hub's ETag of a
    file that is not stored with LFS)."""
    path = Path(path)
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def size_of(path: Path) -> int:
    try:
        if path.is_symlink() and not path.exists():
            return 0
        if path.is_dir():
            return sum(s for _n, s, _t in walk_files(path))
        return path.stat().st_size
    except OSError:
        return 0


def units(models: Iterable[CachedModel]) -> dict[str, int]:
    """Deletion unit (a repo folder, a checkpoint ...) -> size: copies that share files count once."""
    out: dict[str, int] = {}
    for m in models:
        out[m.info.get("unit") or m.info.get("repo_path") or str(m.path)] = m.size_bytes
    return out


def remove_path(path: Path) -> None:
    """Delete a file, a link or a folder tree (whatever is there; nothing if nothing is)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- the interface -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CacheHints:
    """What the registry knows that helps read a cache, passed down by the services layer (a
    cache never gets the store). ``records``: the registry's records of the cache's platform,
    read only for caches that set :attr:`NativeCache.needs_records`."""

    records: tuple[ModelRecord, ...] = ()


class NativeCache(ABC):
    """One hub's cache on disk, in the layout the hub's own library writes and reads.

    Implementations only read the cache in :meth:`discover`, :meth:`record` and :meth:`verify`;
    they delete only in :meth:`remove_unit` / :meth:`remove` (through the hub library's own
    deletion where it has one), and write only in :meth:`adopt`.
    """

    #: the ``--cache`` name (``hf``, ``torchhub``, ...)
    name: str = ""
    #: the registry platform of the models it holds
    platform: str = ""
    #: :meth:`discover` needs the registry's records of :attr:`platform` (in ``hints``)
    needs_records: bool = False
    #: False: ptmhub never deletes what this cache holds (a user's own folders)
    removable: bool = True

    @abstractmethod
    def root(self) -> Path | None:
        """Where the cache is on this machine (from the settings), or None."""

    @abstractmethod
    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        """Add every complete model (:class:`CachedModel`) and every problem (:class:`CacheProblem`)
        found to ``inv``, and ``inv.roots[self.name]``. Read-only."""

    def matches(self, model: CachedModel, mid: ModelId) -> bool:
        """Whether ``model`` (already of ``mid``'s registry key) is the copy ``mid`` names: an ID may
        name a revision, a ref or a weights variant."""
        return True

    @abstractmethod
    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord | None:
        """A registry record from what the files of ``model`` tell (``group``: every cached copy of
        the same model); None when there is nothing to re-read (``ptmhub add`` already did)."""

    @abstractmethod
    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        """Check the files of ``model`` against what the hub published. Read-only."""

    def verify_problem(self, problem: CacheProblem) -> VerifyReport | None:
        """A check of a file that belongs to no model (a torch checkpoint), or None."""
        return None

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        """Delete one unit (a repo folder, a checkpoint ...) holding ``models``; with ``dry_run``
        only say what would go.

        Raises:
            UsageError: the cache's contents are never deleted by ptmhub.
        """
        first = models[0]
        raise UsageError(f"{first.key} is a local folder; ptmhub never deletes a user's own files",
                         hint=f"delete {first.path} yourself if you mean to")

    def remove(self, groups: list[list[CachedModel]], mid: ModelId | None, dry_run: bool,
               inv: Inventory | None = None) -> list[Removal]:
        """Delete several units at once (a cache may do it in one operation); one
        :class:`Removal` per unit, as each would be alone."""
        return [self.remove_unit(group, mid, dry_run) for group in groups]

    def partial_targets(self, problem: CacheProblem) -> list[Path]:
        """What to delete to remove an incomplete download reported as ``problem``."""
        return [problem.path]

    def remove_partial(self, path: Path) -> None:
        """Delete one leftover of an unfinished download."""
        remove_path(path)

    def adopt(self, folder: Path, files: list[tuple[str, int]], mid: ModelId) -> tuple[ModelRecord, Path, int]:
        """Copy a model folder into this cache as ``mid``, in the hub library's own layout; returns
        the record, the path the registry records and the size.

        Raises:
            UsageError: this cache cannot take a folder.
        """
        raise UsageError(f"a folder can be added as local:NAME or hf:OWNER/NAME, not {mid}",
                         hint="e.g. 'ptmhub add PATH --id local:my-model'")


# -- the registered caches ------------------------------------------------------------------------------
_instances: dict[str, NativeCache] = {}


def cache_names() -> list[str]:
    """Every registered cache, in discovery order."""
    from .base import NATIVE_CACHES

    return list(NATIVE_CACHES)


def cache_for(name: str) -> NativeCache:
    """The registered cache called ``name``.

    Raises:
        UsageError: no such cache.
    """
    from .base import NATIVE_CACHES, load_target

    if name not in NATIVE_CACHES:
        raise UsageError(f"unknown cache {name!r}", hint="one of " + ", ".join(NATIVE_CACHES))
    if name not in _instances:
        _instances[name] = load_target(NATIVE_CACHES[name])()
    return _instances[name]


def caches_of(platform: str) -> list[str]:
    """The caches holding models of ``platform``."""
    return [n for n in cache_names() if cache_for(n).platform == platform]


def scan_note(model: CachedModel) -> dict[str, Any]:
    """What a record made by ``cache scan`` says of where it came from (``extra.cache_scan``)."""
    return {"cache": model.cache, "path": str(model.path),
            "scanned_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
