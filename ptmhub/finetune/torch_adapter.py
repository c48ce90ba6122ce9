"""PyTorch models (torchvision, torch.hub, timm): a new classifier and freezing by block.

The head is replaced where each library keeps it: timm's ``reset_classifier``; torchvision's
``fc`` (ResNet, RegNet, ShuffleNet, GoogLeNet, Inception + its ``AuxLogits.fc``), ``classifier``
(VGG, AlexNet, DenseNet, MobileNet, EfficientNet, ConvNeXt, MNASNet, SqueezeNet's 1x1 conv),
``heads.head`` (ViT), ``head`` (Swin, MaxViT); for any other module, the last ``nn.Linear``.

Blocks (what ``partial`` unfreezes from the end) are timm's own parameter groups
(``group_matcher``, the groups it uses for layer-wise learning-rate decay), torchvision's
residual/inverted-residual/transformer blocks, or the body's top-level children.

The freezing and counting helpers here are shared by the transformers and
sentence-transformers adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .strategies import default_unfreeze_last

__all__ = ["Frozen", "freeze", "count_parameters", "adapt_module", "find_blocks", "replace_head",
           "train_mode", "is_timm_model"]


# -- counting and freezing (shared by every PyTorch adapter) -------------------------------------
def count_parameters(model: Any, *, trainable: bool | None = None) -> int:
    """Parameters of ``model`` (each shared tensor once); ``trainable`` filters on requires_grad."""
    return sum(p.numel() for p in model.parameters() if trainable is None or p.requires_grad == trainable)


@dataclass
class Frozen:
    """What :func:`freeze` did."""

    strategy: str                 # the strategy actually applied
    blocks: int                   # blocks found in the body
    unfrozen_blocks: int          # of which trainable
    trainable: int                # parameters
    total: int
    notes: list[str] = field(default_factory=list)


def _group_label(names: Sequence[str]) -> str:
    """'bert.pooler.dense.weight', 'bert.pooler.dense.bias' -> 'bert.pooler.dense' (their module)."""
    prefixes = sorted({n.rsplit(".", 1)[0] for n in names})
    return ", ".join(prefixes[:4]) + (f" and {len(prefixes) - 4} more" if len(prefixes) > 4 else "")


def freeze(model: Any, *, head: Iterable[Any], blocks: Sequence[Any], strategy: str,
           unfreeze_last: int | None = None, never_train: Iterable[Any] = (), block_word: str = "blocks",
           never_train_reason: str = "") -> Frozen:
    """Set ``requires_grad`` on every parameter of ``model`` for ``strategy``.

    ``feature_extraction``: only ``head``. ``partial``: ``head``, the last ``unfreeze_last``
    ``blocks`` and every body parameter registered after the first of them (final norms,
    poolers). ``full``: everything. Parameters of ``never_train`` modules stay frozen in every
    strategy (e.g. a pooler no forward pass uses).

    Raises:
        UsageError: a negative ``unfreeze_last``.
    """
    if unfreeze_last is not None and unfreeze_last < 0:
        raise UsageError(f"unfreeze_last must be zero or more, not {unfreeze_last}")
    named = list(model.named_parameters())
    head_ids = {id(p) for m in head for p in m.parameters()}
    never_ids = {id(p) for m in never_train for p in m.parameters()}
    notes: list[str] = []
    n_blocks = len(blocks)
    unfrozen = 0
    if strategy == "partial" and n_blocks == 0:
        notes.append("no repeated blocks found in the body: partial falls back to feature_extraction")
        strategy = "feature_extraction"
    if strategy == "full":
        trainable_ids = {id(p) for _, p in named}
        unfrozen = n_blocks
    elif strategy == "partial":
        n = default_unfreeze_last(n_blocks) if unfreeze_last is None else min(unfreeze_last, n_blocks)
        if unfreeze_last is not None and unfreeze_last > n_blocks:
            notes.append(f"unfreeze_last={unfreeze_last} but the body has {n_blocks} {block_word}: all of them unfrozen")
        unfrozen = n
        trainable_ids = set(head_ids)
        if n:
            first = {id(p) for p in blocks[n_blocks - n].parameters()}
            start = next(i for i, (_, p) in enumerate(named) if id(p) in first)
            after = [(name, p) for name, p in named[start:] if id(p) not in head_ids]
            trainable_ids |= {id(p) for _, p in after}
            block_ids = {id(p) for b in blocks[n_blocks - n:] for p in b.parameters()}
            extra = [name for name, p in after if id(p) not in block_ids and id(p) not in never_ids]
            notes.append(f"unfrozen: the last {n} of {n_blocks} {block_word}"
                         + (f" and what follows them ({_group_label(extra)})" if extra else "")
                         + ("" if unfreeze_last is not None else " (default: a quarter of the blocks, rounded up)"))
        else:
            notes.append("unfreeze_last=0: only the head trains (same as feature_extraction)")
    else:
        trainable_ids = set(head_ids)
    trainable_ids -= never_ids
    for _, p in named:
        p.requires_grad = id(p) in trainable_ids
    if never_ids and never_train_reason:
        notes.append(never_train_reason)
    trainable = count_parameters(model, trainable=True)
    total = count_parameters(model)
    if strategy == "feature_extraction":
        notes.append(f"frozen: the whole body ({total - trainable:,} parameters); only the head trains")
    return Frozen(strategy=strategy, blocks=n_blocks, unfrozen_blocks=unfrozen, trainable=trainable, total=total,
                  notes=notes)


def train_mode(model: Any) -> Any:
    """``model.train()``, except that BatchNorm layers whose parameters are all frozen stay in
    eval mode, so a frozen body keeps its pretrained running statistics (as Keras does for a
    non-trainable layer). Returns the model."""
    import torch.nn as nn

    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()
    return model


# -- blocks ------------------------------------------------------------------------------------
def is_timm_model(model: Any) -> bool:
    return callable(getattr(model, "reset_classifier", None)) and callable(getattr(model, "group_matcher", None))


def _timm_blocks(model: Any) -> list[Any]:
    """timm's parameter groups (stem, each block, head) as modules, stem and head left out."""
    import torch.nn as nn
    from timm.models._manipulate import group_with_matcher

    names = [n for n, _ in model.named_parameters()]
    groups = group_with_matcher(names, model.group_matcher(coarse=False))
    ordered = [list(v) for _, v in sorted(groups.items())]
    head_names = {n for n, _ in _named_params_of(model, model.get_classifier())}
    if ordered and head_names & set(ordered[-1]):
        ordered = ordered[:-1]
    ordered = ordered[1:]  # the stem
    params = dict(model.named_parameters())
    blocks = []
    for group in ordered:
        holder = nn.Module()
        holder._ptmhub_params = nn.ParameterList([params[n] for n in group])  # views, not copies
        blocks.append(holder)
    return blocks


