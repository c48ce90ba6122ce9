"""Catalog ingest: synthetic HF-shaped records -> registry (SQLite, PostgreSQL), each run in a
fresh process so that its peak RSS (VmHWM, else getrusage maxrss) is its own; plus the baselines: a
naive per-row ORM insert, the bare SQLite driver writing the same rows (the machine's limit for
this schema), and the whole Hugging Face path (list pages -> records -> registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import ROOT, child

# Peak RSS of the child itself. Linux keeps ru_maxrss across exec, so a child started by a big
# parent (the harness, after memory-mapping a 1 GB registry) would report the parent's peak;
# VmHWM belongs to the child's own address space. getrusage is the fallback elsewhere.
PEAK_RSS = r"""
def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

# The store's own ingest: records streamed from the generator into Store.upsert (its default
# batch size, as `ptmhub sync` uses it). The generator's own time is measured and excluded.
STORE_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.synth import generate
from ptmhub.registry import open_store
n, url, seed, batch = {n}, {url!r}, {seed}, {batch}
store = open_store(url)

class Source:
    # the synthetic hub: time spent producing records is not the store's
    def __init__(self, it):
        self.it, self.seconds, self.count = it, 0.0, 0
    def __iter__(self):
        return self
    def __next__(self):
        start = time.perf_counter()
        try:
            return next(self.it)
        finally:
            self.seconds += time.perf_counter() - start

