"""What every benchmark shares: timing, statistics, child processes, the machine's description."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(PY).parent
SHARED = Path(os.environ.get("PTMHUB_SHARED", ROOT.parent / "shared"))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stats(xs: list[float]) -> dict[str, float]:
    """Median, spread and tail of repeated measurements (seconds, or any unit)."""
    xs = sorted(xs)
    if not xs:
        return {"n": 0}

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, int(round(p * (len(xs) - 1)))))]

    return {"n": len(xs), "median": statistics.median(xs), "min": xs[0], "max": xs[-1], "p5": pct(0.05),
            "p95": pct(0.95), "mean": statistics.fmean(xs)}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one run of a command, output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-1500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def child(code: str, *, env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run Python code in a fresh interpreter; it prints one JSON object as its last line."""
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def machine() -> dict[str, Any]:
    import sqlite3

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
    return {
        "cores": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_spread(st: dict[str, float], unit: Callable[[float], str] = ms) -> str:
    return f"{unit(st['min'])}..{unit(st['max'])}"
