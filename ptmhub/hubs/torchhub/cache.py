"""torch.hub's cache (``TORCH_HOME/hub``): hubconf repositories in ``OWNER_REPO_REF`` folders and
weights in ``checkpoints/NAME-<sha256 prefix>.ext``, as torch.hub writes them. torch.hub has no
deletion API, so files are removed directly; checkpoints are verified against the sha256 prefix
in their names (torch.hub's ``check_hash`` convention).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ... import settings
from ...errors import InvalidIdError, PtmhubError
from ...ids import ModelId
from ...ids import parse as parse_id
from ...localmodel import walk_files
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
    sha256_file,
    size_of,
    stat_times,
)

__all__ = ["TorchHubCache"]


_TORCH_ZIP = re.compile(r"^[^/]+\.zip(?:\.[0-9a-f]{32}\.partial)?$")


def _torch_hints(records: Iterable[ModelRecord]) -> tuple[dict[str, ModelRecord], dict[str, list[str]]]:
    """From the registry: torchhub records by their repository folder, and checkpoint file name ->
    record ids (``extra.checkpoints``, written by ``ptmhub pull``)."""
    by_dir: dict[str, ModelRecord] = {}
    by_checkpoint: dict[str, list[str]] = {}
    for record in records:
        extra = record.extra or {}
        if extra.get("cache_dir"):
            by_dir.setdefault(str(extra["cache_dir"]), record)
        for name in extra.get("checkpoints") or ():
            by_checkpoint.setdefault(str(name), []).append(record.id)
    return by_dir, by_checkpoint


def _torchvision_files() -> dict[str, tuple[str, str]]:
    """Checkpoint file name -> (builder, weights variant), from the installed torchvision."""
    try:
        from . import torchvision as tv

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


def _discover_torch(inv: Inventory, records: Iterable[ModelRecord]) -> None:
    from . import hash_prefix, read_hubconf

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
                                                     "*.partial only when complete)", size_bytes=size_of(f),
                                                     partial=[f]))
                elif f.is_symlink() and not f.exists():
                    inv.problems.append(CacheProblem("broken-link", "torchhub", f, "a checkpoint link to nothing"))
                elif f.is_file():
                    checkpoints.append(f)
                else:
                    inv.problems.append(CacheProblem("foreign", "torchhub", f, "not a checkpoint file",
                                                     size_bytes=size_of(f)))
        elif name == "trusted_list" and entry.is_file():
            continue
        elif name.startswith(".") and (name.endswith(".partial") or name.endswith(".extract")):
            inv.problems.append(CacheProblem("incomplete", "torchhub", entry, "an unfinished repository download",
                                             size_bytes=size_of(entry), partial=[entry]))
        elif entry.is_file() and _TORCH_ZIP.match(name) and _repo_from_folder(name.split(".zip", 1)[0]):
            # torch.hub downloads OWNER_REPO_REF.zip (via .zip.<id>.partial), extracts it, then deletes it
            what = ("a repository zipball torch.hub was still downloading" if name.endswith(".partial") else
                    "a repository zipball torch.hub downloaded but did not extract")
            inv.problems.append(CacheProblem("incomplete", "torchhub", entry, what, size_bytes=size_of(entry),
                                             partial=[entry]))
        elif entry.is_dir() and (entry / "hubconf.py").is_file():
            repos.append(entry)
        elif entry.is_symlink() and not entry.exists():
            inv.problems.append(CacheProblem("broken-link", "torchhub", entry, "a link to nothing"))
        elif entry.is_dir() and _repo_from_folder(name) is not None:
            inv.problems.append(CacheProblem(
                "foreign", "torchhub", entry, "named like a torch.hub repository (OWNER_REPO_REF) but has no "
                "hubconf.py, so nothing can load from it (if torch.hub made it, torch.hub.load(..., "
                "force_reload=True) fetches it again); ptmhub leaves it alone", size_bytes=size_of(entry)))
        else:
            what = "a folder" if entry.is_dir() else "a file"
            inv.problems.append(CacheProblem("foreign", "torchhub", entry,
                                             f"{what} not made by torch.hub (no hubconf.py repository, checkpoint or "
                                             "download of its own): ptmhub leaves it alone",
                                             size_bytes=size_of(entry)))
    by_dir, by_checkpoint = _torch_hints(records)
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
                                                 size_bytes=size_of(repo_dir)))
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
        listing = walk_files(repo_dir)
        ck_files = [(n, ck_names[n].stat().st_size) for n in sorted(mine)]
        size = sum(s for _n, s, _t in listing) + sum(s for _n, s in ck_files)
        newest = max([t for _n, _s, t in listing] + [stat_times(ck_names[n]) for n in mine] + [0.0])
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
                files=[(f"checkpoints/{ck.name}", ck.stat().st_size)], last_accessed=stat_times(ck),
                info={"variant": variant, "checkpoints": [ck.name], "builder": name, "unit": str(ck)}))
        else:
            owners = by_checkpoint.get(ck.name)
            detail = (f"checkpoint of {', '.join(owners)}, whose repository is no longer cached" if owners else
                      "a checkpoint no cached repository, registry record or torchvision weights names")
            has_hash = " (its name carries a sha256 prefix)" if hash_prefix(ck.name) else ""
            inv.problems.append(CacheProblem("unattributed", "torchhub", ck, detail + has_hash,
                                             owners[0] if owners else None, ck.stat().st_size))


def _check_checkpoint(path: Path, label: str) -> FileCheck:
    from . import hash_prefix

    prefix = hash_prefix(path.name)
    if not path.is_file():
        return FileCheck(label, "missing", "none")
    if prefix is None:
        return FileCheck(label, "unverifiable", "none", size_bytes=path.stat().st_size)
    actual = sha256_file(path)
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
    actual = sha256_file(model.path / "hubconf.py")
    if expected:
        report.checks.append(FileCheck("hubconf.py", "ok" if actual == expected else "mismatch", "sha256", expected,
                                       actual))
    else:
        report.checks.append(FileCheck("hubconf.py", "unverifiable", "none", None, actual))
    for name in model.info.get("checkpoints") or ():
        report.checks.append(_check_checkpoint(ckdir / name, f"checkpoints/{name}"))
    return report


class TorchHubCache(NativeCache):
    """``TORCH_HOME/hub``: repositories and checkpoints torch.hub (or ptmhub) downloaded."""

    name = "torchhub"
    platform = "torchhub"
    needs_records = True  # which repository a folder or a checkpoint belongs to, as ptmhub pulled it

    def root(self) -> Path | None:
        return settings.get().torch_home / "hub"

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover_torch(inv, hints.records)

    def matches(self, model: CachedModel, mid: ModelId) -> bool:
        """``:REF`` names one cached ref of a repository, ``#VARIANT`` one torchvision checkpoint."""
        if mid.revision and model.info.get("ref") != mid.revision:
            return False
        return not (mid.variant and model.info.get("variant") != mid.variant)

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord:
        mid = parse_id(model.model_id)
        scanned = scan_note(model)
        if "builder" in model.info:
            from . import torchvision as tv

            record = tv.record_for(model.info["builder"])
            variants = sorted({m.info["variant"] for m in group})
            return record.replace(extra={**record.extra, "cached_variants": variants, "cache_scan": scanned,
                                         "cache_files": [{"name": n, "size": s} for m in group for n, s in m.files]})
        from . import detect_license

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

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        return _verify_torch(model, record)

    def verify_problem(self, problem: CacheProblem) -> VerifyReport | None:
        if problem.kind != "unattributed":
            return None
        report = VerifyReport(f"(checkpoint) {problem.path.name}", "torchhub", str(problem.path),
                              note="not attributed to a model; checked against the sha256 prefix in its name")
        report.checks.append(_check_checkpoint(problem.path, problem.path.name))
        return report

    def remove_unit(self, models: list[CachedModel], mid: ModelId | None, dry_run: bool) -> Removal:
        first = models[0]
        keys = sorted({m.key for m in models})
        if "builder" in first.info:
            if not dry_run:
                first.path.unlink(missing_ok=True)
            return Removal(keys, "torchhub", [str(first.path)], first.size_bytes,
                           "checkpoint removed (torch.hub has no deletion API)")
        import shutil

        ckdir = settings.get().torch_home / "hub" / "checkpoints"
        checkpoints = [ckdir / n for n in first.info.get("checkpoints") or ()]
        if not dry_run:
            shutil.rmtree(first.path, ignore_errors=True)
            for p in checkpoints:
                p.unlink(missing_ok=True)
        return Removal(keys, "torchhub", [str(first.path), *map(str, checkpoints)], first.size_bytes,
                       "repository folder and its checkpoints removed (torch.hub has no deletion API)")
