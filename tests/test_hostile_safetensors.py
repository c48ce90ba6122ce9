"""Hostile safetensors files, generated: random nesting, huge or boolean dims, boolean, negative or
overlapping ``data_offsets``, unknown dtypes, lying length prefixes, non-UTF-8 bytes, duplicate
keys, truncation. Each goes through the local path (a file on disk: ``read_local_header``,
``count_local``, ``localmodel.safetensors_parameters``) and the remote one (a loopback server with
``Range`` support that also plays servers ignoring ``Range`` or hiding the file size). Only a
one-line ``PtmhubError`` or a bounded result may come out: a count that is a plain int within
the registry's signed 64 bits, equal to the per-dtype sum, and no more bytes fetched than the budget.
Where the safetensors library itself opens a generated file, ptmhub must accept it with the same count.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from ptmhub import settings as ptm_settings
from ptmhub.errors import PtmhubError
from ptmhub import safetensors_count as st
from ptmhub.localmodel import safetensors_parameters

pytestmark = pytest.mark.slow

BUDGET = 256 * 1024  # PTMHUB_MAX_REMOTE_HEADER_BYTES for the remote cases
_names = itertools.count()


def cases(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)


# -- generators --------------------------------------------------------------------------------------
DIMS = hs.one_of(hs.integers(0, 8), hs.sampled_from([2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64, -1, -(2**63)]),
                 hs.sampled_from([True, False, 1.5, "3", None, [2], 1e308]))
DTYPES = hs.one_of(hs.sampled_from(sorted(st.DTYPE_BITS)), hs.sampled_from(["F3", "", "f32", "F32 ", "Ω"]),
                   hs.sampled_from([None, 4, ["F32"]]))


@hs.composite
def tensor_entries(draw):
    """(name, entry) pairs: mostly well formed with consistent offsets, then mutated."""
    entries = []
    offset = 0
    for _ in range(draw(hs.integers(0, 6))):
        dtype = draw(hs.one_of(hs.sampled_from(sorted(st.DTYPE_BITS)), DTYPES))
        shape = draw(hs.lists(hs.integers(0, 6), max_size=4))
        if draw(hs.booleans()):
            shape = draw(hs.lists(DIMS, max_size=5))
        size = 0
        known = isinstance(dtype, str) and dtype in st.DTYPE_BITS
        if known and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape):
            n = 1
            for d in shape:
                n *= d
            size = -(-n * st.DTYPE_BITS[dtype] // 8)
        offsets = [offset, offset + size]
        offset += size
        mutation = draw(hs.integers(0, 9))
        if mutation == 0:
            offsets = [draw(hs.sampled_from([True, False, -1, 0, 2**64, 1.0, None])), offsets[1]]
        elif mutation == 1:
            offsets = [offsets[0], draw(hs.sampled_from([True, False, -8, 2**63, 2**70, "8"]))]
        elif mutation == 2:
            offsets = [max(0, offsets[0] - draw(hs.integers(1, 16))), max(0, offsets[1] - 1)]  # overlap
        elif mutation == 3:
            offsets = draw(hs.sampled_from([[], [0], [0, 1, 2], "0-8", None]))
        name = draw(hs.one_of(hs.text(max_size=12), hs.sampled_from(["__metadata__", "w", "\x00", "a" * 300])))
        entry = {"dtype": dtype, "shape": shape, "data_offsets": offsets}
        if draw(hs.integers(0, 12)) == 0:
            entry = draw(hs.sampled_from([[], "tensor", None, 1, {"dtype": dtype}]))
        entries.append((name, entry))
    return entries, offset


def _nest(depth: int, opener: str) -> str:
    return ("[" * depth + "]" * depth) if opener == "[" else ('{"a":' * depth + "0" + "}" * depth)


@hs.composite
def hostile_files(draw):
    """Bytes of a would-be safetensors file, and whether it is free of duplicate keys."""
    entries, data_len = draw(tensor_entries())
    metadata = draw(hs.one_of(hs.none(), hs.dictionaries(hs.text(max_size=5), hs.text(max_size=20), max_size=3),
                              hs.sampled_from([[1], "meta", {"a": 1}, {"a": None}, {"a": ["x"]}])))
    parts = [json.dumps(name) + ":" + json.dumps(entry) for name, entry in entries]
    if metadata is not None:
        parts.insert(draw(hs.integers(0, len(parts))), '"__metadata__":' + json.dumps(metadata))
    keys = [name for name, _ in entries] + (["__metadata__"] if metadata is not None else [])
    unique = len(set(keys)) == len(keys)  # random names can repeat too
    shape_of_text = draw(hs.integers(0, 14))
    if shape_of_text == 0 and parts:  # a key twice
        parts.append(parts[draw(hs.integers(0, len(parts) - 1))])
        unique = False
    elif shape_of_text == 1:  # deep nesting, as a tensor entry, in metadata, or the whole header
        depth, opener = draw(hs.integers(50, 30_000)), draw(hs.sampled_from(["[", "{"]))
        where = draw(hs.integers(0, 2))
        if where == 2:
            text = _nest(depth, opener)
        else:
            parts.append(('"deep":' if where == 0 else '"__metadata__":{"x":') + _nest(depth, opener)
                         + ("" if where == 0 else "}"))
    text = "{" + ",".join(parts) + "}" if shape_of_text != 1 or where != 2 else text
    if shape_of_text == 2:
        text = text.replace('"', "'", 1)  # not JSON
    elif shape_of_text == 3:
        text = text + " " * draw(hs.integers(1, 7))  # the library's own alignment padding: valid
    raw = text.encode("utf-8", "surrogatepass")
    if shape_of_text == 4:
        raw = text.encode("utf-16")
    elif shape_of_text == 5 and raw:
        at = draw(hs.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(hs.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + raw[at:]
    elif shape_of_text == 6:
        raw = raw[:draw(hs.integers(0, len(raw)))]  # truncated JSON
    prefix = len(raw)
    lie = draw(hs.integers(0, 10))
    if lie == 0:
        prefix = draw(hs.sampled_from([0, 1, 2**64 - 1, 2**63, st.MAX_HEADER_BYTES, st.MAX_HEADER_BYTES + 1,
                                       90 * 2**20, BUDGET + 1]))
    elif lie == 1:
        prefix = max(0, prefix + draw(hs.integers(-50, 50)))
    data = b"\0" * min(data_len, 64 * 1024)  # huge shapes claim more than the file will hold
    if draw(hs.integers(0, 6)) == 0:
        data = data[:draw(hs.integers(0, len(data)))] if data else b"\0" * draw(hs.integers(1, 64))
    body = struct.pack("<Q", prefix) + raw + data
    if draw(hs.integers(0, 30)) == 0:
        body = body[:draw(hs.integers(0, 12))]  # shorter than the length prefix itself
    return body, unique


# -- checks -----------------------------------------------------------------------------------------
def _bounded(info) -> None:
    assert type(info.parameters) is int and 0 <= info.parameters <= st.MAX_PARAMETERS
    assert all(type(v) is int and v >= 0 for v in info.parameters_by_dtype.values())
    assert sum(info.parameters_by_dtype.values()) == info.parameters
    assert set(info.parameters_by_dtype) <= set(st.DTYPE_BITS)
    json.dumps({"parameters": info.parameters, "by_dtype": dict(info.parameters_by_dtype)})


def _outcome(call):
    """The result of ``call`` if bounded, or None after a one-line PtmhubError; anything else fails."""
    try:
        result = call()
    except PtmhubError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 600, message
        return None
    _bounded(result)
    return result


def _library_count(path) -> int | None:
    """The parameter count the safetensors library reads from the file, or None if it refuses it."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            total = 0
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
            return total
    except Exception:  # noqa: BLE001 - any refusal by the library: no comparison to make
        return None


