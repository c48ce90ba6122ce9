"""Compare models side by side, and find the same architecture on other hubs.

:func:`compare` puts registry records next to each other, one :class:`Row` per fact, each value
with where it came from, and flags the rows where the candidates differ. :func:`same_as` finds
equivalents of a model on the other hubs (BERT base on Hugging Face, TF Hub and PyTorch Hub;
ResNet-50 on torchvision, timm and TF Hub) by normalized architecture
(:func:`normalize_architecture`) and, when both counts are known, parameter counts within a
tolerance.

Everything here reads the registry (and asks a hub only through :func:`ptmhub.api.show` on a
registry miss while online); no framework is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import licenses, platforms, settings
from .errors import UsageError
from .records import ModelRecord, human_bytes, human_count

if TYPE_CHECKING:
    from .registry.store import Store

__all__ = ["Architecture", "normalize_architecture", "architecture_of", "Row", "Comparison", "compare",
           "compare_records", "Match", "SameAs", "same_as", "COMMERCIAL_USE", "relative_difference"]

# -- architecture normalization ------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """A normalized architecture: ``key`` is what equivalents share (``resnet-50``, ``bert-base``)."""

    key: str                    # family + size, e.g. "resnet-50", "bert-base", "mobilenet-v2"
    family: str                 # e.g. "resnet", "bert": the word full-text search starts from
    variant: str | None = None  # what does not change the network: "v2", "uncased", "224", "ssl"
    known: bool = True          # False: no known pattern, the key is a slug of the name
    evidence: str = ""          # what it was read from, e.g. "name 'resnet_v2_50'"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "family": self.family, "variant": self.variant, "known": self.known,
                "evidence": self.evidence}


_VIT_SIZES = {"tiny": "ti", "ti": "ti", "small": "s", "s": "s", "base": "b", "b": "b", "large": "l", "l": "l",
              "huge": "h", "h": "h", "giant": "g", "g": "g"}
_SWIN_SIZES = {"tiny": "t", "t": "t", "small": "s", "s": "s", "base": "b", "b": "b", "large": "l", "l": "l"}
_BERT_SIZES = {(12, 768): "base", (24, 1024): "large"}
_BERT_LANG = {"en": "", "multi": "-multilingual", "zh": "-chinese"}


def _lang_of(rest: str | None) -> str:
    rest = rest or ""
    if "multilingual" in rest:
        return "-multilingual"
    if "chinese" in rest:
        return "-chinese"
    return ""


def _width(w: str | None) -> str:
    """TF Hub / timm width multipliers: '100' is the default width, '035' -> '-0.35'."""
    if w is None or w == "100":
        return ""
    return "-" + f"{int(w) / 100:g}"


def _join(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "-".join(kept) if kept else None


_Pattern = tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, str, str | None]]]


def _p(regex: str, fn: Callable[[re.Match[str]], tuple[str, str, str | None]]) -> _Pattern:
    return re.compile(regex), fn


def _bert_lha(m: re.Match[str]) -> tuple[str, str, str | None]:
    lang, wwm, case, layers, hidden = m.group("lang") or "en", m.group("wwm"), m.group("case"), \
        int(m.group("l")), int(m.group("h"))
    size = _BERT_SIZES.get((layers, hidden), f"l{layers}-h{hidden}")
    suffix = _BERT_LANG.get(lang, f"-{lang}")
    return "bert", f"bert-{size}{suffix}", _join(wwm, case)


#: (pattern over the cleaned name, -> (family, key, variant)). Cleaned: lowercase, ``_ . space``
#: turned into ``-``. Patterns are full matches, so ``resnet50d`` or ``wide_resnet50_2`` never
#: become ``resnet-50``.
_PATTERNS: tuple[_Pattern, ...] = (
    # BERT: TF Hub's bert_en_uncased_L-12_H-768_A-12, small_bert/..., HF google/bert_uncased_L-2_H-128_A-2
    _p(r"(?:small-bert-)?bert-(?:(?P<lang>[a-z]{2}|multi)-)?(?:(?P<wwm>wwm)-)?(?P<case>cased|uncased)"
       r"-l-(?P<l>\d+)-h-(?P<h>\d+)-a-\d+", _bert_lha),
    _p(r"bert-(base|large)(?:-(.*))?", lambda m: ("bert", f"bert-{m[1]}{_lang_of(m[2])}", m[2])),
    _p(r"distilbert-base(?:-(.*))?", lambda m: ("distilbert", f"distilbert-base{_lang_of(m[1])}", m[1])),
    _p(r"(xlm-)?roberta-(base|large)(?:-(.*))?",
       lambda m: ("xlm-roberta" if m[1] else "roberta", f"{m[1] or ''}roberta-{m[2]}", m[3])),
    _p(r"albert-(?:en-)?(base|large|xlarge|xxlarge)(?:-(.*))?", lambda m: ("albert", f"albert-{m[1]}", m[2])),
    _p(r"electra-(small|base|large)(?:-(.*))?", lambda m: ("electra", f"electra-{m[1]}", m[2])),
    _p(r"(distil)?gpt2(?:-(medium|large|xl))?",
       lambda m: ("gpt2", "distilgpt2" if m[1] else _join("gpt2", m[2]) or "gpt2", None)),
    _p(r"(flan-)?t5-(small|base|large|3b|11b)",
       lambda m: ("flan-t5" if m[1] else "t5", f"{m[1] or ''}t5-{m[2]}", None)),
    # ResNet: resnet50, resnet-50, resnet_v2_50, resnetv2_50, resnet50_v1.5, resnet50_swsl
    _p(r"resnet-?(?:(v1-5|v1|v2)-?)?(18|26|34|50|101|152|200)(?:-?(v1-5|v1|v2))?(?:-(ssl|swsl|wsl))?",
       lambda m: ("resnet", f"resnet-{m[2]}", _join((m[1] or m[3] or "").replace("v1-5", "v1.5"), m[4]))),
    _p(r"wide-resnet-?(50|101)-2", lambda m: ("wide-resnet", f"wide-resnet-{m[1]}-2", None)),
    _p(r"resnext-?(50|101|152)-(\d+x\d+d)(?:-(ssl|swsl|wsl))?",
       lambda m: ("resnext", f"resnext-{m[1]}-{m[2]}", m[3])),
    # MobileNet: mobilenet_v2_100_224 (TF Hub), mobilenetv2_100 (timm), mobilenet_v2 (torchvision)
    _p(r"mobilenet-?v([12])(?:-(\d{3}))?(?:-(\d{2,3}))?",
       lambda m: ("mobilenet", f"mobilenet-v{m[1]}{_width(m[2])}", m[3])),
    _p(r"mobilenet-?v3-(large|small)(?:-(\d{3}))?(?:-(\d{2,3}))?",
       lambda m: ("mobilenet", f"mobilenet-v3-{m[1]}{_width(m[2])}", m[3])),
    # EfficientNet: efficientnet_b0, efficientnet/b0 (TF Hub path), efficientnet_v2_imagenet1k_b0
    _p(r"efficientnet-?(b[0-8]|l2|lite[0-4])", lambda m: ("efficientnet", f"efficientnet-{m[1]}", None)),
    _p(r"efficientnet-?v2-(?:(imagenet1k|imagenet21k|imagenet21k-ft1k)-)?(b[0-3]|s|m|l|xl)",
       lambda m: ("efficientnet", f"efficientnet-v2-{m[2]}", m[1])),
    _p(r"inception-?v([1-4])", lambda m: ("inception", f"inception-v{m[1]}", None)),
    _p(r"googlenet", lambda m: ("inception", "inception-v1", "googlenet")),
    _p(r"inception-resnet-?v2", lambda m: ("inception", "inception-resnet-v2", None)),
    # ViT: vit_b_16 (torchvision), vit_base_patch16_224 (timm, HF), vit_b16 (TF Hub)
    _p(r"vit-(tiny|small|base|large|huge|giant|ti|s|b|l|h|g)-?(?:patch)?-?(\d+)(?:-(\d+))?(?:-(.+))?",
       lambda m: ("vit", f"vit-{_VIT_SIZES[m[1]]}-{m[2]}", _join(m[3], m[4]))),
    _p(r"deit-(tiny|small|base)-(distilled-)?patch(\d+)(?:-(\d+))?",
       lambda m: ("deit", f"deit-{_VIT_SIZES[m[1]]}-{m[3]}", _join(m[2] and "distilled", m[4]))),
    _p(r"convnext-(atto|femto|pico|nano|tiny|small|base|large|xlarge)(?:-(\d+))?(?:-(.+))?",
       lambda m: ("convnext", f"convnext-{m[1]}", _join(m[2], m[3]))),
    _p(r"swin-(v2-)?(t|s|b|l)", lambda m: ("swin", f"swin-{m[1] or ''}{m[2]}", None)),
    _p(r"swin(v2)?-(tiny|small|base|large)-patch4-window(\d+)(?:-(\d+))?",
       lambda m: ("swin", f"swin-{'v2-' if m[1] else ''}{_SWIN_SIZES[m[2]]}", _join(f"window{m[3]}", m[4]))),
    _p(r"vgg-?(11|13|16|19)(-?bn)?", lambda m: ("vgg", f"vgg-{m[1]}{'-bn' if m[2] else ''}", None)),
    _p(r"densenet-?(121|161|169|201|264)", lambda m: ("densenet", f"densenet-{m[1]}", None)),
    _p(r"squeezenet-?1-?([01])", lambda m: ("squeezenet", f"squeezenet-1.{m[1]}", None)),
    _p(r"shufflenet-?v2-x(\d)-(\d)", lambda m: ("shufflenet", f"shufflenet-v2-x{m[1]}.{m[2]}", None)),
    _p(r"mnasnet-?(\d)-(\d+)", lambda m: ("mnasnet", f"mnasnet-{m[1]}.{m[2]}", None)),
    _p(r"alexnet", lambda m: ("alexnet", "alexnet", None)),
    _p(r"yolov5([nsmlx])", lambda m: ("yolov5", f"yolov5{m[1]}", None)),
)
#: Prefixes that name a port, a publisher or a quantized copy, not a different network (timm's tf_
#: ports, NVIDIA's hub, torchvision's quantized models); kept as the variant.
_PREFIXES = ("tf-", "nvidia-", "quantized-", "torchvision-", "timm-", "keras-")
#: Path segments that say what a TF Hub / Kaggle handle does, not which network it is.
_GENERIC_SEGMENTS = frozenset({"classification", "feature-vector", "feature_vector", "imagenet", "models",
                               "lite-model", "tfjs-model", "coral-model", "tflite", "tfjs", "coral",
                               "tensorflow1", "tensorflow2", "pytorch", "keras", "jax", "transformers"})


def _clean(text: str) -> str:
    s = re.sub(r"[\s_.]+", "-", text.strip().lower())
    return re.sub(r"-{2,}", "-", s).strip("-")


def _match(cleaned: str) -> tuple[str, str, str | None] | None:
    candidates = [(cleaned, None)] + [(cleaned[len(p):], p.rstrip("-")) for p in _PREFIXES if cleaned.startswith(p)]
    for text, prefix in candidates:
        for regex, fn in _PATTERNS:
            m = regex.fullmatch(text)
            if m:
                family, key, variant = fn(m)
                return family, key, _join(prefix, variant)
    return None


def _known(text: str) -> tuple[str, str, str | None] | None:
    """A known family for one name: the whole name, then timm's ``NAME.TAG`` head."""
    hit = _match(_clean(text))
    if hit is None and "." in text:
        hit = _match(_clean(text.split(".", 1)[0]))  # resnet50.a1_in1k -> resnet50
    return hit


