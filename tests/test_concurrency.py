"""Several processes share one registry: no errors reach the user, nothing is lost or
duplicated, and the final state equals a serial replay of the same operations."""

from __future__ import annotations

import multiprocessing as mp
import random
import traceback

import pytest

from ptmhub.records import ModelRecord

PROCESSES = 8
OPS = 1000
SHARED_IDS = 20


def _ops(worker: int) -> list[tuple[str, ModelRecord | str]]:
    """A deterministic mix: upserts of the worker's own models (several versions each), upserts of
    shared models that every worker writes identically, and reads of anyone's models."""
    rng = random.Random(worker)
    ops: list[tuple[str, ModelRecord | str]] = []
    for i in range(OPS):
        roll = rng.random()
        if roll < 0.55:
            n = rng.randrange(60)
            ops.append(("upsert", ModelRecord(
                id=f"hf:w{worker}/m{n}", platform="huggingface", name=f"m{n}", owner=f"w{worker}",
                downloads=i, parameters=rng.randrange(10**4, 10**9), parameters_source="api",
                tags=(f"t{rng.randrange(5)}",), summary=f"model {n} of worker {worker} step {i}")))
        elif roll < 0.7:
            n = rng.randrange(SHARED_IDS)
            ops.append(("upsert", ModelRecord(id=f"hf:shared/s{n}", platform="huggingface", name=f"s{n}",
                                              owner="shared", task="fill-mask", license="mit")))
        elif roll < 0.85:
            ops.append(("get", f"hf:w{rng.randrange(PROCESSES)}/m{rng.randrange(60)}"))
        else:
            ops.append(("search", rng.choice(["model", "worker", "s1", "m2"])))
    return ops


def _apply(store, ops) -> int:
    done = 0
    for kind, arg in ops:
        if kind == "upsert":
            store.upsert([arg])
        elif kind == "get":
            store.get(arg)
        else:
            store.search(q=arg, limit=5)
        done += 1
    return done


def _worker(url: str, worker: int, queue) -> None:
    try:
        from ptmhub.registry import engine

        engine._engines.clear()  # never reuse the parent's connections after fork
        from ptmhub.registry import open_store

        queue.put((worker, _apply(open_store(url), _ops(worker)), None))
    except BaseException as exc:  # report everything: any error fails the test
        queue.put((worker, 0, "".join(traceback.format_exception(exc))[-2000:]))


def _snapshot(store) -> list[tuple]:
    return [(r.id, r.downloads, r.parameters, r.tags, r.summary, r.task, r.license) for r in store.iter_all()]


@pytest.mark.slow
def test_parallel_writers_and_readers(db_url, tmp_path):
    from ptmhub.registry import open_store

    store = open_store(db_url)  # create the schema once, before the race
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db_url, w, queue)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [err for _, _, err in results if err]
    assert errors == [], errors[0]
    assert sum(n for _, n, _ in results) == PROCESSES * OPS

    serial = open_store(f"sqlite:///{tmp_path / 'serial.db'}")
    for w in range(PROCESSES):
        _apply(serial, _ops(w))
    assert _snapshot(store) == _snapshot(serial)
    ids = [r.id for r in store.iter_all()]
    assert len(ids) == len(set(ids)) == store.count()
    assert store.integrity_check() == "ok"
