"""Parameter counts from safetensors headers, read remotely with HTTP ``Range`` or from disk.

A safetensors file starts with an 8-byte little-endian header length ``N``, then ``N`` bytes
of JSON naming every tensor with its dtype and shape. Counting parameters needs those
``8 + N`` bytes and nothing else, whatever the size of the weights.

:func:`read_remote_header` asks for the first :data:`SPECULATIVE_BYTES` (16 KiB) in one request;
if the header is longer, a second request asks for exactly the missing bytes. A file therefore
costs ``max(16 KiB, 8 + N)`` bytes: never more than ``8 + N + 16 KiB``. (huggingface_hub's
``parse_safetensors_file_metadata`` asks for the first 100,001 bytes, plus the whole header
again when it is longer than that; see docs/hubs/huggingface.md for both, measured.)

Which files make up "the model" is decided by :func:`select_weight_files` from the repo's file
list: a root ``model.safetensors`` (or its sharded index), a diffusers pipeline's components,
or the single safetensors file of the repo. Anything ambiguous is refused with a reason rather
than guessed.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import http
from ..errors import MalformedResponseError, ModelNotFoundError, PtmhubError

__all__ = [
    "SPECULATIVE_BYTES", "MAX_HEADER_BYTES", "HeaderInfo", "WeightSelection", "RepoCount",
    "parse_header", "read_local_header", "read_remote_header", "select_weight_files",
    "count_remote", "count_local", "describe_failure", "DTYPE_BYTES",
]

#: One speculative read: most single-file headers of small and mid-sized models fit in it.
SPECULATIVE_BYTES = 16 * 1024
#: The safetensors library refuses headers over 100 MB; so do we.
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Bytes per element, to check ``data_offsets`` against ``shape`` where the dtype is known.
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
    "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "C64": 8,
}
_INDEX_SUFFIX = ".safetensors.index.json"
# "model.fp16.safetensors", "diffusion_pytorch_model.non_ema.safetensors": a variant of a file
_VARIANT = re.compile(r"^(?P<stem>[^/]+?)\.(?P<variant>[A-Za-z0-9_\-]+)\.safetensors$")
_STANDARD_STEMS = ("model", "diffusion_pytorch_model")


@dataclass(frozen=True)
class HeaderInfo:
    """What one safetensors header says."""

    filename: str
    header_size: int                       # N, the JSON header's length in bytes
    tensors: int                           # number of tensors
    parameters: int                        # sum over tensors of prod(shape)
    parameters_by_dtype: Mapping[str, int]
    metadata: Mapping[str, str] | None = None
    file_size: int | None = None           # from Content-Range / the file system, when known
    bytes_fetched: int = 0                 # body bytes received for this header (0 when local)
    requests: int = 0


@dataclass(frozen=True)
class WeightSelection:
    """The safetensors files that together hold one copy of the model's weights."""

    files: tuple[str, ...] = ()            # single files to read
    indexes: tuple[str, ...] = ()          # ``*.safetensors.index.json`` files naming shards
    reason: str | None = None              # why nothing was selected (files and indexes empty)
    description: str = ""                  # what was selected, for ``parameters_note``


@dataclass
class RepoCount:
    parameters: int
    parameters_by_dtype: dict[str, int]
    files: list[str]
    bytes_fetched: int = 0
    requests: int = 0
    description: str = ""
    headers: list[HeaderInfo] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------------
def _header_length(first8: bytes, filename: str) -> int:
    if len(first8) < 8:
        raise MalformedResponseError(f"{filename} is not a safetensors file: it has fewer than 8 bytes")
    (n,) = struct.unpack("<Q", first8[:8])
    if n == 0 or n > MAX_HEADER_BYTES:
        raise MalformedResponseError(f"{filename} is not a safetensors file: header length {n} is out of range")
    return n


