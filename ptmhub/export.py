"""export_onnx: a torch or transformers model to one ONNX file, checked in onnxruntime.

The model comes from where ``load`` finds it (a hub ID in its native cache, offline) or from a
model folder (transformers, sentence-transformers, timm; what ``save_pretrained`` /
``save_for_hf`` write). Example inputs are built for what the model is:

===============================  ==============================================================
model                            inputs (exported with these axes dynamic)
===============================  ==============================================================
transformers text model          its tokenizer on two sentences: ``input_ids``, ``attention_mask``
                                 (``token_type_ids``...): batch and sequence
sentence-transformers            the same; the output is the pipeline's ``sentence_embedding``
                                 (pooling and normalization included)
transformers image model         ``pixel_values`` of the config's ``image_size``: batch
timm, torchvision, other torch   one random image tensor of the model's input size (timm's
                                 ``pretrained_cfg['input_size']``, the weights' crop size): batch
===============================  ==============================================================

The exporter is ``torch.onnx.export(dynamo=True)``: it captures the model with
``torch.export``, which refuses data-dependent control flow instead of freezing it the way the
legacy TorchScript tracer (``dynamo=False``) does with a warning. Its default opset is 20 (torch
2.14); it translates at opset 18 and up, and converts to a lower one when asked (a conversion
that fails is an error, not a file of another opset). The
file is written under a temporary name beside the output, run in onnxruntime
(``CPUExecutionProvider``) on the export inputs and on a second input of another batch size (and
sequence length), and renamed to the output only when every output's largest absolute
difference from torch is within ``atol``. TensorFlow models are refused: tf2onnx is not a
dependency.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExportError, MissingDependencyError, ParityError, PtmhubError, UsageError

if TYPE_CHECKING:
    from .registry.store import Store

__all__ = ["DEFAULT_ATOL", "ExportReport", "ParityCheck", "TensorSpec", "export_onnx", "is_path"]

#: the largest absolute difference accepted between torch's and onnxruntime's outputs (float32
#: kernels differ in summation order; all-MiniLM-L6-v2 differs by ~1e-7, docs/export.md)
DEFAULT_ATOL = 1e-4
#: text the tokenizer turns into the export input, then into the second check's (another batch
#: size and another sequence length)
EXPORT_TEXT = ("The soup was not bad at all.", "I hated the service.")
CHECK_TEXT = ("Fine.", "A much longer sentence, so that the sequence axis has another length than the export's.",
              "Three sentences make another batch size.")
EXPORT_BATCH, CHECK_BATCH = 2, 3  # torch.export treats a size of 1 as a constant: never export with it
#: record frameworks ptmhub will not hand to torch.onnx
_NOT_TORCH = {"tensorflow", "keras", "jax", "flax", "tfjs", "tflite", "onnx", "paddle"}
_QUIET_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "torch.fx", "onnxscript", "onnx_ir")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the exported graph; a dynamic axis is its name (``batch``)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str


@dataclass(frozen=True)
class ParityCheck:
    """One onnxruntime run against torch: the input shapes and each output's max abs difference."""

    input_shapes: dict[str, tuple[int, ...]]
    max_abs_diff: dict[str, float]


@dataclass(frozen=True)
class ExportReport:
    """What ``export_onnx`` wrote and how it checked it (``ptmhub export onnx --json`` prints
    :meth:`to_dict`)."""

    source: str
    output: str
    kind: str                         # transformers | sentence-transformers | timm | torch
    model_class: str
    opset: int
    file_size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    checks: tuple[ParityCheck, ...]   # the export input, then the second (other batch / sequence)
    atol: float
    export_seconds: float             # torch.onnx.export and writing the file
    check_seconds: float              # onnxruntime: loading the file and both runs
    exporter: str = "torch.onnx.export(dynamo=True)"
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def max_abs_diff(self) -> dict[str, float]:
        """Per output, the largest absolute difference over every check."""
        out: dict[str, float] = {}
        for check in self.checks:
            for name, diff in check.max_abs_diff.items():
                out[name] = max(out.get(name, 0.0), diff)
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["max_abs_diff"] = self.max_abs_diff
        return data