def _segments(text: str) -> list[str]:
    """Candidate names inside a path: each segment, then adjacent pairs (TF Hub's efficientnet/b0)."""
    parts = [p for p in text.split("/") if p and not p.isdigit() and p.lower() not in _GENERIC_SEGMENTS]
    return parts + [f"{a}-{b}" for a, b in zip(parts, parts[1:])]


def normalize_architecture(text: str | None, *, evidence: str | None = None) -> Architecture | None:
    """The normalized architecture named by ``text`` (an ID, a name, an architecture tag).

    ``resnet50``, ``resnet_v2_50``, ``resnet-50``, ``resnet50.a1_in1k`` -> ``resnet-50``;
    ``bert-base-uncased``, ``bert_en_uncased_L-12_H-768_A-12`` -> ``bert-base``;
    ``mobilenet_v2_100_224``, ``mobilenet_v2``, ``mobilenetv2_100`` -> ``mobilenet-v2``. Returns
    None when no known family matches (see :func:`architecture_of` for the slug fallback).
    """
    if not text:
        return None
    raw = str(text).strip()
    if ":" in raw.split("/", 1)[0]:  # an ID with its platform prefix
        raw = raw.split(":", 1)[1]
    for candidate in ([raw] if "/" not in raw else _segments(raw)):
        hit = _known(candidate)
        if hit:
            family, key, variant = hit
            return Architecture(key, family, variant or None, True, evidence or f"name {candidate!r}")
    return None


