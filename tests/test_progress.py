"""Long commands show a progress bar on a terminal (total and ETA when the work's size is known,
count and rate when not), never in --json output or a pipe; Ctrl-C says what was kept, exits 130
and a re-run finishes the work. Real processes, stderr on a pseudo-terminal, a loopback Hub."""

from __future__ import annotations

import copy
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time

import pytest
from hf_server import FakeHub, Reply, hf_hub  # noqa: F401  (fixture)

from ptmhub.registry import open_store

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LIST_PAGE = ("fixtures", "hf", "list_models_page__burncloud_TODO_2items.json")


def _on_a_terminal(args: list[str], *, env: dict[str, str] | None = None, interrupt_when=None,
                   timeout: float = 180) -> tuple[int, str, str]:
    """Runs ``ptmhub ARGS`` with stderr on a pseudo-terminal and stdout on a pipe; returns
    (exit code, stdout, stderr without colour codes). ``interrupt_when()`` true -> SIGINT."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ptmhub", *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120", **(env or {})},
                            start_new_session=True)
    os.close(slave)
    os.set_blocking(master, False)
    err = b""
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                err += os.read(master, 65536)
            except BlockingIOError:
                time.sleep(0.05)
            except OSError:
                break
            if interrupt_when is not None and not interrupted and interrupt_when():
                proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
                interrupted = True
        out = proc.stdout.read().decode()
        proc.wait(timeout=30)
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return proc.returncode, out, ANSI.sub("", err.decode(errors="replace"))


def test_sync_bar_with_total_and_eta_on_a_terminal(tmp_path):
    pytest.importorskip("torchvision")
    code, out, err = _on_a_terminal(["--db", str(tmp_path / "r.db"), "sync", "torchvision"])
    assert code == 0, err
    assert "sync torchvision" in err and "eta" in err
    totals = {int(m.group(2)) for m in re.finditer(r"\b(\d+)/(\d+)\b", err)}
    assert totals and max(totals) >= 100  # the builders' count, known before the first record
    assert out.startswith("torchvision: ") and "\x1b" not in out and "━" not in out


def test_no_bar_in_json_output_or_a_pipe(tmp_path, shared):
    source = shared("catalogs", "tfhub.dev")
    code, out, err = _on_a_terminal(["--db", str(tmp_path / "r.db"), "sync", "tfhub", "--source", str(source),
                                     "--json"])
    assert code == 0, err
    assert json.loads(out)["records"] > 2000 and "━" not in err and "eta" not in err
    proc = subprocess.run([sys.executable, "-m", "ptmhub", "--db", str(tmp_path / "r.db"), "sync", "tfhub",
                           "--source", str(source)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stderr.strip() == "" and "\x1b" not in proc.stdout


def test_sync_without_a_known_total_shows_count_and_rate(tmp_path, shared):
    source = shared("catalogs", "tfhub.dev")
    code, out, err = _on_a_terminal(["--db", str(tmp_path / "r.db"), "sync", "tfhub", "--source", str(source)])
    assert code == 0, err
    assert "sync tfhub" in err and re.search(r"\d+/\?", err) and "records/s" in err


def _listing(shared, n: int) -> list[dict]:
    items = json.loads(shared(*LIST_PAGE).read_text())
    out = []
    for i in range(n):
        item = copy.deepcopy(items[1])
        item.update(id=f"org{i % 3}/model-{i:04d}", modelId=f"org{i % 3}/model-{i:04d}", _id=f"{i:024x}",
                    downloads=10_000 - i, likes=i, author=f"org{i % 3}", sha=f"{i:040x}", gated=False)
        out.append(item)
    return out


def test_ctrl_c_says_what_was_kept_and_a_rerun_finishes(hf_hub, shared, tmp_path):  # noqa: F811
    pytest.importorskip("huggingface_hub")
    hf_hub.listing = _listing(shared, 1200)
    # the second page hangs: Ctrl-C comes while the first 500 records are stored
    hf_hub.script("GET", r"/api/models\?.*cursor=", Reply(200, body=[], delay=60))
    db = tmp_path / "r.db"
    args = ["--db", str(db), "sync", "hf", "--limit", "1200"]
    code, out, err = _on_a_terminal(args, interrupt_when=lambda: bool(hf_hub.requests_to(r"/api/models$")[1:]))
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last == "interrupted: 500 of 1,200 records kept; run the same command again to finish", err
    assert "Traceback" not in err and out == ""
    store = open_store(f"sqlite:///{db}")
    assert store.count(platform="huggingface") == 500
    proc = subprocess.run([sys.executable, "-m", "ptmhub", *args, "--json"], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["resumed_at"] == 500
    assert store.count(platform="huggingface") == 1200
    store.close()
