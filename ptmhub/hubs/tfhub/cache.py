"""The caches of TF Hub and Kaggle Models: tensorflow_hub's (``TFHUB_CACHE_DIR/<sha1(url)>`` with
``<sha1>.descriptor.txt`` naming the handle; no deletion API, so folders are removed directly)
and kagglehub's (``KAGGLEHUB_CACHE/models/OWNER/MODEL/FW/VARIATION/VERSION``, complete only with
its ``.complete`` marker; deleted through kagglehub's ``Cache().delete_from_cache``). Neither hub
publishes a hash of its files: only a SavedModel's variables can be verified (crc32c).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

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
    scan_note,
    size_of,
)

__all__ = ["TFHubCache", "KaggleHubCache", "kaggle_root"]


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
    from . import handle_url, module_dir

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
                                             size_bytes=size_of(entry)))
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
                                             size_bytes=size_of(tmp), partial=[tmp]))
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
                                             "before the folder is moved into place)", size_bytes=size_of(folder)))
            continue
        if hashlib.sha1(url.encode("utf8")).hexdigest() != sha:
            inv.problems.append(CacheProblem("corrupt", "tfhub", folder,
                                             f"the descriptor names {url}, whose sha1 is not the folder's name"))
            continue
        mid, why = _tfhub_id(url, folder)
        if mid is None or why:
            inv.problems.append(CacheProblem("elsewhere", "tfhub", folder, why or "", str(mid) if mid else None,
                                             size_of(folder)))
            continue
        listing = walk_files(folder)
        inv.models.append(CachedModel(
            model_id=str(mid), key=mid.key, cache="tfhub", path=folder, size_bytes=sum(s for _n, s, _t in listing),
            files=[(n, s) for n, s, _t in listing], last_accessed=max([t for _n, _s, t in listing] + [0.0]),
            info={"url": url, "descriptor": str(descriptor), "lock": "lock" in parts, "unit": str(folder)}))


def kaggle_root() -> Path:
    return settings.get().kagglehub_cache


def _discover_kaggle(inv: Inventory) -> None:
    root = kaggle_root()
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
                                             size_bytes=size_of(entry)))
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
                                                 "folders", size_bytes=size_of(p)))
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
                                                 f"'ptmhub pull {mid}' completes it", str(mid), size_of(entry),
                                                 [entry]))
                continue
            listing = walk_files(entry)
            inv.models.append(CachedModel(
                model_id=str(mid), key=mid.key, cache="kagglehub", path=entry,
                size_bytes=sum(s for _n, s, _t in listing), files=[(n, s) for n, s, _t in listing],
                revision=None, last_accessed=max([t for _n, _s, t in listing] + [0.0]),
                info={"handle": f"{handle}/{name}", "unit": str(entry)}))
        elif name.endswith(".archive"):
            inv.problems.append(CacheProblem("incomplete", "kagglehub", entry,
                                             "an archive kagglehub had not extracted yet", f"kaggle:{handle}/"
                                             f"{name.removesuffix('.archive')}", size_of(entry), [entry]))
        elif name.endswith(".complete") and entry.is_file():
            if not (variation / name.removesuffix(".complete")).is_dir():
                inv.problems.append(CacheProblem("incomplete", "kagglehub", entry,
                                                 "a completion marker whose files are gone"))
        else:
            inv.problems.append(CacheProblem("foreign", "kagglehub", entry, "not part of kagglehub's cache layout",
                                             size_bytes=size_of(entry)))


def _verify_saved_model(model: CachedModel, publisher: str) -> VerifyReport:
    from ...savedmodel import import_tensorflow, is_saved_model

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


class TFHubCache(NativeCache):
    """``TFHUB_CACHE_DIR``: modules tensorflow_hub (or ptmhub) downloaded."""

    name = "tfhub"
    platform = "tfhub"

    def root(self) -> Path | None:
        return settings.get().tfhub_cache_dir

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover_tfhub(inv)

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord:
        mid = parse_id(model.model_id)
        facts = folder_facts(model.path, [n for n, _ in model.files])
        facts.update(library="tensorflow-hub", framework="tensorflow")
        return record_from_facts(mid, platform="tfhub", facts=facts, files=model.files, version=mid.version,
                                 source_url=mid.url(), extra={"cache_scan": {**scan_note(model), "url": model.info["url"]}})

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        return _verify_saved_model(model, "TF Hub")

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        import shutil

        first = models[0]
        root = first.path.parent
        extra = [Path(first.info["descriptor"]), root / f"{first.path.name}.lock"]
        if not dry_run:
            shutil.rmtree(first.path, ignore_errors=True)
            for p in extra:
                p.unlink(missing_ok=True)
        return Removal(sorted({m.key for m in models}), "tfhub", [str(first.path), str(extra[0])], first.size_bytes,
                       "folder and descriptor removed (tensorflow_hub has no deletion API)")

    def partial_targets(self, problem: CacheProblem) -> list[Path]:
        """The module folder's lock, descriptor and temporary folders too."""
        return [e for e in problem.path.parent.iterdir() if e.name.startswith(problem.path.name)]


class KaggleHubCache(NativeCache):
    """``KAGGLEHUB_CACHE``: model versions kagglehub (or ptmhub) downloaded."""

    name = "kagglehub"
    platform = "kaggle"

    def root(self) -> Path | None:
        return kaggle_root()

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover_kaggle(inv)

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord:
        from . import kaggle_framework

        mid = parse_id(model.model_id)
        facts = folder_facts(model.path, [n for n, _ in model.files])
        framework = kaggle_framework(mid.path.split("/")[2])
        if framework:
            facts["framework"] = framework
        if "parameters" not in facts and "parameters_note" not in facts:
            facts["parameters_note"] = "no weights format ptmhub can count in the files"
        return record_from_facts(mid, platform="kaggle", facts=facts, files=model.files, version=mid.version,
                                 source_url=mid.url(), extra={"cache_scan": scan_note(model)})

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        return _verify_saved_model(model, "Kaggle")

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        first = models[0]
        archive = first.path.parent / f"{first.path.name}.archive"
        if not dry_run:
            settings.setdefault_env("KAGGLEHUB_CACHE", str(kaggle_root()))
            from kagglehub.cache import Cache
            from kagglehub.handle import parse_model_handle

            Cache().delete_from_cache(parse_model_handle(first.info["handle"]))
            archive.unlink(missing_ok=True)
        return Removal(sorted({m.key for m in models}), "kagglehub", [str(first.path)], first.size_bytes,
                       "kagglehub Cache().delete_from_cache()")