# -- the call ----------------------------------------------------------------------------------
def export_onnx(source: Any, output: str | os.PathLike[str] | None = None, *, store: Store | None = None,
                opset: int | None = None, atol: float = DEFAULT_ATOL, force: bool = False,
                trust: bool = False) -> ExportReport:
    """Export a model to ONNX and check it in onnxruntime (see the module docstring).

    Args:
        source: a hub ID (its files in the hub's cache; nothing is downloaded), a model folder (a
            ``pathlib.Path`` or a path string, see :func:`is_path`), a
            :class:`~ptmhub.hubs.base.Loaded` or a ``torch.nn.Module``.
        output: the ``.onnx`` file to write, or a folder to write ``NAME.onnx`` into (default:
            ``NAME.onnx`` in the current folder, NAME from the ID or the folder).
        store: the registry a hub ID's record is read from (needed for hub IDs).
        opset: the ONNX opset (default: the exporter's, 20 with torch 2.14); below 18 the exporter
            converts, and a conversion that fails raises ExportError.
        atol: the largest absolute difference from torch accepted on any output.
        force: replace an existing output file.
        trust: torch.hub only: run the repository's hubconf.py.

    Raises:
        UsageError: a missing source, an existing output without ``force``, a TensorFlow model,
            a model ptmhub cannot build an example input for, bad ``opset`` / ``atol``.
        ExportError: the exporter could not translate the model.
        ParityError: onnxruntime's outputs differ from torch's by more than ``atol``; nothing is
            written.
        NotCachedError: a hub model that is not in its hub's cache (``ptmhub pull ID``).
        MissingDependencyError: torch, onnx, onnxscript or onnxruntime is not installed.
    """
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not math.isfinite(atol) or atol < 0:
        raise UsageError(f"atol must be a finite number >= 0, not {atol!r}")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 7):
        raise UsageError(f"opset must be an integer >= 7, not {opset!r}")
    label, name, load = _source(source, store=store, trust=trust)
    target = _target(output, name=name, force=force)
    deps = _require()
    if opset is not None and opset > deps["onnx"].defs.onnx_opset_version():
        raise UsageError(f"opset {opset} is newer than the installed onnx knows "
                         f"({deps['onnx'].defs.onnx_opset_version()})", hint="leave --opset out for the default")
    model, preprocess = load()
    prepared = _prepare(model, preprocess, label=label)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        report = _export_and_check(prepared, partial, target=target, label=label, opset=opset, atol=atol,
                                   deps=deps)
        if not force and target.exists():  # appeared while the export ran
            raise UsageError(f"{target} exists", hint="pass --force to replace it")
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return report


def is_path(source: Any) -> bool:
    """Whether ``source`` names a folder or file rather than a hub ID: a ``pathlib.Path``, a string
    starting with ``/``, ``./``, ``../`` or ``~`` (or a drive letter), or an existing folder."""
    if isinstance(source, Path):
        return True
    if not isinstance(source, str):
        return False
    if source.startswith(("/", "./", "../", "~", ".\\")) or (len(source) > 2 and source[1] == ":"
                                                             and source[2] in "/\\"):
        return True
    return Path(source).is_dir()


# -- the source --------------------------------------------------------------------------------
Loader = Callable[[], tuple[Any, Any]]


def _source(source: Any, *, store: Store | None, trust: bool) -> tuple[str, str, Loader]:
    """(label, default file name, a loader) for ``source``, refusing a TensorFlow model before
    anything is imported."""
    from .hubs.base import Loaded
    from .ids import ModelId

    if isinstance(source, Loaded):
        return type(source.model).__name__, type(source.model).__name__, lambda: (source.model, source.preprocess)
    if is_path(source):
        return _folder_source(Path(source).expanduser())
    if isinstance(source, (str, ModelId)):
        return _hub_source(source, store=store, trust=trust)
    if _is_torch_module(source):
        return type(source).__name__, type(source).__name__, lambda: (source, None)
    raise UsageError(f"cannot export a {type(source).__module__}.{type(source).__name__}",
                     hint="pass a hub ID, a model folder, or a torch.nn.Module")


