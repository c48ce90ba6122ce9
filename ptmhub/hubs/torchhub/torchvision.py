"""Import the installed torchvision's model builders and weights metadata.

Every builder ``torchvision.models.list_models()`` knows becomes ``torchhub:pytorch/vision/<model>``;
its weights enum gives the variants (``#IMAGENET1K_V2``), each with torchvision's own facts:
``num_params`` (exact), categories, ``_file_size`` (MiB, 3 decimals), metrics, recipe, GFLOPS and,
for a few weights, a license URL. The model-level fields describe the ``DEFAULT`` weights.

License provenance: torchvision's *code* is BSD-3-Clause; that is not a license for the weights,
and torchvision publishes none for most of them. Records say which one they carry in
``license_source`` (``code: ...`` or ``weights: ...``).

Exact counts without weights (:func:`meta_parameter_count`) build the architecture on the meta
device the way the weights' builder would (same ``num_classes``, ``aux_logits``, image size ...),
without downloading or loading anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ...errors import MissingDependencyError, ModelNotFoundError
from ..base import SyncReport
from ...quality import from_metrics_table
from ...records import ModelRecord

if TYPE_CHECKING:
    from ...registry.store import Store

__all__ = ["sync", "record_for", "records", "model_names", "variants", "meta_parameter_count",
           "task_for_module", "weights_for", "resolve_weights", "load_model", "CODE_LICENSE", "SOURCE_NAME",
           "REPO"]

SOURCE_NAME = "torchvision"
REPO = "pytorch/vision"
CODE_LICENSE = "bsd-3-clause"
#: license URLs found in torchvision's weights meta -> the license they name.
KNOWN_LICENSE_URLS = {
    # the SWAG weights (regnet_y_*, vit_*_SWAG_*): "released under the CC-BY-NC 4.0 license"
    "https://github.com/facebookresearch/SWAG/blob/main/LICENSE": "cc-by-nc-4.0",
}
#: torchvision.models sub-package -> task (HF pipeline-tag vocabulary where one exists).
TASKS = {
    "detection": "object-detection",
    "segmentation": "image-segmentation",
    "video": "video-classification",
    "optical_flow": "optical-flow",
    "quantization": "image-classification",
}
_BUILD_LOCK = threading.RLock()


def _tv() -> Any:
    try:
        import torchvision.models as tvm
    except ImportError:
        raise MissingDependencyError("torchvision", "torch", purpose="the torchvision catalog") from None
    return tvm


def model_names() -> list[str]:
    """Every builder name the installed torchvision registers."""
    return list(_tv().list_models())


def task_for_module(module: str, name: str = "") -> tuple[str, list[str]]:
    """``(task, tags)`` from the builder's module, e.g. ``torchvision.models.detection.keypoint_rcnn``."""
    parts = module.split(".")
    sub = parts[2] if len(parts) > 3 else "classification"
    if sub == "detection" and "keypoint" in module:
        return "keypoint-detection", ["vision", "detection", "keypoints"]
    task = TASKS.get(sub, "image-classification")
    tags = ["vision", sub.replace("_", "-")]
    if sub == "detection" and "mask_rcnn" in module:
        tags.append("instance-segmentation")
    if sub == "quantization":
        tags = ["vision", "classification", "quantized"]
    return task, tags


def weights_for(name: str) -> Any:
    """The weights enum of a builder.

    Raises:
        ModelNotFoundError: torchvision has no such builder.
    """
    tvm = _tv()
    if name not in tvm.list_models():
        raise ModelNotFoundError(f"torchvision {_version()} has no model {name!r}",
                                 hint="list them with 'ptmhub search --platform torchhub vision'",
                                 model_id=f"torchhub:{REPO}/{name}")
    return tvm.get_model_weights(name)


def _version() -> str:
    import torchvision

    return torchvision.__version__.split("+")[0]


def _mib_to_bytes(mib: float | None) -> int | None:
    return int(round(float(mib) * 1024 * 1024)) if mib is not None else None


def _docs(text: str | None) -> str | None:
    if not text:
        return None
    return " ".join(text.split())


def _finite(value: Any) -> Any:
    """JSON has no NaN: vgg16's IMAGENET1K_FEATURES weights publish ``acc@1: nan`` (no classifier)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _license_of(meta: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """``(license, license_raw, license_source)`` for one weights entry."""
    url = meta.get("license")
    if url:
        return (KNOWN_LICENSE_URLS.get(url), url,
                "weights: the license URL in torchvision's weights meta")
    return (CODE_LICENSE, "BSD-3-Clause",
            "code: torchvision's BSD-3-Clause; torchvision publishes no license for these weights")


def _gflops(value: Any) -> float | None:
    """torchvision's ``_ops``: GFLOPS of one forward pass at the weights' evaluation size."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def variants(name: str) -> dict[str, dict[str, Any]]:
    """Per-weights facts, keyed by the enum member name (``IMAGENET1K_V1`` ...)."""
    out: dict[str, dict[str, Any]] = {}
    for w in weights_for(name):
        meta = dict(w.meta)
        lic, lic_raw, _ = _license_of(meta)
        entry = {
            "url": w.url,
            "num_params": meta.get("num_params"),
            "num_categories": len(meta["categories"]) if meta.get("categories") else None,
            "file_size_mib": meta.get("_file_size"),
            "size_bytes": _mib_to_bytes(meta.get("_file_size")),
            "metrics": _finite(meta.get("_metrics")),
            "gflops": meta.get("_ops"),
            "recipe": meta.get("recipe"),
            "min_size": list(meta["min_size"]) if meta.get("min_size") else None,
            "min_temporal_size": meta.get("min_temporal_size"),
            "license": lic if meta.get("license") else None,
            "license_url": meta.get("license"),
            "backend": meta.get("backend"),
            "unquantized": str(meta["unquantized"]).split(".", 1)[-1] if meta.get("unquantized") else None,
            "docs": _docs(meta.get("_docs")),
        }
        out[w.name] = {k: v for k, v in entry.items() if v is not None}
    return out


