"""The "adding a hub" checklist of docs/architecture.md, enforced: every platform ptmhub parses IDs
for has a backend, a native cache and a row in the platform matrix, each registered by one line
and living in the hub's own package; and no shared module names a hub.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ptmhub.hubs.base import BACKENDS, MATRIX_ROWS, NATIVE_CACHES, Backend, PlatformFacts, load_target
from ptmhub.hubs.native import NativeCache, cache_for, caches_of
from ptmhub.ids import PLATFORMS, PREFIXES

ROOT = Path(__file__).resolve().parents[1] / "ptmhub"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_has_a_backend_a_native_cache_and_a_matrix_row(platform):
    assert platform in BACKENDS, f"{platform}: add its Backend to BACKENDS in ptmhub/hubs/base.py"
    backend = load_target(BACKENDS[platform])
    assert issubclass(backend, Backend) and backend.platform == platform
    assert caches_of(platform), f"{platform}: add its NativeCache to NATIVE_CACHES in ptmhub/hubs/base.py"
    assert platform in MATRIX_ROWS, f"{platform}: add its PlatformFacts row to MATRIX_ROWS in ptmhub/hubs/base.py"
    row = load_target(MATRIX_ROWS[platform])
    assert isinstance(row, PlatformFacts) and row.name == platform and row.supported and row.color
    assert platform in PREFIXES.values()


@pytest.mark.parametrize("name", list(NATIVE_CACHES))
def test_every_native_cache_is_registered_under_its_own_name(name):
    native = cache_for(name)
    assert isinstance(native, NativeCache) and native.name == name
    assert native.platform in (*PLATFORMS, "local")
    assert NATIVE_CACHES[name].startswith(f"ptmhub.hubs.{_package_of(BACKENDS[native.platform])}.")


@pytest.mark.parametrize("platform", list(MATRIX_ROWS))
def test_registrations_live_in_the_hubs_own_package(platform):
    package = _package_of(BACKENDS[platform])
    assert MATRIX_ROWS[platform].startswith(f"ptmhub.hubs.{package}.")
    assert (ROOT / "hubs" / package / "__init__.py").is_file()


def _package_of(target: str) -> str:
    return target.split(":")[0].split(".")[2]


# the services and the API may not branch on a hub: what differs per hub is asked of its backend,
# its native cache or its matrix row (the CLI's sync commands, one per catalog, are its own layer)
SHARED = ["cache/__init__.py", "models.py", "lineage.py", "comparison.py", "platforms.py", "report.py", "api.py"]


@pytest.mark.parametrize("module", SHARED)
def test_no_shared_module_names_a_hub(module):
    # string tokens, not ast: CPython 3.11's AST constructor can be left in a bad state by the
    # hostile-input tests' deep nesting earlier in the same process ("recursion depth mismatch")
    import io
    import tokenize

    hubs = {p for p in PLATFORMS} | set(NATIVE_CACHES) - {"local"}
    source = (ROOT / module).read_text(encoding="utf-8")
    named = sorted({(tok.start[0], tok.string.strip("\"'")) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                    if tok.type == tokenize.STRING and tok.string.strip("\"'") in hubs})
    assert not named, f"ptmhub/{module} names hubs at (line, name): {named}"


def test_every_extra_key_is_declared_with_its_meaning():
    """What tests/conftest.py checks at the end of the suite, on a case that must fail and one that must not."""
    from conftest import undeclared_extra_keys

    from ptmhub.records import COMMON_EXTRA_KEYS

    assert undeclared_extra_keys({"huggingface": {"files", "cache_scan"}, "local": {"path"}}) == {}
    assert undeclared_extra_keys({"torchhub": {"ref", "made_up_key"}}) == {"torchhub": ["made_up_key"]}
    for platform, target in MATRIX_ROWS.items():
        row = load_target(target)
        for key, meaning in {**row.extra_keys, **COMMON_EXTRA_KEYS}.items():
            assert key.isidentifier() and meaning.strip(), (platform, key)
