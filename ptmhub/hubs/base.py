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

__all__ = ["Backend", "BackendContext", "SyncReport", "PullResult", "Loaded", "backend_for", "load_target", "BACKENDS"]


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