def _folder_source(folder: Path) -> tuple[str, str, Loader]:
    from . import folders, loaders

    if not folder.exists():
        raise UsageError(f"{folder} does not exist", hint="give a model folder or a cached hub ID")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", hint=folders.EXPECTED)
    found = folders.detect(folder)
    _refuse_framework(found.library, str(folder))
    if not found.loadable:
        raise UsageError(f"{folder} holds no model ptmhub can export", hint=folders.EXPECTED)

    def load() -> tuple[Any, Any]:
        loaded = loaders.load_folder(folder, label=str(folder), model=found)
        return loaded.model, loaded.preprocess

    return str(folder), folder.resolve().name, load


def _hub_source(source: Any, *, store: Store | None, trust: bool) -> tuple[str, str, Loader]:
    from . import folders, models
    from .hubs.base import backend_for
    from .ids import parse
    from .offline import apply

    mid = parse(source) if isinstance(source, str) else source
    label = str(mid)
    if store is None:
        raise UsageError(f"exporting {label} needs the registry: pass store=",
                         hint="or call ptmhub.export_onnx, which opens the default registry")
    record = store.get(mid.key)
    folder = backend_for(mid.platform).local_folder(mid, record)  # NotCachedError when it should be and is not
    if folder is not None:
        _refuse_framework(folders.detect(folder).library, label)
    elif record is not None:
        _refuse_framework(record.framework, label)

    def load() -> tuple[Any, Any]:
        loaded = models.load(mid, store=store, offline=apply(None), trust=trust)
        _refuse_framework(loaded.framework, label)
        return loaded.model, loaded.preprocess

    return label, mid.name, load


def _refuse_framework(framework: str | None, label: str) -> None:
    if framework and framework.lower() in _NOT_TORCH:
        raise UsageError(f"{label} is a {framework} model; ONNX export covers torch and transformers models",
                         hint="for TensorFlow use tf2onnx, which ptmhub does not depend on")


def _target(output: str | os.PathLike[str] | None, *, name: str, force: bool) -> Path:
    file_name = f"{name.replace(os.sep, '_') or 'model'}.onnx"
    target = Path.cwd() / file_name if output is None else Path(output).expanduser()
    if target.is_dir():
        target = target / file_name
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a folder", hint="create it first, or give another -o")
    if target.exists() and not force:
        raise UsageError(f"{target} exists", hint="pass --force to replace it")
    return target.absolute()


def _require() -> dict[str, Any]:
    """torch, onnx, onnxscript (torch.onnx's exporter) and onnxruntime, or the extra to install."""
    modules = {}
    for module, extra in (("torch", "torch"), ("onnx", "onnx"), ("onnxscript", "onnx"), ("onnxruntime", "onnx")):
        try:
            modules[module] = __import__(module)
        except ImportError:
            raise MissingDependencyError(module, extra, purpose="exporting to ONNX") from None
    return modules


def _is_torch_module(obj: Any) -> bool:
    import sys

    if "torch" not in sys.modules:
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


# -- example inputs ----------------------------------------------------------------------------
@dataclass
class _Prepared:
    module: Any                                  # the wrapper torch.onnx exports
    kind: str
    model_class: str
    input_names: list[str]
    export_inputs: tuple[Any, ...]
    check_inputs: tuple[Any, ...]
    dynamic: list[dict[int, str]]                # per input: axis -> name


def _class_names(obj: Any) -> set[str]:
    return {f"{k.__module__.split('.')[0]}.{k.__name__}" for k in type(obj).__mro__}