def _is_timm(record: ModelRecord) -> bool:
    return record.library == "timm" or (record.owner or "").lower() == "timm"


def architecture_of(record: ModelRecord) -> Architecture | None:
    """The record's normalized architecture, and the evidence, in this order of trust:

    1. its name (HF repo name, timm model name without the ``.TAG``, TF Hub handle segments,
       torch.hub entrypoint);
    2. its ``architecture`` field and tags (TF Hub's ``network-architecture``: ``resnet-v2-50``);
    3. for torch.hub loader entrypoints (``model``, ``modelForMaskedLM``...), the model the
       pytorch/hub doc's example call loads (``'bert-base-uncased'``);
    4. otherwise a slug of the name (``known=False``): only an identical slug matches it.
    """
    name = record.name or record.id.split(":", 1)[-1]
    if _is_timm(record):
        arch = normalize_architecture(name.split(".", 1)[0], evidence=f"timm model name {name!r}")
    else:
        arch = normalize_architecture(name)
    if arch:
        return arch
    for label, values in (("architecture", [record.architecture]),
                          ("architecture", list((record.extra or {}).get("architectures") or [])),
                          ("tag", list(record.tags))):
        for value in values:
            if isinstance(value, str) and value:
                arch = normalize_architecture(value, evidence=f"{label} {value!r}")
                if arch:
                    return arch
    hint = _backend(record).architecture_hint(record) if _backend(record) is not None else None
    if hint is not None:
        arch = normalize_architecture(hint[0], evidence=hint[1])
        if arch:
            return arch
    slug = _clean(name.replace("/", "-"))
    if not slug:
        return None
    return Architecture(slug, slug.split("-", 1)[0], None, False, f"no known family: slug of the name {name!r}")


