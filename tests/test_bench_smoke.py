"""The benchmark harness works end to end on tiny sizes and writes its report (no timing
assertions: targets are checked by `make bench` and reported in docs/benchmarks.md, never
asserted in unit tests); the synthetic catalog is deterministic and has the shapes it claims."""

from __future__ import annotations

import collections
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def test_synthetic_catalog_is_deterministic_and_realistic():
    from bench.synth import generate

    a = list(itertools.islice(generate(20_000, seed=3), 20_000))
    b = list(generate(20_000, seed=3))
    assert a == b and len({r.id for r in a}) == len(a)
    assert [r.id for r in generate(50, seed=4)] != [r.id for r in a[:50]]
    params = [r.parameters for r in a if r.parameters]
    assert min(params) < 10**5 and max(params) > 10**10  # spans 10^4..10^11
    assert 0.2 < sum(r.parameters is None for r in a) / len(a) < 0.4
    downloads = sorted(r.downloads for r in a)
    assert downloads[len(downloads) // 2] < 100 < downloads[-1] and downloads[-1] > 10_000  # long tail
    licenses = collections.Counter(r.license for r in a)
    assert licenses.most_common(3)[0][0] is None and {"apache-2.0", "mit", "openrail"} <= set(licenses)
    owners = collections.Counter(r.owner for r in a)
    top_share = owners.most_common(1)[0][1] / len(a)
    assert 0.005 < top_share < 0.10 and len(owners) > 1000  # Zipf: one big owner, a long tail
    assert sum(1 for n in owners.values() if n == 1) > 0.2 * len(owners)
    tasks = collections.Counter(r.task for r in a)
    assert tasks.most_common(1)[0][0] == "text-generation" and len(tasks) > 15
    tag_counts = [len(r.tags) for r in a]
    assert min(tag_counts) >= 3 and max(tag_counts) >= 12


def test_list_items_are_what_the_hf_backend_turns_into_the_same_records():
    pytest.importorskip("huggingface_hub")
    from bench.synth import generate, list_items
    from ptmhub.hubs.huggingface import record_from_info

    for item, record in zip(list_items(300, seed=9), generate(300, seed=9)):
        parsed = record_from_info(json.loads(json.dumps(item))).replace(extra={})  # as `sync hf` stores it
        assert parsed == record


@pytest.mark.slow
def test_quick_harness_writes_a_report(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("## Summary", "## CLI start-up", "## Search", "## Catalog ingest", "## Scaling",
                    "## Parameter count of a remote safetensors file", "## Offline load", "## Full tfhub.dev",
                    "Machine:", "Smoke run"):
        assert heading in text, heading
    assert "| met |" in text or "| **missed** |" in text
    results = json.loads(out.with_suffix(".json").read_text())
    assert not results.get("errors")
    assert set(results["ingest"]["sizes"]) == {"1000", "3000"}
    svg = out.with_name("benchmarks-scaling.svg").read_text()
    assert svg.startswith("<svg") and "polyline" in svg


@pytest.mark.parametrize("case, outcome", [
    ("tar.gz: 168-byte GNU sparse member claiming 2 GiB", "UnsafeArchiveError"),
    ("sync hf: next link to another host", "MalformedResponseError"),
    ("hubconf.py of 24 MB", "LimitExceededError"),
])
def test_the_limits_benchmark_measures_what_it_claims(tmp_path, case, outcome):
    """bench.limits (which writes the Limits table of docs/reliability.md) on its quick cases."""
    code = ("import json, sys; from bench.limits import run_case; "
            f"print(json.dumps(run_case({case!r}, {str(tmp_path)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["outcome"].startswith(outcome) and row["seconds"] >= 0
    from bench.limits import CASES, table

    assert case in CASES and case in table({case: row})


def test_the_quality_benchmark_runs_and_keeps_its_section(tmp_path):
    """bench.quality on a small registry prints its table; a harness report keeps its section."""
    proc = subprocess.run([sys.executable, "-m", "bench.quality", "3000", "--repeat", "1", "--no-write"],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| `search --task image-classification --sort accuracy` |" in proc.stdout
    assert "with an imagenet-1k accuracy" in proc.stdout
    from bench.quality import BEGIN, END
    from bench.report import QUALITY_HEADING, _keep_sections

    old = f"# old\n\n{QUALITY_HEADING} (x)\n\nwords\n\n{BEGIN}\n| table |\n{END}\n"
    kept = _keep_sections("# new report\n", old)
    assert kept.startswith("# new report") and "| table |" in kept and kept.count(BEGIN) == 1
    assert _keep_sections("# new\n", "# old without it\n") == "# new\n"