# -- the local path -----------------------------------------------------------------------------------
@cases(3000)
@given(hostile_files())
def test_local_headers(tmp_path_factory, sample):
    body, unique = sample
    folder = tmp_path_factory.mktemp("st", numbered=True)
    path = folder / "model.safetensors"
    path.write_bytes(body)
    info = _outcome(lambda: st.read_local_header(path))
    count = _outcome(lambda: st.count_local(st.select_weight_files(["model.safetensors"]), folder))
    assert (info is None) == (count is None)
    # localmodel reads local headers through the same parser: the same answer
    try:
        local = safetensors_parameters(folder)
    except PtmhubError:
        local = None
    assert local == (info.parameters if info else None)
    if unique:
        expected = _library_count(path)
        if expected is not None:  # what the library opens, ptmhub counts, and the same
            assert info is not None and info.parameters == expected


@cases(5000)
@given(hostile_files())
def test_parse_header_alone(sample):
    body, _ = sample
    if len(body) >= 8:
        _outcome(lambda: st.parse_header(body[8:], filename="x.safetensors", file_size=len(body)))
        _outcome(lambda: st.parse_header(body[8:], filename="x.safetensors"))


# -- the remote path -----------------------------------------------------------------------------------
class _Server:
    """A loopback file server: honest ``Range`` (206), or one that ignores it (200), or one that
    hides the file size (``Content-Range: bytes a-b/*``); counts the body bytes it sends."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                data, mode = server.files.get(self.path, (None, ""))
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end, status = 0, len(data) - 1, 200
                m = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range") or "")
                headers = {}
                if m and mode != "ignore-range":
                    start, end = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                    total = "*" if mode == "hide-size" else str(len(data))
                    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
                body = data[start:end + 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(0, len(body), 16 * 1024):
                    try:
                        self.wfile.write(body[i:i + 16 * 1024])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    with server.lock:
                        server.sent[self.path] = server.sent.get(self.path, 0) + len(body[i:i + 16 * 1024])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = _Server()
    yield s
    s.stop()


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setenv("PTMHUB_MAX_REMOTE_HEADER_BYTES", str(BUDGET))
    monkeypatch.setenv("PTMHUB_MAX_RETRIES", "0")
    ptm_settings.reload()
    yield
    ptm_settings.reload()


@cases(600)
@given(hostile_files(), hs.sampled_from(["range", "range", "ignore-range", "hide-size"]),
       hs.booleans())
def test_remote_headers(server, small_budget, sample, mode, size_known):
    body, _ = sample
    path = f"/f{next(_names)}/model.safetensors"
    server.files[path] = (body, mode)
    info = _outcome(lambda: st.read_remote_header(server.url + path, filename="model.safetensors",
                                                  file_size=len(body) if size_known else None))
    if info is not None:
        assert info.bytes_fetched <= BUDGET
    if mode == "range":  # an honest server sends exactly what was asked: never beyond the budget
        assert server.sent.get(path, 0) <= BUDGET


@cases(150)
@given(hs.lists(hostile_files(), min_size=1, max_size=6), hs.sampled_from(["range", "hide-size"]))
def test_remote_sharded_counts(server, small_budget, samples, mode):
    repo = f"/r{next(_names)}"
    names = [f"model-{i + 1:05d}-of-{len(samples):05d}.safetensors" for i in range(len(samples))]
    for name, (body, _) in zip(names, samples):
        server.files[f"{repo}/{name}"] = (body, mode)
    index = json.dumps({"weight_map": {f"t{i}": n for i, n in enumerate(names)}}).encode()
    server.files[f"{repo}/model.safetensors.index.json"] = (index, "range")
    selection = st.select_weight_files(["model.safetensors.index.json", *names])
    count = _outcome(lambda: st.count_remote(selection, lambda n: f"{server.url}{repo}/{n}"))
    if count is not None:
        assert count.bytes_fetched <= BUDGET and count.requests <= 1 + 2 * len(names)
    sent = sum(v for k, v in server.sent.items() if k.startswith(repo + "/"))
    assert sent <= BUDGET
