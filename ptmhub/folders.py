"""What library a model folder belongs to: the one answer every part of ptmhub uses (``ptmhub
add``, loading ``local:`` and ``hf:`` snapshots, fine-tuning a folder, ``cache scan``).

Read from the folder's own files only, no framework imported:

==========================  ==================================================================
library                     the files that say so
==========================  ==================================================================
``sentence-transformers``   ``modules.json`` or ``sentence_bert_config.json``
``tensorflow``              ``saved_model.pb`` / ``saved_model.pbtxt`` (a SavedModel)
``diffusers``               ``model_index.json``
``transformers``            ``config.json`` with a ``model_type``
``timm``                    ``config.json`` with an ``architecture`` and ``pretrained_cfg`` or
                            ``num_classes`` (what ``timm``'s ``save_for_hf`` writes)
``torchvision`` / ``torch`` ``ptmhub_torch.json`` (a state dict saved by ``FinetuneBundle.save``;
                            ``torchvision`` when it names the torchvision builder)
==========================  ==================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FolderModel", "detect", "read_manifest", "LOADABLE", "EXPECTED", "TORCH_MANIFEST"]

#: Libraries :func:`ptmhub.loaders.load_folder` can load a folder of.
LOADABLE = ("sentence-transformers", "transformers", "timm", "tensorflow", "torchvision")
#: What a loadable folder holds, for error hints.
EXPECTED = ("expected a transformers or timm folder (config.json), a sentence-transformers folder (modules.json), "
            "a TensorFlow SavedModel (saved_model.pb) or a torchvision model saved by ptmhub (ptmhub_torch.json)")
#: How a PyTorch module saved by ``FinetuneBundle.save`` is rebuilt (torchvision builder, weights).
TORCH_MANIFEST = "ptmhub_torch.json"
_MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FolderModel:
    """A folder's library (None: none ptmhub knows) and its parsed ``config.json`` ({} if none)."""

    library: str | None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def loadable(self) -> bool:
        return self.library in LOADABLE

    @property
    def custom_code(self) -> bool:
        """The config asks for the repository's own Python code (``auto_map``)."""
        return bool(self.config.get("auto_map"))


def read_config(folder: Path, name: str = "config.json") -> dict[str, Any]:
    """``config.json`` (or ``name``) as a dict; {} when absent, too large, not JSON or not an object."""
    path = folder / name
    try:
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            return {}
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def read_manifest(folder: Path) -> dict[str, Any]:
    """:data:`TORCH_MANIFEST` as a dict ({} when absent or unreadable)."""
    return read_config(folder, TORCH_MANIFEST)


def _torch_library(folder: Path) -> str:
    manifest = read_manifest(folder)
    builder = manifest.get("builder")
    return "torchvision" if manifest.get("library") == "torchvision" and isinstance(builder, str) and builder else "torch"


def detect(folder: str | Path, names: Iterable[str] | None = None, *, prefer: str | None = None) -> FolderModel:
    """The library of the model in ``folder`` (see the module docstring for the rules).

    ``names``: the folder's file names relative to it, when the caller has listed them already
    (only top-level names matter here). ``prefer``: the library the hub names for the model
    (a sentence-transformers repo is also a transformers one); taken when the files support it.
    """
    folder = Path(folder)
    if names is None:
        try:
            present = {p.name for p in folder.iterdir()}
        except OSError:
            return FolderModel(None)
    else:
        present = set(names)
    config = read_config(folder) if "config.json" in present else {}
    if prefer is not None and prefer in _supported(present, config):
        return FolderModel(prefer, config)
    if "modules.json" in present or "sentence_bert_config.json" in present:
        return FolderModel("sentence-transformers", config)
    if "saved_model.pb" in present or "saved_model.pbtxt" in present:
        return FolderModel("tensorflow", config)
    if "model_index.json" in present:
        return FolderModel("diffusers", config)
    if isinstance(config.get("model_type"), str) and config["model_type"]:
        return FolderModel("transformers", config)
    if isinstance(config.get("architecture"), str) and ("pretrained_cfg" in config or "num_classes" in config):
        return FolderModel("timm", config)
    if TORCH_MANIFEST in present:
        return FolderModel(_torch_library(folder), config)
    return FolderModel(None, config)


def _supported(present: set[str], config: dict[str, Any]) -> set[str]:
    """Every library whose files the folder holds."""
    out = set()
    if "modules.json" in present or "sentence_bert_config.json" in present:
        out.add("sentence-transformers")
    if "saved_model.pb" in present or "saved_model.pbtxt" in present:
        out.add("tensorflow")
    if "model_index.json" in present:
        out.add("diffusers")
    if isinstance(config.get("model_type"), str) and config["model_type"]:
        out.add("transformers")
    if isinstance(config.get("architecture"), str) and ("pretrained_cfg" in config or "num_classes" in config):
        out.add("timm")
    return out
