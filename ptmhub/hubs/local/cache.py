"""``local:`` models' "cache": the folders registered with ``ptmhub add``, used where they are.
ptmhub never deletes or verifies them (no hub published a hash); discovery checks each
registered folder is still there.
"""

from __future__ import annotations

from pathlib import Path

from ...localmodel import walk_files
from ...records import ModelRecord
from ..native import CachedModel, CacheHints, CacheProblem, FileCheck, Inventory, NativeCache, VerifyReport

__all__ = ["LocalCache"]


def _discover_local(inv: Inventory, records: tuple[ModelRecord, ...]) -> None:
    for record in sorted(records, key=lambda r: r.id):
        folder = Path(record.cache_path) if record.cache_path else None
        if folder is None or not folder.is_dir():
            inv.problems.append(CacheProblem("missing", "local", folder or Path("-"),
                                             "the registered folder is gone", record.id))
            continue
        listing = walk_files(folder)
        inv.models.append(CachedModel(
            model_id=record.id, key=record.id, cache="local", path=folder, size_bytes=sum(s for _n, s, _t in listing),
            files=[(n, s) for n, s, _t in listing], last_accessed=max([t for _n, _s, t in listing] + [0.0]),
            info={"unit": str(folder)}))


class LocalCache(NativeCache):
    """Folders registered as ``local:NAME``."""

    name = "local"
    platform = "local"
    needs_records = True  # the registered folders are the registry's records
    removable = False

    def root(self) -> Path | None:
        return None

    def discover(self, inv: Inventory, hints: CacheHints) -> None:
        _discover_local(inv, hints.records)

    def record(self, model: CachedModel, group: list[CachedModel]) -> ModelRecord | None:
        return None  # 'ptmhub add' read the folder; a scan only confirms it is there

    def verify(self, model: CachedModel, record: ModelRecord | None) -> VerifyReport:
        return VerifyReport(model.model_id, model.cache, str(model.path), note="a local folder has no published hash",
                            checks=[FileCheck(n, "unverifiable", "none", size_bytes=s) for n, s in model.files])
