"""The interface every hub backend implements, and the registry of backends.

A new hub is one module defining a :class:`Backend` subclass plus one line in ``BACKENDS``.
Backends are imported lazily: ``ptmhub --help`` imports none of them.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UnknownPlatformError

if TYPE_CHECKING:
    from pathlib import Path

    from ..ids import ModelId
    from ..records import ModelRecord

__all__ = ["Backend", "BackendContext", "SyncReport", "PullResult", "Loaded", "PlatformFacts", "FACETS", "backend_for",
           "load_target", "BACKENDS", "NATIVE_CACHES", "MATRIX_ROWS"]


@dataclass
class SyncReport:
    """What a catalog sync did. ``problems`` holds (path-or-id, reason) for what was skipped."""

    source: str
    records: int = 0
    skipped: int = 0
    seconds: float = 0.0
    problems: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)   # e.g. records per doc type
    unknown_values: dict[str, list[str]] = field(default_factory=dict)  # vocabulary misses

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "records": self.records, "skipped": self.skipped,
                "seconds": round(self.seconds, 3), "problems": [list(p) for p in self.problems],
                "counts": self.counts, "unknown_values": self.unknown_values}


@dataclass
class PullResult:
    record: ModelRecord
    path: str              # where the hub's own library keeps the files
    bytes_downloaded: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    model: Any
    preprocess: Any = None
    framework: str | None = None
    record: ModelRecord | None = None


# -- the platform matrix: a hub's documented capabilities ----------------------------------------
@dataclass(frozen=True)
class PlatformFacts:
    """Documented capabilities of one platform. Every field is a short sentence."""

    name: str               # registry platform (huggingface, tfhub, ...) or an informational key
    title: str              # display name
    supported: bool         # True: a ptmhub backend exists; False: informational row only
    id_scheme: str          # how a model is named (ptmhub's form first)
    versioning: str         # how versions are pinned
    frameworks: str         # what the models are for
    metadata: str           # what the platform publishes about a model
    license_info: str       # where a model's license is stated
    parameter_counts: str   # whether parameter counts are published
    offline_cache: str      # the native cache and its layout
    cache_env: str          # the environment variable that moves the cache, and its default
    auth: str               # credentials
    remote_code: str        # whose code runs when a model loads, and who decides
    fine_tuning: str        # how a model is fine-tuned
    status: str = "active"  # active, or what happened to it
    color: str = ""         # how charts mark the platform (CSS colour); "" for informational rows
    downloads_window: str = ""  # the period its download counts cover ("last 30 days"), if it says
    #: the ``extra`` keys its records may carry beyond :data:`ptmhub.records.COMMON_EXTRA_KEYS`, and
    #: what each holds (declared here so that every key is documented; the test suite checks it)
    extra_keys: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: ModelRecord fields the platform itself publishes (a missing value elsewhere is "not published")
    publishes: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "title": self.title, "supported": self.supported}
        out.update({key: getattr(self, key) for key, _ in FACETS})
        out["publishes"] = sorted(self.publishes)
        return out


#: (attribute, label) of every static fact, in display order.
FACETS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("id_scheme", "ID scheme"),
    ("versioning", "Versioning"),
    ("frameworks", "Frameworks"),
    ("metadata", "Metadata published"),
    ("license_info", "License info"),
    ("parameter_counts", "Parameter counts"),
    ("offline_cache", "Offline cache"),
    ("cache_env", "Cache location"),
    ("auth", "Auth"),
    ("remote_code", "Remote code trust"),
    ("fine_tuning", "Fine-tuning"),
)


@dataclass(frozen=True)
class BackendContext:
    """What a backend may know of the registry for one call. Backends never get the store: the
    services layer (:mod:`ptmhub.models`) reads what a call needs and passes it in here.

    Attributes:
        known: the registry's record of the model, if it has one.
        trusted: the registry's trust entries (``owner/repo``, ``owner/*``, lowercase).
        trust: trust granted for this call only (``--trust``).
    """

    known: ModelRecord | None = None
    trusted: frozenset[str] = frozenset()
    trust: bool = False


#: The context of a call that knows nothing of any registry.
NO_CONTEXT = BackendContext()


class Backend(ABC):
    """One hub. Methods take a parsed :class:`ModelId` (and a :class:`BackendContext`) and never
    touch the database: they return records, and the services layer stores them."""

    platform: str = ""
    #: fields a plain resolve answers for in full (``Store.upsert(authoritative=)``): what the hub
    #: no longer publishes is cleared instead of kept. Catalog syncs are never authoritative.
    authoritative_fields: tuple[str, ...] = ()
    #: a resolve of a pinned revision (``ID@REV``) goes to the revision history, never over the
    #: model's current record; every resolve of the current one is kept there too
    keeps_revisions: bool = False
    #: the backend runs a repository's code only when it is trusted: the context carries the
    #: registry's trust list
    uses_trust: bool = False
    #: a record adds to the stored one's ``extra`` and ``tags`` (``Store.upsert(combine=)``), for
    #: sources describing one model from different sides
    combines: bool = False

    def pinned(self, model_id: ModelId) -> bool:
        """Whether ``model_id`` names an old revision to keep apart from the current record."""
        return self.keeps_revisions and model_id.revision not in (None, "main")

    def describe_origin(self, record: ModelRecord) -> str | None:
        """Where ``record``'s facts came from, in a few words (``compare`` shows it), or None."""
        return None

    def parents(self, record: ModelRecord) -> list[tuple[str, str, str]]:
        """The models ``record`` derives from, as the hub's own facts say:
        ``(model ID, relation, evidence)`` (relation: finetune, adapter, quantized, merge,
        converted ...). Only facts already in the record: nothing is asked of the hub."""
        return []

    def architecture_hint(self, record: ModelRecord) -> tuple[str, str] | None:
        """A model name that tells the architecture when the record's own name does not, and the
        evidence for it (``compare --same-as``), or None."""
        return None

    def local_folder(self, model_id: ModelId, record: ModelRecord | None) -> Path | None:
        """A folder on disk holding the model in a framework's own format (a cached snapshot),
        which fine-tuning reads directly; None when the model is only loadable through
        :meth:`load`.

        Raises:
            NotCachedError: the model should be in a folder but is not cached.
        """
        return None

    def finetune_load_kwargs(self, model_id: ModelId, kwargs: dict[str, Any]) -> dict[str, Any]:
        """What :meth:`load` is given to build a model to fine-tune: options taken out of the
        user's ``kwargs`` (which keep the rest for the framework) plus the backend's own."""
        out = dict(kwargs)
        kwargs.clear()
        return out

    @abstractmethod
    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """Ask the hub (or its catalog) about one model. Raises typed PtmhubErrors."""

    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        raise NotImplementedError(f"pull is not implemented for {self.platform} yet")

    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             **kwargs: Any) -> Loaded:
        raise NotImplementedError(f"load is not implemented for {self.platform} yet")

    def aliases_for(self, model_id: ModelId, record: ModelRecord) -> Iterable[str]:
        """Other keys that should find ``record`` (e.g. a legacy HF id)."""
        if model_id.key != record.id:
            yield model_id.key


