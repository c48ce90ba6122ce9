"""What each resource limit costs when a hostile input meets it: ``python -m bench.limits``.

Every case of issue #14's hostile classes (HF list pages, paging loops, archives, remote
safetensors headers, hubconf listings) runs in a fresh interpreter against files and loopback
servers built before the measurement starts. Reported per case: the limit that stops it, the
outcome (one line), seconds, and the peak RSS growth of the measured call (VmHWM reset with
``/proc/self/clear_refs`` after the set-up, minus the RSS at the start). The table is written
into docs/reliability.md between the ``limits:begin``/``limits:end`` markers, next to what the
same input did before the limit existed (measured on the code of the first round).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import ROOT, child

MiB = 1024 * 1024
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- limits:begin (python -m bench.limits writes this table) -->", "<!-- limits:end -->"

#: case -> (the limit that stops it, what the same input did before the limit existed)
CASES: dict[str, tuple[str, str]] = {
    "sync hf: one page of 1,000,000 items (34 MB)": ("PTMHUB_MAX_PAGE_BYTES (16 MiB), PTMHUB_MAX_PAGE_ITEMS (10,000)",
                                                      "3.9 GiB peak RSS, then stored every item"),
    "sync hf: next links A, B, A, B, ...": ("a cursor seen before stops the sync", "never ended"),
    "sync hf: next link to another host": ("only the endpoint's own origin is followed",
                                           "followed it, sending HF_TOKEN there"),
    "tar.gz: 168-byte GNU sparse member claiming 2 GiB": ("sparse members refused", "allocated 2 GiB"),
    "tar.gz: 1 MB archive of 1 GiB of zeros": ("PTMHUB_MAX_ARCHIVE_RATIO (200, after 1 MiB)", "wrote 1 GiB"),
    "tar.gz: 100,000 empty files": ("PTMHUB_MAX_ARCHIVE_FILES (20,000)", "accepted, 100,000 files written"),
    "zip: bzip2 member of 1 GiB of zeros": ("PTMHUB_MAX_ARCHIVE_RATIO, read in 16 KiB steps",
                                            "zipfile inflated each read whole"),
    "safetensors: 6 shards x 100 MB headers": ("PTMHUB_MAX_REMOTE_HEADER_BYTES (64 MiB)", "fetched 629 MB"),
    "safetensors: 20,000 shards": ("PTMHUB_MAX_REMOTE_REQUESTS (256)", "20,000 requests"),
    "safetensors: header nested 100,000 deep": ("refused as a malformed header", "RecursionError traceback"),
    "safetensors: dims 2**62 x 2**62": ("counts over 2**63 - 1 refused", "OverflowError at upsert"),
    "hubconf.py of 24 MB": ("PTMHUB_MAX_HUBCONF_BYTES (1 MiB)", "10 GiB peak RSS"),
    "hubconf: 12 modules star-importing each other, 200 names": (
        "each module parsed once; names bounded", "grew ~F^4 with the fan-out"),
}


# -- measurement helpers (in the child) ---------------------------------------------------------------
def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _measure(call: Callable[[], str]) -> dict[str, Any]:
    from ptmhub.errors import PtmhubError

    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
    except OSError:
        pass
    base, start = _status("VmRSS"), time.perf_counter()
    try:
        outcome = call()
    except PtmhubError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - recorded: the table must show an escape, not hide it
        outcome = f"ESCAPED {type(exc).__name__}: {str(exc)[:120]}"
    return {"seconds": round(time.perf_counter() - start, 3), "rss_growth": max(0, _status("VmHWM") - base),
            "outcome": outcome.splitlines()[0][:220] if outcome else ""}


def _hub():
    sys.path.insert(0, str(ROOT / "tests"))
    from hf_server import FakeHub

    return FakeHub().start()


def _sync_case(tmp: Path, case: str) -> dict[str, Any]:
    import os

    hub = _hub()
    from hf_server import Reply

    from ptmhub import settings
    from ptmhub.hubs.huggingface import sync
    from ptmhub.registry import open_store

    os.environ["HF_ENDPOINT"] = hub.url
    os.environ["HF_TOKEN"] = "hf_" + "b" * 34
    settings.reload()
    item = {"_id": "0" * 24, "id": "org/m", "downloads": 1, "likes": 0, "tags": []}
    if case.startswith("sync hf: one page"):
        body = json.dumps([{**item, "id": f"org/m{i}"} for i in range(1_000_000)]).encode()
        hub.script("GET", r"/api/models\?", Reply(200, {}, body))
    elif case.startswith("sync hf: next links A"):
        links = [f'<{hub.url}/api/models?cursor={c}>; rel="next"' for c in "ABABAB"]
        hub.script("GET", r"/api/models\?", *[Reply(200, {"Link": link}, [{**item, "id": f"org/m{i}"}])
                                              for i, link in enumerate(links)])
    else:
        link = '<http://127.0.0.2:9/api/models?cursor=A>; rel="next"'
        hub.script("GET", r"/api/models\?", Reply(200, {"Link": link}, [item]))
    store = open_store(f"sqlite:///{tmp / 'registry.db'}")
    try:
        row = _measure(lambda: f"stored {sync(store).records} records")
        row["requests"] = len(hub.requests)
        row["outcome"] += f" ({store.count()} records stored, {len(hub.requests)} requests)"
    finally:
        store.close()
        hub.stop()
    return row


def _archive_case(tmp: Path, case: str) -> dict[str, Any]:
    import random
    import tarfile
    import zipfile

    sys.path.insert(0, str(ROOT / "tests"))
    from test_hostile_archives import _checksum, _info, write_tar, write_zip

    from ptmhub import archive

    dest = tmp / "out"
    if "sparse" in case:
        block = bytearray(_info("holes.bin", tarfile.GNUTYPE_SPARSE).tobuf(tarfile.GNU_FORMAT))
        block[386:410] = b"%011o\x00%011o\x00" % (2 * 1024**3, 0)
        block[483:495] = b"%011o\x00" % (2 * 1024**3)
        path = write_tar(tmp / "sparse.tar.gz", [(None, _checksum(block))], "gz")
    elif "1 GiB of zeros" in case and case.startswith("tar"):
        path = write_tar(tmp / "bomb.tar.gz", [(_info("zeros.bin"), (0, 1024**3))], "gz")
    elif "100,000" in case:
        path = write_tar(tmp / "many.tar.gz", [(_info(f"d{i % 100}/{i}"), b"") for i in range(100_000)], "gz")
    else:
        path = write_zip(tmp / "bomb.zip", [("zeros.bin", (0, 1024**3), None)], zipfile.ZIP_BZIP2)
    random.seed(0)
    size = path.stat().st_size
    extract = archive.safe_extract_zip if path.suffix == ".zip" else archive.safe_extract_tar
    row = _measure(lambda: f"extracted {len(extract(path, dest))} files")
    left = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file() and p != path) if tmp.exists() else 0
    row["outcome"] += f" (archive {size:,} B; {left:,} B left behind)"
    return row


def _hubconf_case(tmp: Path, case: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_hostile_hubconf import huge, repo_with, star_chain

    from ptmhub.hubs import torchhub as th

    if "24 MB" in case:
        repo = repo_with(tmp, huge(24 * MiB))
    else:
        hubconf, files = star_chain(12, 200)
        repo = repo_with(tmp, hubconf, files)

    def listing() -> str:
        info = th.read_hubconf(repo)
        return f"{len(info.entrypoints)} entrypoints" + (" (marked partial)" if info.partial else "")

    return _measure(listing)


def _safetensors_case(tmp: Path, case: str) -> dict[str, Any]:
    from .safetensors import run_hostile_case

    name = {"6 shards x 100 MB headers": "6 x 100 MB headers", "20,000 shards": "20,000 shards",
            "header nested 100,000 deep": "nested JSON header", "dims 2**62 x 2**62": "huge dims"}[
        case.removeprefix("safetensors: ")]
    out = run_hostile_case(name, str(tmp))
    return {"seconds": out["seconds"], "rss_growth": None, "peak_rss": out["peak_rss"],
            "outcome": f"{out['outcome'].splitlines()[0][:200]} ({out['bytes']:,} B sent, {out['requests']:,} requests)"}


def run_case(case: str, tmp: str) -> dict[str, Any]:
    """One case, in this (child) process."""
    path = Path(tmp)
    if case.startswith("sync hf"):
        return _sync_case(path, case)
    if case.startswith(("tar", "zip")):
        return _archive_case(path, case)
    if case.startswith("hubconf"):
        return _hubconf_case(path, case)
    return _safetensors_case(path, case)


# -- the harness ---------------------------------------------------------------------------------------
def bench_limits(only: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case in CASES:
        if only and not any(o in case for o in only):
            continue
        with tempfile.TemporaryDirectory() as d:
            code = f"import json; from bench.limits import run_case; print(json.dumps(run_case({case!r}, {d!r})))"
            out[case] = child(code, timeout=1800)
        print(f"{case}: {out[case]}", file=sys.stderr, flush=True)
    return out


def _mib(n: int | None) -> str:
    return "" if n is None else f"{n / MiB:,.0f} MiB" if n >= MiB else f"{n / 1024:,.0f} KiB"


def table(results: dict[str, Any]) -> str:
    lines = ["| hostile input | stopped by | before | now: outcome | seconds | peak RSS |", "|---|---|---|---|---|---|"]
    for case, row in results.items():
        limit, before = CASES[case]
        rss = (f"+{_mib(row['rss_growth'])}" if row.get("rss_growth") is not None
               else f"{_mib(row['peak_rss'])} (whole process)")
        outcome = row["outcome"].replace("|", "\\|")
        lines.append(f"| {case} | {limit} | {before} | {outcome} | {row['seconds']:.2f} | {rss} |")
    return "\n".join(lines)


def write_doc(results: dict[str, Any], doc: Path = DOC) -> None:
    text = doc.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:start] + "\n" + table(results) + "\n" + text[end:])


if __name__ == "__main__":
    results = bench_limits(set(sys.argv[1:]) or None)
    print(table(results))
    if not sys.argv[1:]:
        write_doc(results)