# -- comparison ------------------------------------------------------------------------------------

#: Commercial-use verdicts by license category (docs/licenses.md). Informational, not legal advice.
COMMERCIAL_USE = {
    "permissive": "allowed, with attribution",
    "copyleft": "allowed, with share-alike duties",
    "non-commercial": "not allowed (or no fine-tuned derivatives)",
    "restricted": "allowed under use-based restrictions: read the terms",
    "unknown": "ask the authors",
}


@dataclass(frozen=True)
class Row:
    """One fact across the compared models."""

    field: str                       # key, e.g. "parameters"
    label: str                       # display label, e.g. "Parameters"
    values: tuple[Any, ...]          # machine values (JSON-ready), None = unknown
    display: tuple[str, ...]         # human values
    sources: tuple[str, ...]         # where each value came from (or why it is missing)
    differs: bool                    # two known values disagree
    unknown: bool                    # at least one value is unknown

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "label": self.label, "differs": self.differs, "unknown": self.unknown,
                "values": list(self.values), "display": list(self.display), "sources": list(self.sources)}


@dataclass(frozen=True)
class Comparison:
    """Models side by side: ``rows`` of facts, one value per model in ``records`` order."""

    records: tuple[ModelRecord, ...]
    rows: tuple[Row, ...]
    origins: tuple[str, ...] = ()    # per model: where its record's facts came from

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.records)

    @property
    def differing(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.differs)

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.field == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.ids), "origins": list(self.origins),
                "differing": [r.field for r in self.differing], "rows": [r.to_dict() for r in self.rows]}

    def csv_rows(self) -> list[list[Any]]:
        """Header + one line per row: field, label, differs, each model's value, each model's source."""
        header = ["field", "label", "differs", *self.ids, *(f"{i} source" for i in self.ids)]
        out: list[list[Any]] = [header]
        for r in self.rows:
            values = ["" if v is None else v for v in r.values]
            out.append([r.field, r.label, "yes" if r.differs else "", *values, *r.sources])
        return out