source = Source(generate(n, seed=seed))
marks = []
def tick(records):
    for i, r in enumerate(records, 1):
        if i % max(1, n // 10) == 0:
            marks.append((i, time.perf_counter() - start - source.seconds))
        yield r
start, cpu0 = time.perf_counter(), time.process_time()
written = store.upsert(tick(source), **({{"batch_size": batch}} if batch else {{}}))
wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
store_seconds = wall - source.seconds
print(json.dumps({{"n": n, "written": written, "wall": wall, "source_seconds": source.seconds,
                  "store_seconds": store_seconds, "rate": n / store_seconds, "end_to_end_rate": n / wall,
                  "cpu": cpu, "maxrss_mb": peak_rss_mb(), "marks": marks}}))
"""

# Baseline: the textbook ORM loop (one session.add + commit per record), on a small N.
NAIVE_CHILD = r"""
import json, sys, time, datetime as dt
sys.path.insert(0, {root!r})
from sqlalchemy.orm import Session
from bench.synth import generate
from ptmhub.registry import open_store
from ptmhub.registry.orm import ModelRow
from ptmhub.registry.store import search_text
n, url = {n}, {url!r}
store = open_store(url)
records = list(generate(n, seed=7))
start = time.perf_counter()
with Session(store.engine) as session:
    for r in records:
        now = dt.datetime.now(dt.timezone.utc)
        session.add(ModelRow(id=r.id, platform=r.platform, name=r.name, owner=r.owner, task=r.task,
                             parameters=r.parameters, parameters_source=r.parameters_source,
                             parameters_note=r.parameters_note, license=r.license, license_raw=r.license_raw,
                             license_source=r.license_source, framework=r.framework, library=r.library,
                             format=r.format, fine_tunable=r.fine_tunable, downloads=r.downloads, likes=r.likes,
                             tags=list(r.tags) or None, datasets=list(r.datasets) or None,
                             languages=list(r.languages) or None, revision=r.revision, source_url=r.source_url,
                             gated=r.gated, last_modified=r.last_modified, search_text=search_text(r),
                             first_seen=now, updated_at=now, cached=False))
        session.commit()
secs = time.perf_counter() - start
print(json.dumps({{"n": n, "seconds": secs, "rate": n / secs}}))
"""

# The machine's limit for this schema: the rows the store writes, captured as the driver gets
# them, replayed with the bare sqlite3 module into empty registries with parts of the schema
# removed. Differences between variants are what each part costs per row.
FLOOR_CHILD = r"""
import datetime as dt, json, os, shutil, sqlite3, sys, time
sys.path.insert(0, {root!r})
from bench.synth import generate
from ptmhub.registry import open_store, engine
from ptmhub.registry.engine import transaction
n, tmp, batch = {n}, {tmp!r}, {batch}
empty = os.path.join(tmp, "floor-empty.db")
open_store("sqlite:///" + empty).vacuum()
store = open_store("sqlite:///" + empty)
with transaction(store.engine) as conn:
    store._sqlite_plan = store._sqlite_upsert_plan(conn)
engine.dispose_all()
batches, current = [], []

class Capture:  # stands in for the driver's cursor: keeps what the store would send
    def execute(self, sql, params):
        current.append((sql, params))
    def close(self):
        pass

class Driver:
    def cursor(self):
        return Capture()

class Conn:
    connection = type("Pooled", (), {{"driver_connection": Driver()}})()

records = list(generate(n, seed=11))
now = dt.datetime.now(dt.timezone.utc)
for i in range(0, n, batch):
    store._sqlite_upsert_rows(Conn(), [store._to_row(r, now) for r in records[i:i + batch]])
    batches.append(current)
    current = []
del records

def replay(variant):
    path = os.path.join(tmp, "floor.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.copy(empty, path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    for pragma in store.WRITE_PRAGMAS:  # the connection settings the store writes with
        con.execute(pragma)
    if "no FTS" in variant:
        con.execute("DROP TRIGGER models_fts_ai")
    if "no secondary" in variant:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'").fetchall():
            con.execute(f"DROP INDEX {{name}}")
    start, cpu0 = time.perf_counter(), time.process_time()
    for statements in batches:  # one transaction per batch, as the store does
        con.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            con.execute(sql, params)
        con.execute("COMMIT")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    count = con.execute("SELECT count(*) FROM models").fetchone()[0]
    con.close()
    return {{"rate": count / wall, "us_per_row": wall / count * 1e6, "us_per_row_cpu": cpu / count * 1e6,
             "rows": count}}

out = {{v: replay(v) for v in ("full schema", "no FTS trigger", "no secondary indexes",
                               "no secondary indexes, no FTS trigger")}}
print(json.dumps(out))
"""

# The whole Hugging Face path in one process: list pages (JSON bytes, as the wire delivers
# them) -> json.loads -> the HF backend's record_from_info -> Store.upsert; each stage timed.
HF_PAGES_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.synth import list_items
from ptmhub.hubs.huggingface import record_from_info
from ptmhub.registry import open_store
n, url, page = {n}, {url!r}, 1000
store = open_store(url)
items = list_items(n, seed=13)
t = {{"produce pages (synthetic hub)": 0.0, "json.loads": 0.0, "record_from_info (HF backend)": 0.0,
      "Store.upsert": 0.0}}
done = 0
while done < n:
    a = time.perf_counter()
    body = json.dumps([next(items) for _ in range(min(page, n - done))]).encode()
    b = time.perf_counter()
    data = json.loads(body)
    c = time.perf_counter()
    records = [record_from_info(item).replace(extra={{}}) for item in data]
    d = time.perf_counter()
    store.upsert(records)
    e = time.perf_counter()
    for key, secs in zip(t, (b - a, c - b, d - c, e - d)):
        t[key] += secs
    done += len(data)
total = sum(v for k, v in t.items() if not k.startswith("produce"))
print(json.dumps({{"n": n, "seconds": total, "rate": n / total, "stages": t,
                  "maxrss_mb": peak_rss_mb()}}))
"""

# The same over HTTP: `ptmhub sync hf` against the loopback Hub of the test suite.
HF_SYNC_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from hf_server import FakeHub
from bench.synth import list_items
hub = FakeHub()
hub.listing = list(list_items({n}, seed=13))
hub.start()
os.environ["HF_ENDPOINT"] = hub.url
from ptmhub import settings
settings.reload()
from ptmhub.hubs.huggingface import sync
from ptmhub.registry import open_store
store = open_store({url!r})
start = time.perf_counter()
report = sync(store, page_size=1000)
secs = time.perf_counter() - start
hub.stop()
print(json.dumps({{"n": report.records, "seconds": secs, "rate": report.records / secs,
                  "pages": report.counts.get("pages"), "errors": len(hub.errors)}}))
"""


PROFILE_CHILD = r"""
import sys
sys.path.insert(0, {root!r})
from bench.synth import generate
from ptmhub.registry import open_store
from pyinstrument import Profiler
records = list(generate({n}, seed=17))
store = open_store({url!r})
profiler = Profiler(interval=0.001)
profiler.start()
store.upsert(records)
profiler.stop()
print(profiler.output_text(unicode=False, color=False, show_all=False))
"""


def profile_upsert(n: int, url: str) -> str | None:
    """pyinstrument's call tree of one upsert (None when pyinstrument is not installed)."""
    import importlib.util
    import subprocess

    from .common import PY

    if importlib.util.find_spec("pyinstrument") is None:
        return None
    proc = subprocess.run([PY, "-c", PROFILE_CHILD.format(root=str(ROOT), n=n, url=url)], capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    lines = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith(("  _", " /_", "/   "))]
    return "\n".join(lines[:40])


#: Records per transaction for the bulk ingest benchmark (``Store.upsert(batch_size=...)``); the
#: store's default (1,000, what `ptmhub sync` pages use) is measured too, on a smaller registry.
BULK_BATCH = 20_000


def store_ingest(n: int, url: str, *, seed: int = 7, batch: int | None = BULK_BATCH) -> dict[str, Any]:
    out = child(PEAK_RSS + STORE_CHILD.format(root=str(ROOT), n=n, url=url, seed=seed, batch=batch or 0))
    out["batch"] = batch
    return out


def naive_orm(n: int, url: str) -> dict[str, Any]:
    return child(NAIVE_CHILD.format(root=str(ROOT), n=n, url=url))


def sqlite_floor(n: int, tmp: Path, *, batch: int = BULK_BATCH) -> dict[str, Any]:
    """Same transactions (``batch`` records each) and connection settings as the store run."""
    return child(FLOOR_CHILD.format(root=str(ROOT), n=n, tmp=str(tmp), batch=batch))


def hf_pages(n: int, url: str) -> dict[str, Any]:
    return child(PEAK_RSS + HF_PAGES_CHILD.format(root=str(ROOT), n=n, url=url))


def hf_sync(n: int, url: str) -> dict[str, Any] | None:
    if not (ROOT / "tests" / "hf_server.py").exists():
        return None
    return child(HF_SYNC_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), n=n, url=url))
