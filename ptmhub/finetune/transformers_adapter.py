"""transformers models: the ``AutoModelFor<Task>`` for the task, a new head, freezing by layer.

From a folder (a Hugging Face cache snapshot or any local model folder) the task model is
loaded with ``from_pretrained(num_labels=..., id2label=..., label2id=...,
ignore_mismatched_sizes=True, local_files_only=True)``: a checkpoint head of another size is
re-initialised instead of failing, and what was re-initialised goes into the notes. From a model
object, the body's weights are copied into a freshly built task model.

The head is every parameter outside ``model.base_model`` (``classifier``, DistilBERT's
``pre_classifier``, RoBERTa's classification head). The blocks are the body's encoder layers
(``encoder.layer`` for BERT/RoBERTa/ViT/ELECTRA/DeBERTa, ``transformer.layer`` for DistilBERT,
``layers``/``h``/``block`` elsewhere, else the longest ModuleList).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, UntrustedRepoError, UsageError
from .torch_adapter import freeze

__all__ = ["TASKS", "normalize_task", "default_task", "adapt_folder", "adapt_model", "encoder_layers",
           "read_config", "quiet"]

#: task -> (Auto class, preprocess Auto class). Aliases are resolved by :func:`normalize_task`.
TASKS: dict[str, tuple[str, str]] = {
    "text-classification": ("AutoModelForSequenceClassification", "AutoTokenizer"),
    "token-classification": ("AutoModelForTokenClassification", "AutoTokenizer"),
    "image-classification": ("AutoModelForImageClassification", "AutoImageProcessor"),
    "audio-classification": ("AutoModelForAudioClassification", "AutoFeatureExtractor"),
}
_ALIASES = {
    "sequence-classification": "text-classification", "sentiment-analysis": "text-classification",
    "text": "text-classification", "classification": "text-classification",
    "sentence-similarity": "text-classification", "feature-extraction": "text-classification",
    "fill-mask": "text-classification", "ner": "token-classification", "token": "token-classification",
    "image": "image-classification", "image-feature-extraction": "image-classification",
    "audio": "audio-classification",
}
_VISION_TYPES = {"vit", "deit", "beit", "swin", "swinv2", "convnext", "convnextv2", "resnet", "regnet", "dinov2",
                 "efficientnet", "mobilenet_v2", "mobilevit", "levit", "poolformer", "segformer", "cvt", "bit",
                 "data2vec-vision", "dinat", "nat", "focalnet", "pvt", "pvt_v2", "van", "vit_hybrid", "vit_msn"}
_AUDIO_TYPES = {"wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper", "audio-spectrogram-transformer",
                "unispeech", "unispeech-sat", "sew", "sew-d"}


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError("transformers", "transformers", purpose="fine-tuning a transformers model") from None
    return transformers


def normalize_task(task: str) -> str:
    """``text-classification`` and its aliases (``sequence-classification``, ``ner``, ...).

    Raises:
        UsageError: a task with no classification head here.
    """
    key = task.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise UsageError(f"no fine-tuning head for task {task!r}", hint="one of " + ", ".join(TASKS))
    return key


def read_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def default_task(config: dict[str, Any], record_task: str | None = None) -> str:
    """The task when the caller gives none: the registry's, else from the config's model type."""
    if record_task:
        try:
            return normalize_task(record_task)
        except UsageError:
            pass
    model_type = str(config.get("model_type", ""))
    if model_type in _VISION_TYPES:
        return "image-classification"
    if model_type in _AUDIO_TYPES:
        return "audio-classification"
    return "text-classification"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """transformers prints a load report for every re-initialised head (its content goes into the
    bundle's notes instead) and a progress bar per load; both are off while loading."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _label_maps(num_labels: int, labels: Sequence[str] | None) -> tuple[dict[int, str], dict[str, int]]:
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != num_labels:
            raise UsageError(f"{len(labels)} labels given for num_labels={num_labels}",
                             hint="give one name per label, in label-id order")
        if len(set(labels)) != len(labels):
            raise UsageError("label names must be unique")
    else:
        labels = [f"LABEL_{i}" for i in range(num_labels)]
    id2label = dict(enumerate(labels))
    return id2label, {v: k for k, v in id2label.items()}


def encoder_layers(base: Any) -> tuple[list[Any], str]:
    """The body's transformer layers, first to last, and what they are called."""
    import torch.nn as nn

    for path in ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "h", "layer", "block",
                 "encoder.block", "transformer.h", "blocks"):
        obj: Any = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, (nn.ModuleList, nn.Sequential)) and len(obj) > 0:
            return list(obj), "encoder layers"
    best: list[Any] = []
    for module in base.modules():
        if isinstance(module, nn.ModuleList) and len(module) > len(best) and len({type(m) for m in module}) == 1:
            best = list(module)
    return best, "layers"


def _head_modules(model: Any) -> tuple[list[str], list[Any]]:
    base = model.base_model
    if base is model:
        raise UsageError(f"{type(model).__name__} has no task head",
                         hint="load it through load_for_finetune with num_labels, which builds the head")
    names, modules = [], []
    for name, child in model.named_children():
        if child is base or not any(True for _ in child.parameters()):
            continue
        names.append(name)
        modules.append(child)
    return names, modules


def _finish(model: Any, *, strategy: str, unfreeze_last: int | None, notes: list[str], task: str,
            preprocess: Any) -> dict[str, Any]:
    names, head = _head_modules(model)
    layers, word = encoder_layers(model.base_model)
    frozen = freeze(model, head=head, blocks=layers, strategy=strategy, unfreeze_last=unfreeze_last,
                    block_word=word)
    model.train()
    family = "transformer"
    return {"model": model, "preprocess": preprocess, "head": ", ".join(names), "frozen": frozen,
            "notes": notes + frozen.notes, "family": family, "adapter": "transformers", "task": task}


