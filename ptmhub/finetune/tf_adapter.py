"""TF Hub / Kaggle SavedModels: a tf_keras model ``Input -> hub.KerasLayer -> Dense(num_labels)``.

What TensorFlow allows, and what ptmhub does about it (always said in the notes):

- A ``hub.KerasLayer`` trains or freezes as a whole (``trainable=True/False``); there are no
  blocks to unfreeze one by one. ``partial`` therefore becomes ``feature_extraction`` (the nearest
  strategy: most of the body frozen; ``full`` is the other choice with enough data).
- The TF1 Hub format (a ``tfhub_module.pb`` beside the SavedModel) cannot be fine-tuned from TF2:
  ``full`` and ``partial`` become ``feature_extraction``.
- A SavedModel that exposes no ``trainable_variables`` has nothing to train: the same.

The head outputs logits (no softmax): train with
``SparseCategoricalCrossentropy(from_logits=True)``. A frozen KerasLayer also runs in inference
mode, so its BatchNorm statistics stay as published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import settings
from ..errors import UsageError

__all__ = ["import_tf", "is_tf1_hub_format", "adapt", "count_weights"]


def import_tf() -> tuple[Any, Any, Any]:
    """(tensorflow, tf_keras, tensorflow_hub) with Keras 2 selected before TensorFlow loads."""
    settings.setdefault_env("TF_USE_LEGACY_KERAS", "1")
    from ..savedmodel import import_tensorflow

    tf = import_tensorflow()
    try:
        import tensorflow_hub as hub
        import tf_keras
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("tensorflow-hub", "tf", purpose="fine-tuning a TF Hub model") from None
    return tf, tf_keras, hub


def is_tf1_hub_format(folder: str | Path) -> bool:
    """tensorflow_hub's own test: a ``tfhub_module.pb`` beside the SavedModel."""
    return (Path(folder) / "tfhub_module.pb").is_file()


def count_weights(weights: list[Any]) -> int:
    total = 0
    for w in weights:
        n = 1
        for dim in w.shape:
            n *= int(dim)
        total += n
    return total


def _input_spec(layer: Any) -> tuple[tuple[int | None, ...], str] | None:
    """The input shape (without the batch axis) and dtype of the layer's callable, when its
    SavedModel says (one TensorSpec argument)."""
    func = getattr(layer, "_func", None)
    candidates = []
    call = getattr(func, "__call__", None)
    candidates.extend(getattr(call, "concrete_functions", None) or [])
    signature = getattr(layer, "_signature", None)
    if signature and hasattr(func, "signatures"):
        try:
            candidates.append(func.signatures[signature])
        except KeyError:
            pass
    for concrete in candidates:
        try:
            args, kwargs = concrete.structured_input_signature
        except (AttributeError, ValueError):
            continue
        specs = [a for a in args if hasattr(a, "shape") and hasattr(a, "dtype")] + \
                [v for v in kwargs.values() if hasattr(v, "shape") and hasattr(v, "dtype")]
        if len(specs) == 1 and specs[0].shape.rank is not None and specs[0].shape.rank >= 1:
            spec = specs[0]
            return tuple(spec.shape.as_list()[1:]), spec.dtype.name
    return None


