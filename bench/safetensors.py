"""Parameter count of a remote 50 MB+ safetensors file: bytes the loopback Hub sent (its own
per-path counter) for ptmhub's header read, ptmhub's whole resolve, huggingface_hub's
``get_safetensors_metadata`` and a download of the whole file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from .common import ROOT

FILE_BYTES = 52 * 2**20
# (label, tensors): a small header (one 16 KiB read), a mid-sized one (two reads), and one
# longer than huggingface_hub's 100,000-byte first read
SHAPES = [("8 tensors", 8), ("400 tensors", 400), ("2,500 tensors", 2500)]


def _write_file(path: Path, n_tensors: int) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    cols = 64
    rows = max(1, FILE_BYTES // 4 // n_tensors // cols)
    tensors = {f"model.layers.{i}.mlp.weight": np.zeros((rows, cols), dtype=np.float32) for i in range(n_tensors)}
    save_file(tensors, str(path))


def bench_safetensors(tmp: Path) -> dict[str, Any] | None:
    if not (ROOT / "tests" / "hf_server.py").exists():
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    import requests
    from hf_server import FakeHub
    from huggingface_hub import HfApi

    from ptmhub import settings
    from ptmhub import safetensors_count as st

    out: dict[str, Any] = {}
    hub = FakeHub().start()
    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HUB_OFFLINE")}
    os.environ["HF_ENDPOINT"] = hub.url
    os.environ.pop("HF_HUB_OFFLINE", None)
    settings.reload()
    try:
        for label, n_tensors in SHAPES:
            path = tmp / f"st-{n_tensors}.safetensors"
            _write_file(path, n_tensors)
            repo = f"bench/st{n_tensors}"
            hub.add_repo(repo, files={"model.safetensors": path, "config.json": b"{}"})
            url = f"{hub.url}/{repo}/resolve/main/model.safetensors"
            row: dict[str, Any] = {"file": path.stat().st_size}

            def measure(fn):
                # every path of the file counts (main, a commit sha, a redirect target)
                hub.reset_counters()
                start = time.perf_counter()
                value = fn()
                seconds = time.perf_counter() - start
                return value, sum(v for k, v in hub.bytes_sent.items() if k.endswith("model.safetensors")), seconds

            info, row["ptmhub"], row["ptmhub_seconds"] = measure(
                lambda: st.read_remote_header(url, filename="model.safetensors"))
            row["header"], row["parameters"], row["requests"] = info.header_size, info.parameters, info.requests
            row["limit"] = 8 + info.header_size + st.SPECULATIVE_BYTES
            try:
                from ptmhub.hubs.huggingface import HuggingFaceBackend
                from ptmhub.ids import parse

                record, row["resolve"], row["resolve_seconds"] = measure(
                    lambda: HuggingFaceBackend().resolve(parse(f"hf:{repo}")))
                row["resolve_parameters"] = record.parameters
                row["resolve_source"] = record.parameters_source
            except Exception as exc:  # noqa: BLE001 - reported, not fatal to the harness
                row["resolve_error"] = f"{type(exc).__name__}: {exc}"
            meta, row["huggingface_hub"], row["huggingface_hub_seconds"] = measure(
                lambda: HfApi(endpoint=hub.url, token=False).get_safetensors_metadata(repo))
            row["huggingface_hub_parameters"] = sum(meta.parameter_count.values())
            _, row["full_file"], row["full_file_seconds"] = measure(
                lambda: sum(len(c) for c in requests.get(url, stream=True, timeout=60).iter_content(1 << 20)))
            out[label] = row
    finally:
        hub.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings.reload()
    return out


# -- hostile repos: budgets and malformed headers (issue 14) -------------------------------------------
#: (case, what it builds). Each runs in a fresh interpreter so its peak RSS (VmHWM) is its own.
HOSTILE_CASES = ("6 x 100 MB headers", "20,000 shards", "nested JSON header", "huge dims")


def _shard_file(path: Path, header_bytes: int) -> Path:
    """A valid safetensors file whose JSON header is ``header_bytes`` long (padded metadata)."""
    import json
    import struct

    head, tail = b'{"__metadata__": {"pad": "', b'"}, ' + json.dumps(
        {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()[1:]
    pad = max(0, header_bytes - len(head) - len(tail))
    with path.open("wb") as f:  # written in pieces: the bench's own peak RSS stays small
        f.write(struct.pack("<Q", len(head) + pad + len(tail)) + head)
        for _ in range(pad // 2**20):
            f.write(b"x" * 2**20)
        f.write(b"x" * (pad % 2**20) + tail + b"\0" * 8)
    return path


def _vmhwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> bool:
    """Start VmHWM afresh (Linux >= 4.0), so the peak is the count's, not the set-up's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_hostile_case(case: str, tmp: str, module: str | None = None) -> dict[str, Any]:
    """One hostile case through ``count_remote`` against a loopback Hub (called in a child process).

    ``module``: the path of another ``safetensors_count.py`` to measure instead (e.g. the code
    before a change, from ``git show``); it must import ptmhub absolutely.
    """
    import importlib.util
    import json
    import struct

    sys.path.insert(0, str(ROOT / "tests"))
    from hf_server import FakeHub

    from ptmhub.errors import PtmhubError

    if module:
        spec = importlib.util.spec_from_file_location("safetensors_remote_under_test", module)
        st = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = st  # type: ignore[union-attr]  (dataclasses look their module up)
        spec.loader.exec_module(st)  # type: ignore[union-attr]
    else:
        from ptmhub import safetensors_count as st

    tmp_path = Path(tmp)
    hub = FakeHub().start()
    repo = "bench/hostile"
    files: dict[str, Any] = {}
    if case == "6 x 100 MB headers":
        big = _shard_file(tmp_path / "big.safetensors", st.MAX_HEADER_BYTES - 64)
        names = [f"model-0000{i + 1}-of-00006.safetensors" for i in range(6)]
        files = {n: big for n in names}
    elif case == "20,000 shards":
        small = _shard_file(tmp_path / "small.safetensors", 100).read_bytes()
        names = [f"model-{i + 1:05d}-of-20000.safetensors" for i in range(20_000)]
        files = {n: small for n in names}
    elif case == "nested JSON header":
        raw = b"[" * 100_000 + b"]" * 100_000
        files = {"model.safetensors": struct.pack("<Q", len(raw)) + raw}
    elif case == "huge dims":
        # F4 (4 bits) was an unknown dtype before, so its offsets were not checked against the shape
        raw = json.dumps({"w": {"dtype": "F4", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}).encode()
        files = {"model.safetensors": struct.pack("<Q", len(raw)) + raw + b"\0" * 8}
    if len(files) > 1:
        files["model.safetensors.index.json"] = json.dumps({"weight_map": {f"t{i}": n for i, n in enumerate(files)}})
    hosted = hub.add_repo(repo, files=files)
    for f in hosted.files.values():
        f.digests()  # the server hashes each file for its ETag once: not part of the measurement
    selection = st.select_weight_files(files)
    hub.reset_counters()
    rss_reset = _reset_peak_rss()
    start = time.perf_counter()
    try:
        count = st.count_remote(selection, lambda n: f"{hub.url}/{repo}/resolve/main/{n}")
        outcome = f"parameters={count.parameters}"
    except PtmhubError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the "before" code let these escape; recorded as such
        outcome = f"escaped {type(exc).__name__}: {str(exc)[:100]}"
    seconds = time.perf_counter() - start
    time.sleep(0.2)  # let the server finish counting what it sent
    hub.stop()
    return {"case": case, "bytes": sum(hub.bytes_sent.values()), "requests": len(hub.requests),
            "seconds": round(seconds, 3), "peak_rss": _vmhwm(), "peak_rss_of_count_only": rss_reset,
            "outcome": outcome[:300]}


def bench_hostile(tmp: Path, module: str | None = None) -> dict[str, Any]:
    """Every :data:`HOSTILE_CASES` case in its own child process: bytes, requests, seconds, peak RSS."""
    from .common import child

    out = {}
    for case in HOSTILE_CASES:
        code = ("import json; from bench.safetensors import run_hostile_case; "
                f"print(json.dumps(run_hostile_case({case!r}, {str(tmp)!r}, {module!r})))")
        out[case] = child(code, timeout=1800)
    return out


if __name__ == "__main__":  # python -m bench.safetensors [OTHER_safetensors_count.py]: hostile cases, markdown rows
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for case, row in bench_hostile(Path(d), sys.argv[1] if len(sys.argv) > 1 else None).items():
            print(json.dumps(row))
            print(f"| {case} | {row['bytes']:,} B | {row['requests']:,} | {row['seconds']:.2f} s | "
                  f"{row['peak_rss'] / 2**20:.0f} MiB | {row['outcome']} |", flush=True)
