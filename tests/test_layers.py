"""The layers of ptmhub, checked over the import graph (docs/architecture.md, "Layers").

core -> registry -> hubs -> catalogs -> services -> api -> cli: a module may import its own layer
and the layers to its left, never one to its right. Every import counts: module level,
inside functions (lazy framework imports are still dependencies), under ``TYPE_CHECKING``, and
``"package.module:attr"`` strings handed to a loader. The store never imports a catalog, and
no module below ``api`` imports ``api`` (the store is passed down, never fetched).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ptmhub"

#: layer order, left to right; a module's layer is the first prefix that matches its dotted name
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("ptmhub", "ptmhub.__main__", "ptmhub.ids", "ptmhub.records", "ptmhub.errors", "ptmhub.settings",
              "ptmhub.offline", "ptmhub.http", "ptmhub.licenses", "ptmhub.archive", "ptmhub.vocab",
              "ptmhub.folders", "ptmhub.loaders", "ptmhub.localmodel", "ptmhub.savedmodel", "ptmhub.quality",
              "ptmhub.safetensors")),
    ("registry", ("ptmhub.registry",)),
    ("hubs", ("ptmhub.hubs",)),
    ("catalogs", ("ptmhub.catalogs",)),
    ("services", ("ptmhub.models", "ptmhub.lineage", "ptmhub.cache", "ptmhub.comparison", "ptmhub.platforms", "ptmhub.report",
                  "ptmhub.recommend", "ptmhub.finetune", "ptmhub.export")),
    ("api", ("ptmhub.api",)),
    ("cli", ("ptmhub.cli",)),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
# "ptmhub" (the package __init__) re-exports the API lazily: it is the public face, checked apart
FACADE = {"ptmhub", "ptmhub.__main__"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    best = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (name, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best[0]


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


_STRING_TARGET = re.compile(r"^(ptmhub(?:\.\w+)+)(?::\w+)?$")


def imports_of(path: Path) -> set[tuple[str, int]]:
    """(imported ptmhub module, line) for every import in the file, wherever it is."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SystemError:
        # CPython 3.11: deep-nesting hostile inputs parsed earlier in this process can leave the AST
        # constructor failing with "recursion depth mismatch"; a fresh interpreter reads the file
        return _imports_in_a_fresh_process(path)
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(a.name, node.lineno) for a in node.names if a.name.startswith("ptmhub")}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            if not base.startswith("ptmhub"):
                continue
            for alias in node.names:  # "from . import api" imports the module ptmhub.api
                if base == "ptmhub" and alias.name == "__version__":
                    continue  # the version string: the facade defines it before anything else
                sub = f"{base}.{alias.name}"
                found.add((sub if _is_module(sub) else base, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _STRING_TARGET.match(node.value)
            if m and _is_module(m.group(1)):
                found.add((m.group(1), node.lineno))
    return found


def _imports_in_a_fresh_process(path: Path) -> set[tuple[str, int]]:
    import json
    import subprocess
    import sys

    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import test_layers as t; "
            "print(json.dumps(sorted(t.imports_of(Path(sys.argv[2])))))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(path)], capture_output=True,
                         text=True, check=True, timeout=120)
    return {(target, line) for target, line in json.loads(out.stdout)}


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (ROOT.parent / rel).with_suffix(".py").exists() or (ROOT.parent / rel / "__init__.py").exists()


def all_modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def violations() -> list[str]:
    out = []
    for path in all_modules():
        module = module_name(path)
        if module in FACADE:
            continue
        mine = layer_of(module)
        for target, line in sorted(imports_of(path)):
            if target in FACADE:
                out.append(f"{path.relative_to(ROOT.parent)}:{line} imports the package facade 'ptmhub' "
                           "(import the module it needs)")
                continue
            theirs = layer_of(target)
            if RANK[theirs] > RANK[mine]:
                out.append(f"{path.relative_to(ROOT.parent)}:{line} ({mine}) imports {target} ({theirs})")
    return out


def test_every_module_is_in_a_layer():
    for path in all_modules():
        layer_of(module_name(path))


def test_imports_only_go_down_the_layers():
    found = violations()
    assert not found, "upward imports:\n" + "\n".join(found)


def test_the_store_never_imports_a_catalog_or_a_hub():
    for path in (ROOT / "registry").rglob("*.py"):
        bad = [t for t, _ in imports_of(path) if layer_of(t) not in ("core", "registry")]
        assert not bad, f"{path.name} imports {bad}"


def test_nothing_below_api_imports_api():
    for path in all_modules():
        module = module_name(path)
        if module in FACADE or RANK[layer_of(module)] >= RANK["api"]:
            continue
        assert "ptmhub.api" not in {t for t, _ in imports_of(path)}, f"{module} imports ptmhub.api"


@pytest.mark.parametrize("source, expected", [
    ("from ..api import get_store", {"ptmhub.api"}),
    ("from .. import api", {"ptmhub.api"}),
    ("def f():\n    from ptmhub.catalogs import tfhub", {"ptmhub.catalogs.tfhub"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..registry.store import Store",
     {"ptmhub.registry.store"}),
    ("LOADER = 'ptmhub.finetune.torch_adapter:load'", {"ptmhub.finetune.torch_adapter"}),
])
def test_the_checker_sees_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    """The checker must fail on each kind of import it claims to see (a test that can fail)."""
    fake = ROOT / "hubs" / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: source if self == fake else _read(self, **kw))
    assert {t for t, _ in imports_of(fake)} == expected


_read = Path.read_text
