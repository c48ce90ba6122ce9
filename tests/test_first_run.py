"""The core install (``make run``: ``pip install -e .``, no extras) never prints a traceback.

Each command runs in a real process in which every module the core install would not have is
unimportable: the modules of every installed distribution outside the closure of ptmhub's core
requirements are blocked by a meta-path finder (a ``sitecustomize`` first on ``PYTHONPATH``,
which then loads the tests' network guard). A command that needs an extra says so in one line
that names it; the ``make run`` commands work.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import pkgutil
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUARD = Path(__file__).resolve().parent / "netguard" / "sitecustomize.py"

BLOCKER = '''
import importlib.abc, importlib.util, sys

BLOCKED = frozenset({blocked!r})


class _CoreInstallOnly(importlib.abc.MetaPathFinder):
    """Optional packages are absent, as in a core-only install."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _CoreInstallOnly())
_spec = importlib.util.spec_from_file_location("ptmhub_test_netguard", {guard!r})
_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guard)
_guard.install()
'''


def _top_level(dist: md.Distribution) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for f in dist.files or ():
        first = f.parts[0]
        if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
            continue
        names.add(first[:-3] if first.endswith(".py") else first.split(".")[0])
    return names


def _core_closure() -> set[str]:
    """Top-level modules of ptmhub's core requirements and theirs (no extras)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [r for r in md.requires("ptmhub") or () if "extra" not in r]
    modules: set[str] = set()
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue
        modules |= _top_level(dist)
        todo += [r for r in dist.requires or () if "extra ==" not in r]
    return modules


def blocked_modules() -> set[str]:
    """Every importable top-level module in site-packages that a core install would not have."""
    paths = [p for p in site.getsitepackages() if os.path.isdir(p)]
    installed = {m.name for m in pkgutil.iter_modules(paths)}
    keep = _core_closure() | {"ptmhub", "pip", "setuptools", "_distutils_hack", "pkg_resources"}
    return {m for m in installed - keep if not m.startswith("_")} - set(sys.stdlib_module_names)


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coreonly")
    blocked = sorted(blocked_modules())
    assert {"torch", "huggingface_hub", "kagglehub", "timm", "psycopg"} <= set(blocked)
    assert not {"sqlalchemy", "click", "rich", "requests", "yaml"} & set(blocked)
    (folder / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked, guard=str(GUARD)))
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def _ptmhub(core_env, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ptmhub", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **core_env, **(env or {})})


def test_the_blocker_is_a_core_install(core_env):
    code = ("import importlib\nfor m in ('torch', 'huggingface_hub', 'httpx2', 'kagglehub', 'timm', 'psycopg'):\n"
            "    try:\n        importlib.import_module(m)\n        print('IMPORTED', m)\n"
            "    except ModuleNotFoundError:\n        pass\nimport sqlalchemy, click, rich, requests, yaml\n"
            "print('OK')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **core_env})
    assert proc.stdout.strip() == "OK", proc.stdout + proc.stderr


@pytest.fixture
def example(tmp_path):
    """registry.db.example, upgraded to this ptmhub's schema (as 'ptmhub db upgrade' would)."""
    path = tmp_path / "example.db"
    shutil.copy(ROOT / "registry.db.example", path)
    from ptmhub.registry import migrate

    migrate.upgrade(f"sqlite:///{path}")
    return str(path)


def test_make_run_commands_work_on_the_core_install(core_env, example):
    for args in (["search", "bert", "--limit", "5"],
                 ["search", "--task", "image-classification", "--license", "permissive", "--max-params", "30M",
                  "--limit", "5"],
                 ["show", "hf:bert-base-uncased"]):
        proc = _ptmhub(core_env, "--db", example, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


# (arguments, the extra the message must name); {db} is a fresh registry, the hubs are a closed
# loopback port, so nothing reaches beyond the machine even when an import would succeed
COMMANDS = [
    (["show", "hf:someone/some-model"], "hf"),
    (["resolve", "hf:someone/some-model"], "hf"),
    (["pull", "hf:someone/some-model"], "hf"),
    (["load", "hf:someone/some-model"], "hf"),
    (["sync", "hf", "--limit", "3"], "hf"),
    (["sync", "timm"], "torch"),
    (["sync", "torchvision"], "torch"),
    (["resolve", "kaggle:google/bert/tensorFlow2/en-uncased-l-12-h-768-a-12"], "tf"),
    (["pull", "kaggle:google/bert/tensorFlow2/en-uncased-l-12-h-768-a-12"], "tf"),
    (["pull", "tfhub:google/nnlm-en-dim128/2"], "tf"),
    (["cache", "scan"], "hf"),
    (["cache", "ls"], "hf"),
    (["cache", "rm", "hf:someone/some-model", "--dry-run"], "hf"),
    (["finetune-plan", "hf:someone/some-model", "--num-labels", "2"], "hf"),
    (["compare", "hf:someone/some-model", "hf:someone/other-model"], "hf"),
]


@pytest.mark.parametrize("args,extra", COMMANDS, ids=[" ".join(a[:2]) for a, _ in COMMANDS])
def test_a_command_needing_an_extra_says_which(core_env, tmp_path, args, extra):
    hf_cache = tmp_path / "hf" / "hub" / "models--someone--some-model" / "snapshots" / ("0" * 40)
    hf_cache.mkdir(parents=True)
    (hf_cache / "config.json").write_text("{}")
    dead = "http://127.0.0.1:9"
    proc = _ptmhub(core_env, "--db", str(tmp_path / "r.db"), *args,
                   env={"HF_ENDPOINT": dead, "PTMHUB_TFHUB_ENDPOINT": dead, "PTMHUB_GITHUB_ENDPOINT": dead,
                        "HF_HOME": str(tmp_path / "hf"), "PTMHUB_MAX_RETRIES": "0"})
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 9, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert f"pip install 'ptmhub[{extra}]'" in proc.stderr, proc.stderr
    assert re.search(r"needs the '\w+' package", proc.stderr), proc.stderr


def test_a_postgresql_registry_names_the_postgres_extra(core_env):
    proc = _ptmhub(core_env, "--db", "postgresql://nobody@127.0.0.1:9/none", "ls")
    assert proc.returncode == 9 and proc.stderr.count("\n") == 1 and "ptmhub[postgres]" in proc.stderr, proc.stderr
