"""Facts about a SavedModel on disk, read without running it: its format and parameter count.

The parameter count is the number of elements of the floating-point variables in the
SavedModel's checkpoint (``variables/variables.index``, read through
``tf.train.load_checkpoint``): the weights and the non-trainable statistics (batch-norm moving
averages) a model computes with. Optimizer slots, metric accumulators, step counters and the
checkpoint's object graph are not parameters and are left out; the note says what was counted.
TensorFlow is imported lazily (it is only needed when a SavedModel is inspected).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MissingDependencyError

__all__ = ["ParameterCount", "count_parameters", "detect_format", "is_saved_model", "import_tensorflow"]

PARAMETERS_SOURCE = "saved-model"
# Checkpoint entries that are training state, not model parameters. Object-based (TF2)
# checkpoints name entries by their path in the object graph; name-based (TF1 Hub format) ones by
# the variable's graph name.
_NOT_PARAMETERS = re.compile(
    r"(^|/)(optimizer|_optimizer|metrics|_metrics|save_counter|global_step|_iterations|_learning_rate)(/|$)"
    r"|\.OPTIMIZER_SLOT|^_CHECKPOINTABLE_OBJECT_GRAPH$"
    r"|/(Adam|Adam_1|Adagrad|Momentum|RMSProp|RMSProp_1|Ftrl|Ftrl_1|ExponentialMovingAverage)(/|$)"
)
_FLOAT_DTYPES = {"float16", "bfloat16", "float32", "float64", "half", "float", "double", "complex64", "complex128"}


@dataclass(frozen=True)
class ParameterCount:
    """The count (None when it cannot be known), why/how, and what was read."""

    parameters: int | None
    note: str
    source: str = PARAMETERS_SOURCE
    tensors: int = 0
    excluded: tuple[str, ...] = field(default=())


def import_tensorflow():  # type: ignore[no-untyped-def]
    """Import TensorFlow with Keras 2 (tf_keras) selected, as tensorflow_hub requires.

    ``TF_USE_LEGACY_KERAS=1`` must be in the environment before TensorFlow is first imported for
    ``tf.keras`` to be Keras 2; it is set here unless the user chose otherwise. The ``sqlite3``
    module is imported first, for the reason given in the code.

    Raises:
        MissingDependencyError: TensorFlow is not installed.
    """
    from . import settings

    settings.setdefault_env("TF_USE_LEGACY_KERAS", "1")
    settings.setdefault_env("TF_CPP_MIN_LOG_LEVEL", "2")
    # libtensorflow_cc exports its own SQLite (built without FTS5) into the global symbol
    # table; a _sqlite3 loaded after it binds to that copy and the registry's full-text index
    # stops working. Loading the sqlite3 module first keeps it on the system library.
    import sqlite3  # noqa: F401

    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependencyError("tensorflow", "tf", purpose="TF Hub models") from None
    return tf


def is_saved_model(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt"))


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """``hub`` (TF1 Hub format: ``tfhub_module.pb``), ``saved_model_2`` (a TF2 object graph),
    ``saved_model`` (TF1 SavedModel), or None when ``path`` holds no SavedModel."""
    path = Path(path)
    if (path / "tfhub_module.pb").is_file():
        return "hub"
    pb = path / "saved_model.pb"
    if not pb.is_file():
        return "saved_model" if (path / "saved_model.pbtxt").is_file() else None
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(pb.read_bytes())
    for meta_graph in proto.meta_graphs:
        if len(meta_graph.object_graph_def.nodes) > 1:
            return "saved_model_2"
    return "saved_model"


def count_parameters(path: str | os.PathLike[str]) -> ParameterCount:
    """Count a SavedModel's parameters from its checkpoint index, without loading the model.

    Args:
        path: the SavedModel directory (what ``hub.resolve`` returns).

    Raises:
        MissingDependencyError: TensorFlow is not installed.
    """
    path = Path(path)
    prefix = path / "variables" / "variables"
    if not Path(f"{prefix}.index").is_file():
        if not is_saved_model(path):
            return ParameterCount(None, f"{path} holds no SavedModel (no saved_model.pb)")
        return ParameterCount(None, "the SavedModel has no variables/variables.index; "
                                    "weights, if any, are constants inside the graph and were not counted")
    tf = import_tensorflow()
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as exc:
        return ParameterCount(None, f"the checkpoint index could not be read ({type(exc).__name__})")
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    total = 0
    tensors = 0
    excluded: list[str] = []
    non_float = 0
    for name, shape in shapes.items():
        if _NOT_PARAMETERS.search(name):
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH":
                excluded.append(name)
            continue
        if dtypes[name].name not in _FLOAT_DTYPES:
            non_float += 1
            excluded.append(name)
            continue
        n = 1
        for dim in shape:
            n *= int(dim)
        total += n
        tensors += 1
    note = f"{tensors} floating-point variables in variables/variables.index"
    left_out = len(excluded)
    if left_out:
        note += f"; {left_out} left out (optimizer/metric/step state or non-float: {non_float} non-float)"
    return ParameterCount(total, note, tensors=tensors, excluded=tuple(sorted(excluded)))
