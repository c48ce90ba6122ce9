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
    from ptmhub.hubs import safetensors_remote as st

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