#: platform -> "module:Class". One line per hub.
BACKENDS: dict[str, str] = {
    "huggingface": "ptmhub.hubs.huggingface:HuggingFaceBackend",
    "tfhub": "ptmhub.hubs.tfhub:TFHubBackend",
    "kaggle": "ptmhub.hubs.tfhub:KaggleBackend",
    "torchhub": "ptmhub.hubs.torchhub:TorchHubBackend",
    "local": "ptmhub.hubs.local:LocalBackend",
    "modelscope": "ptmhub.hubs.modelscope:ModelScopeBackend",
}


#: cache name -> "module:Class" of its :class:`~ptmhub.hubs.native.NativeCache`, in discovery order.
#: One line per cache; a hub's cache lives in its package (``ptmhub/hubs/<hub>/cache.py``).
NATIVE_CACHES: dict[str, str] = {
    "hf": "ptmhub.hubs.huggingface.cache:HFCache",
    "torchhub": "ptmhub.hubs.torchhub.cache:TorchHubCache",
    "tfhub": "ptmhub.hubs.tfhub.cache:TFHubCache",
    "kagglehub": "ptmhub.hubs.tfhub.cache:KaggleHubCache",
    "local": "ptmhub.hubs.local.cache:LocalCache",
    "modelscope": "ptmhub.hubs.modelscope.cache:ModelScopeCache",
}

#: platform -> "module:ROW" of its :class:`PlatformFacts` (its row of ``ptmhub platforms``), in
#: display order. One line per platform; the row lives in its hub's package (``facts.py``).
MATRIX_ROWS: dict[str, str] = {
    "huggingface": "ptmhub.hubs.huggingface.facts:HUGGINGFACE",
    "tfhub": "ptmhub.hubs.tfhub.facts:TFHUB",
    "kaggle": "ptmhub.hubs.tfhub.facts:KAGGLE",
    "torchhub": "ptmhub.hubs.torchhub.facts:TORCHHUB",
    "modelscope": "ptmhub.hubs.modelscope.facts:MODELSCOPE",
}

_instances: dict[str, Backend] = {}


def load_target(target: str) -> Any:
    """The object a ``"module:attr"`` registration line names (imported on first use)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_for(platform: str) -> Backend:
    if platform not in BACKENDS:
        raise UnknownPlatformError(f"unknown platform {platform!r}", hint="one of " + ", ".join(BACKENDS))
    if platform not in _instances:
        _instances[platform] = load_target(BACKENDS[platform])()
    return _instances[platform]
