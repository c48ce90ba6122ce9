"""Whole catalogs read into the registry: ``ptmhub sync SOURCE``.

Each source is a ``"module:function"`` registration line, imported on first use; the function
takes ``(store, **options)`` and returns a :class:`~ptmhub.hubs.base.SyncReport`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnknownPlatformError
from ..hubs.base import SyncReport, load_target

__all__ = ["SYNC_SOURCES", "sync_source"]

#: ``ptmhub sync SOURCE`` -> "module:function(store, **options) -> SyncReport".
SYNC_SOURCES: dict[str, str] = {
    "hf": "ptmhub.hubs.huggingface:sync",
    "tfhub": "ptmhub.catalogs.tfhub:sync",
    "torchhub": "ptmhub.catalogs.pytorch_hub:sync",
    "torchvision": "ptmhub.hubs.torchhub.torchvision:sync",
    "timm": "ptmhub.catalogs.timm:sync",
}


def sync_source(name: str) -> Callable[..., SyncReport]:
    """The sync function of a source, or UnknownPlatformError naming the sources."""
    if name not in SYNC_SOURCES:
        raise UnknownPlatformError(f"unknown sync source {name!r}", hint="one of " + ", ".join(SYNC_SOURCES))
    return load_target(SYNC_SOURCES[name])
