"""The one record type: :class:`ModelRecord`. Plain data: no SQLAlchemy, no HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelRecord", "Evaluation", "PARAMETER_SOURCES", "FIELDS", "SUMMARY_MAX", "COMMON_EXTRA_KEYS", "human_count", "human_bytes",
           "summarize"]

#: Where a parameter count may come from (``parameters_source``).
PARAMETER_SOURCES = (
    "api",                # the hub's API published it (HF ``safetensors.total``)
    "safetensors-header", # summed from safetensors headers (remote Range reads or cached files)
    "meta-device",        # built the architecture without weights and counted
    "config",             # built from config.json on the meta device (HF)
    "state-dict",         # tensor shapes of a checkpoint loaded with weights_only=True
    "saved-model",        # SavedModel variables / checkpoint index
    "catalog",            # a catalog published it (torchvision weights meta, timm cfg, ...)
)


def _freeze_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Evaluation:
    """One published quality figure of a model: ``value`` of ``metric`` on ``dataset``.

    ``dataset`` and ``metric`` are normalized keys (:func:`ptmhub.quality.dataset_key`,
    :func:`ptmhub.quality.metric_key`: ``imagenet-1k`` / ``accuracy``), so one query compares
    models across hubs; the publisher's own words stay in ``dataset_name`` / ``metric_name``.
    Accuracy-like metrics are in percent (a 0-1 fraction is scaled when read).
    """

    dataset: str
    metric: str
    value: float
    source: str | None = None        # torchvision weights meta, model-index, model card, ...
    dataset_name: str | None = None  # as published ("ImageNet-1K", "GLUE SST-2")
    metric_name: str | None = None   # as published ("acc@1", "Accuracy")
    split: str | None = None
    task: str | None = None
    verified: bool | None = None     # Hugging Face: evaluated by the Hub, not self-reported

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))

    @property
    def label(self) -> str:
        """``imagenet-1k:accuracy`` (what ``--min-accuracy`` takes before ``=``)."""
        return f"{self.dataset}:{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def _evaluations(value: Any) -> tuple[Evaluation, ...]:
    if not value:
        return ()
    return tuple(v if isinstance(v, Evaluation) else Evaluation.from_dict(v) for v in value)


@dataclass(frozen=True)
class ModelRecord:
    """Everything the registry knows about one model. ``None`` means unknown, never guessed."""

    id: str                                  # canonical registry key, e.g. "hf:google-bert/bert-base-uncased"
    platform: str                            # huggingface | tfhub | kaggle | torchhub
    name: str                                # the model's own name (repo name, handle tail, entrypoint)
    owner: str | None = None                 # HF owner, TF Hub publisher, Kaggle owner, GitHub owner
    task: str | None = None                  # normalized task, HF pipeline-tag vocabulary where possible
    parameters: int | None = None            # exact count, or None
    parameters_source: str | None = None     # one of PARAMETER_SOURCES
    parameters_note: str | None = None       # why the count is missing, or how it was checked
    license: str | None = None               # normalized lowercase SPDX-style id
    license_raw: str | None = None           # the hub's own words
    license_source: str | None = None        # where the license came from (and whose it is)
    framework: str | None = None             # pytorch | tensorflow | jax | ...
    library: str | None = None               # transformers | timm | torchvision | tensorflow-hub | ...
    format: str | None = None                # safetensors | saved_model_2 | hub | tflite | hubconf | ...
    fine_tunable: bool | None = None
    downloads: int | None = None
    likes: int | None = None
    tags: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    architecture: str | None = None          # normalized network architecture (bert, resnet-50, ...)
    revision: str | None = None              # HF commit sha / git ref
    version: str | None = None               # TF Hub / Kaggle version
    size_bytes: int | None = None            # download size of the model's files
    gflops: float | None = None              # compute of one forward pass at the reference input size
    evaluations: tuple[Evaluation, ...] = () # published quality figures (accuracy on ImageNet-1K, ...)
    source_url: str | None = None
    summary: str | None = None
    gated: bool | None = None
    last_modified: dt.datetime | None = None
    aliases: tuple[str, ...] = ()            # other IDs that name this model (renames, legacy ids)
    extra: Mapping[str, Any] = field(default_factory=dict)  # per-hub facts (variants, files, metrics)
    # registry history and cache state, kept by the store
    first_seen: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    cached: bool = False
    cache_path: str | None = None
    cache_size_bytes: int | None = None
    last_used: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("tags", "datasets", "languages", "aliases"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, _freeze_tuple(value))
        if self.evaluations and not all(isinstance(e, Evaluation) for e in self.evaluations):
            object.__setattr__(self, "evaluations", _evaluations(self.evaluations))
        elif not isinstance(self.evaluations, tuple):
            object.__setattr__(self, "evaluations", tuple(self.evaluations or ()))
        if self.parameters is not None and not isinstance(self.parameters, int):
            object.__setattr__(self, "parameters", int(self.parameters))

    def replace(self, **changes: Any) -> ModelRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the record's field names (datetimes as ISO 8601 strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif f.name == "evaluations":
                value = [e.to_dict() for e in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRecord:
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in ("last_modified", "first_seen", "resolved_at", "last_used") and isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            kwargs[f.name] = value
        return cls(**kwargs)

    @property
    def parameters_human(self) -> str:
        return human_count(self.parameters)

    def evaluation(self, dataset: str, metric: str) -> Evaluation | None:
        """The best published ``metric`` on ``dataset`` (normalized keys), or None."""
        from .quality import better

        found = [e for e in self.evaluations if e.dataset == dataset and e.metric == metric]
        return better(found)


FIELDS = tuple(f.name for f in dataclasses.fields(ModelRecord))


def human_count(n: int | None) -> str:
    """110106428 -> '110M', 7241732096 -> '7.2B', None -> '-'."""
    if n is None:
        return "-"
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            value = n / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(n)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


# -- summaries: a record's one-line description, from any hub's long text -------------------------
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "approx.", "Fig.", "No.", "cf.")
SUMMARY_MAX = 300


def summarize(description: str) -> str | None:
    """The description's first sentence, markdown links reduced to their text, at most
    :data:`SUMMARY_MAX` characters."""
    text = _MD_LINK.sub(r"\1", description).replace("`", "").strip()
    text = " ".join(text.split())
    if not text:
        return None
    masked = text
    for abbr in _ABBREVIATIONS:
        masked = masked.replace(abbr, abbr.replace(".", "\0"))
    m = _SENTENCE_END.search(masked)
    sentence = text[: m.start()] if m else text
    if len(sentence) > SUMMARY_MAX:
        sentence = sentence[: SUMMARY_MAX - 1].rsplit(" ", 1)[0] + "…"
    return sentence


#: ``extra`` keys any record may carry, whatever its hub: what a model folder's files tell
#: (``localmodel.folder_facts``), and what ``pull``, ``cache scan`` and ``add`` record. Each hub
#: declares its own in its matrix row (``PlatformFacts.extra_keys``); tests/conftest.py fails the
#: suite on a key a test stored that neither declares.
COMMON_EXTRA_KEYS: dict[str, str] = {
    "architectures": "the model classes config.json names (architectures)",
    "base_model": "the model it was fine-tuned from (model card base_model)",
    "base_model_relation": "how it derives from base_model (model card base_model_relation: finetune, adapter, ...)",
    "custom_code": "true when config.json asks for the repository's own code (auto_map)",
    "parameters_by_dtype": "the parameter count per safetensors dtype",
    "counted_files": "the weight files the parameter count was read from",
    "cache_files": "the files of the cached copy, with sizes (at most 2,000)",
    "cache_files_truncated": "how many files there were when cache_files holds only the first 2,000",
    "cache_scan": "where and when 'cache scan' found the model (cache, path, time)",
    "path": "the registered folder of a local: model",
}