def _backend(record: ModelRecord):  # noqa: ANN202 - a Backend, or None for a platform ptmhub has none for
    from .hubs.base import BACKENDS, backend_for

    return backend_for(record.platform) if record.platform in BACKENDS else None


def _origin(record: ModelRecord) -> str:
    """Where a record's facts (other than parameters and license, which carry their own) came from."""
    extra = record.extra or {}
    if isinstance(extra.get("facts_from"), str):
        return extra["facts_from"]
    if isinstance(extra.get("source"), str):
        return extra["source"]
    backend = _backend(record)
    said = backend.describe_origin(record) if backend is not None else None
    if said:
        return said
    if record.resolved_at:
        return f"{platforms.title(record.platform)} (resolved {record.resolved_at:%Y-%m-%d})"
    return "registry record (no source recorded)"


def _missing(record: ModelRecord, field_name: str, fallback: str = "unknown: not in the record") -> str:
    if platforms.publishes(record.platform, field_name) is False:
        return f"not published by {platforms.title(record.platform)}"
    return fallback


#: Facts a user may take for the hub's word: when the hub does not publish them, say ptmhub derived them.
_DERIVED_NOTE = frozenset({"task", "fine_tunable", "size_bytes", "downloads", "likes"})


def _known_source(record: ModelRecord, field_name: str, origin: str) -> str:
    """The source of a known value: a value the platform does not publish was derived by ptmhub."""
    if field_name in _DERIVED_NOTE and platforms.publishes(record.platform, field_name) is False:
        what = field_name.replace("_", "-")
        return f"derived by ptmhub from {origin} ({platforms.title(record.platform)} publishes no {what})"
    return origin


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _params(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    if r.parameters is None:
        return None, "-", "unknown: " + (r.parameters_note or _missing(r, "parameters"))
    source = r.parameters_source or "unknown source"
    if r.parameters_note:
        source += f": {r.parameters_note}"
    return r.parameters, f"{human_count(r.parameters)} ({r.parameters:,})", source


def _license(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    if not r.license:
        return None, "-", _missing(r, "license", "no license recorded")
    shown = r.license if not r.license_raw or r.license_raw.lower() == r.license else f"{r.license} ({r.license_raw})"
    return r.license, shown, r.license_source or origin


def _commercial(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    cat = licenses.category(r.license)
    text = f"{cat}: {COMMERCIAL_USE[cat]}"
    if r.license and (r.license_source or "").lower().startswith("code:"):
        text += " (code license; weights may differ)"
    if not r.license:  # no license is no verdict: it never counts as a difference
        return None, text, "no license recorded"
    return cat, text, f"docs/licenses.md category of {r.license}"


def _arch(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    a = architecture_of(r)
    if a is None:
        return None, "-", "no name to read"
    shown = a.key + (f" ({a.variant})" if a.variant else "")
    return a.key, shown, a.evidence


def _size(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    if r.size_bytes is None:
        return None, "-", _missing(r, "size_bytes")
    return r.size_bytes, f"{human_bytes(r.size_bytes)} ({r.size_bytes:,} bytes)", origin


def _disk(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    if r.cache_size_bytes is None:
        return None, "-", "not cached" if not r.cached else "cached, size not measured"
    return (r.cache_size_bytes, f"{human_bytes(r.cache_size_bytes)} ({r.cache_size_bytes:,} bytes)",
            f"local cache scan of {r.cache_path}" if r.cache_path else "local cache scan")


def _popularity(name: str) -> Callable[[ModelRecord, str], tuple[Any, str, str]]:
    def get(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
        value = getattr(r, name)
        if value is None:
            return None, "-", _missing(r, name)
        window = platforms.downloads_window(r.platform) if name == "downloads" else None
        suffix = f", {window}" if window else ""
        return value, _count(value), _known_source(r, name, origin) + suffix
    return get


def _version(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    if r.version:
        source = "the handle's version"  # a version is part of the ID on the hubs that have them
        return r.version, f"version {r.version}", source
    if r.revision:
        if re.fullmatch(r"[0-9a-f]{40}", r.revision):
            return r.revision, f"commit {r.revision[:12]}", origin
        return r.revision, f"ref {r.revision}", origin
    return None, "-", _missing(r, "revision")


def _cached(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    return bool(r.cached), "yes" if r.cached else "no", (f"native cache: {r.cache_path}" if r.cached and r.cache_path
                                                           else "registry cache state")


def _plain(name: str, fmt: Callable[[Any], str] = lambda v: str(v)) -> Callable[[ModelRecord, str], tuple[Any, str, str]]:
    def get(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
        value = getattr(r, name)
        if value is None:
            return None, "-", _missing(r, name)
        return value, fmt(value), _known_source(r, name, origin)
    return get


def _platform(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
    return r.platform, platforms.title(r.platform), "the model ID"


#: (field, label, getter(record, origin) -> (value, display, source)), in display order.
ROWS: tuple[tuple[str, str, Callable[[ModelRecord, str], tuple[Any, str, str]]], ...] = (
    ("platform", "Platform", _platform),
    ("library", "Library", _plain("library")),
    ("task", "Task", _plain("task")),
    ("architecture", "Architecture (normalized)", _arch),
    ("parameters", "Parameters", _params),
    ("license", "License", _license),
    ("commercial_use", "Commercial use", _commercial),
    ("framework", "Framework", _plain("framework")),
    ("format", "Format", _plain("format")),
    ("fine_tunable", "Fine-tunable", _plain("fine_tunable", _yes_no)),
    ("gflops", "Compute (GFLOPs)", _plain("gflops", lambda v: f"{v:g} GFLOPs")),
    ("size_bytes", "Download size", _size),
    ("cache_size_bytes", "Size on disk", _disk),
    ("downloads", "Downloads", _popularity("downloads")),
    ("likes", "Likes", _popularity("likes")),
    ("version", "Version / revision", _version),
    ("cached", "Cached", _cached),
)


def _evaluation_rows(records: Sequence[ModelRecord], *, limit: int = 12) -> list[tuple[str, str, Callable]]:
    """One row per published figure (dataset, metric) of the compared models: the ones most of
    them publish first (those compare), at most ``limit``."""
    counts: dict[tuple[str, str], int] = {}
    for r in records:
        for key in dict.fromkeys((e.dataset, e.metric) for e in r.evaluations):
            counts[key] = counts.get(key, 0) + 1
    chosen = sorted(counts, key=lambda k: (-counts[k], k[1] != "accuracy", k))[:limit]

    def getter(dataset: str, metric: str) -> Callable[[ModelRecord, str], tuple[Any, str, str]]:
        def get(r: ModelRecord, origin: str) -> tuple[Any, str, str]:
            found = r.evaluation(dataset, metric)
            if found is None:
                return None, "-", _missing(r, "evaluations", "not published for this model")
            source = found.source or origin
            if found.split:
                source += f", split {found.split}"
            return found.value, f"{found.value:g}", source
        return get

    return [(f"eval:{d}:{m}", f"{m} on {d}", getter(d, m)) for d, m in chosen]


def compare_records(records: Sequence[ModelRecord]) -> Comparison:
    """Build the comparison of records already in hand (no registry access)."""
    if not records:
        raise UsageError("nothing to compare", hint="give one or more model IDs")
    seen: dict[str, ModelRecord] = {}
    for r in records:
        seen.setdefault(r.id, r)
    recs = tuple(seen.values())
    origins = tuple(_origin(r) for r in recs)
    rows = []
    for name, label, getter in (*ROWS, *_evaluation_rows(recs)):
        cells = [getter(r, o) for r, o in zip(recs, origins)]
        values = tuple(c[0] for c in cells)
        known = {repr(v) for v in values if v is not None}
        rows.append(Row(name, label, values, tuple(c[1] for c in cells), tuple(c[2] for c in cells),
                        differs=len(known) > 1, unknown=any(v is None for v in values)))
    return Comparison(recs, tuple(rows), origins)


def compare(model_ids: Sequence[str], *, store: Store,
            offline: bool | None = None) -> Comparison:
    """Compare models side by side, from the registry (asking a hub on a miss when online).

    Args:
        model_ids: IDs in any accepted form; duplicates (and aliases of one model) count once.
        store: the registry (:func:`ptmhub.api.compare` opens it from a URL, path or the settings).
        offline: never ask a hub; a model missing from the registry is then an error (default:
            the settings' offline mode).

    Raises:
        UsageError: no IDs.
        InvalidIdError: an ID cannot be parsed.
        NotInRegistryError: offline and a model is not in the registry.
    """
    from . import models
    from .ids import parse

    if not model_ids:
        raise UsageError("nothing to compare", hint="give one or more model IDs")
    ids = [parse(m) for m in model_ids]  # every ID checked before any lookup
    off = settings.get().offline if offline is None else offline
    return compare_records([models.show(m, store=store, offline=off) for m in ids])


# -- cross-hub equivalents ---------------------------------------------------------------------------


def relative_difference(a: int | None, b: int | None) -> float | None:
    """|a - b| / max(a, b), or None when either count is unknown."""
    if a is None or b is None:
        return None
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


@dataclass(frozen=True)
class Match:
    record: ModelRecord
    architecture: Architecture
    difference: float | None        # relative parameter difference with the target, None if unknown
    reason: str = ""                # for rejected candidates: why

    @property
    def source(self) -> tuple[str, str]:
        """(platform, library): torchvision and timm are different sources of the same hub."""
        return self.record.platform, self.record.library or self.record.framework or "-"

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        out = {"id": r.id, "platform": r.platform, "library": r.library, "task": r.task,
               "parameters": r.parameters, "parameters_difference": self.difference,
               "architecture": self.architecture.to_dict(), "license": r.license,
               "downloads": r.downloads}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class SameAs:
    """The equivalents of ``target``: ``matches`` best first, and the comparison of the best per source."""

    target: ModelRecord
    architecture: Architecture
    matches: tuple[Match, ...]
    rejected: tuple[Match, ...]
    comparison: Comparison
    tolerance: float
    scanned: int = 0                # candidates looked at
    more: int = 0                   # matches beyond ``limit``
    reference_parameters: int | None = None  # the count candidates were held against
    reference_source: str | None = None      # the target's, or the median of the matches'

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.id, "architecture": self.architecture.to_dict(), "tolerance": self.tolerance,
                "reference_parameters": self.reference_parameters, "reference_source": self.reference_source,
                "scanned": self.scanned, "matches": [m.to_dict() for m in self.matches],
                "more": self.more, "rejected": [m.to_dict() for m in self.rejected],
                "comparison": self.comparison.to_dict()}


#: Platforms with at most this many records are scanned whole; larger ones through full-text search.
SCAN_ALL_BELOW = 20_000
SEARCH_LIMIT = 5_000


def _candidates(st: Store, arch: Architecture) -> tuple[list[ModelRecord], int]:
    from .ids import PLATFORMS
    from .registry.store import SearchQuery

    out: list[ModelRecord] = []
    for platform in PLATFORMS:
        n = st.count(SearchQuery(platform=platform))
        if n == 0:
            continue
        if n <= SCAN_ALL_BELOW:
            out.extend(st.iter_all(platform=platform))
        else:
            word = re.sub(r"[^0-9a-z]+", " ", arch.family).split()
            if word:
                out.extend(st.search(SearchQuery(q=word[0], platform=platform, sort="downloads",
                                                 limit=SEARCH_LIMIT)))
    return out, len(out)


_EVIDENCE_RANK = (("name", 0), ("timm model name", 0), ("architecture", 1), ("tag", 1), ("the pytorch/hub", 2))


#: Tasks one network serves by swapping its head: a classifier and its feature vector, an encoder
#: pre-trained with masked-LM and the same encoder fine-tuned for classification or QA.
_TASK_GROUPS = (
    frozenset({"image-classification", "image-feature-extraction", "feature-extraction"}),  # timm: feature-extraction
    frozenset({"fill-mask", "feature-extraction", "text-classification", "token-classification",
               "question-answering", "sentence-similarity", "zero-shot-classification", "text-embedding"}),
)


def _same_network_tasks(a: str | None, b: str | None) -> bool:
    """Whether two tasks can be the same network (unknown tasks never rule a candidate out)."""
    if a is None or b is None or a == b:
        return True
    return any(a in group and b in group for group in _TASK_GROUPS)


def _evidence_rank(arch: Architecture) -> int:
    if not arch.known:
        return 3
    for prefix, rank in _EVIDENCE_RANK:
        if arch.evidence.startswith(prefix):
            return rank
    return 2


def same_as(model_id: str, *, store: Store, offline: bool | None = None,
            tolerance: float = 0.1, limit: int = 20) -> SameAs:
    """Find the same architecture as ``model_id`` on the other hubs, and compare the best of each.

    A candidate matches when its normalized architecture key equals the target's and its
    parameter count, when known, differs by at most ``tolerance`` (relative) from the target's
    count — or, when the target's is unknown, from the median count of the candidates. Matches are
    ordered by the strength of the evidence, then same variant, same task, closeness of the
    parameter count, downloads. The comparison holds the target and the best match of every
    other (platform, library) source.

    Raises:
        UsageError: a tolerance outside [0, 1), or no architecture can be read from the target.
        NotInRegistryError: offline and the target is not in the registry.
    """
    from . import models
    from .ids import parse

    if not 0 <= tolerance < 1:
        raise UsageError(f"tolerance {tolerance} is outside [0, 1)", hint="e.g. 0.1 for 10%")
    st = store
    target = models.show(parse(model_id), store=st, offline=settings.get().offline if offline is None else offline)
    arch = architecture_of(target)
    if arch is None:
        raise UsageError(f"cannot tell the architecture of {target.id}", hint="compare it by ID instead")
    candidates, scanned = _candidates(st, arch)
    same_key: list[tuple[ModelRecord, Architecture]] = []
    rejected: list[Match] = []
    for rec in candidates:
        if rec.id == target.id:
            continue
        a = architecture_of(rec)
        if a is None or a.key != arch.key:
            continue
        # the same network name also marks models built on it as a backbone (MoveNet's
        # network-architecture is mobilenet-v2, PoseNet's handle has a resnet50 segment): with
        # both tasks known, another kind of task is another model
        if not _same_network_tasks(target.task, rec.task):
            rejected.append(Match(rec, a, None, f"{rec.task} model built on {a.key} ({a.evidence}); "
                                                f"the target is {target.task}"))
            continue
        same_key.append((rec, a))
    # the count to compare with: the target's, else the median of the candidates' known counts
    # (so a mislabelled "resnet-50" stands out even when the target's count is unknown)
    reference, reference_source = target.parameters, "the target's count"
    if reference is None:
        known = sorted(r.parameters for r, _ in same_key if r.parameters is not None)
        if known:
            reference = known[len(known) // 2]
            reference_source = f"the median of {len(known)} matching models' counts"
    matches: list[Match] = []
    for rec, a in same_key:
        diff = relative_difference(reference, rec.parameters)
        if diff is not None and diff > tolerance:
            rejected.append(Match(rec, a, diff, f"parameters differ by {diff:.1%} (> {tolerance:.0%}) from "
                                                f"{reference_source}: {human_count(rec.parameters)} vs "
                                                f"{human_count(reference)}"))
            continue
        matches.append(Match(rec, a, diff))

    def rank(m: Match) -> tuple[Any, ...]:
        return (_evidence_rank(m.architecture), m.architecture.variant != arch.variant,
                m.record.task != target.task if target.task else False,
                m.difference if m.difference is not None else 0.5,
                -(m.record.downloads or 0), m.record.id)

    matches.sort(key=rank)
    # interleave the sources (best of each first) so a long list of one source's tags (timm has
    # 19 ResNet-50s) does not push the other hubs past ``limit``
    by_source: dict[tuple[str, str], list[Match]] = {}
    for m in matches:
        by_source.setdefault(m.source, []).append(m)
    own = (target.platform, target.library or target.framework or "-")
    best = {src: ms[0] for src, ms in by_source.items() if src != own}
    queues = sorted(by_source.values(), key=lambda ms: (ms[0].source == own, rank(ms[0])))
    matches = [q[i] for i in range(max((len(q) for q in queues), default=0)) for q in queues if i < len(q)]
    comparison = compare_records([target, *(m.record for m in best.values())])
    more = max(0, len(matches) - limit)
    return SameAs(target, arch, tuple(matches[:limit]), tuple(rejected), comparison, tolerance, scanned, more,
                  reference, reference_source if reference is not None else None)


def iter_architectures(records: Iterable[ModelRecord]) -> dict[str, list[str]]:
    """Architecture key -> model IDs, for the records given (diagnostics and tests)."""
    out: dict[str, list[str]] = {}
    for r in records:
        a = architecture_of(r)
        if a is not None:
            out.setdefault(a.key, []).append(r.id)
    return out
