"""Import the installed timm's pretrained configs.

timm's weights live on Hugging Face, so each pretrained tag (``resnet50.a1_in1k``) is recorded
under its ``hf_hub_id`` (``hf:timm/resnet50.a1_in1k``) with library ``timm``: a later Hugging
Face resolve or sync fills in downloads, files and exact parameter counts on the same record.
From the cfg: license (normalized, the cfg's word kept in ``license_raw``), task
(``image-classification``, or ``feature-extraction`` when ``num_classes == 0``: a backbone with
no classifier head), architecture, and in ``extra['timm']`` the classes, input sizes, crop and
normalization. timm publishes no parameter counts in its cfgs, so ``parameters`` stays None.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import licenses
from ..errors import InvalidIdError, MissingDependencyError
from ..hubs.base import SyncReport
from ..records import ModelRecord

if TYPE_CHECKING:
    from ..registry.store import Store

__all__ = ["sync", "records", "record_for_cfg", "SOURCE_NAME"]

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


def sync(store: Store, *, progress: Callable[[int], None] | None = None) -> SyncReport:
    """Record every pretrained cfg under its ``hf:`` id (idempotent)."""
    start = time.perf_counter()
    report = SyncReport(source=SOURCE_NAME)
    recs = records(report)
    set_total = getattr(progress, "set_total", None)  # a progress bar that can show a total and ETA
    if set_total is not None:
        set_total(len(recs))
    written = 0
    for i in range(0, len(recs), 500):
        batch = recs[i:i + 500]
        written += store.upsert(batch, combine=True)
        if progress is not None:
            progress(len(batch))
    report.records = written
    lic: dict[str, int] = {}
    for rec in recs:
        lic[rec.license or "none"] = lic.get(rec.license or "none", 0) + 1
    tags = sum(len(r.extra["timm"]["model_names"]) for r in recs)
    report.counts = {"pretrained_tags": tags, "hf_repos": len(recs),
                     "feature_extraction": sum(1 for r in recs if r.task == "feature-extraction"),
                     **{f"license:{k}": v for k, v in sorted(lic.items(), key=lambda kv: -kv[1])}}
    known = set(licenses.PERMISSIVE | licenses.COPYLEFT | licenses.NON_COMMERCIAL | licenses.RESTRICTED)
    unknown = sorted({r.license for r in recs if r.license and r.license not in known})
    if unknown:
        report.unknown_values["license"] = unknown
    report.seconds = time.perf_counter() - start
    import timm

    store.save_sync_state(SOURCE_NAME, timm=timm.__version__, records=written, done=True,
                          synced_at=dt.datetime.now(dt.timezone.utc).isoformat())
    return report
