"""Where a model comes from and what was made from it, across the registry, with license checks.

Each hub's backend says what a record derives from (:meth:`~ptmhub.hubs.base.Backend.parents`):
a Hugging Face card's ``base_model`` (and its relation: finetune, adapter, quantized, merge),
a timm tag that fine-tunes another (``augreg_in21k_ft_in1k`` from ``augreg_in21k``), a TF Hub
Lite / TF.js / Coral variant's parent model. :func:`lineage` follows those links up (ancestors)
and finds the records that link to the model (descendants), and warns where a derivative's
license is more permissive than its base's: a non-commercial or restricted base under a
permissive fine-tune is the classic trap, because the base's terms still apply to the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import licenses
from .hubs.base import BACKENDS, backend_for

if TYPE_CHECKING:
    from .ids import ModelId
    from .records import ModelRecord
    from .registry.store import Store

__all__ = ["Link", "Lineage", "lineage", "license_conflict"]

#: how far up a chain is followed (a loop in the data ends it sooner)
MAX_DEPTH = 16
#: the license categories a base may carry, from least to most free to reuse
_STRICTNESS = {"restricted": 3, "non-commercial": 3, "copyleft": 2, "permissive": 1}


@dataclass
class Link:
    """One derivation: ``child`` derives from ``parent``."""

    child: str
    parent: str
    relation: str
    evidence: str
    depth: int = 1                           # 1: a direct parent or child of the model asked about
    record: ModelRecord | None = None        # the registry's record of the other end, if it has one

    def to_dict(self) -> dict[str, Any]:
        return {"child": self.child, "parent": self.parent, "relation": self.relation, "evidence": self.evidence,
                "depth": self.depth, "in_registry": self.record is not None,
                "license": self.record.license if self.record is not None else None}


@dataclass
class Lineage:
    model: ModelRecord
    ancestors: list[Link] = field(default_factory=list)
    descendants: list[Link] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.model.id, "license": self.model.license,
                "ancestors": [a.to_dict() for a in self.ancestors],
                "descendants": [d.to_dict() for d in self.descendants], "warnings": self.warnings}


def license_conflict(child: ModelRecord, parent: ModelRecord) -> str | None:
    """A warning when ``child``'s license is more permissive than ``parent``'s (both known)."""
    if not child.license or not parent.license:
        return None
    c, p = licenses.category(child.license), licenses.category(parent.license)
    if c not in _STRICTNESS or p not in _STRICTNESS or _STRICTNESS[c] >= _STRICTNESS[p]:
        return None
    return (f"{child.id} is {child.license} ({c}) but derives from {parent.id}, which is {parent.license} ({p}): "
            f"the base's terms still bind the weights")


def _parents(record: ModelRecord) -> list[tuple[str, str, str]]:
    return backend_for(record.platform).parents(record) if record.platform in BACKENDS else []


def _key(model_id: str) -> str:
    from .ids import parse

    try:
        return parse(model_id).key
    except Exception:  # noqa: BLE001 - a hub's base_model that is no valid ID is shown as given
        return model_id


def _get(store: Store, model_id: str) -> ModelRecord | None:
    try:
        return store.get(_key(model_id))
    except Exception:  # noqa: BLE001 - an ID the registry cannot look up has no record
        return None


def _ancestors(store: Store, model: ModelRecord) -> Iterator[tuple[Link, ModelRecord]]:
    seen = {model.id}
    frontier = [(model, 1)]
    while frontier:
        child, depth = frontier.pop(0)
        for parent_id, relation, evidence in _parents(child):
            parent = _get(store, parent_id)
            key = parent.id if parent is not None else _key(parent_id)
            link = Link(child.id, key, relation, evidence, depth, parent)
            yield link, child
            if parent is not None and key not in seen and depth < MAX_DEPTH:
                seen.add(key)
                frontier.append((parent, depth + 1))


def lineage(mid: ModelId, *, store: Store, offline: bool) -> Lineage:
    """The model's ancestors (followed up to :data:`MAX_DEPTH`), its direct descendants in the
    registry, and the license conflicts along those links. The model itself comes from the
    registry (or its hub when online and not yet recorded).

    Raises:
        NotInRegistryError: offline and the model is not in the registry.
    """
    from . import models

    model = models.show(mid, store=store, offline=offline)
    out = Lineage(model)
    for link, child in _ancestors(store, model):
        out.ancestors.append(link)
        if link.record is not None:
            warning = license_conflict(child, link.record)
            if warning:
                out.warnings.append(warning)
    for record in store.iter_all():
        for parent_id, relation, evidence in _parents(record):
            if _key(parent_id).lower() == model.id.lower():
                out.descendants.append(Link(record.id, model.id, relation, evidence, 1, record))
                warning = license_conflict(record, model)
                if warning:
                    out.warnings.append(warning)
    out.descendants.sort(key=lambda link: link.child)
    return out