def parse_header(raw: bytes, *, filename: str = "file", file_size: int | None = None) -> HeaderInfo:
    """Parse the JSON header (without the 8-byte length) and count its parameters.

    Raises:
        MalformedResponseError: not JSON, not an object, or a tensor entry without a valid
            dtype/shape/data_offsets.
    """
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise MalformedResponseError(f"the safetensors header of {filename} is not valid JSON") from None
    if not isinstance(header, dict):
        raise MalformedResponseError(f"the safetensors header of {filename} is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not isinstance(metadata, dict):
        raise MalformedResponseError(f"the __metadata__ of {filename} is not an object")
    total = 0
    by_dtype: dict[str, int] = {}
    data_end = 0
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise MalformedResponseError(f"tensor {name!r} in {filename} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if (not isinstance(dtype, str) or not isinstance(shape, list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets) or offsets[1] < offsets[0]):
            raise MalformedResponseError(f"tensor {name!r} in {filename} has no valid dtype, shape and data_offsets")
        numel = math.prod(shape)
        width = DTYPE_BYTES.get(dtype)
        if width is not None and offsets[1] - offsets[0] != numel * width:
            raise MalformedResponseError(f"tensor {name!r} in {filename}: data_offsets do not match its shape")
        total += numel
        by_dtype[dtype] = by_dtype.get(dtype, 0) + numel
        data_end = max(data_end, offsets[1])
    if file_size is not None and 8 + len(raw) + data_end > file_size:
        raise MalformedResponseError(f"{filename}: the header describes more data than the file holds")
    return HeaderInfo(filename=filename, header_size=len(raw), tensors=len(header), parameters=total,
                      parameters_by_dtype=by_dtype, metadata=metadata, file_size=file_size)


def read_local_header(path: str | Path, *, filename: str | None = None) -> HeaderInfo:
    """Read and parse the header of a safetensors file on disk (8 + N bytes are read)."""
    path = Path(path)
    name = filename or path.name
    size = path.stat().st_size
    with path.open("rb") as f:
        n = _header_length(f.read(8), name)
        if 8 + n > size:
            raise MalformedResponseError(f"{name}: header length {n} exceeds the file size {size}")
        raw = f.read(n)
    return parse_header(raw, filename=name, file_size=size)


# -- remote reads ------------------------------------------------------------------------------
def _content_range_total(value: str | None) -> int | None:
    m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", value or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _get_range(url: str, start: int, end: int, *, headers: Mapping[str, str], model_id: str | None,
               filename: str) -> tuple[bytes, int | None]:
    """Bytes ``start..end`` (inclusive) of a remote file, and the file's total size if announced.

    A server that ignores ``Range`` (200) is read only as far as needed and then hung up on.
    """
    wanted = end - start + 1
    try:
        response = http.request(
            "GET", url, model_id=model_id, stream=True, allow_status=(416,),
            what=f"reading the safetensors header of {filename}",
            headers={**headers, "Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"},
        )
    except ModelNotFoundError:
        raise ModelNotFoundError(f"{filename} is not on the hub at this revision (404)",
                                 hint="the repo's file list may be stale; resolve again", model_id=model_id) from None
    try:
        if response.status_code == 416:
            size = _content_range_total(response.headers.get("Content-Range"))
            raise MalformedResponseError(f"{filename} is too short to be a safetensors file ({size} bytes)")
        total = _content_range_total(response.headers.get("Content-Range"))
        skip = 0
        if response.status_code == 200:  # Range ignored: the body starts at byte 0
            skip = start
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        elif response.status_code != 206:
            raise MalformedResponseError(f"reading {filename} answered HTTP {response.status_code} to a Range request")
        else:
            m = re.match(r"^\s*bytes\s+(\d+)-", response.headers.get("Content-Range") or "")
            if not m or int(m.group(1)) != start:
                raise MalformedResponseError(f"the server answered {filename} with another range than asked")
        chunks: list[bytes] = []
        got = 0
        for chunk in response.iter_content(min(wanted + skip, 1 << 16)):
            if skip:
                drop = min(skip, len(chunk))
                chunk, skip = chunk[drop:], skip - drop
            chunks.append(chunk)
            got += len(chunk)
            if got >= wanted:
                break
        return b"".join(chunks)[:wanted], total
    finally:
        response.close()


def read_remote_header(url: str, *, headers: Mapping[str, str] | None = None, filename: str | None = None,
                       model_id: str | None = None, speculative: int = SPECULATIVE_BYTES,
                       file_size: int | None = None) -> HeaderInfo:
    """Read a remote safetensors header with at most two ``Range`` requests.

    The first asks for ``min(speculative, file_size)`` bytes; when ``8 + N`` is larger, the
    second asks for exactly the rest of the header.

    Raises:
        MalformedResponseError: not a safetensors file, or a header that does not parse.
        NetworkError, AuthError, ModelNotFoundError, OfflineError: from :mod:`ptmhub.http`.
    """
    name = filename or url.rsplit("/", 1)[-1]
    hdrs = dict(headers or {})
    first_len = max(8, speculative)
    if file_size is not None:
        first_len = max(8, min(first_len, file_size))
    first, total = _get_range(url, 0, first_len - 1, headers=hdrs, model_id=model_id, filename=name)
    total = total if total is not None else file_size
    fetched, requests_made = len(first), 1
    n = _header_length(first, name)
    if total is not None and 8 + n > total:
        raise MalformedResponseError(f"{name}: header length {n} exceeds the file size {total}")
    if 8 + n <= len(first):
        raw = first[8:8 + n]
    else:
        rest, _ = _get_range(url, len(first), 8 + n - 1, headers=hdrs, model_id=model_id, filename=name)
        fetched += len(rest)
        requests_made += 1
        raw = first[8:] + rest
        if len(raw) != n:
            raise MalformedResponseError(f"{name}: the header ended after {len(raw)} of {n} bytes")
    info = parse_header(raw, filename=name, file_size=total)
    return HeaderInfo(**{**info.__dict__, "bytes_fetched": fetched, "requests": requests_made})


# -- which files are the model -------------------------------------------------------------------
def _is_variant(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    m = _VARIANT.match(base)
    return bool(m and m.group("stem") in _STANDARD_STEMS)


def _pick_in_folder(names: set[str], folder: str) -> tuple[str | None, str | None]:
    """(file, index) for the standard weights of one folder ('' = root), non-variant first."""
    prefix = f"{folder}/" if folder else ""
    for stem in _STANDARD_STEMS:
        if f"{prefix}{stem}{_INDEX_SUFFIX}" in names:
            return None, f"{prefix}{stem}{_INDEX_SUFFIX}"
        if f"{prefix}{stem}.safetensors" in names:
            return f"{prefix}{stem}.safetensors", None
    # only variants (e.g. just model.fp16.safetensors): any one of them has the same shapes
    variants = sorted(n for n in names if n.startswith(prefix) and "/" not in n[len(prefix):] and _is_variant(n))
    return (variants[0], None) if variants else (None, None)


def select_weight_files(filenames: Iterable[str]) -> WeightSelection:
    """Choose the safetensors files that hold one copy of a repo's weights.

    Rules, in order: a root ``model.safetensors.index.json`` (its shards) or ``model.safetensors``;
    a diffusers pipeline (``model_index.json``): every component folder's weights, where a
    component with pickle weights but no safetensors makes the count impossible; a repo with
    exactly one safetensors file (or one index) at its root. Anything else is refused with a reason.
    """
    names = set(filenames)
    file, index = _pick_in_folder(names, "")
    if (file or index) and not _is_variant(file or ""):
        what = f"the safetensors headers of the shards in {index}" if index else f"the safetensors header of {file}"
        return WeightSelection(files=(file,) if file else (), indexes=(index,) if index else (), description=what)
    if "model_index.json" in names:  # diffusers pipeline
        folders = sorted({n.split("/", 1)[0] for n in names if "/" in n})
        files: list[str] = []
        indexes: list[str] = []
        used: list[str] = []
        for folder in folders:
            in_folder = {n for n in names if n.startswith(folder + "/") and "/" not in n[len(folder) + 1:]}
            f, i = _pick_in_folder(names, folder)
            if f or i:
                (files if f else indexes).append(f or i)  # type: ignore[arg-type]
                used.append(folder)
            elif any(n.endswith((".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx")) for n in in_folder):
                return WeightSelection(reason=f"the pipeline component {folder!r} has no safetensors weights")
        if not used:
            return WeightSelection(reason="the diffusers pipeline has no safetensors weights in its component folders")
        return WeightSelection(files=tuple(files), indexes=tuple(indexes),
                               description="the sum of the safetensors headers of the pipeline components "
                                           + ", ".join(used))
    root_index = sorted(n for n in names if "/" not in n and n.endswith(_INDEX_SUFFIX))
    root_files = sorted(n for n in names if "/" not in n and n.endswith(".safetensors"))
    if len(root_index) == 1:
        return WeightSelection(indexes=(root_index[0],),
                               description=f"the safetensors headers of the shards in {root_index[0]}")
    if file and _is_variant(file) and not root_index:
        return WeightSelection(files=(file,), description=f"the safetensors header of {file}")
    if len(root_files) == 1 and not root_index:
        return WeightSelection(files=(root_files[0],), description=f"the safetensors header of {root_files[0]}")
    if root_files or root_index:
        shown = ", ".join((root_index + root_files)[:4]) + (", ..." if len(root_files) + len(root_index) > 4 else "")
        return WeightSelection(reason=f"{len(root_files) + len(root_index)} alternative safetensors files at the root "
                                      f"({shown}) and no model.safetensors: cannot tell which one is the model")
    nested = sorted(n for n in names if n.endswith(".safetensors"))
    if nested:
        return WeightSelection(reason=f"the safetensors files are only in subfolders ({nested[0]}, ...) and no "
                                      "model_index.json says which belong to the model")
    return WeightSelection(reason="the repo has no safetensors weights")


def _shards_from_index(index: Any, index_name: str) -> list[str]:
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict) or not index["weight_map"]:
        raise MalformedResponseError(f"{index_name} has no weight_map")
    folder = index_name.rsplit("/", 1)[0] + "/" if "/" in index_name else ""
    shards = sorted({str(v) for v in index["weight_map"].values()})
    for shard in shards:
        if shard.startswith("/") or ".." in shard.split("/"):
            raise MalformedResponseError(f"{index_name} names a shard outside the repo: {shard!r}")
    return [folder + s for s in shards]


def _total(headers: list[HeaderInfo], description: str) -> RepoCount:
    by_dtype: dict[str, int] = {}
    for h in headers:
        for dtype, n in h.parameters_by_dtype.items():
            by_dtype[dtype] = by_dtype.get(dtype, 0) + n
    return RepoCount(parameters=sum(h.parameters for h in headers), parameters_by_dtype=by_dtype,
                     files=[h.filename for h in headers], bytes_fetched=sum(h.bytes_fetched for h in headers),
                     requests=sum(h.requests for h in headers), description=description, headers=headers)


def count_remote(selection: WeightSelection, url_for: Callable[[str], str], *, headers: Mapping[str, str] | None = None,
                 model_id: str | None = None, sizes: Mapping[str, int | None] | None = None,
                 max_workers: int = 4) -> RepoCount:
    """Sum the parameters of the selected files, reading each header remotely.

    Shard lists come from the ``*.safetensors.index.json`` files (small JSON, fetched whole).
    """
    hdrs = dict(headers or {})
    files = list(selection.files)
    for index_name in selection.indexes:
        index = http.get_json(url_for(index_name), headers=hdrs, model_id=model_id, max_bytes=64 * 1024 * 1024,
                              what=f"reading {index_name}")
        files.extend(_shards_from_index(index, index_name))
    sizes = sizes or {}

    def one(name: str) -> HeaderInfo:
        return read_remote_header(url_for(name), headers=hdrs, filename=name, model_id=model_id,
                                  file_size=sizes.get(name))

    if len(files) > 1 and max_workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(max_workers, len(files))) as pool:
            results = list(pool.map(one, files))
    else:
        results = [one(f) for f in files]
    return _total(results, selection.description)


def count_local(selection: WeightSelection, folder: str | Path) -> RepoCount:
    """Sum the parameters of the selected files from a local snapshot folder.

    Raises:
        FileNotFoundError: a selected file (or an index's shard) is not in ``folder``.
        MalformedResponseError: a header or index that does not parse.
    """
    folder = Path(folder)
    files = list(selection.files)
    for index_name in selection.indexes:
        try:
            index = json.loads((folder / index_name).read_text(encoding="utf-8"))
        except ValueError:
            raise MalformedResponseError(f"{index_name} in {folder} is not valid JSON") from None
        files.extend(_shards_from_index(index, index_name))
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} is not in {folder}")
    return _total([read_local_header(folder / f, filename=f) for f in files], selection.description)


def describe_failure(exc: BaseException) -> str:
    """A short reason for a failed header read, for ``parameters_note``."""
    if isinstance(exc, PtmhubError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
