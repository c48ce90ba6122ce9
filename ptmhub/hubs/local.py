"""``local:`` models: folders registered with ``ptmhub add PATH`` (a user's own fine-tuned model,
or one shipped inside a Python package). They are not on any hub: the registry's record holds the
folder (``cache_path``) and what was read from its files, and loading reads that folder with the
framework its files belong to (transformers, sentence-transformers, a TensorFlow SavedModel).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, NotCachedError, NotInRegistryError, UntrustedRepoError, UsageError
from ..ids import ModelId
from ..records import ModelRecord
from .base import Backend, Loaded

__all__ = ["LocalBackend", "folder_library"]


def folder_library(folder: Path) -> str | None:
    """``sentence-transformers``, ``transformers``, ``tensorflow`` (a SavedModel) or None."""
    if (folder / "modules.json").is_file() or (folder / "sentence_bert_config.json").is_file():
        return "sentence-transformers"
    if (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file():
        return "tensorflow"
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return "transformers" if isinstance(config, dict) and config.get("model_type") else None


class LocalBackend(Backend):
    """Models in local folders; nothing here touches the network."""

    platform = "local"

    @staticmethod
    def _check(model_id: ModelId) -> ModelId:
        if model_id.platform != "local":
            raise UsageError(f"{model_id} is not a local model", hint="local IDs look like local:NAME")
        return model_id

    def resolve(self, model_id: ModelId) -> ModelRecord:
        """A local model has no hub to ask.

        Raises:
            UsageError: always, saying how to refresh the record instead.
        """
        mid = self._check(model_id)
        raise UsageError(f"{mid} is a local folder, not a hub model: there is no hub to ask",
                         hint=f"'ptmhub show {mid}' reads the registry; 'ptmhub add PATH --id {mid}' re-reads the folder")

    def load(self, model_id: ModelId, record: ModelRecord | None = None, **kwargs: Any) -> Loaded:
        """Load the registered folder.

        sentence-transformers folders load as ``SentenceTransformer`` (preprocess: its tokenizer);
        transformers folders with the class their ``config.json`` names (``auto_class=`` overrides
        it; ``AutoModel`` otherwise) and their tokenizer or processor; SavedModels as a
        ``hub.KerasLayer`` (``trainable=``). Everything is read with ``local_files_only=True``.

        Raises:
            NotInRegistryError: the ID was never added.
            NotCachedError: the folder is gone.
            UsageError: no model ptmhub knows how to load in the folder.
        """
        mid = self._check(model_id)
        if record is None or not record.cache_path:
            raise NotInRegistryError(f"{mid} is not in the registry", hint=f"register its folder: 'ptmhub add PATH --id {mid}'",
                                     model_id=str(mid))
        folder = Path(record.cache_path)
        if not folder.is_dir():
            raise NotCachedError(f"{mid}: its folder {folder} is gone",
                                 hint=f"register it again from where it is now: 'ptmhub add PATH --id {mid}'",
                                 model_id=str(mid))
        library = folder_library(folder)
        if library == "sentence-transformers":
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise MissingDependencyError("sentence-transformers", "transformers",
                                             purpose="loading a sentence-transformers model") from None
            model = SentenceTransformer(str(folder), local_files_only=True, **kwargs)
            return Loaded(model=model, preprocess=getattr(model, "tokenizer", None), framework="pytorch", record=record)
        if library == "transformers":
            return self._transformers(mid, folder, record, kwargs)
        if library == "tensorflow":
            from ..savedmodel import import_tensorflow

            import_tensorflow()
            import tensorflow_hub as hub

            layer = hub.KerasLayer(str(folder), trainable=bool(kwargs.pop("trainable", False)), **kwargs)
            return Loaded(model=layer, framework="tensorflow", record=record)
        raise UsageError(f"{mid}: {folder} holds no model ptmhub can load",
                         hint="expected a transformers folder (config.json), a sentence-transformers folder "
                              "(modules.json) or a TensorFlow SavedModel (saved_model.pb)")

    @staticmethod
    def _transformers(mid: ModelId, folder: Path, record: ModelRecord, kwargs: dict[str, Any]) -> Loaded:
        try:
            import transformers
        except ImportError:
            raise MissingDependencyError("transformers", "transformers", purpose="loading a transformers model") from None
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("auto_map"):
            raise UntrustedRepoError(f"{mid} needs its own Python code (auto_map / trust_remote_code), which ptmhub "
                                     "does not run", hint="load it with transformers yourself if you trust it",
                                     model_id=str(mid))
        auto_name = kwargs.pop("auto_class", None)
        architectures = config.get("architectures") or []
        cls = getattr(transformers, auto_name or (architectures[0] if architectures else ""), None)
        cls = cls or transformers.AutoModel
        common = {"local_files_only": True, "trust_remote_code": False}
        model = cls.from_pretrained(str(folder), **common, **kwargs)
        names = [p.name for p in folder.iterdir()]
        preprocess = None
        for loader in ("AutoTokenizer", "AutoProcessor"):
            if loader == "AutoTokenizer" and not any(n.startswith(("tokenizer", "vocab", "spiece")) for n in names):
                continue
            try:
                preprocess = getattr(transformers, loader).from_pretrained(str(folder), **common)
                break
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return Loaded(model=model, preprocess=preprocess, framework="pytorch", record=record)
