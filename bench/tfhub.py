"""The full tfhub.dev catalog import (shared/catalogs/tfhub.dev, 2,819 docs) into a fresh SQLite
registry, each run in a fresh process; with the parse alone (no database) as its baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import ROOT, SHARED, child, stats

IMPORT_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from ptmhub import api
from ptmhub.registry import open_store
import ptmhub.catalogs.tfhub  # imports are not what is measured
store = open_store({url!r})
start = time.perf_counter()
report = api.sync("tfhub", store=store, source={source!r})
secs = time.perf_counter() - start
print(json.dumps({{"seconds": secs, "records": report.records, "skipped": report.skipped,
                  "problems": len(report.problems)}}))
"""

PARSE_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import ptmhub.catalogs.tfhub as tfhub

class NullStore:
    # takes the records and drops them: what the import costs without the database
    def upsert(self, records, *, batch_size=1000):
        return len(list(records))
    def __getattr__(self, name):
        return lambda *a, **k: None

start = time.perf_counter()
report = tfhub.sync(NullStore(), source={source!r})
print(json.dumps({{"seconds": time.perf_counter() - start, "records": report.records}}))
"""


def bench_tfhub(tmp: Path, repeat: int) -> dict[str, Any] | None:
    source = SHARED / "catalogs" / "tfhub.dev"
    if not source.exists():
        return None
    docs = sum(1 for _ in (source / "assets" / "docs").rglob("*.md"))
    runs, parse, last = [], [], {}
    for i in range(repeat):
        last = child(IMPORT_CHILD.format(root=str(ROOT), url=f"sqlite:///{tmp / f'tfhub-{i}.db'}",
                                         source=str(source)))
        runs.append(last["seconds"])
        try:
            parse.append(child(PARSE_CHILD.format(root=str(ROOT), source=str(source)))["seconds"])
        except RuntimeError:
            pass  # the importer needs more of the store than the null store offers: no baseline
    return {"docs": docs, "records": last["records"], "skipped": last["skipped"], "time": stats(runs),
            "parse_only": stats(parse) if parse else None}
