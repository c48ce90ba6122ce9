"""Facts read from a model folder on disk (a hub cache's snapshot, or a model shipped inside a
Python package): parameters from safetensors headers (else a state dict's shapes, else a
SavedModel's variables), task/license/library from README front matter and config.json, and the
record they make. Frameworks are imported only to read a pickled state dict or a SavedModel."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import PtmhubError
from .ids import ModelId
from .records import ModelRecord

__all__ = ["safetensors_parameters", "read_front_matter", "folder_facts", "state_dict_parameters", "walk_files",
           "record_from_facts", "SKIP_DIRS", "PICKLE_WEIGHTS"]


def safetensors_parameters(folder: Path) -> int | None:
    """Total parameters over every ``*.safetensors`` file in ``folder`` (top level), or None.

    Each header goes through the one safetensors header parser
    (:func:`ptmhub.safetensors_count.parse_header`), the same as remote headers.

    Raises:
        MalformedResponseError: a header that is not a valid safetensors header, or a total
            beyond what the registry can store (2**63 - 1).
    """
    from . import safetensors_count as st

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    return st.count_local_files(files).parameters


def read_front_matter(readme: Path) -> dict[str, Any]:
    """The YAML front matter of a model card (``---`` ... ``---``), or {}."""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}


PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")


_TORCH_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def walk_files(root: Path) -> list[tuple[str, int, float]]:
    """(relative name, size, newest of atime/mtime) of every file under ``root`` (links followed,
    ``.git`` and ``__pycache__`` skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError:
                continue
            out.append((full.relative_to(root).as_posix(), st.st_size, max(st.st_atime, st.st_mtime)))
    return out


def state_dict_parameters(path: str | os.PathLike[str]) -> tuple[int | None, str]:
    """Parameters of a PyTorch checkpoint from its tensor shapes, loaded with
    ``torch.load(weights_only=True, mmap=True)`` (no code from the file runs, and the weights are
    mapped, not read). BatchNorm running statistics and counters are buffers, not parameters, and
    are left out; a checkpoint that wraps its weights (``state_dict``, ``model``, ...) is unwrapped.

    Returns (count or None, note).
    """
    path = Path(path)
    try:
        import torch
    except ImportError:
        return None, "counting a PyTorch checkpoint needs torch, which is not installed"
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            if path.stat().st_size > 2 * 1024**3:
                return None, "a legacy (non-zip) checkpoint over 2 GiB: not counted (it cannot be memory-mapped)"
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refusals, truncated files: a reason, never a guess
        return None, f"torch.load(weights_only=True) could not read {path.name} ({type(exc).__name__})"
    sd = obj
    for key in ("state_dict", "model_state_dict", "model", "module", "net"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict):
        return None, f"{path.name} holds a {type(sd).__name__}, not a state dict"
    total = tensors = left_out = shared = 0
    # tied weights (a decoder that is the embedding matrix) are one storage under two names in the
    # pickle: count each (storage, offset, shape, stride) once, as model.parameters() does
    seen: set[tuple[Any, ...]] = set()
    for name, value in sd.items():
        if not torch.is_tensor(value):
            continue
        if str(name).rsplit(".", 1)[-1] in _TORCH_BUFFERS or not (value.is_floating_point() or value.is_complex()):
            left_out += 1
            continue
        try:
            view = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
        except (RuntimeError, NotImplementedError):  # a tensor without storage (meta, sparse): count it
            view = (id(value),)
        if view in seen:
            shared += 1
            continue
        seen.add(view)
        total += value.numel()
        tensors += 1
    if not tensors:
        return None, f"{path.name} has no floating-point tensors at its top level"
    note = f"{tensors} floating-point tensors of {path.name} (torch.load weights_only=True)"
    if shared:
        note += f"; {shared} tied name(s) sharing a tensor counted once"
    if left_out:
        note += f"; {left_out} buffers left out (BatchNorm statistics, counters, non-float tensors)"
    return total, note


def _card_facts(folder: Path) -> dict[str, Any]:
    from . import licenses
    from .localmodel import read_front_matter

    card = read_front_matter(folder / "README.md")
    facts: dict[str, Any] = {}
    if not card:
        return facts

    def as_list(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)

    if card.get("pipeline_tag"):
        facts["task"] = str(card["pipeline_tag"])
    if card.get("library_name"):
        facts["library"] = str(card["library_name"])
    if card.get("license"):
        raw = ", ".join(as_list(card["license"]))
        facts.update(license=licenses.normalize(as_list(card["license"])[0]), license_raw=raw,
                     license_source="model card (README.md front matter)")
    facts.update(tags=as_list(card.get("tags")), datasets=as_list(card.get("datasets")),
                 languages=as_list(card.get("language")))
    if card.get("base_model"):
        facts["base_model"] = list(as_list(card["base_model"]))
        if isinstance(card.get("base_model_relation"), str) and card["base_model_relation"]:
            facts["base_model_relation"] = card["base_model_relation"]
    if card.get("model-index"):
        from .quality import from_model_index

        found = from_model_index(card["model-index"], source="model card (README.md model-index)")
        if found:
            facts["evaluations"] = found
    return facts


def folder_facts(folder: str | os.PathLike[str], names: Iterable[str] | None = None) -> dict[str, Any]:
    """ModelRecord fields that a model folder's own files support, nothing guessed: task, license,
    tags, datasets and languages from the README front matter; library, framework, format and
    architecture from its files and ``config.json``; parameters from the safetensors headers (one
    copy of the weights: an index's shards, no ``.fp16`` twins), else the state dict's tensor
    shapes (``weights_only=True``), else the SavedModel's variables. ``extra`` carries the details.
    """
    from . import safetensors_count as st

    folder = Path(folder)
    names = sorted(names) if names is not None else [n for n, _s, _t in walk_files(folder)]
    facts = _card_facts(folder)
    extra: dict[str, Any] = {}
    for key in ("base_model", "base_model_relation"):
        if key in facts:
            extra[key] = facts.pop(key)
    from .folders import detect

    found = detect(folder, names)
    config = found.config
    saved_model = "saved_model.pb" in names or "saved_model.pbtxt" in names
    if not facts.get("library") and found.library:
        facts["library"] = found.library
    library = facts.get("library")
    if library in ("transformers", "sentence-transformers", "diffusers", "timm", "peft", "open_clip", "torchvision",
                   "pytorch", "torch"):
        facts["framework"] = "pytorch"
    elif library in ("tensorflow", "tf-keras", "keras", "tensorflow-hub") or saved_model:
        facts["framework"] = "tensorflow"
    if isinstance(config.get("model_type"), str):
        facts["architecture"] = config["model_type"].lower()
    if config.get("architectures"):
        extra["architectures"] = [str(a) for a in config["architectures"]]
    if config.get("auto_map"):
        extra["custom_code"] = True
    if (facts.get("library") in ("transformers", "sentence-transformers", "timm", "torchvision")
            and facts.get("framework") == "pytorch"):
        facts["fine_tunable"] = True

    selection = st.select_weight_files(names)
    pickles = sorted(n for n in names if n.endswith(PICKLE_WEIGHTS) and "/" not in n)
    if not selection.reason:
        try:
            count = st.count_local(selection, folder)
            facts.update(parameters=count.parameters, parameters_source="safetensors-header", format="safetensors",
                         parameters_note=f"{count.description}, read on disk")
            extra.update(parameters_by_dtype=count.parameters_by_dtype, counted_files=count.files)
        except (OSError, PtmhubError) as exc:
            facts.update(parameters_note=f"the safetensors headers are unreadable: {st.describe_failure(exc)}",
                         format="safetensors")
    elif pickles and not any(n.endswith(".safetensors") for n in names):
        index = [n for n in names if n.endswith(".bin.index.json") and "/" not in n]
        shards = pickles
        if index:
            try:
                weight_map = json.loads((folder / index[0]).read_text(encoding="utf-8")).get("weight_map") or {}
                shards = sorted(set(weight_map.values()))
            except (OSError, ValueError, AttributeError):
                shards = []
        counts = [state_dict_parameters(folder / s) for s in shards] if shards and len(shards) <= 64 else []
        if counts and all(c is not None for c, _ in counts):
            facts.update(parameters=sum(c for c, _ in counts), parameters_source="state-dict",
                         parameters_note="; ".join(n for _, n in counts) if len(counts) == 1
                         else f"the sum over {len(counts)} shards' state dicts (torch.load weights_only=True)")
        else:
            facts["parameters_note"] = counts[0][1] if counts else "the pickle weights could not be counted"
        facts["format"] = "pickle"
    elif saved_model:
        from .savedmodel import count_parameters, detect_format

        try:
            counted = count_parameters(folder)
            facts.update(parameters=counted.parameters, parameters_note=counted.note, format=detect_format(folder),
                         parameters_source=counted.source if counted.parameters is not None else None)
        except PtmhubError as exc:
            facts["parameters_note"] = f"the SavedModel could not be read: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a corrupt saved_model.pb (protobuf DecodeError): a reason
            facts["parameters_note"] = f"the SavedModel could not be read ({type(exc).__name__})"
    else:
        facts["parameters_note"] = selection.reason
    facts["extra"] = extra
    return facts


def record_from_facts(mid: ModelId, *, platform: str, facts: dict[str, Any], files: list[tuple[str, int]],
            **fields: Any) -> ModelRecord:
    facts = dict(facts)
    extra = {**facts.pop("extra", {}), **fields.pop("extra", {})}
    extra["cache_files"] = [{"name": n, "size": s} for n, s in files[:2000]]
    if len(files) > 2000:
        extra["cache_files_truncated"] = len(files)
    values: dict[str, Any] = dict(id=mid.key, platform=platform, name=mid.name, owner=mid.owner)
    values.update(facts)
    values.update(fields)
    return ModelRecord(**values, extra=extra)