def adapt(source: Any, *, num_labels: int, strategy: str, unfreeze_last: int | None = None,
          input_shape: tuple[int | None, ...] | list[int | None] | None = None, input_dtype: str | None = None,
          **layer_kwargs: Any) -> dict[str, Any]:
    """Wrap a ``hub.KerasLayer`` (or a SavedModel folder) with an input and a Dense head.

    Args:
        source: a ``hub.KerasLayer`` or the path of a SavedModel folder.
        input_shape: the input's shape without the batch axis (read from the SavedModel's call
            signature when omitted; text models take ``()`` with ``input_dtype="string"``).
        layer_kwargs: passed to ``hub.KerasLayer`` when ``source`` is a folder (``signature``,
            ``output_key``, ``tags``, ``arguments``).

    Raises:
        UsageError: no input shape known, or the layer's output is not one feature vector.
    """
    tf, tf_keras, hub = import_tf()
    notes: list[str] = []
    folder: Path | None = None
    if isinstance(source, (str, Path)):
        folder = Path(source)
        layer = hub.KerasLayer(str(folder), trainable=False, **layer_kwargs)
    elif isinstance(source, hub.KerasLayer):
        layer = source
    else:
        raise UsageError(f"expected a hub.KerasLayer or a SavedModel folder, got {type(source).__name__}")
    tf1 = bool(getattr(layer, "_is_hub_module_v1", False)) or (folder is not None and is_tf1_hub_format(folder))
    has_variables = bool(getattr(getattr(layer, "_func", None), "trainable_variables", None))
    applied = strategy
    if strategy == "partial":
        applied = "feature_extraction"
        notes.append("partial cannot be honoured: a hub.KerasLayer trains or freezes as a whole; nearest: "
                     "feature_extraction (use strategy='full' with a low learning rate if you have the data)")
    if applied == "full" and tf1:
        applied = "feature_extraction"
        notes.append("full cannot be honoured: the TF1 Hub format cannot be fine-tuned in TF2 "
                     "(hub.KerasLayer(trainable=True) refuses it); nearest: feature_extraction")
    elif applied == "full" and not has_variables:
        applied = "feature_extraction"
        notes.append("full cannot be honoured: this SavedModel exposes no trainable_variables; "
                     "nearest: feature_extraction")
    if unfreeze_last is not None:
        notes.append(f"unfreeze_last={unfreeze_last} ignored: a hub.KerasLayer has no separately trainable blocks")
    layer.trainable = applied == "full"
    spec = _input_spec(layer)
    if input_shape is None:
        if spec is None:
            raise UsageError("cannot tell this model's input shape from its SavedModel",
                             hint="pass input_shape=(224, 224, 3) for images, or input_shape=() and "
                                  "input_dtype='string' for text")
        input_shape = spec[0]
        notes.append(f"input: shape {tuple(input_shape)} {input_dtype or spec[1]}, read from the SavedModel signature")
    dtype = input_dtype or (spec[1] if spec else "float32")
    inputs = tf_keras.Input(shape=tuple(input_shape), dtype=dtype, name="inputs")
    features = layer(inputs)
    if isinstance(features, dict):
        raise UsageError("the layer returns a dict of outputs",
                         hint="pass output_key=... (e.g. 'pooled_output') to pick the feature vector")
    if len(features.shape) != 2:
        raise UsageError(f"the layer's output has shape {tuple(features.shape)}, not (batch, features)",
                         hint="pick a feature-vector model or output_key (e.g. 'pooled_output')")
    outputs = tf_keras.layers.Dense(num_labels, name="classifier")(features)
    model = tf_keras.Model(inputs, outputs, name="ptmhub_finetune")
    notes.insert(0, f"head: Dense({num_labels}) named 'classifier' on the {int(features.shape[-1])}-d output of "
                    f"hub.KerasLayer, newly initialised; outputs logits (use from_logits=True)")
    if applied == "full":
        notes.append("hub.KerasLayer(trainable=True): the whole body trains")
    else:
        notes.append("hub.KerasLayer(trainable=False): the body is frozen and runs in inference mode")
    notes.append("preprocess: none separate; TF Hub models take their documented input "
                 "(images as float32 in [0, 1] at the model's size; text models take raw strings)")
    trainable = count_weights(model.trainable_weights)
    total = count_weights(model.weights)
    return {"model": model, "preprocess": None, "head": "classifier", "strategy": applied,
            "trainable": trainable, "total": total, "blocks": None, "unfrozen_blocks": None, "notes": notes,
            "family": "other", "adapter": "tensorflow-hub", "tf1": tf1}
