"""Several task heads on one shared backbone (HydraNets): ``load_for_finetune(ID, heads={...})``.

The model is :class:`MultiHeadModel`: ``backbone`` (the pretrained body, giving one feature
vector per input) and ``heads`` (an ``nn.ModuleDict`` of ``nn.Linear(feature_dim, num_labels)``,
one per task, newly initialised). ``model(inputs)`` returns ``{head name: logits}``;
``model.features(inputs)`` the shared features. The body is found and frozen exactly as the
single-head path does it (the same block discovery and :func:`~.torch_adapter.freeze`, with all
heads as the head), so a strategy trains the same body parameters whatever the number of heads.

What the backbone's feature vector is, per source:

- sentence-transformers: the sentence embedding (the model's own pooling and normalisation);
  the transformer's pooler stays frozen, as in the single-head path.
- transformers: the base model (``AutoModel``); its ``pooler_output`` when it returns one
  (BERT's ``tanh(dense(CLS))``, the vector ``AutoModelForSequenceClassification`` classifies;
  ViT; the vision CNNs' global pooling), else the mean of ``last_hidden_state`` over the tokens
  the attention mask keeps.
- timm: ``reset_classifier(0)``, i.e. the pooled pre-logits features.
- torchvision / torch.hub modules: the module with its classifier (the last ``Linear`` of
  ``fc`` / ``classifier`` / ``heads`` / ``head``, the one the single-head path replaces) set to
  ``nn.Identity``, i.e. the input of that layer.

TensorFlow Hub models are not supported here (one ``Dense`` head: ``num_labels=``).

Imported only when ``heads=`` is used (torch is imported at module level here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import UntrustedRepoError, UsageError
from .heads import HeadSpec
from .torch_adapter import (_set_submodule, find_blocks, freeze, is_timm_model, preprocess_with_note,
                            replace_head)

__all__ = ["MultiHeadModel", "SentenceEmbedding", "PooledTransformer", "ModuleFeatures", "build_from_folder",
           "build_from_object", "build_sentence_transformers",
           "build_transformers_folder", "build_transformers_model", "build_torch"]


class MultiHeadModel(nn.Module):
    """A shared ``backbone`` and one linear head per task; ``forward`` returns ``{name: logits}``."""

    def __init__(self, backbone: nn.Module, feature_dim: int, specs: Sequence[HeadSpec]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict()
        for spec in specs:
            if hasattr(self.heads, spec.name):
                raise UsageError(f"head name {spec.name!r} is reserved (a torch ModuleDict attribute)",
                                 hint="pick another name")
            self.heads[spec.name] = nn.Linear(feature_dim, spec.num_labels)
        self.feature_dim = feature_dim
        self.labels = {spec.name: list(spec.labels) for spec in specs}

    def features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The backbone's feature vectors, ``(batch, feature_dim)``."""
        return self.backbone(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        features = self.features(*args, **kwargs)
        return {name: head(features) for name, head in self.heads.items()}


class SentenceEmbedding(nn.Module):
    """A ``SentenceTransformer`` as a backbone: token features (or strings) -> sentence embedding."""

    def __init__(self, body: Any):
        super().__init__()
        self.body = body

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        fn = getattr(self.body, "preprocess", None) or self.body.tokenize
        return fn(list(texts))

    def forward(self, features: Mapping[str, Any] | Sequence[str]) -> torch.Tensor:
        if isinstance(features, (list, tuple)):
            features = self.tokenize(features)
        device = next(self.body.parameters()).device
        features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return self.body(features)["sentence_embedding"]


class PooledTransformer(nn.Module):
    """A transformers base model as a backbone: its ``pooler_output`` when it returns one, else
    the attention-masked mean of ``last_hidden_state`` over the tokens (over height and width for
    a ``(batch, channels, height, width)`` map). Takes the tokenizer's or processor's dict,
    positionally or as keywords."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if len(args) == 1 and isinstance(args[0], Mapping):
            kwargs = {**args[0], **kwargs}
            args = ()
        out = self.model(*args, **kwargs)
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        hidden = out.last_hidden_state
        if hidden.dim() == 4:
            return hidden.mean((2, 3))
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.shape == hidden.shape[:2]:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return hidden.mean(1)  # audio models: the mask is per sample, not per frame


class ModuleFeatures(nn.Module):
    """A torch module whose classifier is ``nn.Identity``: its output, flattened, is the feature
    vector (Inception/GoogLeNet's training-mode tuples: the main output)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = self.model(*args, **kwargs)
        if isinstance(out, tuple):
            out = out[0]
        return out.flatten(1)


# -- building ------------------------------------------------------------------------------------
def _finish(model: MultiHeadModel, *, specs: Sequence[HeadSpec], where: str, blocks: Sequence[Any], block_word: str,
            strategy: str, unfreeze_last: int | None, notes: list[str], never_train: Sequence[Any] = (),
            never_train_reason: str = "") -> dict[str, Any]:
    heads = list(model.heads.values())
    frozen = freeze(model, head=heads, blocks=blocks, strategy=strategy, unfreeze_last=unfreeze_last,
                    never_train=never_train, block_word=block_word, never_train_reason=never_train_reason)
    described = ", ".join(f"{s.name} Linear({model.feature_dim} -> {s.num_labels})" for s in specs)
    head_rows = [{"name": s.name, "num_labels": s.num_labels, "labels": list(s.labels),
                  "parameters": sum(p.numel() for p in model.heads[s.name].parameters())} for s in specs]
    notes = [f"{len(specs)} heads on one shared backbone: {described}, on {where}, newly initialised; "
             "model(inputs) returns {head name: logits}", *notes, *frozen.notes]
    model.train()
    return {"model": model, "head": ", ".join(f"heads.{s.name}" for s in specs), "frozen": frozen, "notes": notes,
            "heads": head_rows}


def build_sentence_transformers(body: Any, *, specs: Sequence[HeadSpec], strategy: str,
                                unfreeze_last: int | None = None) -> dict[str, Any]:
    """Heads on a loaded ``SentenceTransformer``'s sentence embedding."""
    from .sentence_transformers_adapter import body_parts, embedding_size

    backbone = SentenceEmbedding(body)
    model = MultiHeadModel(backbone, embedding_size(body), specs)
    pooling = " -> ".join(type(m).__name__ for m in body.children())
    built = _finish(model, specs=specs, where=f"the sentence embedding ({pooling})", strategy=strategy,
                    unfreeze_last=unfreeze_last,
                    notes=["preprocess: the body's tokenizer (bundle.preprocess(texts) -> dict of tensors; the "
                           "model also takes a list of strings)"], **body_parts(body))
    return {**built, "preprocess": backbone.tokenize, "family": "sentence-embedding",
            "adapter": "sentence-transformers", "task": "text-classification"}


def _feature_dim(config: Any) -> int:
    dim = getattr(config, "hidden_size", None)
    sizes = getattr(config, "hidden_sizes", None)
    if not dim and sizes:
        dim = sizes[-1]
    if not isinstance(dim, int) or dim < 1:
        raise UsageError(f"cannot tell the feature size of this {getattr(config, 'model_type', '')} model",
                         hint="heads= needs a config with hidden_size (or hidden_sizes)")
    return dim


def _transformers_backbone(base: Any, *, specs: Sequence[HeadSpec], task: str, strategy: str,
                           unfreeze_last: int | None, notes: list[str]) -> dict[str, Any]:
    from .transformers_adapter import encoder_layers

    if task == "token-classification":
        raise UsageError("heads= builds one label per input, not per token",
                         hint="use num_labels= with task='token-classification'")
    where = (f"{type(base).__name__}'s pooler_output when it returns one (else the mean of last_hidden_state "
             "over the attention mask)")
    model = MultiHeadModel(PooledTransformer(base), _feature_dim(base.config), specs)
    layers, word = encoder_layers(base)
    built = _finish(model, specs=specs, where=where, blocks=layers, block_word=word, strategy=strategy,
                    unfreeze_last=unfreeze_last, notes=notes)
    return {**built, "family": "transformer", "adapter": "transformers", "task": task}


def build_transformers_folder(folder: str | Path, *, specs: Sequence[HeadSpec], task: str | None = None,
                              strategy: str, unfreeze_last: int | None = None, record_task: str | None = None,
                              **from_pretrained: Any) -> dict[str, Any]:
    """``AutoModel`` from ``folder`` (never from the network) with the heads on its pooled output.

    Raises:
        UsageError: no config.json, a per-token task, or no feature size in the config.
        UntrustedRepoError: the model needs its own Python code.
    """
    from .transformers_adapter import _preprocessor, _transformers, folder_config_and_task, quiet

    transformers = _transformers()
    folder, config, task = folder_config_and_task(folder, task, record_task)
    kwargs = {"local_files_only": True, "trust_remote_code": False, **from_pretrained}
    try:
        with quiet():
            base, info = transformers.AutoModel.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise UntrustedRepoError(f"{folder} needs its own Python code (trust_remote_code), which ptmhub does "
                                     "not run",
                                     hint="load it with transformers yourself if you trust it") from None
        raise
    notes = [f"{type(base).__name__} via AutoModel ({task})"]
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        notes.append("newly initialised (not in the checkpoint): " + ", ".join(missing[:6])
                     + (f" and {len(missing) - 6} more" if len(missing) > 6 else ""))
    preprocess, _ = _preprocessor(folder, task)
    notes.append(f"preprocess: {type(preprocess).__name__} from the model folder" if preprocess is not None
                 else "preprocess: none found in the model folder")
    built = _transformers_backbone(base, specs=specs, task=task, strategy=strategy, unfreeze_last=unfreeze_last,
                                   notes=notes)
    return {**built, "preprocess": preprocess}


def build_transformers_model(model: Any, *, specs: Sequence[HeadSpec], task: str | None = None, strategy: str,
                             unfreeze_last: int | None = None, preprocess: Any = None) -> dict[str, Any]:
    """The heads on an already-loaded transformers model's body (``model.base_model``, shared,
    not copied; a task model's own head is left out)."""
    from .transformers_adapter import default_task, normalize_task

    task = normalize_task(task) if task else default_task(model.config.to_dict())
    base = model.base_model
    notes = [f"backbone: the given {type(model).__name__}'s body ({type(base).__name__})"]
    built = _transformers_backbone(base, specs=specs, task=task, strategy=strategy, unfreeze_last=unfreeze_last,
                                   notes=notes)
    return {**built, "preprocess": preprocess}


def build_torch(module: Any, *, specs: Sequence[HeadSpec], strategy: str, unfreeze_last: int | None = None,
                preprocess: Any = None) -> dict[str, Any]:
    """The heads on a torchvision / torch.hub / timm module's pre-classifier features.

    The classifier is found by the single-head path's own :func:`~.torch_adapter.replace_head`
    (and the blocks by :func:`~.torch_adapter.find_blocks` with it in place), then removed:
    timm's ``reset_classifier(0)``, ``nn.Identity`` elsewhere.

    Raises:
        UsageError: not an ``nn.Module``, or no classifier to take the features from.
    """
    from .torch_adapter import _is_vit

    if not isinstance(module, nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(module).__name__}")
    timm_model = is_timm_model(module)
    names, placeholders, _ = replace_head(module, 1)
    blocks, word = find_blocks(module, head_modules=placeholders)
    first = placeholders[0]
    dim = int(first.in_features if isinstance(first, nn.Linear) else first.in_channels)
    if timm_model:
        module.reset_classifier(0)
        notes = [f"timm reset_classifier(0): the {dim}-d pooled pre-logits features"]
    else:
        for dotted in names:
            _set_submodule(module, dotted, nn.Identity())
        notes = [f"{', '.join(names)} set to Identity: the {dim}-d input of the classifier"]
    model = MultiHeadModel(ModuleFeatures(module), dim, specs)
    preprocess = preprocess_with_note(module, preprocess, timm_model=timm_model, notes=notes)
    built = _finish(model, specs=specs, where="the backbone's features", blocks=blocks, block_word=word,
                    strategy=strategy, unfreeze_last=unfreeze_last, notes=notes)
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    if batchnorm and built["frozen"].strategy != "full":
        built["notes"].append("BatchNorm: frozen layers still update running statistics in train mode; "
                              "use ptmhub.finetune.torch_adapter.train_mode(model) to keep them fixed")
    return {**built, "preprocess": preprocess, "family": "transformer" if _is_vit(module) else "convnet",
            "adapter": "timm" if timm_model else "torch"}


_TF_REFUSAL = ("heads= needs a PyTorch model: a TF Hub model takes one Dense head here",
               "use num_labels=, or put several Dense layers on the hub.KerasLayer yourself")


def build_from_folder(folder: Path, *, kind: str, text_task: bool, specs: Sequence[HeadSpec], task: str | None,
                      record: Any, strategy: str, unfreeze_last: int | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The heads on the model in ``folder`` (``kind`` from :func:`ptmhub.finetune.folder_kind`).

    Raises:
        UsageError: a TensorFlow model, or a folder with nothing to put heads on.
    """
    common = {"specs": specs, "strategy": strategy, "unfreeze_last": unfreeze_last}
    if kind == "sentence-transformers" and text_task:
        from .sentence_transformers_adapter import load_folder

        return build_sentence_transformers(load_folder(folder, **kwargs), **common)
    if kind in ("transformers", "sentence-transformers"):
        return build_transformers_folder(folder, task=task, record_task=record.task if record else None, **common,
                                         **kwargs)
    if kind == "timm":
        from ..folders import read_config
        from ..loaders import timm_model

        return build_torch(timm_model(folder, read_config(folder), label=str(folder), **kwargs), **common)
    raise UsageError(_TF_REFUSAL[0], hint=_TF_REFUSAL[1])


def build_from_object(obj: Any, *, kind: str, specs: Sequence[HeadSpec], task: str | None, preprocess: Any,
                      strategy: str, unfreeze_last: int | None) -> dict[str, Any]:
    """The heads on an already-built model (``kind`` from ``ptmhub.finetune._object_kind``).

    Raises:
        UsageError: a TensorFlow model.
    """
    common = {"specs": specs, "strategy": strategy, "unfreeze_last": unfreeze_last}
    if kind == "sentence-transformers":
        return build_sentence_transformers(obj, **common)
    if kind == "transformers":
        return build_transformers_model(obj, task=task, preprocess=preprocess, **common)
    if kind == "torch":
        return build_torch(obj, preprocess=preprocess, **common)
    raise UsageError(_TF_REFUSAL[0], hint=_TF_REFUSAL[1])
