"""SIGKILL at 20 random points of `ptmhub pull` from a slow loopback Hub: no file in the HF cache
ever looks complete without being whole, the registry never says cached for an unfinished pull,
the registry passes its integrity check, and running the pull again completes it."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from hf_server import hf_hub  # noqa: F401  (fixture)

TRIALS = 20


@pytest.mark.slow
def test_sigkill_during_pull(hf_hub, tmp_path):
    weights = os.urandom(4 * 1024 * 1024)  # 16 chunks of 256 KiB
    config = b'{"model_type": "bert"}'
    hf_hub.add_repo("test/slow", files={"model.safetensors": weights, "config.json": config})
    hf_hub.throttle = 0.06  # about 1 s for the whole file
    db = tmp_path / "registry.db"
    hf_home = tmp_path / "hf"
    env = {**os.environ, "HF_ENDPOINT": hf_hub.url, "HF_HOME": str(hf_home), "PTMHUB_HOME": str(tmp_path / "home"),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    cmd = [sys.executable, "-m", "ptmhub", "--db", str(db), "pull", "hf:test/slow"]
    digest = hashlib.sha256(weights).hexdigest()
    storage = hf_home / "hub" / "models--test--slow"

    from ptmhub.registry import engine, open_store

    def check(finished: bool) -> None:
        # every file a snapshot shows is whole; partial data only lives in *.incomplete blobs
        for path in (storage / "snapshots").rglob("*") if storage.exists() else []:
            if path.is_file() and path.name == "model.safetensors":
                assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "a partial file looks complete"
        if db.exists():
            store = open_store(f"sqlite:///{db}")
            assert store.integrity_check() == "ok"
            record = store.get("hf:test/slow")
            if record is not None and record.cached:
                assert finished, "the registry says cached for a pull that did not finish"
            engine.dispose_all()

    rng = random.Random(11)
    killed = 0
    for _ in range(TRIALS):
        # start from an empty cache half the time, so kills also land early in fresh downloads
        if rng.random() < 0.5 and storage.exists():
            import shutil

            shutil.rmtree(storage)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        check(finished and proc.returncode == 0)
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} pulls were killed mid-way"

    hf_hub.throttle = 0.0
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    check(True)
    store = open_store(f"sqlite:///{db}")
    record = store.get("hf:test/slow")
    assert record.cached and record.cache_path
    assert hashlib.sha256((storage / "snapshots").glob("*/model.safetensors").__next__().read_bytes()).hexdigest() == digest
    engine.dispose_all()
