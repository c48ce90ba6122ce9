"""Facts read from a model folder on disk (a Hugging Face snapshot, or a model shipped inside a
Python package): parameters from safetensors headers, task/license/library from README front
matter and config.json. Nothing is imported from torch or transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import licenses
from .errors import PtmhubError

__all__ = ["safetensors_parameters", "read_front_matter", "facts_from_dir"]


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


def facts_from_dir(folder: str | Path) -> dict[str, Any]:
    """ModelRecord keyword arguments that the folder's own files support (nothing guessed)."""
    folder = Path(folder)
    facts: dict[str, Any] = {}
    card = read_front_matter(folder / "README.md")
    if card:
        if card.get("pipeline_tag"):
            facts["task"] = str(card["pipeline_tag"])
        if card.get("library_name"):
            facts["library"] = str(card["library_name"])
        if card.get("license"):
            raw = str(card["license"])
            facts.update(license=licenses.normalize(raw), license_raw=raw, license_source="model card (README.md)")
        facts["tags"] = tuple(_as_list(card.get("tags")))
        facts["datasets"] = tuple(_as_list(card.get("datasets")))
        facts["languages"] = tuple(_as_list(card.get("language")))
    config_path = folder / "config.json"
    if config_path.exists():
        try:
            config = json.loads(config_path.read_text())
        except (ValueError, RecursionError):
            config = {}
        if isinstance(config, dict) and config.get("model_type"):
            facts["architecture"] = str(config["model_type"])
            facts.setdefault("framework", "pytorch")
    try:
        params = safetensors_parameters(folder)
    except (OSError, PtmhubError) as exc:  # a reason, never a guess and never a traceback
        facts.update(parameters_note=f"the safetensors headers are unreadable: {exc}", format="safetensors")
    else:
        if params is not None:
            facts.update(parameters=params, parameters_source="safetensors-header", format="safetensors")
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    facts["size_bytes"] = sum(sizes)
    return facts
