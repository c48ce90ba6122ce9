"""Quality as data: published evaluation results, named so that hubs compare.

Hubs publish quality in their own words: torchvision's weights meta says
``{"ImageNet-1K": {"acc@1": 76.13, "acc@5": 92.862}}``; a Hugging Face card's ``model-index``
says ``dataset: {type: imagenet-1k}``, ``metrics: [{type: accuracy, value: 0.8113}]``. This
module turns both into :class:`~ptmhub.records.Evaluation` entries with one vocabulary:

* a **dataset key**: the Hugging Face dataset id (or the published name), lowercased, with its
  configuration (``glue/sst2``); well-known aliases fold (``ImageNet-1K``, ``imagenet``,
  ``ILSVRC/imagenet-1k`` and ``imagenet-1k`` are all ``imagenet-1k``);
* a **metric key**: lowercased, with top-1 / top-5 spellings folded (``acc@1``, ``top1``,
  ``top-1 accuracy`` -> ``accuracy``; ``acc@5`` -> ``top5-accuracy``);
* **percent** for accuracy-like metrics: a value in (0, 1] is a fraction and is scaled (Hugging
  Face cards write 0.8113 where torchvision writes 81.13).

Core: it imports nothing of ptmhub beyond the record type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import UsageError
from .records import Evaluation

__all__ = ["dataset_key", "metric_key", "higher_is_better", "better", "from_model_index",
           "from_metrics_table", "parse_min_accuracy", "parse_metric_ref", "MAX_EVALUATIONS"]

#: the longest dataset key (the registry's column; a metric key is at most 128)
DATASET_KEY_MAX = 160
#: a record keeps at most this many evaluations (a card with thousands is cut, best kept first)
MAX_EVALUATIONS = 200

_DATASET_ALIASES = {
    "imagenet": "imagenet-1k", "imagenet1k": "imagenet-1k", "imagenet-1k": "imagenet-1k",
    "ilsvrc/imagenet-1k": "imagenet-1k", "ilsvrc2012": "imagenet-1k", "ilsvrc-2012": "imagenet-1k",
    "imagenet_1k": "imagenet-1k", "imagenet-2012": "imagenet-1k", "timm/imagenet-1k-wds": "imagenet-1k",
    "imagenet-21k": "imagenet-21k", "imagenet21k": "imagenet-21k", "imagenet-22k": "imagenet-21k",
    "coco-val2017": "coco-2017", "coco_2017": "coco-2017", "coco-2017": "coco-2017", "coco": "coco-2017",
    "detection-datasets/coco": "coco-2017",
    "sst2": "glue/sst2", "sst-2": "glue/sst2", "stanfordnlp/sst2": "glue/sst2",
}
_METRIC_ALIASES = {
    "acc@1": "accuracy", "acc1": "accuracy", "top1": "accuracy", "top-1": "accuracy", "top_1": "accuracy",
    "top-1 accuracy": "accuracy", "top1-accuracy": "accuracy", "top-1-accuracy": "accuracy", "acc": "accuracy",
    "top1_accuracy": "accuracy", "top_1_accuracy": "accuracy", "accuracy": "accuracy",
    "acc@5": "top5-accuracy", "acc5": "top5-accuracy", "top5": "top5-accuracy", "top-5": "top5-accuracy",
    "top_5": "top5-accuracy", "top-5 accuracy": "top5-accuracy", "top5_accuracy": "top5-accuracy",
    "top_5_accuracy": "top5-accuracy", "top5-accuracy": "top5-accuracy",
    "box_map": "box-map", "mask_map": "mask-map", "kp_map": "keypoint-map", "miou": "mean-iou",
    "mean_iou": "mean-iou", "pixel_acc": "pixel-accuracy",
}
#: metrics a lower value of is better (errors, distances, perplexity)
_LOWER_IS_BETTER = frozenset({"wer", "cer", "epe", "perplexity", "loss", "mae", "mse", "rmse", "fid",
                              "error", "error-rate", "top1-error", "top5-error", "ter", "fl-all"})
#: metrics written as a fraction by some and a percent by others: kept in percent
_PERCENT = frozenset({"accuracy", "top5-accuracy", "f1", "precision", "recall", "exact_match", "exact-match",
                      "pixel-accuracy", "mean-iou", "box-map", "mask-map", "keypoint-map", "matthews_correlation",
                      "balanced-accuracy", "roc_auc", "auc", "bleu", "rouge1", "rouge2", "rougel"})
_SAFE = re.compile(r"[^0-9a-z@._/+-]+")


def _fold(text: str) -> str:
    return _SAFE.sub("-", " ".join(str(text).lower().split())).strip("-")[:128]


def dataset_key(name: str, config: str | None = None) -> str:
    """``ImageNet-1K`` -> ``imagenet-1k``; (``glue``, ``sst2``) -> ``glue/sst2``."""
    base = _fold(name)
    base = _DATASET_ALIASES.get(base, base)
    if config:
        conf = _fold(config)
        if conf and conf not in ("default", "plain_text", "all") and not base.endswith("/" + conf):
            base = f"{base}/{conf}"
            base = _DATASET_ALIASES.get(base, base)
    return base[:DATASET_KEY_MAX]


def metric_key(name: str) -> str:
    """``acc@1`` -> ``accuracy``, ``Top-5 Accuracy`` -> ``top5-accuracy``, ``WER`` -> ``wer``."""
    folded = " ".join(str(name).lower().replace("_", " ").split())
    for candidate in (str(name).lower().strip(), folded, folded.replace(" ", "-"), folded.replace(" ", "_")):
        if candidate in _METRIC_ALIASES:
            return _METRIC_ALIASES[candidate]
    return _fold(folded).replace("_", "-") if folded else "metric"


def higher_is_better(metric: str) -> bool:
    return metric_key(metric) not in _LOWER_IS_BETTER


def better(evaluations: Iterable[Evaluation]) -> Evaluation | None:
    """The best of several figures of one metric (the highest, or lowest for errors)."""
    found = list(evaluations)
    if not found:
        return None
    if higher_is_better(found[0].metric):
        return max(found, key=lambda e: e.value)
    return min(found, key=lambda e: e.value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            number = float(text)
        except ValueError:
            return None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _scaled(metric: str, value: float) -> float:
    if metric in _PERCENT and 0 < value <= 1:
        return round(value * 100, 6)
    return value


def _text(value: Any, limit: int = 256) -> str | None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = " ".join(str(value).split())[:limit]
        return text or None
    return None


def from_model_index(model_index: Any, *, source: str = "model-index") -> tuple[Evaluation, ...]:
    """The evaluations of a Hugging Face ``model-index`` (a card's or the API's): every
    ``results[].metrics[]`` entry with a finite number, with its dataset, split and task.
    Anything malformed is skipped, never raised: the index is the publisher's free text."""
    if isinstance(model_index, Mapping):
        model_index = [model_index]
    if not isinstance(model_index, list):
        return ()
    out: dict[tuple[str, str, str | None, str | None], Evaluation] = {}
    for entry in model_index[:50]:
        results = entry.get("results") if isinstance(entry, Mapping) else None
        if not isinstance(results, list):
            continue
        for result in results[:200]:
            if not isinstance(result, Mapping):
                continue
            dataset = result.get("dataset") if isinstance(result.get("dataset"), Mapping) else {}
            task = result.get("task") if isinstance(result.get("task"), Mapping) else {}
            ds_id = _text(dataset.get("type")) or _text(dataset.get("name"))
            metrics = result.get("metrics")
            if not ds_id or not isinstance(metrics, list):
                continue
            key = dataset_key(ds_id, _text(dataset.get("config")))
            for metric in metrics[:100]:
                if not isinstance(metric, Mapping):
                    continue
                name = _text(metric.get("type")) or _text(metric.get("name"))
                value = _number(metric.get("value"))
                if not name or value is None:
                    continue
                mkey = metric_key(name)
                verified = metric.get("verified")
                ev = Evaluation(dataset=key, metric=mkey, value=_scaled(mkey, value), source=source,
                                dataset_name=_text(dataset.get("name")) or ds_id,
                                metric_name=_text(metric.get("name")) or name,
                                split=_text(dataset.get("split"), 64), task=_text(task.get("type"), 128),
                                verified=verified if isinstance(verified, bool) else None)
                ident = (ev.dataset, ev.metric, ev.split, ev.task)
                if ident not in out or better([out[ident], ev]) is ev:
                    out[ident] = ev
                if len(out) >= MAX_EVALUATIONS:
                    return tuple(out.values())
    return tuple(out.values())