def _named_params_of(model: Any, module: Any) -> list[tuple[str, Any]]:
    ids = {id(p) for p in module.parameters()} if module is not None else set()
    return [(n, p) for n, p in model.named_parameters() if id(p) in ids]


def _has_params(module: Any) -> bool:
    return any(True for _ in module.parameters())


def _flatten_sequence(children: Iterable[Any]) -> list[Any]:
    """Children of a ``features``-style Sequential, with stage Sequentials of same-type blocks
    opened up (EfficientNet's stages, ConvNeXt's CNBlock stages)."""
    import torch.nn as nn

    out: list[Any] = []
    for child in children:
        grand = list(child.children()) if isinstance(child, (nn.Sequential, nn.ModuleList)) else []
        if len(grand) > 1 and len({type(g) for g in grand}) == 1 and all(_has_params(g) for g in grand):
            out.extend(grand)
        elif _has_params(child):
            out.append(child)
    return out


def find_blocks(model: Any, *, head_modules: Sequence[Any] = ()) -> tuple[list[Any], str]:
    """The body's repeated blocks, first to last, and what they are called."""
    import torch.nn as nn

    if is_timm_model(model):
        try:
            blocks = _timm_blocks(model)
        except Exception:  # noqa: BLE001 - an architecture whose matcher timm cannot apply: use the fallback
            blocks = []
        if blocks:
            return blocks, "blocks (timm parameter groups)"
    stages = [getattr(model, f"layer{i}", None) for i in range(1, 5)]
    if all(isinstance(s, nn.Sequential) for s in stages):  # ResNet family
        return [b for s in stages for b in s.children()], "residual blocks"
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layers", None)
    if isinstance(layers, (nn.Sequential, nn.ModuleList)) and len(layers) > 1:  # torchvision ViT
        return [b for b in layers.children() if _has_params(b)], "encoder blocks"
    for name in ("features", "layers", "blocks", "stages"):
        seq = getattr(model, name, None)
        if isinstance(seq, (nn.Sequential, nn.ModuleList)) and len(seq) > 1:
            return _flatten_sequence(seq.children()), f"{name} blocks"
    head_ids = {id(m) for m in head_modules}
    top = [m for m in model.children() if id(m) not in head_ids and _has_params(m)]
    return top, "top-level modules"


# -- heads -------------------------------------------------------------------------------------
def _last_linear(module: Any) -> tuple[str, Any] | None:
    import torch.nn as nn

    found = None
    for name, child in module.named_modules():
        if isinstance(child, nn.Linear):
            found = (name, child)
        elif isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1) and name:
            found = (name, child)  # SqueezeNet classifies with a 1x1 convolution
    return found


def _set_submodule(root: Any, dotted: str, new: Any) -> None:
    parent_name, _, leaf = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


def _new_like(old: Any, num_labels: int) -> Any:
    import torch.nn as nn

    if isinstance(old, nn.Linear):
        return nn.Linear(old.in_features, num_labels, bias=old.bias is not None)
    return nn.Conv2d(old.in_channels, num_labels, kernel_size=1, bias=old.bias is not None)