def record_for(name: str, *, check_meta_device: bool = False) -> ModelRecord:
    """The record of one torchvision builder (model-level fields from its ``DEFAULT`` weights).

    ``check_meta_device`` also builds the architecture on the meta device and compares the
    count with torchvision's ``num_params`` (noted in ``parameters_note`` and ``extra``).

    Raises:
        ModelNotFoundError: no such builder.
    """
    tvm = _tv()
    enum = weights_for(name)
    members = list(enum)
    default = enum.DEFAULT if members else None
    builder = tvm.get_model_builder(name)
    task, tags = task_for_module(builder.__module__, name)
    all_variants = variants(name)
    extra: dict[str, Any] = {
        "torchvision_version": _version(),
        "builder": f"{builder.__module__}.{builder.__name__}",
        "weights_enum": enum.__name__,
        "variants": all_variants,
    }
    record = ModelRecord(
        id=f"torchhub:{REPO}/{name}", platform="torchhub", name=name, owner="pytorch", task=task,
        framework="pytorch", library="torchvision", format="pth", tags=tuple(tags),
        architecture=builder.__module__.rsplit(".", 1)[-1],
        fine_tunable="quantized" not in tags,
        extra=extra,
    )
    if default is None:
        note = "torchvision publishes no weights (and so no num_params) for this builder"
        record = record.replace(parameters_note=note)
    else:
        meta = dict(default.meta)
        lic, lic_raw, lic_source = _license_of(meta)
        datasets = tuple(meta.get("_metrics") or {})
        extra.update({
            "default_variant": default.name,
            "num_categories": len(meta["categories"]) if meta.get("categories") else None,
            "metrics": _finite(meta.get("_metrics")),
            "recipe": meta.get("recipe"),
            "gflops": meta.get("_ops"),
            "file_size_mib": meta.get("_file_size"),
        })
        record = record.replace(
            parameters=meta.get("num_params"), parameters_source="catalog",
            parameters_note=f"torchvision weights meta num_params of {enum.__name__}.{default.name} (DEFAULT)",
            license=lic, license_raw=lic_raw, license_source=lic_source,
            size_bytes=_mib_to_bytes(meta.get("_file_size")), source_url=default.url,
            summary=_docs(meta.get("_docs")), datasets=datasets, gflops=_gflops(meta.get("_ops")),
            evaluations=from_metrics_table(_finite(meta.get("_metrics")), task=task,
                                           source=f"torchvision weights meta ({enum.__name__}.{default.name})"),
        )
    if check_meta_device and default is not None:
        counted = meta_parameter_count(name, default.name)
        extra["meta_device_parameters"] = counted
        same = counted == record.parameters
        verdict = "equals it" if same else f"differs: {counted:,}"
        record = record.replace(parameters_note=f"{record.parameters_note}; the meta-device count {verdict}")
    extra = {k: v for k, v in extra.items() if v is not None}
    return record.replace(extra=extra)


def records(progress: Callable[[int], None] | None = None) -> Iterator[ModelRecord]:
    for name in model_names():
        yield record_for(name)
        if progress is not None:
            progress(1)


