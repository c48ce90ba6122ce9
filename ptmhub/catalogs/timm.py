"""Import the installed timm's pretrained configs.

timm's weights live on Hugging Face, so each pretrained tag (``resnet50.a1_in1k``) is recorded
under its ``hf_hub_id`` (``hf:timm/resnet50.a1_in1k``) with library ``timm``: a later Hugging
Face resolve or sync fills in downloads, files and exact parameter counts on the same record.
From the cfg: license (normalized, the cfg's word kept in ``license_raw``), task
(``image-classification``, or ``feature-extraction`` when ``num_classes == 0``: a backbone with
no classifier head), architecture, and in ``extra['timm']`` the classes, input sizes, crop and
normalization. timm publishes no parameter counts in its cfgs: ``sync`` builds each pretrained
model on the meta device (no weights, no memory for them) and counts its parameters
(``parameters_source="meta-device"``), in worker processes, keeping the counts in
``PTMHUB_HOME/timm-counts.json`` for the installed timm and torch so that a second sync builds
nothing; ``count=False`` skips it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import licenses
from ..errors import InvalidIdError, MissingDependencyError
from ..hubs.base import SyncReport
from ..records import ModelRecord

if TYPE_CHECKING:
    from ..registry.store import Store

__all__ = ["sync", "records", "record_for_cfg", "count_on_meta", "SOURCE_NAME"]

SOURCE_NAME = "timm"
_CFG_FIELDS = ("architecture", "tag", "num_classes", "input_size", "test_input_size", "min_input_size",
               "fixed_input_size", "interpolation", "crop_pct", "test_crop_pct", "crop_mode", "mean", "std",
               "pool_size", "first_conv", "classifier", "hf_hub_filename", "origin_url", "paper_ids",
               "paper_name", "notes", "description")


def _timm() -> Any:
    try:
        import timm.models as tm
    except ImportError:
        raise MissingDependencyError("timm", "torch", purpose="the timm catalog") from None
    return tm


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (list, dict)):
        return value
    return value


def record_for_cfg(model_name: str, cfg: Any, *, timm_version: str | None = None) -> ModelRecord | None:
    """The record for one pretrained cfg, or None when it has no ``hf_hub_id``.

    Raises:
        InvalidIdError: the cfg's ``hf_hub_id`` is not a valid Hugging Face repo id.
    """
    from ..ids import parse

    data = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    hub_id = data.get("hf_hub_id")
    if not hub_id:
        return None
    mid = parse(f"hf:{hub_id}")
    raw_license = data.get("license")
    num_classes = data.get("num_classes")
    task = "feature-extraction" if num_classes == 0 else "image-classification"
    info = {k: _jsonable(data.get(k)) for k in _CFG_FIELDS if data.get(k) is not None}
    info["model_name"] = model_name
    info["model_names"] = [model_name]
    if timm_version:
        info["timm_version"] = timm_version
    return ModelRecord(
        id=mid.key, platform="huggingface", name=mid.name, owner=mid.owner, task=task,
        license=licenses.normalize(raw_license), license_raw=raw_license,
        license_source="timm pretrained cfg" if raw_license else None,
        framework="pytorch", library="timm", tags=("timm", task),
        architecture=data.get("architecture"),
        summary=data.get("description") or None,
        fine_tunable=True,
        source_url=mid.url(),
        parameters_note="timm's pretrained cfg publishes no parameter count; resolve the hf: id to count it",
        extra={"timm": info},
    )


def records(report: SyncReport | None = None,
            progress: Callable[[int], None] | None = None) -> list[ModelRecord]:
    """Records for every pretrained tag of the installed timm (tags sharing a hub repo merged)."""
    tm = _timm()  # first: without timm this is the one-line MissingDependencyError naming the extra
    import timm

    out: dict[str, ModelRecord] = {}
    for model_name in tm.list_pretrained():
        cfg = tm.get_pretrained_cfg(model_name)
        try:
            record = record_for_cfg(model_name, cfg, timm_version=timm.__version__) if cfg is not None else None
        except InvalidIdError as exc:
            if report is not None:
                report.problems.append((model_name, exc.message))
                report.skipped += 1
            continue
        if record is None:
            if report is not None:
                report.problems.append((model_name, "no hf_hub_id: its weights are not on Hugging Face"))
                report.skipped += 1
            continue
        if record.id in out:  # e.g. a CLIP tower used by two architectures
            first = out[record.id]
            info = dict(first.extra["timm"])
            info["model_names"] = info["model_names"] + [model_name]
            out[record.id] = first.replace(extra={"timm": info})
            continue
        out[record.id] = record
    return list(out.values())


# -- parameter counts on the meta device ---------------------------------------------------------------
def _build_key(info: dict[str, Any]) -> str:
    """What a count depends on beyond the architecture's code: the head and the input size (a ViT's
    position embeddings), as the pretrained cfg sets them."""
    return json.dumps([info.get("architecture"), info.get("num_classes"), info.get("input_size")])


def count_on_meta(model_names: list[str]) -> list[tuple[str, int | None, str]]:
    """``(model name, parameters or None, note)`` for each pretrained tag, built with
    ``timm.create_model(name, pretrained=False)`` on the meta device (the tag's cfg sets the head
    and input size; no weights are read or allocated). Runs in a worker process."""
    import warnings

    import timm
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    out = []
    for name in model_names:
        try:
            with torch.device("meta"):
                model = timm.create_model(name, pretrained=False)
            out.append((name, int(sum(p.numel() for p in model.parameters())),
                        f"built {name} on the meta device (timm {timm.__version__}, pretrained=False)"))
        except Exception as exc:  # noqa: BLE001 - one model that cannot be built is a reason, not a failed sync
            out.append((name, None, f"building {name} on the meta device failed ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:120] if str(exc) else ''})"))
    return out


def _counts_file() -> Path:
    from .. import settings

    return settings.get().home / "timm-counts.json"


def _load_counts(versions: dict[str, str]) -> dict[str, list[Any]]:
    try:
        data = json.loads(_counts_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("versions") != versions or not isinstance(data.get("counts"), dict):
        return {}  # another timm or torch may build other models: counted again
    return data["counts"]


def _save_counts(versions: dict[str, str], counts: dict[str, list[Any]]) -> None:
    path = _counts_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"versions": versions, "counts": counts}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only means the next sync builds again


def _counted(r: ModelRecord, entry: list[Any] | None, report: SyncReport) -> ModelRecord:
    n, note = entry if entry else (None, None)
    if n is not None:
        return r.replace(parameters=int(n), parameters_source="meta-device", parameters_note=note)
    if note:
        report.problems.append((r.id, note))
        return r.replace(parameters_note=note)
    return r


def _write_counted(store: Store, recs: list[ModelRecord], *, workers: int | None, report: SyncReport,
                   write: Callable[[list[ModelRecord]], None]) -> None:
    """Store ``recs`` with their meta-device counts: those already counted (the cache) at once, the
    others as their builds finish in ``workers`` processes (default: one per core), 25 models a
    chunk; every count is kept in the cache as it comes, so an interrupted sync loses no build."""
    import timm
    import torch

    versions = {"timm": timm.__version__, "torch": torch.__version__}
    cache = _load_counts(versions)
    by_key: dict[str, list[ModelRecord]] = {}
    for r in recs:
        by_key.setdefault(_build_key(r.extra["timm"]), []).append(r)
    todo = {key: group[0].extra["timm"]["model_name"] for key, group in by_key.items() if key not in cache}
    report.counts["meta_device_cached"] = len(by_key) - len(todo)
    report.counts["meta_device_built"] = len(todo)
    ready = [_counted(r, cache[key], report) for key, group in by_key.items() if key in cache for r in group]
    for i in range(0, len(ready), 500):
        write(ready[i:i + 500])
    if not todo:
        return
    key_of = {name: key for key, name in todo.items()}
    names = sorted(key_of)
    chunks = [names[i:i + 25] for i in range(0, len(names), 25)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(count_on_meta, chunk) for chunk in chunks]):
                done = []
                for name, n, note in future.result():
                    cache[key_of[name]] = [n, note]
                    done += [_counted(r, cache[key_of[name]], report) for r in by_key[key_of[name]]]
                write(done)
    finally:
        _save_counts(versions, cache)


def sync(store: Store, *, progress: Callable[[int], None] | None = None, count: bool = True,
         workers: int | None = None, names: list[str] | None = None) -> SyncReport:
    """Record every pretrained cfg under its ``hf:`` id (idempotent), with its parameter count built
    on the meta device unless ``count`` is False. ``names``: only these pretrained tags (a test's
    or a user's subset); ``workers``: processes for the counts (default: one per core). Records
    are stored as their counts arrive: the progress bar counts stored records, and an interrupted
    sync keeps them (and every count made, in the cache)."""
    start = time.perf_counter()
    report = SyncReport(source=SOURCE_NAME)
    recs = records(report)
    if names is not None:
        wanted = set(names)
        recs = [r for r in recs if wanted & set(r.extra["timm"]["model_names"])]
        report.problems = [p for p in report.problems if p[0] in wanted]
        report.skipped = len(report.problems)
    set_total = getattr(progress, "set_total", None)  # a progress bar that can show a total and ETA
    if set_total is not None:
        set_total(len(recs))
    written = 0

    def write(batch: list[ModelRecord]) -> None:
        nonlocal written
        if batch:
            written += store.upsert(batch, combine=True)
            if progress is not None:
                progress(len(batch))

    if count:
        _write_counted(store, recs, workers=workers, report=report, write=write)
    else:
        for i in range(0, len(recs), 500):
            write(recs[i:i + 500])
    report.records = written
    lic: dict[str, int] = {}
    for rec in recs:
        lic[rec.license or "none"] = lic.get(rec.license or "none", 0) + 1
    tags = sum(len(r.extra["timm"]["model_names"]) for r in recs)
    report.counts.update({"pretrained_tags": tags, "hf_repos": len(recs),
                          "feature_extraction": sum(1 for r in recs if r.task == "feature-extraction"),
                          **{f"license:{k}": v for k, v in sorted(lic.items(), key=lambda kv: -kv[1])}})
    known = set(licenses.PERMISSIVE | licenses.COPYLEFT | licenses.NON_COMMERCIAL | licenses.RESTRICTED)
    unknown = sorted({r.license for r in recs if r.license and r.license not in known})
    if unknown:
        report.unknown_values["license"] = unknown
    report.seconds = time.perf_counter() - start
    import timm

    store.save_sync_state(SOURCE_NAME, timm=timm.__version__, records=written, done=True,
                          synced_at=dt.datetime.now(dt.timezone.utc).isoformat())
    return report