def from_metrics_table(metrics: Any, *, source: str, task: str | None = None) -> tuple[Evaluation, ...]:
    """``{"ImageNet-1K": {"acc@1": 76.13, "acc@5": 92.862}}`` (torchvision's ``_metrics``)."""
    if not isinstance(metrics, Mapping):
        return ()
    out = []
    for dataset, values in metrics.items():
        if not isinstance(values, Mapping):
            continue
        for name, raw in values.items():
            value = _number(raw)
            if value is None:
                continue
            mkey = metric_key(str(name))
            out.append(Evaluation(dataset=dataset_key(str(dataset)), metric=mkey, value=_scaled(mkey, value),
                                  source=source, dataset_name=str(dataset), metric_name=str(name), task=task))
    return tuple(out[:MAX_EVALUATIONS])


def parse_metric_ref(text: str, *, option: str = "--accuracy-on") -> tuple[str, str]:
    """``imagenet-1k:acc@1`` -> (``imagenet-1k``, ``accuracy``); a bare dataset means accuracy."""
    text = str(text).strip()
    dataset, _, metric = text.partition(":")
    if not dataset.strip():
        raise UsageError(f"{option} {text!r} names no dataset", hint=f"e.g. {option} imagenet-1k:acc@1")
    return dataset_key(dataset), metric_key(metric) if metric.strip() else "accuracy"


def parse_min_accuracy(text: str) -> tuple[str, str, float]:
    """``imagenet-1k:acc@1=80`` -> (``imagenet-1k``, ``accuracy``, 80.0). ``DATASET=V`` means
    accuracy; for an accuracy-like metric a value in (0, 1] is read as a fraction (0.8 = 80%)."""
    ref, sep, raw = str(text).rpartition("=")
    if not sep or not ref.strip():
        raise UsageError(f"--min-accuracy {text!r} is not DATASET:METRIC=VALUE",
                         hint="e.g. --min-accuracy imagenet-1k:acc@1=80 or --min-accuracy glue/sst2=90")
    value = _number(raw)
    if value is None:
        raise UsageError(f"--min-accuracy {text!r}: {raw.strip()!r} is not a number",
                         hint="e.g. --min-accuracy imagenet-1k:acc@1=80")
    dataset, metric = parse_metric_ref(ref, option="--min-accuracy")
    return dataset, metric, _scaled(metric, value)