def _prepare(model: Any, preprocess: Any, *, label: str) -> _Prepared:
    import torch

    names = _class_names(model)
    if "sentence_transformers.SentenceTransformer" in names:
        tokenizer = getattr(model, "tokenizer", None) or preprocess
        return _text(model, tokenizer, kind="sentence-transformers", label=label,
                     accepted={"input_ids", "attention_mask", "token_type_ids"})
    if "transformers.PreTrainedModel" in names:
        main = getattr(model, "main_input_name", "input_ids")
        if main == "input_ids":
            import inspect

            tokenizer = getattr(preprocess, "tokenizer", None) or preprocess
            accepted = set(inspect.signature(model.forward).parameters)
            return _text(model, tokenizer, kind="transformers", label=label, accepted=accepted)
        if main == "pixel_values":
            return _image(model, preprocess, kind="transformers", label=label, input_name="pixel_values")
        raise UsageError(f"{label} takes {main}; ptmhub's ONNX export builds text and image inputs only",
                         hint="export it with torch.onnx.export and your own example input")
    if isinstance(model, torch.nn.Module):
        kind = "timm" if isinstance(getattr(model, "pretrained_cfg", None), dict) else "torch"
        return _image(model, preprocess, kind=kind, label=label, input_name="input")
    raise UsageError(f"{label} is a {type(model).__module__}.{type(model).__name__}; ONNX export covers torch and "
                     "transformers models")


def _wrapper(model: Any, input_names: list[str], kind: str) -> Any:
    """A module taking the inputs positionally and returning a flat tuple of tensors, whose names
    it records on its first call (``output_names``)."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.output_names: list[str] | None = None

        def forward(self, *args: Any) -> tuple[Any, ...]:
            inputs = dict(zip(input_names, args))
            if kind == "sentence-transformers":
                out: Any = {"sentence_embedding": self.model(inputs)["sentence_embedding"]}
            elif kind == "transformers":
                out = self.model(**inputs, return_dict=True)
            else:
                out = self.model(*args)
            named = _flatten(out)
            if self.output_names is None:
                self.output_names = [n for n, _ in named]
            return tuple(t for _, t in named)

    return Wrapper().eval()


def _flatten(out: Any, prefix: str = "output") -> list[tuple[str, Any]]:
    """(name, tensor) for every tensor in a model's output (ModelOutput, dict, tuple, tensor);
    None and non-tensor values (a transformers cache) are left out."""
    import torch

    if isinstance(out, torch.Tensor):
        return [(prefix, out)]
    if isinstance(out, dict):  # ModelOutput is an OrderedDict of its non-None fields
        return [pair for key, value in out.items() for pair in _flatten(value, str(key))]
    if isinstance(out, (tuple, list)):
        found = []
        for i, value in enumerate(out):
            found.extend(_flatten(value, f"{prefix}_{i}"))
        return found
    return []


def _text(model: Any, tokenizer: Any, *, kind: str, label: str, accepted: set[str]) -> _Prepared:
    if tokenizer is None or not callable(tokenizer):
        raise UsageError(f"{label} has no tokenizer to build a text input with",
                         hint="export a folder that holds its tokenizer files (save_pretrained of the tokenizer too)")
    export = _tokenize(tokenizer, EXPORT_TEXT, accepted)
    check = _tokenize(tokenizer, CHECK_TEXT, accepted)
    names = list(export)
    if check[names[0]].shape[1] == export[names[0]].shape[1]:  # a tokenizer that pads to one length
        raise UsageError(f"{label}'s tokenizer gives every text the same length; the sequence axis cannot be "
                         "checked")
    if hasattr(getattr(model, "config", None), "use_cache"):
        model.config.use_cache = False  # no past_key_values among the outputs
    wrapper = _wrapper(model.eval(), names, kind)
    export_inputs = tuple(export[n] for n in names)
    _try(wrapper, export_inputs, label=label, what=f"its tokenizer's {', '.join(names)}",
         hint="ptmhub exports encoder-only text models; an encoder-decoder needs decoder inputs it does not build")
    dynamic = [{0: "batch", 1: "sequence"} for _ in names]
    return _Prepared(wrapper, kind, type(model).__name__, names, export_inputs, tuple(check[n] for n in names),
                     dynamic)


def _try(wrapper: Any, inputs: tuple[Any, ...], *, label: str, what: str, hint: str) -> None:
    """One forward pass on the example input, so a wrong guess of the input is one line, not the
    framework's traceback."""
    import torch

    try:
        with torch.no_grad():
            wrapper(*inputs)
    except Exception as exc:  # noqa: BLE001 - any framework error means the guess of an input was wrong
        raise UsageError(f"{label} does not run on {what} ({_first_line(exc)})", hint=hint) from None


