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
    from ..ids import ModelId
    from ..records import ModelRecord
    from ..registry.store import Store

__all__ = ["Backend", "SyncReport", "PullResult", "Loaded", "backend_for", "BACKENDS", "SYNC_SOURCES", "sync_source"]


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


class Backend(ABC):
    """One hub. Methods take a parsed :class:`ModelId` and never touch the database directly:
    they return records, and the API layer stores them."""

    platform: str = ""

    @abstractmethod
    def resolve(self, model_id: ModelId) -> ModelRecord:
        """Ask the hub (or its catalog) about one model. Raises typed PtmhubErrors."""

    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None) -> PullResult:
        raise NotImplementedError(f"pull is not implemented for {self.platform} yet")

    def load(self, model_id: ModelId, record: ModelRecord | None = None, **kwargs: Any) -> Loaded:
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
}

#: ``ptmhub sync SOURCE`` -> "module:function(store, **options) -> SyncReport".
SYNC_SOURCES: dict[str, str] = {
    "hf": "ptmhub.hubs.huggingface:sync",
    "tfhub": "ptmhub.catalogs.tfhub:sync",
    "torchhub": "ptmhub.catalogs.pytorch_hub:sync",
    "torchvision": "ptmhub.catalogs.torchvision:sync",
    "timm": "ptmhub.catalogs.timm:sync",
}

_instances: dict[str, Backend] = {}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_for(platform: str) -> Backend:
    if platform not in BACKENDS:
        raise UnknownPlatformError(f"unknown platform {platform!r}", hint="one of " + ", ".join(BACKENDS))
    if platform not in _instances:
        _instances[platform] = _load(BACKENDS[platform])()
    return _instances[platform]


def sync_source(name: str) -> Callable[..., SyncReport]:
    if name not in SYNC_SOURCES:
        raise UnknownPlatformError(f"unknown sync source {name!r}", hint="one of " + ", ".join(SYNC_SOURCES))
    return _load(SYNC_SOURCES[name])
