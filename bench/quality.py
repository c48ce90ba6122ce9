"""Quality queries at scale: ``search --sort accuracy``, ``search --min-accuracy`` and
``recommend`` on a synthetic registry (bench.synth's Hugging Face catalog, one model in ten of
those with a task given published figures), each next to the plain search with the same filters
sorted by downloads. ``python -m bench.quality [N] [--postgres-url URL]`` writes the table into
docs/benchmarks.md between the ``quality:begin``/``quality:end`` markers.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import ROOT, fmt_spread, log, ms, stats, timed

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
DATASETS = {"image-classification": "imagenet-1k", "text-classification": "glue/sst2",
            "automatic-speech-recognition": "librispeech_asr"}


def _records(n: int, seed: int = 1):
    """bench.synth's records; one in ten of the tasks above publishes a figure (accuracy, or wer)."""
    from bench.synth import generate
    from ptmhub.records import Evaluation

    rng = random.Random(seed)
    for record in generate(n, seed=seed):
        dataset = DATASETS.get(record.task or "")
        if dataset is not None and rng.random() < 0.1:
            metric = "wer" if record.task == "automatic-speech-recognition" else "accuracy"
            value = rng.uniform(2, 30) if metric == "wer" else rng.uniform(50, 92)
            record = record.replace(evaluations=(Evaluation(dataset, metric, round(value, 3), source="synthetic"),))
        yield record


CASES = {
    "search --task image-classification --sort accuracy":
        lambda s: s.search(task="image-classification", sort="accuracy"),
    "  (same filters, --sort downloads)": lambda s: s.search(task="image-classification", sort="downloads"),
    "search --min-accuracy imagenet-1k=85 --license permissive --max-params 1B":
        lambda s: s.search(min_accuracy="imagenet-1k=85", license="permissive", max_parameters=10**9,
                           sort="accuracy"),
    "  (same filters without --min-accuracy, --sort downloads)":
        lambda s: s.search(task="image-classification", license="permissive", max_parameters=10**9, sort="downloads"),
    "search --sort accuracy (no filter: the basis is chosen)": lambda s: s.search(sort="accuracy"),
    "recommend --task image-classification --license permissive --max-params 1B":
        lambda s: _recommend(s, license="permissive", max_parameters=10**9),
    "recommend --task image-classification": lambda s: _recommend(s),
}


def _recommend(store, **kw):
    from ptmhub.recommend import recommend

    return recommend("image-classification", store=store, **kw)


def bench_quality(url: str, n: int, repeat: int = 5) -> dict[str, Any]:
    from ptmhub.registry import open_store

    store = open_store(url)
    start = time.perf_counter()
    store.upsert(_records(n), batch_size=5000)
    out: dict[str, Any] = {"n": n, "ingest_s": time.perf_counter() - start, "cases": {}}
    from ptmhub.registry.store import SearchQuery

    out["with_figures"] = store.count(SearchQuery(min_accuracy="imagenet-1k=0"))
    out["image_models"] = store.count(SearchQuery(task="image-classification"))
    for name, fn in CASES.items():
        fn(store)  # warm-up
        out["cases"][name] = stats(timed(lambda fn=fn: fn(store), repeat))
        log(f"{name}: {out['cases'][name]['median'] * 1000:.1f} ms")
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(CASES)
    dbs = list(results)
    head = "| query | " + " | ".join(f"{db} ({results[db]['n']:,} models) median (min..max)" for db in dbs) + " |"
    lines = [head, "|---|" + "---:|" * len(dbs)]
    for name in names:
        cells = [f"{ms(results[db]['cases'][name]['median'])} ({fmt_spread(results[db]['cases'][name])})"
                 if name in results[db]["cases"] else "-" for db in dbs]
        lines.append(f"| `{name.strip()}`{' (baseline)' if name.startswith('  ') else ''} | " + " | ".join(cells) + " |")
    first = results[dbs[0]]
    lines.append("")
    lines.append(f"{first['image_models']:,} image-classification models, {first['with_figures']:,} with an "
                 "imagenet-1k accuracy.")
    return "\n".join(lines)


def write_doc(text: str, doc: Path = DOC) -> None:
    current = doc.read_text()
    start, end = current.index(BEGIN) + len(BEGIN), current.index(END)
    doc.write_text(current[:start] + "\n" + text + "\n" + current[end:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default=os.environ.get("PTMHUB_BENCH_POSTGRES_URL"))
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ptmhub-bench-quality-") as tmp:
        results["SQLite"] = bench_quality(f"sqlite:///{tmp}/registry.db", args.n, args.repeat)
    if args.postgres_url:
        results["PostgreSQL"] = bench_quality(args.postgres_url, args.n, args.repeat)
    text = table(results)
    print(text)
    if not args.no_write:
        write_doc(text)
        log(f"wrote the quality table into {DOC}")


if __name__ == "__main__":
    sys.exit(main())