def _tokenize(tokenizer: Any, texts: tuple[str, ...], accepted: set[str]) -> dict[str, Any]:
    encoded = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    out = {k: v for k, v in dict(encoded).items() if k in accepted and getattr(v, "ndim", 0) == 2}
    if "input_ids" not in out:
        raise UsageError("the tokenizer gives no input_ids this model takes")
    return {"input_ids": out.pop("input_ids"), **out}


def _image(model: Any, preprocess: Any, *, kind: str, label: str, input_name: str) -> _Prepared:
    import torch

    size = _image_size(model, preprocess)
    generator = torch.Generator().manual_seed(0)
    export = torch.randn(EXPORT_BATCH, *size, generator=generator)
    check = torch.randn(CHECK_BATCH, *size, generator=generator)
    wrapper = _wrapper(model.eval(), [input_name], kind)
    _try(wrapper, (export,), label=label, what=f"an image tensor of shape {tuple(export.shape)}",
         hint="ptmhub exports text and image models")
    return _Prepared(wrapper, kind, type(model).__name__, [input_name], (export,), (check,), [{0: "batch"}])


def _image_size(model: Any, preprocess: Any) -> tuple[int, int, int]:
    """(channels, height, width): timm's pretrained_cfg, a transformers config's image_size, the
    preprocessing's crop size (torchvision weights' transforms, an image processor), else 224."""
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and len(cfg.get("input_size") or ()) == 3:
        return tuple(int(v) for v in cfg["input_size"])  # type: ignore[return-value]
    config = getattr(model, "config", None)
    channels = int(getattr(config, "num_channels", 3) or 3)
    hw = _pair(getattr(config, "image_size", None))
    if hw is None and preprocess is not None:
        for attr in ("crop_size", "size"):
            hw = _pair(getattr(preprocess, attr, None))
            if hw is not None:
                break
    return (channels, *(hw or (224, 224)))  # type: ignore[return-value]


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        if "shortest_edge" in value:
            return int(value["shortest_edge"]), int(value["shortest_edge"])
        return None
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            value = value[0]
        elif len(value) == 2:
            return int(value[0]), int(value[1])
        else:
            return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    return None


