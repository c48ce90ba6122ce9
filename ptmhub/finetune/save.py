"""``FinetuneBundle.save(path)``: a fine-tuned model as a folder its framework's own loader reads,
with a Hugging Face style model card whose ``base_model`` gives ``ptmhub add PATH`` its lineage.

==========================  ===================================================================
adapter                     what the folder holds, and what loads it
==========================  ===================================================================
``transformers``            ``save_pretrained`` of the model (config.json with ``id2label``) and
                            of its tokenizer / image processor:
                            ``AutoModelFor<Task>.from_pretrained(path)``
``sentence-transformers``   the body's own ``SentenceTransformer.save`` plus the head as a last
                            ``Dense`` module (identity activation): ``SentenceTransformer(path)``,
                            whose ``encode`` returns the head's logits
``timm``                    timm's ``save_for_hf`` (config.json with ``architecture``,
                            ``num_classes``, ``label_names``, ``pretrained_cfg`` and
                            model.safetensors): ``timm.create_model("local-dir:" + path)``
``torch`` (torchvision)     the state dict in model.safetensors and ``ptmhub_torch.json`` naming
                            the torchvision builder and its arguments:
                            ``torchvision.models.get_model(builder, weights=None, **kwargs)`` then
                            ``safetensors.torch.load_model``
``torch`` (other modules)   the same without a builder: the module's own code rebuilds it
``tensorflow-hub``          a tf_keras SavedModel: ``tf_keras.models.load_model(path)``
==========================  ===================================================================

Every folder gets a README.md whose YAML front matter has ``base_model`` (the hub ID the bundle
was loaded from, in the Hugging Face form for ``hf:`` models), ``base_model_relation: finetune``,
the base's license when the registry knows it, ``library_name``, ``pipeline_tag`` and a
``ptmhub`` block with the strategy. The folder is written under a temporary name beside ``path``
and renamed only when complete: an error leaves nothing behind, and an existing folder is
replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PtmhubError, UsageError
from ..folders import TORCH_MANIFEST

if TYPE_CHECKING:
    from . import FinetuneBundle

__all__ = ["save", "model_card", "torchvision_builder"]


# -- the target folder ---------------------------------------------------------------------------
def _target(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """The absolute folder to write, after the refusals.

    Raises:
        UsageError: a file, a non-empty folder without ``overwrite``, or a parent that cannot be made.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise UsageError(f"save needs a folder path, not {path!r}")
    target = Path(path).expanduser().absolute()
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(f"{target} exists and is not a folder", hint="choose a new folder to save into")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise UsageError(f"{target} already exists and is not empty",
                         hint="pass overwrite=True to replace it, or choose another folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {target.parent}: {exc.strerror or exc}",
                         hint="choose a folder under a writable directory") from None
    return target


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the complete ``tmp`` to ``target``; an existing non-empty ``target`` (overwrite) is
    moved aside first and put back if the rename fails."""
    if target.is_dir() and any(target.iterdir()):
        old = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.old"
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)  # an empty folder is replaced, a missing one created


def save(bundle: FinetuneBundle, path: str | os.PathLike[str], *, overwrite: bool = False,
         base_model: str | None = None, license: str | None = None) -> Path:
    """See :meth:`ptmhub.finetune.FinetuneBundle.save`."""
    if bundle.heads:
        names = ", ".join(h["name"] for h in bundle.heads)
        raise UsageError(f"a bundle with several heads ({names}) has no one-framework folder format to save to",
                         hint="save the weights with torch.save(bundle.model.state_dict(), PATH) and rebuild with "
                              "load_for_finetune(ID, heads=...); or fine-tune one head per model to save() each")
    writer = _WRITERS.get(bundle.adapter)
    if writer is None:
        raise UsageError(f"cannot save a model of adapter {bundle.adapter!r}",
                         hint="one of " + ", ".join(_WRITERS))
    base = _check_base(base_model) if base_model is not None else _base_of(bundle)
    if license is None and bundle.record is not None and bundle.record.id == base:
        license = bundle.record.license
    target = _target(path, overwrite=overwrite)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.partial"
    tmp.mkdir()
    try:
        written = writer(bundle, tmp)
        (tmp / "README.md").write_text(model_card(bundle, written, base_model=base, license=license),
                                       encoding="utf-8")
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# -- the base model --------------------------------------------------------------------------------
def _check_base(base_model: str) -> str:
    from ..ids import parse

    return parse(base_model).key  # InvalidIdError (a UsageError) for what no rule parses


def _base_of(bundle: FinetuneBundle) -> str | None:
    """The registry ID of the model the bundle was loaded from; None for a folder or an object."""
    if bundle.record is not None:
        return bundle.record.id
    label = bundle.model_id
    if not label:
        return None
    from . import _looks_like_path

    if _looks_like_path(label):
        return None
    from ..ids import parse

    try:
        return parse(label).key
    except PtmhubError:
        return None


def _card_id(model_id: str) -> str:
    """``hf:OWNER/NAME`` is written as ``OWNER/NAME`` (what Hugging Face cards hold); other hubs'
    IDs keep their prefix (``torchhub:pytorch/vision/resnet18``)."""
    return model_id.removeprefix("hf:")


# -- the model card --------------------------------------------------------------------------------
def model_card(bundle: FinetuneBundle, written: dict[str, Any], *, base_model: str | None,
               license: str | None) -> str:
    """README.md: YAML front matter (``base_model``, ``license``, ``library_name``,
    ``pipeline_tag``, ``ptmhub``) and a short description with the code that loads the folder."""
    import yaml

    labels = written["labels"]
    meta: dict[str, Any] = {}
    if base_model:
        meta["base_model"] = _card_id(base_model)
        meta["base_model_relation"] = "finetune"
    if license:
        meta["license"] = license
    meta["library_name"] = written["library_name"]
    if written.get("pipeline_tag"):
        meta["pipeline_tag"] = written["pipeline_tag"]
    meta["tags"] = ["ptmhub", "fine-tuned"]
    meta["ptmhub"] = {
        "source": bundle.model_id, "adapter": bundle.adapter, "framework": bundle.framework, "task": bundle.task,
        "strategy": bundle.strategy, "requested_strategy": bundle.requested_strategy, "head": bundle.head,
        "num_labels": bundle.num_labels, "labels": labels, "trainable_parameters": bundle.trainable_parameters,
        "total_parameters": bundle.total_parameters, "suggested_learning_rate": bundle.suggested_learning_rate,
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    origin = f"`{base_model}`" if base_model else (f"`{bundle.model_id}`" if bundle.model_id else "a model object")
    lines = [
        "---", front.rstrip("\n"), "---", "",
        "# Fine-tuned model", "",
        (f"A {bundle.num_labels}-label {written.get('pipeline_tag') or 'classification'} model fine-tuned from "
         f"{origin}, prepared by ptmhub's `load_for_finetune` (strategy `{bundle.strategy}`: "
         f"{bundle.trainable_parameters:,} of {bundle.total_parameters:,} parameters trainable; new head "
         f"`{bundle.head}`)."), "",
        "## Load", "", "```python", 'path = "path/to/this/folder"', written["load"], "```", "",
    ]
    if written.get("output"):
        lines += [written["output"], ""]
    if base_model:
        lines += [(f"Register it with `ptmhub add PATH`; `ptmhub lineage local:NAME` then names `{base_model}` as "
                   "its base."), ""]
    lines += ["## Labels", "", *[f"- {i}: {name}" for i, name in enumerate(labels)], "",
              "## How the model was prepared", "", *[f"- {note}" for note in bundle.notes], ""]
    return "\n".join(lines)


# -- one writer per adapter ------------------------------------------------------------------------
def _default_labels(bundle: FinetuneBundle) -> list[str]:
    return list(bundle.labels) if bundle.labels else [f"LABEL_{i}" for i in range(bundle.num_labels)]


def _transformers(bundle: FinetuneBundle, folder: Path) -> dict[str, Any]:
    from .transformers_adapter import TASKS, quiet

    model = bundle.model
    task = bundle.task if bundle.task in TASKS else "text-classification"
    auto, pre = TASKS[task]
    with quiet():
        model.save_pretrained(str(folder))
        if bundle.preprocess is not None and hasattr(bundle.preprocess, "save_pretrained"):
            bundle.preprocess.save_pretrained(str(folder))
    id2label = model.config.id2label or {}
    labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(bundle.num_labels)]
    load = (f"from transformers import {auto}, {pre}\n"
            f"model = {auto}.from_pretrained(path)\n"
            f"preprocess = {pre}.from_pretrained(path)")
    return {"library_name": "transformers", "pipeline_tag": task, "labels": labels, "load": load}


def _dense_class() -> Any:
    try:
        from sentence_transformers.sentence_transformer.modules import Dense
    except ImportError:  # sentence-transformers before 6: the old module path
        from sentence_transformers.models import Dense
    return Dense


def _sentence_transformers(bundle: FinetuneBundle, folder: Path) -> dict[str, Any]:
    import torch.nn as nn

    from .transformers_adapter import quiet

    classifier = bundle.model
    body, head = classifier.body, classifier.head
    dense = _dense_class()(head.in_features, head.out_features, bias=head.bias is not None,
                           activation_function=nn.Identity(), init_weight=head.weight.detach().clone(),
                           init_bias=head.bias.detach().clone() if head.bias is not None else None)
    dense.to(head.weight.device)
    # The body is saved with the head as its last module, then given back as it was: the
    # sentence-transformers stack (transformer, pooling, normalisation, Dense) is what
    # SentenceTransformer(path) rebuilds, and its output is the head's logits.
    body.append(dense)
    try:
        with quiet():
            body.save(str(folder), create_model_card=False)
    finally:
        del body[len(body) - 1]
    load = ("from sentence_transformers import SentenceTransformer\n"
            "model = SentenceTransformer(path)\n"
            "logits = model.encode(texts, convert_to_tensor=True)  # (len(texts), num_labels)")
    output = ("`encode` returns the classification head's logits, not a sentence embedding: the head is the "
              "last module (a `Dense` with identity activation). The sentence embedding is the output of the "
              "modules before it: `SentenceTransformer(modules=list(model)[:-1]).encode(texts)`.")
    return {"library_name": "sentence-transformers", "pipeline_tag": "text-classification",
            "labels": list(getattr(classifier, "labels", None) or _default_labels(bundle)), "load": load,
            "output": output}


def _timm(bundle: FinetuneBundle, folder: Path) -> dict[str, Any]:
    from timm.models import save_for_hf

    labels = _default_labels(bundle)
    try:
        save_for_hf(bundle.model, str(folder), safe_serialization=True, model_config={"label_names": labels})
    except ValueError as exc:  # a model argument timm cannot write to config.json
        raise UsageError(f"timm cannot save this model: {str(exc).splitlines()[0]}") from None
    load = "import timm\nmodel = timm.create_model('local-dir:' + path, pretrained=True)"
    return {"library_name": "timm", "pipeline_tag": "image-classification", "labels": labels, "load": load}


def torchvision_builder(model: Any, num_labels: int) -> tuple[str, dict[str, Any]] | None:
    """The torchvision builder (and its arguments) that makes exactly ``model``'s architecture:
    same class, same state-dict names and shapes, built on the meta device (nothing allocated).
    None for a module that is not a torchvision classification model."""
    cls = type(model)
    if not cls.__module__.startswith("torchvision.models."):
        return None
    import torch
    from torchvision import models

    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    kwargs: dict[str, Any] = {"num_classes": num_labels}
    for attr in ("aux_logits", "transform_input"):  # Inception / GoogLeNet: set by their weights, not the shapes
        value = getattr(model, attr, None)
        if isinstance(value, bool):
            kwargs[attr] = value
    for name in models.list_models(module=models):
        builder = models.get_model_builder(name)
        if builder.__module__ != cls.__module__:
            continue
        try:
            with torch.device("meta"):
                candidate = builder(weights=None, **kwargs)
        except Exception:  # noqa: BLE001 - a builder that refuses these arguments is not the one
            continue
        if type(candidate) is cls and {k: tuple(v.shape) for k, v in candidate.state_dict().items()} == wanted:
            return name, kwargs
    return None


def _torch(bundle: FinetuneBundle, folder: Path) -> dict[str, Any]:
    from safetensors.torch import save_model

    model = bundle.model
    found = torchvision_builder(model, bundle.num_labels)
    cls = type(model)
    save_model(model, str(folder / "model.safetensors"))  # tied tensors once, as safetensors requires
    labels = _default_labels(bundle)
    manifest = {"format": 1, "library": "torchvision" if found else "torch",
                "class": f"{cls.__module__}.{cls.__qualname__}", "builder": found[0] if found else None,
                "kwargs": found[1] if found else None, "weights": "model.safetensors", "labels": labels,
                "source": bundle.model_id}
    (folder / TORCH_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if found:
        load = ("import torchvision\nfrom safetensors.torch import load_model\n"
                f"model = torchvision.models.get_model({found[0]!r}, weights=None, "
                + ", ".join(f"{k}={v!r}" for k, v in found[1].items()) + ")\n"
                "load_model(model, path + '/model.safetensors')")
        return {"library_name": "torchvision", "pipeline_tag": "image-classification", "labels": labels,
                "load": load}
    load = (f"from safetensors.torch import load_model\n"
            f"model = ...  # build a {cls.__qualname__} ({cls.__module__}) with a {bundle.num_labels}-way head "
            "with its own code\nload_model(model, path + '/model.safetensors')")
    task = bundle.record.task if bundle.record is not None and bundle.record.task else None
    return {"library_name": "pytorch", "pipeline_tag": task, "labels": labels, "load": load}


def _tensorflow(bundle: FinetuneBundle, folder: Path) -> dict[str, Any]:
    from .tf_adapter import import_tf

    _, _, hub = import_tf()
    model = bundle.model
    if any(getattr(layer, "_is_hub_module_v1", False) for layer in model.layers if isinstance(layer, hub.KerasLayer)):
        # hub.load wraps a TF1 module's graph for TF2; ptmhub does not export that as a new SavedModel
        raise UsageError("ptmhub does not save a model built on a TF1 Hub format module",
                         hint="keep the head's weights: model.get_layer('classifier').get_weights()")
    try:
        model.save(str(folder), include_optimizer=False, save_format="tf")
    except (ValueError, TypeError, NotImplementedError, AttributeError) as exc:
        raise UsageError(f"tf_keras cannot save this model as a SavedModel: {str(exc).splitlines()[0][:200]}") from None
    load = ("import tensorflow_hub as hub\nimport tf_keras\n"
            "model = tf_keras.models.load_model(path, custom_objects={'KerasLayer': hub.KerasLayer})")
    task = bundle.record.task if bundle.record is not None and bundle.record.task else None
    return {"library_name": "tf-keras", "pipeline_tag": task, "labels": _default_labels(bundle), "load": load,
            "output": "The model outputs logits (the `classifier` Dense layer has no softmax)."}


_WRITERS: dict[str, Callable[[FinetuneBundle, Path], dict[str, Any]]] = {
    "transformers": _transformers, "sentence-transformers": _sentence_transformers, "timm": _timm,
    "torch": _torch, "tensorflow-hub": _tensorflow,
}
