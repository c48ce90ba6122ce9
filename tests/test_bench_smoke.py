"""The benchmark harness runs end to end on tiny sizes and writes its report (no timing
assertions: targets are checked by `make bench`, not by unit tests)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_synthetic_catalog_is_deterministic_and_realistic():
    sys.path.insert(0, str(ROOT))
    from bench.synth import generate

    a = list(itertools.islice(generate(2000, seed=3), 2000))
    b = list(generate(2000, seed=3))
    assert a == b and len({r.id for r in a}) == 2000
    params = [r.parameters for r in a if r.parameters]
    assert min(params) < 10**5 and max(params) > 10**10
    assert 0.2 < sum(r.parameters is None for r in a) / len(a) < 0.4
    downloads = sorted(r.downloads for r in a)
    assert downloads[len(downloads) // 2] < 100 < downloads[-1]  # long tail
    assert {r.license for r in a} >= {"apache-2.0", "mit", None}


@pytest.mark.slow
def test_quick_harness_writes_a_report(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("## CLI start-up", "## Catalog ingest", "## Search", "Machine:"):
        assert heading in text
    assert out.with_suffix(".json").exists()
