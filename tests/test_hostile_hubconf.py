"""Hostile hubconf.py files, generated: huge, deeply nested, star-import chains, odd
``dependencies``, bytes that are not UTF-8, null bytes. Reading one without running it (the
static listing of an untrusted repository) ends in a one-line ``PtmhubError`` or a bounded
result, never a traceback; the heavy cases run in a child process whose peak RSS (VmHWM) is
checked, and whose parses of the repository's modules are counted (each module at most once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.errors import LimitExceededError, MalformedResponseError, PtmhubError, RepoDependencyError
from ptmhub.hubs import torchhub as th

MiB = 1024 * 1024

# Runs read_hubconf in a fresh process: peak RSS before/after (VmHWM), ast.parse calls, outcome.
CHILD = r"""
import ast, json, sys, time

def hwm():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

from ptmhub.errors import PtmhubError
from ptmhub.hubs import torchhub as th

parses = [0]
real_parse = ast.parse

def counting_parse(*args, **kwargs):  # observes the stdlib parser; the code under test is untouched
    parses[0] += 1
    return real_parse(*args, **kwargs)

ast.parse = counting_parse
before, start = hwm(), time.perf_counter()
out = {}
try:
    info = th.read_hubconf(sys.argv[1])
    out.update(ok=True, names=len(info.entrypoints), partial=info.partial,
               docs={k: v.doc for k, v in info.entrypoints.items() if v.doc})
except PtmhubError as exc:
    out.update(ok=False, error=type(exc).__name__, message=str(exc))
