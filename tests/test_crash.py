"""SIGKILL at random points during a catalog sync: the registry always opens, passes SQLite's
integrity check, and re-running finishes the work with no duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

TRIALS = 20


@pytest.mark.slow
def test_sigkill_during_sync(tmp_path, shared):
    source = shared("catalogs", "tfhub.dev")
    db = tmp_path / "crash.db"
    env = {**os.environ, "PTMHUB_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "ptmhub", "--db", str(db), "sync", "tfhub", "--source", str(source), "--json"]
    # how long a whole run takes here, so the kills land all over it (start-up, parse, upserts)
    start = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    full = time.monotonic() - start
    db.unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"crash.db{suffix}").unlink(missing_ok=True)

    from ptmhub.registry import engine, open_store

    rng = random.Random(20261122)
    killed = 0
    for _ in range(TRIALS):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, full * 1.1))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        if db.exists():
            store = open_store(f"sqlite:///{db}")
            assert store.integrity_check() == "ok"
            ids = [r.id for r in store.iter_all()]
            assert len(ids) == len(set(ids))
            engine.dispose_all()
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} runs were killed mid-way"
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    store = open_store(f"sqlite:///{db}")
    assert store.integrity_check() == "ok"
    assert store.count(platform="tfhub") == 2730
    engine.dispose_all()
