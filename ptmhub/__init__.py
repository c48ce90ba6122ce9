"""ptmhub: one registry over Hugging Face, TF Hub / Kaggle Models, PyTorch Hub and ModelScope.

Public API (imported lazily, so ``import ptmhub`` and ``ptmhub --help`` stay cheap):

    resolve(model_id)        ask the model's hub about it and store the answer (a ModelRecord)
    show(model_id)           the registry's record; asks the hub on a miss when online
    search(q, **filters)     full-text words plus task/license/platform/framework/size filters
    compare(model_ids)       several models side by side, each value with its source
    same_as(model_id)        the same architecture on the other hubs, compared
    lineage(model_id)        what a model derives from and what derives from it, license conflicts
    recommend(task, ...)     ranked cross-hub picks for a task and budget, with evidence and a fine-tune plan
    platform_matrix()        what each hub offers (ptmhub platforms), with the registry's figures
    sync(source)             import a whole catalog: "hf", "tfhub", "torchhub", "torchvision", "timm"
    pull(model_id)           download into the hub's own cache and record it
    load(model_id)           load from the native cache (works offline) -> Loaded(model, preprocess)
    load_for_finetune(...)   a pretrained model with a new head, frozen by a strategy
    export_onnx(source)      a torch / transformers model (ID or folder) to ONNX, checked in onnxruntime
    add(path)                register a local model folder as local:NAME (or copy it into the HF cache)
    parse_id(raw)            parse any ID or URL form into a ModelId (the only parser)
    open_store(url)          a registry (SQLite path/URL or PostgreSQL URL) to pass as store=
    ModelRecord              the one record type (frozen dataclass; --json prints its fields)
    ModelId                  a parsed model ID (platform, owner, name, revision, ...)
    PtmhubError              base of every error ptmhub raises (ptmhub.errors holds the family)

Every function takes the model ID first and keyword-only options after; ``store=`` selects a
registry other than the default (``PTMHUB_DATABASE_URL`` / ``--db``). See docs/cli.md for the
``ptmhub`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "resolve", "show", "search", "compare", "same_as", "lineage", "platform_matrix", "sync", "pull", "load",
    "load_for_finetune", "export_onnx", "add", "recommend",
    "ModelRecord", "ModelId", "parse_id", "PtmhubError", "open_store", "__version__",
]

_LAZY = {
    "resolve": "ptmhub.api",
    "show": "ptmhub.api",
    "search": "ptmhub.api",
    "compare": "ptmhub.api",
    "same_as": "ptmhub.api",
    "lineage": "ptmhub.api",
    "platform_matrix": "ptmhub.api",
    "sync": "ptmhub.api",
    "pull": "ptmhub.api",
    "load": "ptmhub.api",
    "load_for_finetune": "ptmhub.api",
    "export_onnx": "ptmhub.api",
    "add": "ptmhub.api",
    "recommend": "ptmhub.api",
    "open_store": "ptmhub.registry",
    "ModelRecord": "ptmhub.records",
    "ModelId": "ptmhub.ids",
    "PtmhubError": "ptmhub.errors",
}

if TYPE_CHECKING:
    from .api import (add, compare, export_onnx, lineage, load, load_for_finetune, platform_matrix, pull, recommend,
                      resolve, same_as, search, show, sync)
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
