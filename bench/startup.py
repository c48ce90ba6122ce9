"""CLI start-up: ``ptmhub --help`` and a search on registry.db.example, each a fresh process,
against ``python -c "import sqlalchemy, click"`` and huggingface_hub's own ``hf --help``."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

from .common import BIN, PY, ROOT, child, run_timed, stats

EXAMPLE_DB = ROOT / "registry.db.example"
SEARCH_ARGS = ["search", "bert", "--license", "permissive", "--limit", "5"]

CASES = {
    "help": ("ptmhub --help", [str(BIN / "ptmhub"), "--help"]),
    "search": (f"ptmhub --db registry.db.example {' '.join(SEARCH_ARGS)}",
               [str(BIN / "ptmhub"), "--db", str(EXAMPLE_DB), *SEARCH_ARGS]),
    "baseline": ("python -c 'import sqlalchemy, click'", [PY, "-c", "import sqlalchemy, click"]),
    # like for like: the baseline also ending without the interpreter's final collection, as
    # the ptmhub command does (cli._end_of_process)
    "baseline_frozen": ("python -c 'import sqlalchemy, click, gc; gc.freeze()'",
                        [PY, "-c", "import sqlalchemy, click, gc; gc.freeze()"]),
    "hf_help": ("hf --help (huggingface_hub's CLI)", [str(BIN / "hf"), "--help"]),
    "python": ("python -c pass (interpreter alone)", [PY, "-c", "pass"]),
}

# Where the search command's time goes, in one process (each phase after the previous one).
PHASES = r"""
import json, time
t0 = time.perf_counter()
import sqlalchemy, click
t1 = time.perf_counter()
import ptmhub.cli
t2 = time.perf_counter()
from ptmhub import api, settings
from ptmhub.cli.output import print_records
t3 = time.perf_counter()
settings.override(database_url=settings.database_url_from({db!r}))
store = api.get_store()
t4 = time.perf_counter()
from ptmhub.registry.store import SearchQuery
records = api.search("bert", license="permissive", limit=5, sort="relevance")
total = store.count(SearchQuery(q="bert", license="permissive"))
t5 = time.perf_counter()
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    print_records(records, total=total)
t6 = time.perf_counter()
print(json.dumps({{"import sqlalchemy + click": t1 - t0, "import ptmhub.cli (commands)": t2 - t1,
                  "import ptmhub.api": t3 - t2, "open the registry (engine, schema check)": t4 - t3,
                  "search + count queries": t5 - t4, "print": t6 - t5}}))
"""


# Every command runs with huggingface_hub's network calls turned off: on import its CLI fetches an
# agent registry from the Hub unless HF_HUB_OFFLINE, and checks for updates unless told not to.
# What is timed is start-up, not a network round trip (which only makes `hf` slower), and the
# benchmark opens no socket beyond the machine.
QUIET_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def bench_startup(repeat: int) -> dict[str, Any]:
    cases = {k: v for k, v in CASES.items() if (BIN / "hf").exists() or k != "hf_help"}
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(2):  # warm the OS file cache and .pyc files
        for _, cmd in cases.values():
            run_timed(cmd, QUIET_ENV)
    # round robin, so that a burst of load on the machine hits every command alike
    for _ in range(repeat):
        for key, (_, cmd) in cases.items():
            wall, cpu = run_timed(cmd, QUIET_ENV)
            walls[key].append(wall)
            cpus[key].append(cpu)
    out: dict[str, Any] = {"cases": {k: {"label": cases[k][0], "wall": stats(walls[k]), "cpu": stats(cpus[k])}
                                     for k in cases}}
    phases = [child(PHASES.format(db=str(EXAMPLE_DB))) for _ in range(max(3, repeat // 5))]
    out["phases"] = {name: stats([p[name] for p in phases]) for name in phases[0]}
    out["importtime"] = import_profile()
    return out


def import_profile(top: int = 12) -> list[tuple[str, float]]:
    """The modules the search command imports beyond ``import sqlalchemy, click`` (``-X importtime``,
    self + children, in ms), biggest first: where its extra start-up goes."""
    def cumulative(cmd: list[str]) -> dict[str, float]:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        out: dict[str, float] = {}
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if m and len(m.group(3)) <= 3:  # top-level and first-level imports only
                out[m.group(4)] = out.get(m.group(4), 0.0) + int(m.group(2)) / 1000
        return out

    # SQLAlchemy and click first, so that what follows is only what the command adds to them
    argv = ["ptmhub", "--db", str(EXAMPLE_DB), *SEARCH_ARGS]
    code = ("import sqlalchemy, click, sys\n"
            f"sys.argv = {argv!r}\n"
            "from ptmhub.cli import main\n"
            "main()")
    ours = cumulative([PY, "-X", "importtime", "-c", code])
    base = cumulative([PY, "-X", "importtime", "-c", "import sqlalchemy, click"])
    extra = [(name, t) for name, t in ours.items() if name not in base and not name.startswith("encodings")]
    return sorted(extra, key=lambda x: -x[1])[:top]
