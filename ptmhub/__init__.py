"""ptmhub: one registry over Hugging Face, TF Hub / Kaggle Models and PyTorch Hub.

The public API is imported lazily so that ``import ptmhub`` (and ``ptmhub --help``) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "resolve", "show", "search", "compare", "sync", "pull", "load", "load_for_finetune", "add",
    "ModelRecord", "ModelId", "parse_id", "PtmhubError", "open_store", "__version__",
]

_LAZY = {
    "resolve": "ptmhub.api",
    "show": "ptmhub.api",
    "search": "ptmhub.api",
    "compare": "ptmhub.api",
    "sync": "ptmhub.api",
    "pull": "ptmhub.api",
    "load": "ptmhub.api",
    "load_for_finetune": "ptmhub.api",
    "add": "ptmhub.api",
    "open_store": "ptmhub.registry",
    "ModelRecord": "ptmhub.records",
    "ModelId": "ptmhub.ids",
    "PtmhubError": "ptmhub.errors",
}

if TYPE_CHECKING:
    from .api import add, compare, load, load_for_finetune, pull, resolve, search, show, sync
    from .errors import PtmhubError
    from .ids import ModelId
    from .records import ModelRecord
    from .registry import open_store


def parse_id(raw: str) -> Any:
    from .ids import parse

    return parse(raw)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ptmhub' has no attribute {name!r}")