# -- export and check --------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines, warnings and log records kept off the command's output
    (``--json`` prints one document); errors still raise."""
    loggers = [logging.getLogger(n) for n in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip().splitlines()
    line = next((t.strip() for t in text if t.strip()), type(exc).__name__)
    return line[:200]


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: torch.onnx wraps torch.export's reason in its own step message."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _export_and_check(prepared: _Prepared, partial: Path, *, target: Path, label: str, opset: int | None,
                      atol: float, deps: dict[str, Any]) -> ExportReport:
    torch, onnx, ort = deps["torch"], deps["onnx"], deps["onnxruntime"]
    wrapper = prepared.module
    with torch.no_grad():
        expected = [wrapper(*prepared.export_inputs), wrapper(*prepared.check_inputs)]
    output_names = list(wrapper.output_names or [])
    if not output_names:
        raise UsageError(f"{label} returns no tensor to export")
    dims: dict[str, Any] = {}
    dynamic_shapes = tuple({axis: dims.setdefault(name, torch.export.Dim(name, min=1)) for axis, name in d.items()}
                           for d in prepared.dynamic)
    started = time.perf_counter()
    try:
        with _quiet():
            program = torch.onnx.export(wrapper, prepared.export_inputs, None, dynamo=True,
                                        dynamic_shapes=(dynamic_shapes,), input_names=prepared.input_names,
                                        output_names=output_names, opset_version=opset, verbose=False,
                                        optimize=True)
            program.save(str(partial), external_data=False)
    except PtmhubError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.export / onnxscript raise many types; one line each
        too_big = "2GB" in str(exc) or "2 GB" in str(exc) or "ByteSize" in str(exc)
        raise ExportError(f"torch.onnx could not export {label}: {_first_line(_root_cause(exc))}",
                          hint="models over 2 GB do not fit in one .onnx file" if too_big else
                          "see docs/export.md for what the exporter covers") from None
    export_seconds = time.perf_counter() - started

    started = time.perf_counter()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        session = ort.InferenceSession(str(partial), options, providers=["CPUExecutionProvider"])
        feeds = [dict(zip(prepared.input_names, (t.numpy() for t in inputs)))
                 for inputs in (prepared.export_inputs, prepared.check_inputs)]
        wanted = [o.name for o in session.get_outputs()]
        results = [session.run(wanted, feed) for feed in feeds]
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ExportError(f"onnxruntime cannot run the export of {label}: {_first_line(exc)}") from None
    check_seconds = time.perf_counter() - started

    checks = []
    for inputs, want, got in zip((prepared.export_inputs, prepared.check_inputs), expected, results):
        diffs = {}
        for name, ref, out in zip(output_names, want, got):
            ref = ref.detach().float().numpy() if ref.is_floating_point() else ref.detach().numpy()
            if tuple(ref.shape) != tuple(out.shape):
                raise ParityError(f"{label}: onnxruntime's {name} has shape {tuple(out.shape)}, torch's "
                                  f"{tuple(ref.shape)}; nothing written")
            diff = abs(out.astype("float64") - ref.astype("float64"))
            diffs[name] = float(diff.max()) if diff.size else 0.0
        checks.append(ParityCheck({n: tuple(int(s) for s in t.shape) for n, t in zip(prepared.input_names, inputs)},
                                  diffs))
    worst_name, worst = max(((n, d) for c in checks for n, d in c.max_abs_diff.items()), key=lambda p: p[1])
    if not worst <= atol:  # NaN fails too
        raise ParityError(f"{label}: onnxruntime's {worst_name} differs from torch's by up to {worst:.3g}, more than "
                          f"atol {atol:g}; nothing written", hint="raise --atol if that difference is acceptable")

    model_proto = onnx.load(str(partial), load_external_data=False)
    opset_found = next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), opset or 0)
    if opset is not None and opset_found != opset:  # the exporter keeps its own opset when conversion fails
        raise ExportError(f"torch.onnx could not convert {label} to opset {opset} (the file is opset {opset_found}); "
                          "nothing written", hint=f"use --opset {opset_found} or leave it out")
    versions = {m: getattr(deps[m], "__version__", "?") for m in ("torch", "onnx", "onnxscript", "onnxruntime")}
    return ExportReport(
        source=label, output=str(target), kind=prepared.kind, model_class=prepared.model_class, opset=int(opset_found),
        file_size_bytes=partial.stat().st_size, inputs=_specs(session.get_inputs()), outputs=_specs(session.get_outputs()),
        checks=tuple(checks), atol=float(atol), export_seconds=round(export_seconds, 3),
        check_seconds=round(check_seconds, 3), versions=versions)


def _specs(nodes: Any) -> tuple[TensorSpec, ...]:
    def dim(value: Any) -> int | str:
        return int(value) if isinstance(value, int) else str(value) if value else "?"

    return tuple(TensorSpec(n.name, tuple(dim(d) for d in n.shape), str(n.type)) for n in nodes)