out.update(before=before, peak=hwm(), seconds=time.perf_counter() - start, parses=parses[0])
print(json.dumps(out))
"""


def run_child(repo: Path, *, timeout: float = 300) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(repo)], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["growth"] = out["peak"] - out["before"]
    return out


def repo_with(tmp_path: Path, hubconf: str | bytes, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "owner_repo_main"
    root.mkdir(parents=True, exist_ok=True)
    data = hubconf.encode() if isinstance(hubconf, str) else hubconf
    (root / "hubconf.py").write_bytes(data)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# -- generators ------------------------------------------------------------------------------------
def huge(size: int, unit: str = "def f{i}(pretrained=False):\n    'Entry {i}.'\n") -> str:
    """A hubconf of ``size`` bytes made of many small entrypoints."""
    parts, n, i = [], 0, 0
    while n < size:
        part = unit.format(i=i)
        parts.append(part)
        n += len(part)
        i += 1
    return "".join(parts)


DEEP = {  # each nests 15,000 levels one way or another (within the token limit: the nesting is what trips)
    "parentheses": "x = " + "(" * 15_000 + "1" + ")" * 15_000,
    "a+a+...": "x = " + "+".join(["a"] * 15_000),
    "unary minus": "x = " + "-" * 15_000 + "1",
    "not not ...": "x = " + "not " * 15_000 + "1",
    "attribute chain": "x = " + ".".join(["a"] * 15_000),
    "call chain": "x = f" + "()" * 15_000,
    "subscripts": "x = a" + "[0]" * 15_000,
    "lambdas": "x = " + "lambda: " * 10_000 + "1",
    "conditional chain": "x = " + " if c else ".join(["a"] * 10_000),
    # shallow enough for the parser, deep enough for ast.unparse / literal_eval to recurse out
    "a+a+... as a callee": "model = (" + "+".join(["a"] * 600) + ")()",
    "dependencies nested": "dependencies = " + "[" * 150 + "]" * 150,
}


def star_chain(modules: int, names: int) -> tuple[str, dict[str, str]]:
    """Modules that all star-import each other; hubconf.py imports ``names`` names that none of
    them defines (each lookup used to walk every path through the star imports), plus one the
    last module does define."""
    files = {"pkg/__init__.py": ""}
    for i in range(modules):
        stars = "".join(f"from .m{j} import *\n" for j in range(modules) if j != i)
        own = 'def found(pretrained=False):\n    """Defined at the end of the chain."""\n' if i == modules - 1 else ""
        files[f"pkg/m{i}.py"] = stars + own
    imported = ", ".join([f"ghost{k}" for k in range(names)] + ["found"])
    return f"dependencies = ['torch']\nfrom pkg.m0 import {imported}\n", files


# -- size and work bounds --------------------------------------------------------------------------
def test_a_24_mb_hubconf_is_refused_without_reading_it(tmp_path):
    repo = repo_with(tmp_path, huge(24 * MiB))
    out = run_child(repo)
    assert out["ok"] is False and out["error"] == "LimitExceededError"
    assert "\n" not in out["message"] and "PTMHUB_MAX_HUBCONF_BYTES" in out["message"]
    assert "25,165,8" in out["message"]  # the file's size, named
    assert out["parses"] == 0 and out["growth"] < 16 * MiB   # it was 10 GiB


def test_a_hubconf_under_the_byte_limit_but_all_tokens_is_refused_before_parsing(tmp_path):
    # 1 MiB of one-token lines: ast.parse alone would peak near 1 GiB
    repo = repo_with(tmp_path, "a\n" * (MiB // 2 - 1))
    out = run_child(repo)
    assert out["ok"] is False and out["error"] == "LimitExceededError"
    assert "tokens" in out["message"] and "PTMHUB_MAX_HUBCONF_BYTES" in out["message"]
    assert out["parses"] == 0 and out["growth"] < 32 * MiB


def test_the_worst_hubconf_within_the_limits_stays_small(tmp_path):
    limits = th._Limits.current()
    # as many tokens as the limits allow, spent on the cheapest entrypoints (7 tokens each)
    defs = limits.file_tokens // 7 - 10
    repo = repo_with(tmp_path, "".join(f"def f{i}():0\n" for i in range(defs)))
    out = run_child(repo)
    assert out["ok"] is True and out["names"] == defs
    assert out["growth"] < 96 * MiB


def test_too_many_entrypoints_is_one_line(tmp_path):
    limits = th._Limits.current()
    # two tokens a name: within the token limit, past the entrypoint limit
    names = ", ".join(f"e{i}" for i in range(limits.names + 1))
    repo = repo_with(tmp_path, f"from nowhere_to_be_found import {names}\n")
    with pytest.raises(LimitExceededError, match=f"more than {limits.names:,} entrypoints") as info:
        th.read_hubconf(repo)
    assert "\n" not in str(info.value) and "PTMHUB_MAX_HUBCONF_BYTES" in str(info.value)


def test_the_limits_scale_with_the_variable(tmp_path, monkeypatch):
    text = huge(300_000)  # ~87,000 tokens: over the 52,428 of the default 1 MiB
    repo = repo_with(tmp_path, text)
    with pytest.raises(LimitExceededError, match="tokens"):
        th.read_hubconf(repo)
    monkeypatch.setenv("PTMHUB_MAX_HUBCONF_BYTES", str(4 * MiB))
    settings.reload()
    info = th.read_hubconf(repo)
    assert len(info.entrypoints) == text.count("def ") and info.entrypoints["f7"].doc == "Entry 7."


def test_a_star_import_chain_parses_each_module_once(tmp_path):
    hubconf, files = star_chain(modules=6, names=5)
    repo = repo_with(tmp_path, hubconf, files)
    out = run_child(repo)
    assert out["ok"] is True and out["partial"] is None
    assert out["docs"] == {"found": "Defined at the end of the chain."}
    assert out["names"] == 6
    # hubconf.py + 6 modules; it used to be one parse per path: ~1,500 per ghost name
    assert out["parses"] <= 7


def test_a_wide_star_import_fan_gives_a_marked_partial_listing(tmp_path, sqlite_store):
    files = {"pkg/__init__.py": "", "pkg/hub.py": "".join(f"from .m{i} import *\n" for i in range(60))}
    for i in range(60):
        files[f"pkg/m{i}.py"] = f"def own{i}():\n    'Module {i}.'\n"
    files["pkg/m59.py"] += "def deep(pretrained=False):\n    'Behind 60 modules.'\n"
    repo = repo_with(tmp_path, "from pkg.hub import deep, own0\n", files)
    info = th.read_hubconf(repo)
    assert set(info.entrypoints) == {"deep", "own0"}
    assert info.entrypoints["own0"].doc == "Module 0."            # found within the bound
    assert info.entrypoints["deep"].doc is None                   # past it: named, not described
    assert info.partial == f"more than {th.MAX_FOLLOWED_FILES} modules to read"
    assert th._listing(info) == f"ast (partial: more than {th.MAX_FOLLOWED_FILES} modules to read)"


def test_a_long_re_export_chain_is_marked_partial(tmp_path):
    files = {"pkg/__init__.py": ""}
    for i in range(20):
        files[f"pkg/m{i}.py"] = f"from .m{i + 1} import target\n"
    files["pkg/m20.py"] = "def target():\n    'At the end.'\n"
    info = th.read_hubconf(repo_with(tmp_path, "from pkg.m0 import target\n", files))
    assert info.entrypoints["target"].doc is None and "re-exported through more than" in info.partial


def test_an_oversized_module_is_skipped_and_marked(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMHUB_MAX_HUBCONF_BYTES", "20000")
    settings.reload()
    files = {"pkg/__init__.py": "", "pkg/big.py": "def big():\n    'Big.'\n" + "#" * 30000 + "\n",
             "pkg/small.py": "def small():\n    'Small.'\n"}
    info = th.read_hubconf(repo_with(tmp_path, "from pkg.big import big\nfrom pkg.small import small\n", files))
    assert info.entrypoints["small"].doc == "Small." and info.entrypoints["big"].doc is None
    assert info.partial.startswith("pkg/big.py is 30,") and "PTMHUB_MAX_HUBCONF_BYTES" in info.partial


# -- nesting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_nesting_is_one_line(tmp_path, kind):
    repo = repo_with(tmp_path, DEEP[kind] + "\n\ndef ok(pretrained=False):\n    'Fine.'\n")
    with pytest.raises((LimitExceededError, MalformedResponseError)) as info:
        th.read_hubconf(repo)
    message = str(info.value)
    assert "\n" not in message and "hubconf.py of owner_repo_main" in message
    if isinstance(info.value, LimitExceededError):
        assert "nests deeper" in message


def test_nesting_up_to_the_limit_is_read_and_past_it_refused(tmp_path):
    # 60 levels of a+a+...: within MAX_AST_DEPTH (ast.unparse copes); 150: refused, though Python parses it
    info = th.read_hubconf(repo_with(tmp_path, "net = (" + "+".join(["a"] * 60) + ")()\n"))
    assert info.entrypoints == {}
    with pytest.raises(LimitExceededError, match=f"nests deeper than {th.MAX_AST_DEPTH} levels"):
        th.read_hubconf(repo_with(tmp_path, "net = (" + "+".join(["a"] * 150) + ")()\n"))


# -- dependencies ----------------------------------------------------------------------------------
ODD_DEPENDENCIES = {
    "[[1], {}]": "not a list of package names (strings)",
    "{[1]: 2}": "not a literal list of package names",          # unhashable key: TypeError in literal_eval
    "{1, [2]}": "not a literal list of package names",
    "[1, 2]": "not a list of package names (strings)",
    "'torch'": "not a list of package names (strings)",
    "[b'torch']": "not a list of package names (strings)",
    "make_list()": "not a literal list of package names",
    "[" * 90 + "]" * 90: "not a list of package names (strings)",
}


@pytest.mark.parametrize("value", sorted(ODD_DEPENDENCIES), ids=lambda v: v[:20])
def test_odd_dependencies_are_a_one_line_problem(tmp_path, value):
    info = th.read_hubconf(repo_with(tmp_path, f"dependencies = {value}\n\ndef net(pretrained=False):\n    'N.'\n"))
    assert info.dependencies is None and info.dependencies_problem == ODD_DEPENDENCIES[value]
    assert list(info.entrypoints) == ["net"] and info.missing_dependencies() == []
    with pytest.raises(RepoDependencyError) as exc:
        th._check_dependencies(info, "owner/repo")  # what pull and load run before any hubconf code
    assert "\n" not in str(exc.value) and ODD_DEPENDENCIES[value] in str(exc.value)


def test_dependency_names_that_cannot_be_modules_count_as_missing(tmp_path):
    deps = ["torch", "torch>=2.0", "a b", "", "..", "x\x00y", "os.path", "nope_" + "z" * 300]
    info = th.read_hubconf(repo_with(tmp_path, f"dependencies = {deps!r}\n"))
    assert info.dependencies_problem is None
    assert info.missing_dependencies() == ["torch>=2.0", "a b", "", "..", "x\x00y", "nope_" + "z" * 300]
    # a module without __spec__ makes find_spec raise ValueError: whatever it says, no traceback
    info = th.read_hubconf(repo_with(tmp_path, "dependencies = ['__main__']\n"))
    assert info.missing_dependencies() in ([], ["__main__"])


# -- bytes -----------------------------------------------------------------------------------------
def test_non_utf8_and_null_bytes(tmp_path):
    # a coding line is honoured as Python honours it
    latin1 = b"# -*- coding: latin-1 -*-\ndef caf\xe9():\n    '''Caf\xe9 \xff.'''\n"
    assert th.read_hubconf(repo_with(tmp_path, latin1)).entrypoints["caf\xe9"].doc == "Caf\xe9 \xff."
    # bytes that are not UTF-8 (and no coding line): listed, with U+FFFD for what does not decode
    info = th.read_hubconf(repo_with(tmp_path, b"def net():\n    '''N\xe9t \xff\xfe.'''\n"))
    assert info.entrypoints["net"].doc == "N\ufffdt \ufffd\ufffd."
    bom = b"\xef\xbb\xbfdef net():\n    'With a BOM.'\n"
    assert th.read_hubconf(repo_with(tmp_path, bom)).entrypoints["net"].doc == "With a BOM."
    unknown = b"# coding: no-such-codec\ndef net():\n    'Odd.'\n"
    assert th.read_hubconf(repo_with(tmp_path, unknown)).entrypoints["net"].doc == "Odd."
    for data in (b"def f():\n    pass\n\x00\n", b"\x00" * 1000, b"def f(\x00):\n    pass\n"):
        with pytest.raises(MalformedResponseError) as exc:
            th.read_hubconf(repo_with(tmp_path, data))
        assert "\n" not in str(exc.value) and "not valid Python" in str(exc.value)


def test_generated_hubconfs_never_raise_anything_else(tmp_path):
    """A few hundred generated hubconfs mixing every shape above: only PtmhubError escapes."""
    import random

    rng = random.Random(14)
    pieces = [v[:5000] for v in DEEP.values()] + [f"dependencies = {v}" for v in ODD_DEPENDENCIES] + [
        "from . import *", "from .pkg.m0 import *", "from .. import x", "from ...x import y as z", "import os",
        "globals()['x'] = 1", "x = partial(f)", "y = x", "def g(*a, **k):\n    'G.'", "class C:\n    'C.'",
        "if 1:\n    def h(): pass", "try:\n    from pkg.m1 import a\nexcept ImportError:\n    pass",
        "\x00", "\udcff", "'''", "(" * 199 + ")" * 199, "lambda: " * 300 + "1",
    ]
    files = star_chain(4, 3)[1]
    for n in range(300):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        data = text.encode("utf-8", errors="surrogateescape" if "\udcff" in text else "strict")
        repo = repo_with(tmp_path / str(n), data, files)
        try:
            th.read_hubconf(repo)
        except PtmhubError as exc:
            assert "\n" not in str(exc)
