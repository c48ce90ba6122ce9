"""The benchmark harness: ``python -m bench`` (``make bench`` starts a private PostgreSQL and
passes ``--postgres-url``). Runs every benchmark, then writes docs/benchmarks.md (and the raw
figures to docs/benchmarks.json, the scaling plot to docs/benchmarks-scaling.svg).

Each figure is the median (with its spread) of repeated runs next to a baseline measured in
the same run; targets are checked and reported here, never asserted in unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import ROOT, log, loadavg, machine


def _step(results: dict[str, Any], key: str, fn, *args, **kwargs) -> None:
    """Run one benchmark; a failure is recorded in the report instead of ending the run."""
    log(f"{key} ...")
    start = time.perf_counter()
    try:
        results[key] = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
        import traceback

        traceback.print_exc()
        results.setdefault("errors", {})[key] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    log(f"{key} done in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repeats: checks that the harness works (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="the report to write")
    parser.add_argument("--postgres-url", default=os.environ.get("PTMHUB_BENCH_POSTGRES_URL"),
                        help="a PostgreSQL database for the PostgreSQL figures (make bench starts one)")
    parser.add_argument("--sizes", help="registry sizes for ingest/search, comma-separated (default 10k,100k,1M)")
    parser.add_argument("--pg-size", type=int,
                        help="models in the PostgreSQL registry (default 100,000: its ingest is the slow part)")
    parser.add_argument("--only", help="run only these benchmarks, comma-separated "
                                       "(startup,ingest,search,postgres,safetensors,offline_load,tfhub)")
    args = parser.parse_args(argv)

    from . import ingest, offline_load, report, safetensors, search, startup, tfhub

    quick = args.quick
    sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else (
        [1_000, 3_000] if quick else [10_000, 100_000, 1_000_000])
    only = set(args.only.split(",")) if args.only else None
    reps = {"startup": 3 if quick else 30, "search_rounds": 2 if quick else 10, "load": 1 if quick else 8,
            "tfhub": 1 if quick else 5, "naive": 200 if quick else 3_000, "floor": 2_000 if quick else 100_000,
            "hf_pages": 2_000 if quick else 50_000, "cli_search": 2 if quick else 10}

    def wanted(name: str) -> bool:
        return only is None or name in only

    results: dict[str, Any] = {"quick": quick, "sizes": sizes, "started": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                        time.gmtime()),
                               "machine": machine(), "load_before": loadavg(), "reps": reps}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptmhub-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if wanted("startup"):
            _step(results, "startup", startup.bench_startup, reps["startup"])
        db = {n: tmp / f"registry-{n}.db" for n in sizes}
        if wanted("ingest") or wanted("search"):
            results["ingest"] = {"sizes": {}}
            for n in sizes:
                _step(results["ingest"]["sizes"], n, ingest.store_ingest, n, f"sqlite:///{db[n]}")
                if n in results["ingest"]["sizes"]:
                    results["ingest"]["sizes"][n]["db_mb"] = sum(
                        p.stat().st_size for p in tmp.glob(f"registry-{n}.db*")) / 2**20
        if wanted("ingest"):
            default_n = min(max(sizes), 100_000)
            _step(results["ingest"], "default_batch", ingest.store_ingest, default_n,
                  f"sqlite:///{tmp / 'default-batch.db'}", batch=None)
            _step(results["ingest"], "naive", ingest.naive_orm, reps["naive"], f"sqlite:///{tmp / 'naive.db'}")
            _step(results["ingest"], "floor", ingest.sqlite_floor, reps["floor"], tmp)
            _step(results["ingest"], "hf_pages", ingest.hf_pages, reps["hf_pages"], f"sqlite:///{tmp / 'hfp.db'}")
            _step(results["ingest"], "hf_sync", ingest.hf_sync, reps["hf_pages"], f"sqlite:///{tmp / 'hfs.db'}")
            _step(results["ingest"], "profile", ingest.profile_upsert, 2_000 if quick else 30_000,
                  f"sqlite:///{tmp / 'profile.db'}")
        if wanted("search"):
            results["search"] = {}
            for n in sizes:
                if db[n].exists():
                    _step(results["search"], f"sqlite-{n}", search.bench_search, f"sqlite:///{db[n]}",
                          reps["search_rounds"])
            biggest = max(sizes)
            if db[biggest].exists():
                _step(results, "search_explain", search.explain, f"sqlite:///{db[biggest]}")
                _step(results, "cli_search", search.cli_search, str(db[biggest]), reps["cli_search"])
        if args.postgres_url and wanted("postgres"):
            pg_n = args.pg_size or min(max(sizes), 100_000)
            results["postgres"] = {"n": pg_n}
            # the store's default batch: on PostgreSQL a 20,000-record batch only costs memory
            _step(results["postgres"], "ingest", ingest.store_ingest, pg_n, args.postgres_url, batch=None)
            if "ingest" in results["postgres"]:
                _step(results["postgres"], "search", search.bench_search, args.postgres_url, reps["search_rounds"])
        if wanted("safetensors"):
            _step(results, "safetensors", safetensors.bench_safetensors, tmp)
        if wanted("offline_load"):
            _step(results, "offline_load", offline_load.bench_offline_load, tmp, reps["load"])
            _step(results, "offline_load_overhead", offline_load.bench_overhead, tmp, max(3, reps["load"]))
        if wanted("tfhub"):
            _step(results, "tfhub", tfhub.bench_tfhub, tmp, reps["tfhub"])
    results["seconds"] = time.perf_counter() - started
    results["load_after"] = loadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, out)
    log(f"wrote {out} ({results['seconds']:.0f} s)")
    if results.get("errors"):
        log(f"benchmarks that failed: {', '.join(results['errors'])}")
        sys.exit(1)