def replace_head(model: Any, num_labels: int) -> tuple[list[str], list[Any], list[str]]:
    """Give ``model`` a new ``num_labels``-way classifier. Returns (head names, head modules,
    notes).

    Raises:
        UsageError: no classifier can be found.
    """
    import torch.nn as nn

    notes: list[str] = []
    if is_timm_model(model):
        old = model.get_classifier()
        old_out = getattr(old, "out_features", None)
        model.reset_classifier(num_labels)
        head = model.get_classifier()
        name = model.pretrained_cfg.get("classifier", "head") if hasattr(model, "pretrained_cfg") else "head"
        notes.append(f"timm reset_classifier({num_labels}): new {name}"
                     + (f" ({old_out} -> {num_labels} outputs)" if old_out else ""))
        if isinstance(name, (list, tuple)):
            name = ", ".join(name)
        return [str(name)], [head], notes
    names: list[str] = []
    modules: list[Any] = []
    for attr in ("fc", "classifier", "heads", "head", "last_linear", "linear"):
        holder = getattr(model, attr, None)
        if not isinstance(holder, nn.Module):
            continue
        found = _last_linear(holder)
        if found is None:
            continue
        sub, old = found
        dotted = f"{attr}.{sub}" if sub else attr
        new = _new_like(old, num_labels)
        _set_submodule(model, dotted, new)
        names.append(dotted)
        modules.append(new)
        old_out = getattr(old, "out_features", getattr(old, "out_channels", "?"))
        notes.append(f"replaced {dotted} ({type(old).__name__}, {old_out} -> {num_labels} outputs, newly initialised)")
        break
    aux = getattr(model, "AuxLogits", None)
    if names and isinstance(getattr(aux, "fc", None), nn.Linear):  # Inception v3's auxiliary classifier
        new = _new_like(aux.fc, num_labels)
        aux.fc = new
        names.append("AuxLogits.fc")
        modules.append(new)
        notes.append("replaced AuxLogits.fc too (Inception's auxiliary classifier, used in training mode)")
    if not names:
        found = _last_linear(model)
        if found is None or not found[0]:
            raise UsageError(f"cannot find a classifier to replace in {type(model).__name__}",
                             hint="pass a model with an fc/classifier/head Linear layer, or add your own head")
        dotted, old = found
        new = _new_like(old, num_labels)
        _set_submodule(model, dotted, new)
        names.append(dotted)
        modules.append(new)
        notes.append(f"replaced {dotted}, the last Linear layer ({old.out_features} -> {num_labels} outputs)")
    return names, modules, notes


def _timm_preprocess(model: Any) -> Any:
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config({}, model=model))


def adapt_module(model: Any, *, num_labels: int, strategy: str, unfreeze_last: int | None = None,
                 preprocess: Any = None) -> dict[str, Any]:
    """Replace the classifier of a torchvision / torch.hub / timm module and freeze it.

    Returns a dict with ``model``, ``preprocess``, ``head``, ``frozen`` (:class:`Frozen`),
    ``notes``, ``family`` and ``adapter`` (the bundle is built by :mod:`ptmhub.finetune`).
    """
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(model).__name__}")
    timm_model = is_timm_model(model)
    names, head_modules, notes = replace_head(model, num_labels)
    blocks, word = find_blocks(model, head_modules=head_modules)
    frozen = freeze(model, head=head_modules, blocks=blocks, strategy=strategy, unfreeze_last=unfreeze_last,
                    block_word=word)
    preprocess = preprocess_with_note(model, preprocess, timm_model=timm_model, notes=notes)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) and frozen.strategy != "full":
        notes.append("BatchNorm: frozen layers still update running statistics in train mode; "
                     "use ptmhub.finetune.torch_adapter.train_mode(model) to keep them fixed")
    model.train()
    return {"model": model, "preprocess": preprocess, "head": ", ".join(names), "frozen": frozen,
            "notes": notes + frozen.notes, "family": "transformer" if _is_vit(model) else "convnet",
            "adapter": "timm" if timm_model else "torch"}


def _is_vit(model: Any) -> bool:
    name = type(model).__name__.lower()
    return "visiontransformer" in name or "vit" in name or "deit" in name or "swin" in name


def preprocess_with_note(model: Any, preprocess: Any, *, timm_model: bool, notes: list[str]) -> Any:
    """The preprocess to hand back (timm's transform from its pretrained_cfg when none was given),
    with a note on where it comes from."""
    if preprocess is None and timm_model:
        notes.append("preprocess: timm's transform from the model's pretrained_cfg (size, crop, mean/std)")
        return _timm_preprocess(model)
    if preprocess is not None:
        notes.append("preprocess: the weights' own transforms")
    else:
        notes.append("preprocess: none known for this module; use the transforms its publisher documents")
    return preprocess