def _load_notes(info: dict[str, Any], num_labels: int) -> list[str]:
    notes = []
    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or (), key=lambda t: t[0])
    if mismatched:
        detail = ", ".join(f"{k} {tuple(old)} -> {tuple(new)}" for k, old, new in mismatched[:4])
        notes.append(f"re-initialised (checkpoint head of another size): {detail}")
    if missing:
        notes.append("newly initialised (not in the checkpoint): " + ", ".join(missing[:6])
                     + (f" and {len(missing) - 6} more" if len(missing) > 6 else ""))
    if not missing and not mismatched:
        notes.append(f"the checkpoint's own {num_labels}-label head was kept (it already has that shape)")
    unexpected = sorted(info.get("unexpected_keys") or ())
    if unexpected:
        notes.append("checkpoint weights this task model does not use: " + ", ".join(unexpected[:4])
                     + (f" and {len(unexpected) - 4} more" if len(unexpected) > 4 else ""))
    return notes


def _preprocessor(folder: Path, task: str) -> tuple[Any, str | None]:
    transformers = _transformers()
    names = [TASKS[task][1], "AutoProcessor"]
    if task != "text-classification" and task != "token-classification":
        names.append("AutoTokenizer")
    for name in names:
        try:
            with quiet():
                return getattr(transformers, name).from_pretrained(str(folder), local_files_only=True), name
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None, None


def adapt_folder(folder: str | Path, *, num_labels: int, task: str | None = None, strategy: str,
                 unfreeze_last: int | None = None, labels: Sequence[str] | None = None,
                 record_task: str | None = None, **from_pretrained: Any) -> dict[str, Any]:
    """Load the task model from ``folder`` (never from the network) with a ``num_labels`` head.

    Raises:
        UsageError: no config.json, or a task with no head here.
        UntrustedRepoError: the model needs its own Python code.
    """
    transformers = _transformers()
    folder, config, task = folder_config_and_task(folder, task, record_task)
    id2label, label2id = _label_maps(num_labels, labels)
    auto = getattr(transformers, TASKS[task][0])
    kwargs = {"num_labels": num_labels, "id2label": id2label, "label2id": label2id,
              "ignore_mismatched_sizes": True, "local_files_only": True, "trust_remote_code": False,
              **from_pretrained}
    try:
        with quiet():
            model, info = auto.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    except ValueError as exc:
        text = str(exc)
        if "trust_remote_code" in text:
            raise UntrustedRepoError(f"{folder} needs its own Python code (trust_remote_code), which ptmhub does not run",
                                     hint="load it with transformers yourself if you trust it") from None
        if "Unrecognized configuration class" in text or "does not appear to have" in text:
            raise UsageError(f"{config.get('model_type', 'this model')} has no {TASKS[task][0]} in transformers",
                             hint="pick another task, or another model") from None
        raise
    notes = [f"{type(model).__name__} via {TASKS[task][0]} ({task})", *_load_notes(info, num_labels)]
    preprocess, pre_name = _preprocessor(folder, task)
    notes.append(f"preprocess: {type(preprocess).__name__} from the model folder" if preprocess is not None
                 else "preprocess: none found in the model folder")
    return _finish(model, strategy=strategy, unfreeze_last=unfreeze_last, notes=notes, task=task,
                   preprocess=preprocess)


def adapt_model(model: Any, *, num_labels: int, task: str | None = None, strategy: str,
                unfreeze_last: int | None = None, labels: Sequence[str] | None = None,
                preprocess: Any = None) -> dict[str, Any]:
    """Build the task model around an already-loaded transformers model (a base ``AutoModel`` or
    another task model): same config, the body's weights copied, a new ``num_labels`` head."""
    transformers = _transformers()
    config = model.config.to_dict()
    task = normalize_task(task) if task else default_task(config)
    id2label, label2id = _label_maps(num_labels, labels)
    new_config = model.config.__class__.from_dict({**config, "num_labels": num_labels, "id2label": id2label,
                                                   "label2id": label2id})
    auto = getattr(transformers, TASKS[task][0])
    try:
        with quiet():
            task_model = auto.from_config(new_config)
    except ValueError:
        raise UsageError(f"{new_config.model_type} has no {TASKS[task][0]} in transformers",
                         hint="pick another task, or another model") from None
    source = model.base_model.state_dict()
    target = task_model.base_model
    wanted = target.state_dict()
    usable = {k: v for k, v in source.items() if k in wanted and wanted[k].shape == v.shape}
    result = target.load_state_dict(usable, strict=False)
    notes = [f"{type(task_model).__name__} via {TASKS[task][0]} ({task}); body weights copied from the given "
             f"{type(model).__name__}", "newly initialised: the head (" + ", ".join(_head_modules(task_model)[0]) + ")"]
    if result.missing_keys:
        notes.append("body weights not in the given model (left at their initial values): "
                     + ", ".join(sorted(result.missing_keys)[:4]))
    task_model.to(next(model.parameters()).device)
    return _finish(task_model, strategy=strategy, unfreeze_last=unfreeze_last, notes=notes, task=task,
                   preprocess=preprocess)


def folder_config_and_task(folder: str | Path, task: str | None,
                           record_task: str | None) -> tuple[Path, dict[str, Any], str]:
    """(folder, its config.json, the task to build: ``task`` normalized, else the config's default).

    Raises:
        UsageError: no readable config.json.
    """
    folder = Path(folder)
    config = read_config(folder)
    if not config:
        raise UsageError(f"{folder} has no readable config.json: not a transformers model folder")
    return folder, config, normalize_task(task) if task else default_task(config, record_task)
