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
import re
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import http, settings
from .errors import LimitExceededError, MalformedResponseError, ModelNotFoundError, NetworkError, PtmhubError

__all__ = [
    "SPECULATIVE_BYTES", "MAX_HEADER_BYTES", "MAX_PARAMETERS", "HeaderInfo", "WeightSelection", "RepoCount",
    "HeaderBudget", "parse_header", "read_local_header", "read_remote_header", "select_weight_files",
    "count_remote", "count_local", "count_local_files", "describe_failure", "DTYPE_BITS", "DTYPE_BYTES",
]

#: One speculative read: most single-file headers of small and mid-sized models fit in it.
SPECULATIVE_BYTES = 16 * 1024
#: The safetensors library refuses headers over 100 MB; so do we.
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: The largest count the registry can store (a signed 64-bit column): beyond it a count is refused.
MAX_PARAMETERS = 2**63 - 1
#: Bits per element of every dtype the safetensors library (0.8) knows; any other dtype is refused.
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
#: Bytes per element of the whole-byte dtypes (kept for callers that want bytes).
DTYPE_BYTES = {dtype: bits // 8 for dtype, bits in DTYPE_BITS.items() if bits % 8 == 0}
_INDEX_SUFFIX = ".safetensors.index.json"
_MAX_INDEX_BYTES = 64 * 1024 * 1024
# "model.fp16.safetensors", "diffusion_pytorch_model.non_ema.safetensors": a variant of a file
_VARIANT = re.compile(r"^(?P<stem>[^/]+?)\.(?P<variant>[A-Za-z0-9_\-]+)\.safetensors$")
_STANDARD_STEMS = ("model", "diffusion_pytorch_model")
_BAD_FILE_HINT = "the file is not a valid safetensors file; report it to the repo's owner"


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


class _Stopped(Exception):
    """Another worker of the same count failed: this one stops before its next request."""


class HeaderBudget:
    """The bytes and requests one repo count may still spend, shared by its worker threads.

    Every request reserves its bytes *before* it is sent (so a length prefix claiming 100 MB is
    refused without fetching it) and gives back what a shorter answer did not use. A request that
    does not fit while others are in flight waits for their refunds first, so running in parallel
    never refuses a repo that fits when read one file after another. Index files count too: the
    budget bounds everything a count receives.
    """

    def __init__(self, max_bytes: int, max_requests: int, *, model_id: str | None = None):
        self.max_bytes, self.max_requests, self.model_id = max_bytes, max_requests, model_id
        self.bytes_left, self.requests_left = max_bytes, max_requests
        self.stopped = False
        self._in_flight = 0
        self._cond = threading.Condition()

    @classmethod
    def from_settings(cls, *, model_id: str | None = None) -> HeaderBudget:
        cfg = settings.get()
        return cls(cfg.max_remote_header_bytes, cfg.max_remote_requests, model_id=model_id)

    def _what(self) -> str:
        return f"counting the parameters of {self.model_id}" if self.model_id else "counting the parameters"

    def bytes_error(self, detail: str) -> LimitExceededError:
        return LimitExceededError(
            f"{self._what()} would read more than {self.max_bytes:,} bytes of safetensors headers ({detail}); "
            "limit PTMHUB_MAX_REMOTE_HEADER_BYTES",
            hint=f"raise PTMHUB_MAX_REMOTE_HEADER_BYTES (now {self.max_bytes}) to count this repo",
            model_id=self.model_id)

    def requests_error(self, detail: str) -> LimitExceededError:
        return LimitExceededError(
            f"{self._what()} needs more than {self.max_requests:,} HTTP requests ({detail}); "
            "limit PTMHUB_MAX_REMOTE_REQUESTS",
            hint=f"raise PTMHUB_MAX_REMOTE_REQUESTS (now {self.max_requests}) to count this repo",
            model_id=self.model_id)

    def check_requests(self, needed: int, detail: str) -> None:
        """Refuse at once when ``needed`` more requests cannot fit (before any of them is sent)."""
        if needed > self.requests_left:
            raise self.requests_error(detail)

    def begin(self, wanted: int, *, minimum: int, detail: str) -> int:
        """Reserve one request and up to ``wanted`` bytes (at least ``minimum``); returns the bytes
        granted. Pair with :meth:`end`.

        Raises:
            LimitExceededError: no request left, or fewer than ``minimum`` bytes even once every
                other request in flight has given back what it did not use.
        """
        with self._cond:
            while not self.stopped and self.bytes_left < wanted and self._in_flight:
                self._cond.wait()
            if self.stopped:
                raise _Stopped
            if self.requests_left < 1:
                raise self.requests_error(detail)
            granted = min(wanted, self.bytes_left)
            if granted < minimum:
                raise self.bytes_error(detail)
            self.bytes_left -= granted
            self.requests_left -= 1
            self._in_flight += 1
            return granted

    def take(self, nbytes: int, *, detail: str) -> None:
        """Reserve more bytes for a request already begun (a server that ignored ``Range``)."""
        with self._cond:
            if nbytes > self.bytes_left:
                raise self.bytes_error(detail)
            self.bytes_left -= nbytes

    def end(self, unused: int) -> None:
        """A request is over; ``unused`` reserved bytes go back to the budget."""
        with self._cond:
            self.bytes_left += max(0, unused)
            self._in_flight -= 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


# -- parsing -----------------------------------------------------------------------------------
def _short(name: object) -> str:
    """A tensor name for a message: repr'd (control characters escaped), at most 80 characters."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(message: str) -> MalformedResponseError:
    return MalformedResponseError(message, hint=_BAD_FILE_HINT)


def _header_length(first8: bytes, filename: str) -> int:
    if len(first8) < 8:
        raise _bad(f"{filename} is not a safetensors file: it has fewer than 8 bytes")
    (n,) = struct.unpack("<Q", first8[:8])
    if n == 0 or n > MAX_HEADER_BYTES:
        raise _bad(f"{filename} is not a safetensors file: header length {n} is out of range "
                   f"(1..{MAX_HEADER_BYTES})")
    return n


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _is_int(value: object) -> bool:
    # JSON true/false load as Python bools, which are ints: never a dimension or an offset
    return isinstance(value, int) and not isinstance(value, bool)


def _numel(shape: list[int]) -> int | None:
    """prod(shape), or None beyond :data:`MAX_PARAMETERS` (stops multiplying as soon as it is)."""
    if 0 in shape:
        return 0
    n = 1
    for dim in shape:
        n *= dim
        if n > MAX_PARAMETERS:
            return None
    return n


def parse_header(raw: bytes, *, filename: str = "file", file_size: int | None = None) -> HeaderInfo:
    """Parse the JSON header (without the 8-byte length) and count its parameters.

    The one validator of safetensors headers, local and remote: UTF-8 JSON (no duplicate keys,
    not nested beyond what the parser can take) whose ``__metadata__`` maps strings to strings and
    whose every tensor has a known dtype, a shape of non-negative integers, and ``data_offsets``
    matching that shape, not overlapping another tensor's and inside the file. A count beyond
    :data:`MAX_PARAMETERS` is refused rather than returned.

    Raises:
        MalformedResponseError: any of the above does not hold (one line, naming the file).
    """
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"the safetensors header of {filename} is not UTF-8") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _bad(f"the safetensors header of {filename} is nested too deeply to be a safetensors header") from None
    except _DuplicateKey as exc:
        raise _bad(f"the safetensors header of {filename} names {_short(str(exc))} twice") from None
    except ValueError:
        raise _bad(f"the safetensors header of {filename} is not valid JSON") from None
    if not isinstance(header, dict):
        raise _bad(f"the safetensors header of {filename} is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (not isinstance(metadata, dict)
                                 or not all(isinstance(v, str) for v in metadata.values())):
        raise _bad(f"the __metadata__ of {filename} is not an object of strings")
    total = 0
    by_dtype: dict[str, int] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise _bad(f"tensor {_short(name)} in {filename} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            raise _bad(f"tensor {_short(name)} in {filename} has an unknown dtype {_short(dtype)}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _bad(f"tensor {_short(name)} in {filename} has no valid shape (non-negative integers)")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= MAX_PARAMETERS):
            raise _bad(f"tensor {_short(name)} in {filename} has no valid data_offsets (two integers, "
                       "0 <= begin <= end)")
        numel = _numel(shape)
        if numel is None:
            raise _bad(f"tensor {_short(name)} in {filename} has more than {MAX_PARAMETERS:,} elements")
        bits = numel * DTYPE_BITS[dtype]
        if bits % 8 or offsets[1] - offsets[0] != bits // 8:
            raise _bad(f"tensor {_short(name)} in {filename}: data_offsets do not match its shape")
        total += numel
        if total > MAX_PARAMETERS:
            raise _bad(f"{filename} holds more than {MAX_PARAMETERS:,} parameters")
        by_dtype[dtype] = by_dtype.get(dtype, 0) + numel
        if offsets[1] > offsets[0]:
            spans.append((offsets[0], offsets[1], name))
    spans.sort()
    data_end = 0
    for begin, end, name in spans:
        if begin < data_end:
            raise _bad(f"tensor {_short(name)} in {filename} overlaps another tensor's data_offsets")
        data_end = end
    if file_size is not None and 8 + len(raw) + data_end > file_size:
        raise _bad(f"{filename}: the header describes more data than the file holds")
    return HeaderInfo(filename=filename, header_size=len(raw), tensors=len(header), parameters=total,
                      parameters_by_dtype=by_dtype, metadata=metadata, file_size=file_size)


def read_local_header(path: str | Path, *, filename: str | None = None) -> HeaderInfo:
    """Read and parse the header of a safetensors file on disk (8 + N bytes are read).

    Raises:
        MalformedResponseError: not a safetensors file, or a header :func:`parse_header` refuses.
        OSError: the file cannot be read.
    """
    path = Path(path)
    name = filename or path.name
    size = path.stat().st_size
    with path.open("rb") as f:
        n = _header_length(f.read(8), name)
        if 8 + n > size:
            raise _bad(f"{name}: header length {n} exceeds the file size {size}")
        raw = f.read(n)
    if len(raw) != n:  # the file shrank while we read it
        raise _bad(f"{name}: the header ended after {len(raw)} of {n} bytes")
    return parse_header(raw, filename=name, file_size=size)


# -- remote reads ------------------------------------------------------------------------------
def _content_range_total(value: str | None) -> int | None:
    m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", value or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _read_exactly(response: Any, count: int) -> bytes:
    """At most ``count`` body bytes (fewer when the body ends first); never reads past them."""
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = response.raw.read(min(left, 1 << 16), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _get_range(url: str, start: int, end: int, *, headers: Mapping[str, str], model_id: str | None,
               filename: str, budget: HeaderBudget, minimum: int | None = None,
               detail: str | None = None) -> tuple[bytes, int | None, int]:
    """Bytes ``start..end`` (inclusive) of a remote file, its total size if announced, and the
    body bytes received (more than asked when the server ignored ``Range``).

    The bytes are reserved in ``budget`` before the request; when it grants fewer than asked
    (but at least ``minimum``, default all of them), fewer are asked for. A server that ignores
    ``Range`` (200) is read only as far as needed, within the budget, and then hung up on.
    """
    import requests

    wanted = end - start + 1
    detail = detail or f"{filename}: {wanted:,} more bytes"
    reserved = budget.begin(wanted, minimum=wanted if minimum is None else minimum, detail=detail)
    wanted = reserved
    received = 0
    try:
        try:
            response = http.request(
                "GET", url, model_id=model_id, stream=True, allow_status=(416,),
                what=f"reading the safetensors header of {filename}",
                headers={**headers, "Range": f"bytes={start}-{start + wanted - 1}", "Accept-Encoding": "identity"},
            )
        except ModelNotFoundError:
            raise ModelNotFoundError(f"{filename} is not on the hub at this revision (404)",
                                     hint="the repo's file list may be stale; resolve again",
                                     model_id=model_id) from None
        try:
            if response.status_code == 416:
                size = _content_range_total(response.headers.get("Content-Range"))
                raise _bad(f"{filename} is too short to be a safetensors file ({size} bytes)")
            total = _content_range_total(response.headers.get("Content-Range"))
            skip = 0
            if response.status_code == 200:  # Range ignored: the body starts at byte 0
                skip = start
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if skip:
                    budget.take(skip, detail=f"{filename}: the server ignores Range and sends {skip:,} bytes first")
                    reserved += skip
            elif response.status_code != 206:
                raise _bad(f"reading {filename} answered HTTP {response.status_code} to a Range request")
            else:
                m = re.match(r"^\s*bytes\s+(\d+)-", response.headers.get("Content-Range") or "")
                if not m or int(m.group(1)) != start:
                    raise _bad(f"the server answered {filename} with another range than asked")
            try:
                body = _read_exactly(response, skip + wanted)
            except (requests.RequestException, OSError) as exc:
                raise NetworkError(f"reading the safetensors header of {filename} broke off "
                                   f"({type(exc).__name__})", model_id=model_id) from None
            received = len(body)
            return body[skip:], total, received
        finally:
            response.close()
    finally:
        budget.end(reserved - received)


def read_remote_header(url: str, *, headers: Mapping[str, str] | None = None, filename: str | None = None,
                       model_id: str | None = None, speculative: int = SPECULATIVE_BYTES,
                       file_size: int | None = None, budget: HeaderBudget | None = None) -> HeaderInfo:
    """Read a remote safetensors header with at most two ``Range`` requests.

    The first asks for ``min(speculative, file_size)`` bytes; when ``8 + N`` is larger, the
    second asks for exactly the rest of the header, if ``budget`` (default: a fresh one from
    the settings) still has room for it: the 8-byte length is never trusted further than that.

    Raises:
        MalformedResponseError: not a safetensors file, or a header that does not parse.
        LimitExceededError: the header is larger than the budget left.
        NetworkError, AuthError, ModelNotFoundError, OfflineError: from :mod:`ptmhub.http`.
    """
    name = filename or url.rsplit("/", 1)[-1]
    hdrs = dict(headers or {})
    budget = budget if budget is not None else HeaderBudget.from_settings(model_id=model_id)
    first_len = max(8, speculative)
    if file_size is not None:
        first_len = max(8, min(first_len, file_size))
    # a nearly spent budget gets a shorter first read (at least the 8-byte length)
    first, total, fetched = _get_range(url, 0, first_len - 1, headers=hdrs, model_id=model_id, filename=name,
                                       budget=budget, minimum=8)
    total = total if total is not None else file_size
    requests_made = 1
    n = _header_length(first, name)
    if total is not None and 8 + n > total:
        raise _bad(f"{name}: header length {n} exceeds the file size {total}")
    if 8 + n <= len(first):
        raw = first[8:8 + n]
    else:
        if 8 + n - len(first) > budget.max_bytes:  # refused at once, whatever else is in flight
            raise budget.bytes_error(f"{name} announces a {n:,}-byte header")
        rest, _, got = _get_range(url, len(first), 8 + n - 1, headers=hdrs, model_id=model_id, filename=name,
                                  budget=budget, detail=f"{name} announces a {n:,}-byte header")
        fetched += got
        requests_made += 1
        raw = first[8:] + rest
        if len(raw) != n:
            raise _bad(f"{name}: the header ended after {len(raw)} of {n} bytes")
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
        raise _bad(f"{index_name} has no weight_map")
    folder = index_name.rsplit("/", 1)[0] + "/" if "/" in index_name else ""
    values = index["weight_map"].values()
    if not all(isinstance(v, str) for v in values):
        raise _bad(f"{index_name} maps a tensor to something that is not a file name")
    shards = sorted(set(values))
    for shard in shards:
        if not shard or shard.startswith("/") or "\\" in shard or ".." in shard.split("/"):
            raise _bad(f"{index_name} names a shard outside the repo: {_short(shard)}")
    return [folder + s for s in shards]


def _parse_index(raw: bytes, index_name: str) -> list[str]:
    try:
        index = json.loads(raw)
    except RecursionError:
        raise _bad(f"{index_name} is nested too deeply to be a shard index") from None
    except ValueError:
        raise _bad(f"{index_name} is not valid JSON") from None
    return _shards_from_index(index, index_name)


def _total(headers: list[HeaderInfo], description: str) -> RepoCount:
    by_dtype: dict[str, int] = {}
    for h in headers:
        for dtype, n in h.parameters_by_dtype.items():
            by_dtype[dtype] = by_dtype.get(dtype, 0) + n
    total = sum(h.parameters for h in headers)
    if total > MAX_PARAMETERS:  # each file is within the limit; their sum may not be
        raise _bad(f"the {len(headers)} safetensors files hold more than {MAX_PARAMETERS:,} parameters together")
    return RepoCount(parameters=total, parameters_by_dtype=by_dtype,
                     files=[h.filename for h in headers], bytes_fetched=sum(h.bytes_fetched for h in headers),
                     requests=sum(h.requests for h in headers), description=description, headers=headers)


def _read_index(url: str, index_name: str, *, headers: Mapping[str, str], model_id: str | None,
                budget: HeaderBudget) -> tuple[list[str], int]:
    """The shard names of a remote index and the bytes its body took (counted in ``budget``)."""
    import requests

    cap = budget.begin(_MAX_INDEX_BYTES, minimum=0, detail=f"reading {index_name}")
    body, more = b"", b""
    try:
        response = http.request("GET", url, model_id=model_id, stream=True, headers=headers,
                                what=f"reading {index_name}")
        try:
            body = _read_exactly(response, cap)
            if len(body) == cap:  # did the body end there? one byte tells
                more = _read_exactly(response, 1)
        except (requests.RequestException, OSError) as exc:
            raise NetworkError(f"reading {index_name} broke off ({type(exc).__name__})", model_id=model_id) from None
        finally:
            response.close()
    finally:
        budget.end(cap - len(body))
    if more:
        if cap < _MAX_INDEX_BYTES:
            raise budget.bytes_error(f"{index_name} alone is larger than the {cap:,} bytes left")
        raise _bad(f"{index_name} is larger than {_MAX_INDEX_BYTES:,} bytes")
    return _parse_index(body, index_name), len(body)


def count_remote(selection: WeightSelection, url_for: Callable[[str], str], *, headers: Mapping[str, str] | None = None,
                 model_id: str | None = None, sizes: Mapping[str, int | None] | None = None,
                 max_workers: int = 4, budget: HeaderBudget | None = None) -> RepoCount:
    """Sum the parameters of the selected files, reading each header remotely.

    Shard lists come from the ``*.safetensors.index.json`` files (small JSON, fetched whole).
    Everything the count fetches, index files included, is bounded by one :class:`HeaderBudget`
    (default: ``PTMHUB_MAX_REMOTE_HEADER_BYTES`` and ``PTMHUB_MAX_REMOTE_REQUESTS`` from the
    settings). A repo with more files than requests left is refused before any header is read;
    the first failure of any file stops every other worker before its next request.

    Raises:
        LimitExceededError: the count needs more bytes or requests than the budget.
        MalformedResponseError: an index or header that does not parse, or a count beyond
            :data:`MAX_PARAMETERS`.
        NetworkError, AuthError, ModelNotFoundError, OfflineError: from :mod:`ptmhub.http`.
    """
    hdrs = dict(headers or {})
    budget = budget if budget is not None else HeaderBudget.from_settings(model_id=model_id)
    files = list(selection.files)
    index_bytes = 0
    for index_name in selection.indexes:
        shards, size = _read_index(url_for(index_name), index_name, headers=hdrs, model_id=model_id, budget=budget)
        files.extend(shards)
        index_bytes += size
    budget.check_requests(len(files), f"{len(files):,} safetensors files, at least one request each")
    sizes = sizes or {}

    def one(name: str) -> HeaderInfo:
        return read_remote_header(url_for(name), headers=hdrs, filename=name, model_id=model_id,
                                  file_size=sizes.get(name), budget=budget)

    if len(files) > 1 and max_workers > 1:
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=min(max_workers, len(files)))
        try:
            futures = [pool.submit(one, f) for f in files]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and not f.cancelled() and f.exception() is not None
                      and not isinstance(f.exception(), _Stopped)]
            if failed:
                budget.stop()  # running workers end after their current request; queued ones never start
                raise failed[0].exception()  # type: ignore[misc]
            results = [f.result() for f in futures]
        finally:
            budget.stop()
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        results = [one(f) for f in files]
    count = _total(results, selection.description)
    count.bytes_fetched += index_bytes
    count.requests += len(selection.indexes)
    return count


def count_local(selection: WeightSelection, folder: str | Path) -> RepoCount:
    """Sum the parameters of the selected files from a local snapshot folder.

    Raises:
        FileNotFoundError: a selected file (or an index's shard) is not in ``folder``.
        MalformedResponseError: a header or index that does not parse.
    """
    folder = Path(folder)
    files = list(selection.files)
    for index_name in selection.indexes:
        path = folder / index_name
        if path.stat().st_size > _MAX_INDEX_BYTES:
            raise _bad(f"{index_name} in {folder} is larger than {_MAX_INDEX_BYTES:,} bytes")
        files.extend(_parse_index(path.read_bytes(), index_name))
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} is not in {folder}")
    return _total([read_local_header(folder / f, filename=f) for f in files], selection.description)


def count_local_files(paths: Iterable[str | Path], *, description: str = "") -> RepoCount:
    """Sum the parameters of these safetensors files on disk (no selection: every path counts).

    Raises:
        MalformedResponseError: a header that does not parse, or a total beyond :data:`MAX_PARAMETERS`.
        OSError: a file cannot be read.
    """
    return _total([read_local_header(p) for p in paths], description)


def describe_failure(exc: BaseException) -> str:
    """A short reason for a failed header read, for ``parameters_note``."""
    if isinstance(exc, PtmhubError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