# -- meta-device counts -------------------------------------------------------------------------
@contextlib.contextmanager
def _weights_from(loader: Callable[[Any], Any]) -> Iterator[Any]:
    """While building, ``WeightsEnum.get_state_dict`` returns ``loader(weights)`` instead of
    downloading through torch.hub (which unpickles with ``weights_only=False``). Yields a marker
    that ``load_state_dict`` skips, for builds that only need the weights' shape of the model
    (classes, aux heads, image size). Other loads are untouched."""
    import torch.nn as nn
    from torchvision.models._api import WeightsEnum

    marker = _Marker()
    orig_get, orig_load = WeightsEnum.get_state_dict, nn.Module.load_state_dict

    def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
        return loader(self)

    def load_state_dict(self: Any, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        if state_dict is marker:
            return None
        return orig_load(self, state_dict, *args, **kwargs)

    with _BUILD_LOCK:
        WeightsEnum.get_state_dict = get_state_dict  # type: ignore[method-assign]
        nn.Module.load_state_dict = load_state_dict  # type: ignore[method-assign]
        try:
            yield marker
        finally:
            WeightsEnum.get_state_dict = orig_get  # type: ignore[method-assign]
            nn.Module.load_state_dict = orig_load  # type: ignore[method-assign]


@contextlib.contextmanager
def _weights_not_loaded() -> Iterator[None]:
    holder: list[Any] = []
    with _weights_from(lambda w: holder[0]) as marker:
        holder.append(marker)
        yield


def resolve_weights(name: str, variant: str | None) -> Any:
    """The weights enum member for ``variant`` (``DEFAULT`` when None).

    Raises:
        ModelNotFoundError: no such builder, no weights, or no such variant.
    """
    enum = weights_for(name)
    members = list(enum)
    if not members:
        raise ModelNotFoundError(f"torchvision publishes no weights for {name}", model_id=f"torchhub:{REPO}/{name}")
    if variant is None or variant == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[variant]
    except KeyError:
        raise ModelNotFoundError(f"torchvision's {name} has no weights {variant!r}",
                                 hint="one of " + ", ".join(w.name for w in members),
                                 model_id=f"torchhub:{REPO}/{name}#{variant}") from None


def load_model(name: str, weights: Any, checkpoint: str, **kwargs: Any) -> Any:
    """Build ``name`` for ``weights`` and load the state dict from a local ``checkpoint`` with
    ``torch.load(weights_only=True)``; extra ``kwargs`` go to the builder."""
    import torch

    tvm = _tv()
    builder = tvm.get_model_builder(name)

    def loader(_: Any) -> Any:
        return torch.load(checkpoint, map_location="cpu", weights_only=True)

    with _weights_from(loader):
        return builder(weights=weights, progress=False, **kwargs)


class _Marker(dict):  # type: ignore[type-arg]
    """The stand-in state dict (a dict, so type checks in builders pass)."""


def _float_builder_for(weights: Any) -> str | None:
    """The non-quantized builder whose weights enum ``weights`` belongs to."""
    tvm = _tv()
    for name in tvm.list_models():
        if ".quantization." in tvm.get_model_builder(name).__module__:
            continue
        if tvm.get_model_weights(name) is type(weights):
            return name
    return None


def meta_parameter_count(name: str, variant: str | None = None) -> int:
    """Exact parameter count of builder ``name`` shaped for weights ``variant`` (or with no
    weights: ``weights=None``), built on the meta device: nothing is downloaded or allocated.

    Quantized builders are counted through the float weights they were made from
    (``meta['unquantized']``): packed int8 weights are not ``nn.Parameter`` objects.

    Raises:
        ModelNotFoundError: no such builder or variant.
    """
    from . import count_parameters_on_meta

    tvm = _tv()
    weights = resolve_weights(name, variant) if variant is not None else None
    builder_name = name
    if weights is not None and weights.meta.get("unquantized") is not None:
        weights = weights.meta["unquantized"]
        builder_name = _float_builder_for(weights) or name
    builder = tvm.get_model_builder(builder_name)
    kwargs: dict[str, Any] = {"weights": weights}
    import inspect

    params = inspect.signature(builder).parameters
    if "weights_backbone" in params:
        kwargs["weights_backbone"] = None  # never fetch a backbone
    if "progress" in params:
        kwargs["progress"] = False

    def build() -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if weights is None:
                return builder(**kwargs)
            with _weights_not_loaded():
                return builder(**kwargs)

    return count_parameters_on_meta(build)


# -- sync ----------------------------------------------------------------------------------------
def sync(store: Store, *, progress: Callable[[int], None] | None = None) -> SyncReport:
    """Record every torchvision builder with its weights variants (idempotent)."""
    start = time.perf_counter()
    report = SyncReport(source=SOURCE_NAME)
    out: list[ModelRecord] = []
    names = model_names()
    set_total = getattr(progress, "set_total", None)  # a progress bar that can show a total and ETA
    if set_total is not None:
        set_total(len(names))
    batch: list[ModelRecord] = []

    def write() -> None:  # a batch at a time, so progress counts what the registry already keeps
        written = store.upsert(batch, combine=True) if batch else 0
        report.records += written
        batch.clear()
        if progress is not None and written:
            progress(written)

    for name in names:
        try:
            record = record_for(name)
        except Exception as exc:  # one odd builder must not stop the catalog
            report.problems.append((name, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"))
            report.skipped += 1
            continue
        out.append(record)
        batch.append(record)
        if len(batch) >= 16:
            write()
    write()
    tasks: dict[str, int] = {}
    for rec in out:
        tasks[rec.task or "unknown"] = tasks.get(rec.task or "unknown", 0) + 1
    report.counts = {"models": len(out), "weights": sum(len(r.extra.get("variants", {})) for r in out),
                     "with_weights_license": sum(1 for r in out if (r.license_source or "").startswith("weights")),
                     **{f"task:{k}": v for k, v in sorted(tasks.items())}}
    report.seconds = time.perf_counter() - start
    store.save_sync_state(SOURCE_NAME, torchvision=_version(), records=report.records, done=True,
                          synced_at=dt.datetime.now(dt.timezone.utc).isoformat())
    return report
