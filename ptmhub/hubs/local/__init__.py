"""``local:`` models: folders registered with ``ptmhub add PATH`` (a user's own fine-tuned model,
or one shipped inside a Python package). They are not on any hub: the registry's record holds the
folder (``cache_path``) and what was read from its files, and loading reads that folder with the
framework its files belong to (transformers, sentence-transformers, a TensorFlow SavedModel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import NotCachedError, NotInRegistryError, UsageError
from ...ids import ModelId
from ...records import ModelRecord
from ..base import Backend, BackendContext, Loaded, NO_CONTEXT

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Models in local folders; nothing here touches the network."""

    platform = "local"

    @staticmethod
    def _check(model_id: ModelId) -> ModelId:
        if model_id.platform != "local":
            raise UsageError(f"{model_id} is not a local model", hint="local IDs look like local:NAME")
        return model_id

    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """A local model has no hub to ask.

        Raises:
            UsageError: always, saying how to refresh the record instead.
        """
        mid = self._check(model_id)
        raise UsageError(f"{mid} is a local folder, not a hub model: there is no hub to ask",
                         hint=f"'ptmhub show {mid}' reads the registry; 'ptmhub add PATH --id {mid}' re-reads the folder")

    def parents(self, record: ModelRecord) -> list[tuple[str, str, str]]:
        """The folder's model card ``base_model`` (what ``FinetuneBundle.save`` writes): a bare
        ``OWNER/NAME`` is a Hugging Face repo, as on a Hugging Face card; other hubs' IDs keep
        their prefix (``torchhub:...``, ``local:...``)."""
        extra = record.extra or {}
        relation = str(extra.get("base_model_relation") or "derived")
        bases = extra.get("base_model")
        out = []
        for base in bases if isinstance(bases, list) else [bases]:
            if isinstance(base, str) and base.strip():
                ident = base.strip()
                out.append((ident if ":" in ident else f"hf:{ident}", relation, "the model card's base_model"))
        return out

    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             **kwargs: Any) -> Loaded:
        """Load the registered folder.

        With the library the folder's files name (:func:`ptmhub.folders.detect`), through
        :func:`ptmhub.loaders.load_folder`: sentence-transformers, transformers (``auto_class=``
        overrides the class ``config.json`` names), timm, or a SavedModel as a ``hub.KerasLayer``
        (``trainable=``). Everything is read with ``local_files_only=True``.

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
        from ...loaders import load_folder

        auto_class = kwargs.pop("auto_class", None)
        model, preprocess, framework = load_folder(folder, label=str(mid), auto_class=auto_class, **kwargs)
        return Loaded(model=model, preprocess=preprocess, framework=framework, record=record)
