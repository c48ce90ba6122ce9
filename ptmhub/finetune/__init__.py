"""load_for_finetune: one call from any hub to a model ready to train.

The seeds' transfer-learning recipe in one line: keep the pretrained body, put a new
``num_labels``-way head on it, and freeze according to how much labelled data there is
(:mod:`ptmhub.finetune.strategies`, docs/finetune.md). One adapter per framework, imported only
when used:

=============================  ======================================================
source                         adapter
=============================  ======================================================
``hf:`` transformers model     :mod:`.transformers_adapter` (``AutoModelFor<Task>``)
``hf:`` sentence-transformers  :mod:`.sentence_transformers_adapter` (head on the embedding)
``hf:timm/...``                :mod:`.torch_adapter` (timm ``reset_classifier``)
``torchhub:``                  :mod:`.torch_adapter` (``fc`` / ``classifier`` / ``heads``)
``tfhub:`` / ``kaggle:``       :mod:`.tf_adapter` (``hub.KerasLayer`` + ``Dense``)
=============================  ======================================================

``model_id`` may also be a local model folder (a ``pathlib.Path``, or a path string that starts
with ``/``, ``./``, ``../`` or ``~``, or names an existing folder with model files), a
:class:`~ptmhub.hubs.base.Loaded`, or an already-built framework object (``nn.Module``,
``PreTrainedModel``, ``SentenceTransformer``, ``hub.KerasLayer``). Hub models come from the
hub's own cache and are never downloaded here: ``ptmhub pull ID`` first.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PtmhubError, UsageError
from .schedule import TwoPhase, two_phase
from .strategies import STRATEGIES, THRESHOLDS, Choice, choose, modality_of, suggested_learning_rate

if TYPE_CHECKING:
    from .heads import HeadsArg, HeadSpec
    from ..ids import ModelId
    from ..records import ModelRecord
    from ..registry.store import Store

__all__ = ["FinetuneBundle", "load_for_finetune", "folder_kind", "STRATEGIES", "THRESHOLDS", "TwoPhase", "two_phase"]


@dataclass
class FinetuneBundle:
    """A model ready to train, and what was done to it.

    ``model`` is trainable as returned (PyTorch: ``train()`` mode, frozen parameters have
    ``requires_grad=False``; TensorFlow: a tf_keras Model with the right ``trainable`` flags).
    """

    model: Any
    preprocess: Any                   # tokenizer / image processor / transforms / None
    framework: str                    # pytorch | tensorflow
    strategy: str                     # the strategy actually applied
    trainable_parameters: int
    total_parameters: int
    head: str                         # the new head's module / layer name(s)
    suggested_learning_rate: float
    notes: list[str] = field(default_factory=list)
    requested_strategy: str = "auto"  # what the caller asked for
    num_labels: int | None = 0       # None with several heads (see ``heads``)
    task: str | None = None
    adapter: str = ""                 # transformers | sentence-transformers | timm | torch | tensorflow-hub
    blocks: int | None = None         # blocks (layers) found in the body; None when not applicable
    unfrozen_blocks: int | None = None
    model_id: str | None = None
    record: ModelRecord | None = None
    labels: list[str] | None = None   # label names in id order, when the caller gave them
    heads: list[dict[str, Any]] | None = None   # heads=: name, num_labels, labels, parameters of each
    phases: list[dict[str, Any]] | None = None  # a two-phase schedule, once made (schedule.two_phase)
    family: str = "other"             # the learning-rate family (strategies.FAMILIES)

    @property
    def frozen_parameters(self) -> int:
        return self.total_parameters - self.trainable_parameters

    def plan(self) -> dict[str, Any]:
        """Everything but the objects (what ``ptmhub finetune-plan --json`` prints)."""
        return {
            "model_id": self.model_id, "adapter": self.adapter, "framework": self.framework, "task": self.task,
            "num_labels": self.num_labels, "requested_strategy": self.requested_strategy,
            "strategy": self.strategy, "head": self.head, "blocks": self.blocks,
            "unfrozen_blocks": self.unfrozen_blocks, "trainable_parameters": self.trainable_parameters,
            "frozen_parameters": self.frozen_parameters, "total_parameters": self.total_parameters,
            "suggested_learning_rate": self.suggested_learning_rate, "model_class": type(self.model).__name__,
            "notes": list(self.notes), "heads": self.heads, "phases": self.phases,
        }

    def save(self, path: str | Path, *, overwrite: bool = False, base_model: str | None = None,
             license: str | None = None) -> Path:
        """Write the model to ``path`` as a folder its framework's own loader reads, with a model
        card (README.md) whose ``base_model`` makes ``ptmhub add PATH`` record the lineage.

        The layout per adapter is in :mod:`ptmhub.finetune.save` and docs/finetune.md#saving. The
        folder is written under a temporary name beside ``path`` and renamed when complete.

        Args:
            path: the folder to create (its parents are created too).
            overwrite: replace an existing non-empty folder (otherwise refused).
            base_model: the ID the card names as the base (default: the hub ID this bundle was
                loaded from; none for a local folder or an object).
            license: the card's license (default: the base record's, when the registry knows it).

        Raises:
            UsageError: ``path`` is a file, a non-empty folder without ``overwrite``, or cannot be
                created; or the model cannot be saved in its framework's format.
        """
        from .save import save

        return save(self, path, overwrite=overwrite, base_model=base_model, license=license)


# -- what a source is --------------------------------------------------------------------------
def folder_kind(folder: str | Path) -> str:
    """``sentence-transformers``, ``transformers``, ``timm``, ``torchvision`` or ``tensorflow`` for a
    model folder.

    Raises:
        UsageError: none of those.
    """
    from ..folders import EXPECTED, detect

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    found = detect(folder)
    if not found.loadable:
        raise UsageError(f"{folder} holds no model ptmhub can fine-tune", hint=EXPECTED)
    return found.library  # type: ignore[return-value]


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "./", "../", "~", ".\\")) or (len(text) > 2 and text[1] == ":" and text[2] in "/\\"):
        return True
    path = Path(text)
    return path.is_dir() and any((path / f).exists() for f in ("config.json", "modules.json", "saved_model.pb"))


def _object_kind(obj: Any) -> str | None:
    """The adapter for a framework object, judged without importing any framework."""
    for klass in type(obj).__mro__:
        root = klass.__module__.split(".")[0]
        if root == "sentence_transformers" and klass.__name__ == "SentenceTransformer":
            return "sentence-transformers"
        if root == "transformers" and klass.__name__ == "PreTrainedModel":
            return "transformers"
        if root == "tensorflow_hub" and klass.__name__ == "KerasLayer":
            return "tensorflow"
    if "torch" in sys.modules:
        import torch.nn as nn

        if isinstance(obj, nn.Module):
            return "torch"
    return None


# -- the call ----------------------------------------------------------------------------------
def load_for_finetune(model_id: Any, *, num_labels: int | None = None, heads: HeadsArg | None = None,
                      task: str | None = None, strategy: str = "auto",
                      train_size: int | None = None, unfreeze_last: int | None = None,
                      offline: bool | None = None, store: Store | None = None, trust: bool = False,
                      labels: list[str] | None = None, **framework_kwargs: Any) -> FinetuneBundle:
    """A pretrained model with a new ``num_labels``-way head, frozen by ``strategy``.

    Args:
        model_id: a hub ID (``hf:...``, ``torchhub:...``, ``tfhub:...``, ``kaggle:...``), a local
            model folder, a :class:`~ptmhub.hubs.base.Loaded` or a framework object (see the
            module docstring).
        num_labels: outputs of the new head.
        heads: several heads on one shared backbone instead of ``num_labels``: ``{name: N}`` or
            ``{name: {"num_labels": N, "labels": [...]}}`` (PyTorch models; see
            :mod:`ptmhub.finetune.multihead`).
        task: ``text-classification`` (default for text), ``token-classification``,
            ``image-classification``, ``audio-classification`` (transformers); others ignore it.
        strategy: ``feature_extraction``, ``partial``, ``full`` or ``auto`` (by ``train_size``).
        train_size: labelled training examples, for ``auto``.
        unfreeze_last: blocks ``partial`` unfreezes (default: a quarter of them, rounded up).
        offline: turn offline mode on for this process (nothing here downloads anyway).
        store: the registry to read the model's record from (hub IDs only; needed for them:
            :func:`ptmhub.api.load_for_finetune` passes the default one).
        trust: torch.hub only: run the repository's hubconf.py.
        labels: label names in id order (transformers ``id2label``; the head's ``labels``).
        framework_kwargs: passed on: ``from_pretrained`` (transformers), the torch.hub entrypoint,
            ``hub.KerasLayer`` (``signature``, ``output_key``, ``tags``) plus ``input_shape`` /
            ``input_dtype`` for TF.

    Raises:
        UsageError: bad arguments, or a source with no head ptmhub can build.
        NotCachedError: a hub model that is not in its hub's cache (``ptmhub pull ID``).
        UntrustedRepoError: code ptmhub will not run (torch.hub without trust, trust_remote_code).
        MissingDependencyError: the framework is not installed.
    """
    specs = None
    if heads is not None:
        from .heads import normalize_heads

        if num_labels is not None or labels is not None:
            raise UsageError("pass num_labels (and labels) or heads, not both",
                             hint="each head's size and labels go in heads: {'name': {'num_labels': N, "
                                  "'labels': [...]}}")
        specs = normalize_heads(heads)
    elif num_labels is None:
        raise UsageError("load_for_finetune needs num_labels (one head) or heads (several)")
    elif isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise UsageError(f"num_labels must be a positive integer, not {num_labels!r}")
    if unfreeze_last is not None and (isinstance(unfreeze_last, bool) or unfreeze_last < 0):
        raise UsageError(f"unfreeze_last must be zero or more, not {unfreeze_last!r}")
    if labels is not None and len(labels) != num_labels:
        raise UsageError(f"{len(labels)} labels given for num_labels={num_labels}",
                         hint="give one name per label, in label-id order")
    choose(strategy, train_size=train_size)  # bad arguments fail before anything loads
    if offline:
        from ..offline import apply

        apply(True)
    common = {"num_labels": num_labels, "task": task, "strategy": strategy, "train_size": train_size,
              "unfreeze_last": unfreeze_last, "labels": labels, "heads": specs}
    from ..hubs.base import Loaded
    from ..ids import ModelId, parse

    if isinstance(model_id, Loaded):
        bundle = _from_object(model_id.model, preprocess=model_id.preprocess, record=model_id.record,
                              label=model_id.record.id if model_id.record is not None else None,
                              kwargs=framework_kwargs, **common)
    elif isinstance(model_id, Path) or (isinstance(model_id, str) and _looks_like_path(model_id)):
        folder = Path(model_id).expanduser()
        bundle = _from_folder(folder, record=None, label=str(folder), kwargs=framework_kwargs, **common)
    elif isinstance(model_id, (str, ModelId)):
        bundle = _from_hub(parse(model_id) if isinstance(model_id, str) else model_id, store=store, trust=trust,
                           kwargs=framework_kwargs, **common)
    else:
        bundle = _from_object(model_id, preprocess=None, record=None, label=None, kwargs=framework_kwargs,
                              **common)
    bundle.labels = [str(x) for x in labels] if labels is not None else None
    return bundle


def _bundle(built: dict[str, Any], *, framework: str, choice: Choice, num_labels: int | None, label: str | None,
            record: ModelRecord | None, task: str | None) -> FinetuneBundle:
    frozen = built.get("frozen")
    if frozen is not None:
        applied, trainable, total = frozen.strategy, frozen.trainable, frozen.total
        blocks, unfrozen = frozen.blocks, frozen.unfrozen_blocks
    else:
        applied, trainable, total = built["strategy"], built["trainable"], built["total"]
        blocks, unfrozen = built.get("blocks"), built.get("unfrozen_blocks")
    family = built["family"]
    if family == "other" and record is not None and (record.task or "").startswith("image"):
        family = "convnet"
    lr = suggested_learning_rate(applied, family)
    notes = [choice.reason]
    if applied != choice.strategy:
        notes.append(f"applied: {applied} (the nearest this model allows to {choice.strategy})")
    notes.extend(built["notes"])
    notes.append(f"suggested learning rate {lr:g} ({applied}, {family} family; AdamW, batch 16-32; "
                 "see docs/finetune.md)")
    return FinetuneBundle(model=built["model"], preprocess=built.get("preprocess"), framework=framework,
                          strategy=applied, trainable_parameters=trainable, total_parameters=total,
                          head=built["head"], suggested_learning_rate=lr, notes=notes,
                          requested_strategy=choice.requested, num_labels=num_labels,
                          task=built.get("task", task), adapter=built["adapter"], blocks=blocks,
                          unfrozen_blocks=unfrozen, model_id=label, record=record, heads=built.get("heads"),
                          family=family)


def _modality(task: str | None) -> str:
    """``text`` for text classification heads, else ``default`` (see strategies.THRESHOLDS)."""
    return "text" if task in ("text-classification", "token-classification") else "default"


def _record_modality(record: ModelRecord | None) -> str:
    return modality_of(record.task if record is not None else None)


def _from_folder(folder: Path, *, num_labels: int | None, task: str | None, strategy: str, train_size: int | None,
                 unfreeze_last: int | None, labels: list[str] | None, record: ModelRecord | None, label: str | None,
                 kwargs: dict[str, Any], heads: tuple[HeadSpec, ...] | None = None) -> FinetuneBundle:
    kind = folder_kind(folder)
    text_task = task is None or task.replace("_", "-").lower() in ("text-classification", "sequence-classification")
    if kind == "sentence-transformers" and text_task:
        modality = "text"
    elif kind in ("transformers", "sentence-transformers"):
        from .transformers_adapter import default_task, normalize_task, read_config

        task = normalize_task(task) if task else default_task(read_config(folder), record.task if record else None)
        modality = _modality(task)
    else:
        modality = _record_modality(record)
    choice = choose(strategy, train_size=train_size, modality=modality)
    common = {"num_labels": num_labels, "strategy": choice.strategy, "unfreeze_last": unfreeze_last}
    bundle_args = {"choice": choice, "num_labels": num_labels, "label": label, "record": record, "task": task}
    if heads is not None:
        from . import multihead

        return _bundle(multihead.build_from_folder(folder, kind=kind, text_task=text_task, specs=heads, task=task,
                                                   record=record, strategy=choice.strategy,
                                                   unfreeze_last=unfreeze_last, kwargs=kwargs),
                       framework="pytorch", **bundle_args)
    if kind == "sentence-transformers" and text_task:
        from . import sentence_transformers_adapter as sta

        body = sta.load_folder(folder, **kwargs)
        built = sta.adapt(body, labels=labels, **common)
        return _bundle(built, framework="pytorch", **bundle_args)
    if kind in ("transformers", "sentence-transformers"):
        from . import transformers_adapter as ta

        if kind == "sentence-transformers" and not (folder / "config.json").is_file():
            raise UsageError(f"{folder} is a sentence-transformers folder without a top-level config.json",
                             hint="use task='text-classification' (a head on the sentence embedding)")
        built = ta.adapt_folder(folder, task=task, labels=labels, record_task=record.task if record else None,
                                **common, **kwargs)
        return _bundle(built, framework="pytorch", **bundle_args)
    if kind in ("timm", "torchvision"):
        from ..loaders import torchvision_model
        from . import torch_adapter

        model = _timm_from_folder(folder, **kwargs) if kind == "timm" else torchvision_model(folder, label=str(folder),
                                                                                             **kwargs)
        built = torch_adapter.adapt_module(model, **common)
        return _bundle(built, framework="pytorch", **bundle_args)
    from . import tf_adapter

    built = tf_adapter.adapt(folder, **common, **kwargs)
    return _bundle(built, framework="tensorflow", **bundle_args)


def _timm_from_folder(folder: Path, **kwargs: Any) -> Any:
    """A timm model from a Hugging Face style folder (config.json + weights), offline."""
    from ..folders import read_config
    from ..loaders import timm_model

    return timm_model(folder, read_config(folder), label=str(folder), **kwargs)


def _from_object(obj: Any, *, num_labels: int | None, task: str | None, strategy: str, train_size: int | None,
                 unfreeze_last: int | None, labels: list[str] | None, preprocess: Any, record: ModelRecord | None,
                 label: str | None, kwargs: dict[str, Any],
                 heads: tuple[HeadSpec, ...] | None = None) -> FinetuneBundle:
    kind = _object_kind(obj)
    if kind == "sentence-transformers":
        modality = "text"
    elif kind == "transformers":
        from .transformers_adapter import default_task, normalize_task

        task = normalize_task(task) if task else default_task(obj.config.to_dict())
        modality = _modality(task)
    else:
        modality = _record_modality(record)
    if kwargs and kind != "tensorflow":
        raise UsageError(f"{', '.join(sorted(kwargs))}: not used when fine-tuning an already-built "
                         f"{type(obj).__name__}", hint="pass them when you build the model")
    choice = choose(strategy, train_size=train_size, modality=modality)
    common = {"num_labels": num_labels, "strategy": choice.strategy, "unfreeze_last": unfreeze_last}
    bundle_args = {"choice": choice, "num_labels": num_labels, "label": label, "record": record, "task": task}
    if heads is not None and kind is not None:
        from . import multihead

        return _bundle(multihead.build_from_object(obj, kind=kind, specs=heads, task=task, preprocess=preprocess,
                                                   strategy=choice.strategy, unfreeze_last=unfreeze_last),
                       framework="pytorch", **bundle_args)
    if kind == "sentence-transformers":
        from . import sentence_transformers_adapter as sta

        return _bundle(sta.adapt(obj, labels=labels, **common), framework="pytorch", **bundle_args)
    if kind == "transformers":
        from . import transformers_adapter as ta

        built = ta.adapt_model(obj, task=task, labels=labels, preprocess=preprocess, **common)
        return _bundle(built, framework="pytorch", **bundle_args)
    if kind == "torch":
        from . import torch_adapter

        built = torch_adapter.adapt_module(obj, preprocess=preprocess, **common)
        return _bundle(built, framework="pytorch", **bundle_args)
    if kind == "tensorflow":
        from . import tf_adapter

        built = tf_adapter.adapt(obj, **common, **kwargs)
        return _bundle(built, framework="tensorflow", **bundle_args)
    raise UsageError(f"cannot fine-tune a {type(obj).__module__}.{type(obj).__name__}",
                     hint="pass a hub ID, a model folder, or a torch / transformers / sentence-transformers / "
                          "hub.KerasLayer model")


# -- hub IDs -----------------------------------------------------------------------------------
def _registry(store: Store | None, mid: ModelId) -> Store:
    if store is None:
        raise UsageError(f"fine-tuning {mid} needs the registry: pass store=",
                         hint="or call ptmhub.load_for_finetune, which opens the default registry")
    return store


def _from_hub(mid: ModelId, *, store: Store | None, trust: bool, kwargs: dict[str, Any],
              **common: Any) -> FinetuneBundle:
    from .. import models

    from ..hubs.base import backend_for
    from ..offline import apply

    label = str(mid)
    store = _registry(store, mid)
    backend = backend_for(mid.platform)
    record = store.get(mid.key)
    folder = backend.local_folder(mid, record)  # a cached snapshot in a framework's own format
    if folder is not None:
        bundle = _from_folder(folder, record=record, label=label, kwargs=kwargs, **common)
        if record is not None:
            try:
                store.touch(record.id)
            except PtmhubError:
                pass
        return bundle
    offline = apply(None)  # the mode load_for_finetune set; the native switches made to agree
    load_kwargs = backend.finetune_load_kwargs(mid, kwargs)  # the rest of kwargs goes to the head's builder
    loaded = models.load(mid, store=store, offline=offline, trust=trust, **load_kwargs)
    return _from_object(loaded.model, preprocess=loaded.preprocess, record=loaded.record, label=label,
                        kwargs=kwargs, **common)
