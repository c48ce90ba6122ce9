"""The one loader of model folders, for every caller: ``local:`` models, ``hf:`` snapshots in the
HF cache, and fine-tuning from a folder. The library comes from :func:`ptmhub.folders.detect`;
frameworks are imported here, lazily, and everything is read from disk only
(``local_files_only=True``; no code from the folder is ever run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from . import folders
from .errors import MissingDependencyError, NotCachedError, UntrustedRepoError, UsageError

__all__ = ["FolderLoad", "load_folder", "timm_model", "torchvision_model", "transformers_class"]


class FolderLoad(NamedTuple):
    model: Any
    preprocess: Any
    framework: str


def load_folder(folder: str | Path, *, label: str, model: folders.FolderModel | None = None,
                auto_class: str | None = None, default_class: str | None = None, **kwargs: Any) -> FolderLoad:
    """Load the model in ``folder`` with its own library.

    * sentence-transformers: ``SentenceTransformer`` (preprocess: its tokenizer);
    * transformers: ``auto_class`` if given, else ``default_class`` (a class the caller knows,
      e.g. the Hub's Auto class), else the class ``config.json`` names (``architectures[0]``,
      so a head is loaded, not dropped), else ``AutoModel``; its tokenizer or processor;
    * timm: ``timm.create_model`` on the folder's weights (``num_classes=`` etc. pass through);
      preprocess: the model's own eval transform;
    * a TensorFlow SavedModel: ``hub.KerasLayer`` (``trainable=``);
    * a torchvision model saved by ``FinetuneBundle.save`` (``ptmhub_torch.json``): the builder
      it names, with its weights (preprocess: none; use the base weights' transforms).

    Raises:
        UsageError: no library ptmhub can load; an unknown ``auto_class``.
        UntrustedRepoError: the folder needs its own Python code (``auto_map``).
        NotCachedError: the files are incomplete (a weights file is missing or unreadable).
        MissingDependencyError: the framework is not installed.
    """
    folder = Path(folder)
    found = model or folders.detect(folder)
    if found.library == "sentence-transformers":
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError("sentence-transformers", "st",
                                         purpose="loading a sentence-transformers model") from None
        st = SentenceTransformer(str(folder), local_files_only=True, **kwargs)
        return FolderLoad(st, getattr(st, "tokenizer", None), "pytorch")
    if found.library == "transformers":
        return _transformers(folder, found, label=label, auto_class=auto_class, default_class=default_class,
                             kwargs=kwargs)
    if found.library == "timm":
        net = timm_model(folder, found.config, label=label, **kwargs)
        return FolderLoad(net, _timm_transform(net), "pytorch")
    if found.library == "torchvision":
        return FolderLoad(torchvision_model(folder, label=label, **kwargs), None, "pytorch")
    if found.library == "tensorflow":
        from .savedmodel import import_tensorflow

        import_tensorflow()
        import tensorflow_hub as hub

        layer = hub.KerasLayer(str(folder), trainable=bool(kwargs.pop("trainable", False)), **kwargs)
        return FolderLoad(layer, None, "tensorflow")
    what = f"a {found.library} model, which ptmhub does not load" if found.library else "no model ptmhub can load"
    hint = folders.EXPECTED
    if found.library == "torch":  # a state dict of a module only its own code can rebuild
        hint = "build the module with its own code and load model.safetensors into it (see the folder's README.md)"
    raise UsageError(f"{label}: {folder} holds {what}", hint=hint)


def transformers_class(transformers: Any, config: dict[str, Any], *, auto_class: str | None = None,
                       default_class: str | None = None) -> Any:
    """The transformers class to load with (see :func:`load_folder`)."""
    if auto_class:
        cls = getattr(transformers, auto_class, None)
        if cls is None:
            raise UsageError(f"transformers has no class {auto_class!r}",
                             hint="give an Auto class such as AutoModelForSequenceClassification")
        return cls
    for name in (default_class, *(_as_list(config.get("architectures"))[:1])):
        cls = getattr(transformers, name, None) if isinstance(name, str) and name else None
        if isinstance(cls, type) and hasattr(cls, "from_pretrained"):
            return cls
    return transformers.AutoModel


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _transformers(folder: Path, found: folders.FolderModel, *, label: str, auto_class: str | None,
                  default_class: str | None, kwargs: dict[str, Any]) -> FolderLoad:
    if found.custom_code:
        raise UntrustedRepoError(f"{label} needs its own Python code (auto_map / trust_remote_code), which ptmhub "
                                 "does not run", hint="load it with transformers yourself if you trust it",
                                 model_id=label)
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError("transformers", "transformers", purpose="loading a transformers model") from None
    cls = transformers_class(transformers, found.config, auto_class=auto_class, default_class=default_class)
    common = {"local_files_only": True, "trust_remote_code": False}
    try:
        net = cls.from_pretrained(str(folder), **common, **kwargs)
    except OSError as exc:
        raise NotCachedError(f"{label}: {folder} cannot be loaded ({str(exc).splitlines()[0][:160]})",
                             hint=f"pull or add {label} again", model_id=label) from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise UntrustedRepoError(f"{label} needs its own Python code (trust_remote_code), which ptmhub does "
                                     "not run", hint="load it with transformers yourself if you trust it",
                                     model_id=label) from None
        raise
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
    return FolderLoad(net, preprocess, "pytorch")


def timm_model(folder: Path, config: dict[str, Any], *, label: str, **kwargs: Any) -> Any:
    """A timm model built from a Hugging Face style folder (config.json + weights), offline.

    Raises:
        NotCachedError: no ``model.safetensors`` or ``pytorch_model.bin`` in the folder.
        MissingDependencyError: timm is not installed.
    """
    try:
        import timm
    except ImportError:
        raise MissingDependencyError("timm", "torch", purpose="loading a timm model") from None
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if weights is None:
        raise NotCachedError(f"{label}: {folder} has no model.safetensors or pytorch_model.bin",
                             hint=f"pull or add {label} again", model_id=label)
    pretrained_cfg = dict(config.get("pretrained_cfg") or {})
    pretrained_cfg.update(file=str(weights), source="file")
    model_args = dict(config.get("model_args") or {})
    model_args.update(kwargs)
    if "num_classes" in config:
        model_args.setdefault("num_classes", config["num_classes"])
    return timm.create_model(config["architecture"], pretrained=True, pretrained_cfg=pretrained_cfg, **model_args)


def torchvision_model(folder: Path, *, label: str, **kwargs: Any) -> Any:
    """The torchvision model a ``ptmhub_torch.json`` names (``get_model(builder, weights=None,
    **kwargs)``) with the folder's weights (``safetensors.torch.load_model``, strict), in eval mode.

    Raises:
        NotCachedError: the weights file is missing.
        UsageError: the manifest names no torchvision builder, or the weights do not fit it.
        MissingDependencyError: torchvision is not installed.
    """
    manifest = folders.read_manifest(folder)
    builder, args = manifest.get("builder"), manifest.get("kwargs") or {}
    if not isinstance(builder, str) or not builder or not isinstance(args, dict):
        raise UsageError(f"{label}: {folder / folders.TORCH_MANIFEST} names no torchvision builder",
                         hint="rebuild the module with its own code and load model.safetensors into it")
    try:
        import torchvision
        from safetensors.torch import load_model
    except ImportError:
        raise MissingDependencyError("torchvision", "torch", purpose="loading a torchvision model") from None
    weights = folder / str(manifest.get("weights") or "model.safetensors")
    if weights.parent != folder or not weights.is_file():
        raise NotCachedError(f"{label}: {folder} has no {weights.name}", hint=f"save or add {label} again",
                             model_id=label)
    try:
        net = torchvision.models.get_model(builder, weights=None, **{**args, **kwargs})
    except ValueError as exc:
        raise UsageError(f"{label}: torchvision cannot build {builder!r} ({str(exc).splitlines()[0][:160]})") from None
    try:
        load_model(net, str(weights))
    except RuntimeError as exc:
        raise UsageError(f"{label}: {weights.name} does not fit torchvision's {builder} "
                         f"({str(exc).splitlines()[0][:160]})") from None
    return net.eval()


def _timm_transform(net: Any) -> Any:
    """The model's own evaluation transform (resize, crop, normalize), as timm builds it."""
    try:
        from timm.data import create_transform, resolve_model_data_config

        return create_transform(**resolve_model_data_config(net), is_training=False)
    except Exception:  # noqa: BLE001 - a model without a data config still loads; no preprocess then
        return None
