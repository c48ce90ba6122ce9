"""Safetensors headers: parsing, choosing a repo's weight files, and remote Range reads measured
against huggingface_hub's own reader on the same loopback server."""

from __future__ import annotations

import json
import math
import struct

import pytest
import torch
from hf_server import FakeHub, Reply, hf_hub  # noqa: F401  (fixture)
from safetensors.torch import save, save_file

from ptmhub.errors import LimitExceededError, MalformedResponseError, ModelNotFoundError
from ptmhub import safetensors_count as st

MB = 1024 * 1024


def _numel(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() for t in tensors.values())


def _raw_header(data: bytes) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    return data[8:8 + n]


def _big_file(path, n_tensors: int, total_bytes: int = 52 * MB):
    """A real safetensors file of >= 50 MB with ``n_tensors`` float32 tensors (header grows with n)."""
    per = total_bytes // 4 // n_tensors
    rows = max(1, per // 64)
    tensors = {f"model.layers.{i}.mlp.down_proj.weight": torch.zeros(rows, 64) for i in range(n_tensors)}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path, _numel(tensors)


@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    return {
        "mid": _big_file(d / "mid.safetensors", 400),      # header ~30 KB: more than the speculative read
        "large": _big_file(d / "large.safetensors", 2500),  # header ~190 KB: more than HF's 100 KB read
        "small": _big_file(d / "small.safetensors", 8),     # header < 1 KB
    }


# -- parsing -------------------------------------------------------------------------------------------
def test_parse_header_counts_every_dtype():
    tensors = {"a": torch.zeros(3, 4), "b": torch.zeros(5, dtype=torch.float16),
               "c": torch.zeros(2, 2, 2, dtype=torch.bfloat16),
               "d": torch.zeros(7, dtype=torch.int64), "scalar": torch.tensor(1.0)}
    data = save(tensors, metadata={"format": "pt"})
    info = st.parse_header(_raw_header(data), filename="x.safetensors", file_size=len(data))
    assert info.parameters == _numel(tensors) == 12 + 5 + 8 + 7 + 1
    assert info.parameters_by_dtype == {"F32": 13, "F16": 5, "BF16": 8, "I64": 7}
    assert info.tensors == 5 and info.metadata == {"format": "pt"}


def test_read_local_header(tmp_path):
    path, n = _big_file(tmp_path / "m.safetensors", 10, total_bytes=MB)
    info = st.read_local_header(path)
    assert info.parameters == n and info.file_size == path.stat().st_size


@pytest.mark.parametrize("raw, problem", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}}', "no valid shape"),
    (b'{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}', "do not match its shape"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}', "no valid data_offsets"),
    (b'{"__metadata__": [1], "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', "__metadata__"),
])
def test_parse_header_rejects_bad_headers(raw, problem):
    with pytest.raises(MalformedResponseError, match=problem) as err:
        st.parse_header(raw, filename="bad.safetensors")
    assert "\n" not in str(err.value)


def test_unknown_dtype_is_refused_and_sub_byte_dtypes_are_checked():
    # an unknown dtype used to be counted with no size check: any shape at all was accepted
    with pytest.raises(MalformedResponseError, match="unknown dtype 'F3'"):
        st.parse_header(b'{"w": {"dtype": "F3", "shape": [4, 4], "data_offsets": [0, 8]}}')
    # F4 packs two elements per byte, F6 four per three bytes
    assert st.parse_header(b'{"w": {"dtype": "F4", "shape": [4, 4], "data_offsets": [0, 8]}}'
                           ).parameters_by_dtype == {"F4": 16}
    assert st.parse_header(b'{"w": {"dtype": "F6_E2M3", "shape": [8], "data_offsets": [0, 6]}}').parameters == 8
    with pytest.raises(MalformedResponseError, match="do not match its shape"):
        st.parse_header(b'{"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}')


def test_local_header_longer_than_file(tmp_path):
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(MalformedResponseError, match="exceeds the file size"):
        st.read_local_header(path)
    path.write_bytes(struct.pack("<Q", 0))
    with pytest.raises(MalformedResponseError, match="out of range"):
        st.read_local_header(path)


# -- which files are the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("files, expected_files, expected_indexes", [
    (["config.json", "model.safetensors", "pytorch_model.bin"], ("model.safetensors",), ()),
    (["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
      "model.safetensors"], (), ("model.safetensors.index.json",)),
    (["model.fp16.safetensors", "config.json"], ("model.fp16.safetensors",), ()),
    (["adapter_model.safetensors", "adapter_config.json"], ("adapter_model.safetensors",), ()),
    (["1_Pooling/config.json", "model.safetensors", "onnx/model.onnx"], ("model.safetensors",), ()),
])
def test_select_weight_files(files, expected_files, expected_indexes):
    sel = st.select_weight_files(files)
    assert sel.reason is None
    assert sel.files == expected_files and sel.indexes == expected_indexes


@pytest.mark.parametrize("files, reason", [
    (["pytorch_model.bin", "config.json"], "no safetensors weights"),
    (["a.safetensors", "b.safetensors"], "cannot tell which one is the model"),
    (["model_index.json", "unet/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.safetensors"],
     "'unet' has no safetensors"),
    (["checkpoints/x.safetensors"], "only in subfolders"),
])
def test_select_weight_files_refuses_to_guess(files, reason):
    sel = st.select_weight_files(files)
    assert not sel.files and not sel.indexes
    assert reason in sel.reason


def test_select_weight_files_for_the_recorded_stable_diffusion_repo(shared):
    body = json.loads(shared("fixtures", "hf", "model_info__stabilityai--stable-diffusion-2-1.json").read_text())
    sel = st.select_weight_files(s["rfilename"] for s in body["siblings"])
    # one copy of each component: no fp16 variants, no root single-file checkpoints
    assert sel.files == ("text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                         "vae/diffusion_pytorch_model.safetensors")
    assert "text_encoder, unet, vae" in sel.description


# -- remote reads --------------------------------------------------------------------------------------------
def _url(hub: FakeHub, repo: str, name: str) -> str:
    return f"{hub.url}/{repo}/resolve/main/{name}"


def _hf_metadata_bytes(hub: FakeHub, repo: str, name: str = "model.safetensors") -> tuple[int, int]:
    """Body bytes and requests huggingface_hub's get_safetensors_metadata costs on the same server."""
    from huggingface_hub import HfApi

    hub.reset_counters()
    meta = HfApi(endpoint=hub.url, token=False).get_safetensors_metadata(repo)
    assert name in meta.files_metadata
    return hub.bytes_sent[f"/{repo}/resolve/main/{name}"], len(hub.requests_to(f"/{repo}/resolve/"))


@pytest.mark.parametrize("kind", ["mid", "large", "small"])
def test_remote_header_fetches_close_to_the_minimum(hf_hub, big_files, kind, record_property):
    path, n = big_files[kind]
    assert path.stat().st_size >= 50 * MB
    repo = f"test/{kind}"
    hf_hub.add_repo(repo, files={"model.safetensors": path})
    url = _url(hf_hub, repo, "model.safetensors")

    info = st.read_remote_header(url, filename="model.safetensors")
    ours = hf_hub.bytes_sent[f"/{repo}/resolve/main/model.safetensors"]
    assert info.parameters == n
    assert info.file_size == path.stat().st_size
    header = info.header_size
    assert ours == info.bytes_fetched
    assert ours <= 8 + header + st.SPECULATIVE_BYTES
    assert ours == max(st.SPECULATIVE_BYTES, 8 + header)  # one speculative read, then exactly the rest
    assert info.requests == (1 if 8 + header <= st.SPECULATIVE_BYTES else 2)

    theirs, their_requests = _hf_metadata_bytes(hf_hub, repo)
    assert ours < theirs
    record_property("measure", {"kind": kind, "file_bytes": path.stat().st_size, "header_bytes": header,
                                "ptmhub_bytes": ours, "ptmhub_requests": info.requests,
                                "huggingface_hub_bytes": theirs, "huggingface_hub_requests": their_requests})
    print(f"\n[{kind}] file {path.stat().st_size:,} B, header {header:,} B: ptmhub {ours:,} B in {info.requests} "
          f"GET; huggingface_hub {theirs:,} B in {their_requests} requests")


def test_sharded_count_through_the_index(hf_hub, tmp_path):
    shards = {}
    total = 0
    weight_map = {}
    for i in range(3):
        tensors = {f"layer{i}.w{j}": torch.zeros(10 + i, 7) for j in range(4)}
        name = f"model-0000{i + 1}-of-00003.safetensors"
        shards[name] = save(tensors)
        total += _numel(tensors)
        weight_map.update({k: name for k in tensors})
    index = json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map})
    hf_hub.add_repo("test/sharded", files={"model.safetensors.index.json": index, **shards})
    sel = st.select_weight_files(["model.safetensors.index.json", *shards])
    count = st.count_remote(sel, lambda n: _url(hf_hub, "test/sharded", n))
    assert count.parameters == total
    assert sorted(count.files) == sorted(shards)
    assert count.requests == 1 + 3  # the index, then one speculative read covers each small header
    assert count.requests == len(hf_hub.requests_to("/test/sharded/resolve/"))
    assert count.bytes_fetched == sum(hf_hub.bytes_sent.values())


def test_server_that_ignores_range_is_read_only_as_far_as_needed(hf_hub, tmp_path):
    path, n = _big_file(tmp_path / "m.safetensors", 4, total_bytes=4 * MB)
    hf_hub.add_repo("test/norange", files={"model.safetensors": path})
    hf_hub.script("GET", r"/test/norange/resolve/", Reply(200, {"Content-Type": "application/octet-stream"},
                                                         path.read_bytes()))
    info = st.read_remote_header(_url(hf_hub, "test/norange", "model.safetensors"))
    assert info.parameters == n and info.bytes_fetched == st.SPECULATIVE_BYTES


def test_remote_errors_are_typed_and_one_line(hf_hub, tmp_path):
    hf_hub.add_repo("test/bad", files={"empty.safetensors": b"", "short.safetensors": struct.pack("<Q", 10**6) + b"{",
                                       "pickle.safetensors": b"\x80\x04\x95" + b"x" * 100})
    for name, problem in [("empty.safetensors", "too short"), ("short.safetensors", "exceeds the file size"),
                          ("pickle.safetensors", "out of range")]:
        with pytest.raises(MalformedResponseError, match=problem) as err:
            st.read_remote_header(_url(hf_hub, "test/bad", name))
        assert "\n" not in str(err.value)
    with pytest.raises(ModelNotFoundError, match="missing.safetensors is not on the hub"):
        st.read_remote_header(_url(hf_hub, "test/bad", "missing.safetensors"))


def test_header_split_across_the_speculative_read_boundary(hf_hub):
    # a header whose end falls exactly at, and one byte after, the first read
    for extra in (0, 1):
        target = st.SPECULATIVE_BYTES - 8 + extra
        meta_len = 0
        while True:
            data = save({"w": torch.zeros(3)}, metadata={"pad": "x" * meta_len})
            n = struct.unpack("<Q", data[:8])[0]
            if n >= target:
                break
            meta_len += max(1, target - n)
        repo = f"test/edge{extra}"
        hf_hub.add_repo(repo, files={"model.safetensors": data})
        info = st.read_remote_header(_url(hf_hub, repo, "model.safetensors"))
        assert info.parameters == 3
        assert info.bytes_fetched == max(st.SPECULATIVE_BYTES, 8 + n) or info.bytes_fetched == len(data)
        assert math.isclose(info.header_size, n)


# -- budgets: bytes and requests per repo count (PTMHUB_MAX_REMOTE_HEADER_BYTES / _REQUESTS) --------
def _padded(header_bytes: int) -> bytes:
    """A valid safetensors file whose JSON header is about ``header_bytes`` long (padded metadata)."""
    return save({"w": torch.zeros(2)}, metadata={"pad": "x" * header_bytes})


def _limits(monkeypatch, **values: int) -> None:
    from ptmhub import settings

    for name, value in values.items():
        monkeypatch.setenv(f"PTMHUB_MAX_REMOTE_{name.upper()}", str(value))
    settings.reload()


def _sharded_repo(hub: FakeHub, repo: str, shards: dict[str, bytes]) -> st.WeightSelection:
    index = json.dumps({"weight_map": {f"t{i}": name for i, name in enumerate(shards)}})
    hub.add_repo(repo, files={"model.safetensors.index.json": index, **shards})
    return st.select_weight_files(["model.safetensors.index.json", *shards])


def test_a_header_larger_than_the_byte_budget_is_refused_before_it_is_fetched(hf_hub, monkeypatch):
    _limits(monkeypatch, header_bytes=MB)
    hf_hub.add_repo("test/bighead", files={"model.safetensors": _padded(3 * MB)})
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_HEADER_BYTES") as err:
        st.read_remote_header(_url(hf_hub, "test/bighead", "model.safetensors"))
    assert "\n" not in str(err.value) and "announces a 3,145," in str(err.value)
    # only the speculative read: the 3 MB the length prefix claims were never asked for (was: 3 MB)
    assert hf_hub.bytes_sent["/test/bighead/resolve/main/model.safetensors"] == st.SPECULATIVE_BYTES
    assert len(hf_hub.requests_to("/test/bighead/")) == 1


def test_a_lying_length_prefix_without_a_known_file_size_is_not_trusted(hf_hub, monkeypatch):
    # 206 with an unknown total ("/*"): nothing but the budget bounds what the prefix claims
    _limits(monkeypatch, header_bytes=4 * MB)
    first = struct.pack("<Q", 90 * MB) + b"{" + b" " * (st.SPECULATIVE_BYTES - 9)
    hf_hub.add_repo("test/liar", files={"model.safetensors": b"\0" * 16})
    hf_hub.script("GET", r"/test/liar/resolve/", Reply(206, {"Content-Range": f"bytes 0-{len(first) - 1}/*"}, first))
    with pytest.raises(LimitExceededError, match="announces a 94,371,840-byte header"):
        st.read_remote_header(_url(hf_hub, "test/liar", "model.safetensors"))
    assert len(hf_hub.requests_to("/test/liar/")) == 1


def test_shards_share_one_byte_budget_and_the_count_stops_at_once(hf_hub, monkeypatch):
    _limits(monkeypatch, header_bytes=MB)
    shards = {f"model-0000{i + 1}-of-00006.safetensors": _padded(300 * 1024) for i in range(6)}
    sel = _sharded_repo(hf_hub, "test/sixshards", shards)
    hf_hub.reset_counters()
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_HEADER_BYTES") as err:
        st.count_remote(sel, lambda n: _url(hf_hub, "test/sixshards", n), model_id="hf:test/sixshards")
    assert "hf:test/sixshards" in str(err.value) and "\n" not in str(err.value)
    # 6 x 300 KB were all fetched before (1.8 MB); now never more than the budget in all
    assert sum(hf_hub.bytes_sent.values()) <= MB


def test_more_shards_than_the_request_budget_are_refused_after_the_index_alone(hf_hub, monkeypatch):
    _limits(monkeypatch, requests=10)
    small = save({"w": torch.zeros(2)})
    shards = {f"model-{i + 1:05d}-of-00040.safetensors": small for i in range(40)}
    sel = _sharded_repo(hf_hub, "test/manyshards", shards)
    hf_hub.reset_counters()
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_REQUESTS") as err:
        st.count_remote(sel, lambda n: _url(hf_hub, "test/manyshards", n))
    assert "40 safetensors files" in str(err.value)
    assert [r[1] for r in hf_hub.requests] == ["/test/manyshards/resolve/main/model.safetensors.index.json"]


def test_within_the_budgets_the_count_is_unchanged(hf_hub, monkeypatch):
    # exactly enough: the index and 5 headers, and their bytes
    shards = {f"model-0000{i + 1}-of-00005.safetensors": save({f"w{i}": torch.zeros(3, i + 1)}) for i in range(5)}
    sel = _sharded_repo(hf_hub, "test/fits", shards)
    hf_hub.reset_counters()
    count = st.count_remote(sel, lambda n: _url(hf_hub, "test/fits", n))
    needed = sum(hf_hub.bytes_sent.values())
    assert count.parameters == 3 * (1 + 2 + 3 + 4 + 5) and count.bytes_fetched == needed and count.requests == 6
    _limits(monkeypatch, header_bytes=needed, requests=6)
    assert st.count_remote(sel, lambda n: _url(hf_hub, "test/fits", n)).parameters == count.parameters
    _limits(monkeypatch, header_bytes=needed, requests=5)
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_REQUESTS"):
        st.count_remote(sel, lambda n: _url(hf_hub, "test/fits", n))


def test_a_server_ignoring_range_is_read_only_within_the_budget(hf_hub, monkeypatch, tmp_path):
    _limits(monkeypatch, header_bytes=256 * 1024)
    data = _padded(600 * 1024)
    hf_hub.add_repo("test/norange-big", files={"model.safetensors": data})
    hf_hub.script("GET", r"/test/norange-big/resolve/", Reply(200, {}, data))
    with pytest.raises(LimitExceededError, match="PTMHUB_MAX_REMOTE_HEADER_BYTES"):
        st.read_remote_header(_url(hf_hub, "test/norange-big", "model.safetensors"))


def test_over_the_budget_resolve_gives_no_count_and_names_the_variable(hf_hub, monkeypatch):
    """Through HuggingFaceBackend.resolve: parameters None, the note names the limit, no traceback."""
    from ptmhub.hubs.huggingface import HuggingFaceBackend
    from ptmhub.ids import parse

    _limits(monkeypatch, requests=4)
    shards = {f"model-0000{i + 1}-of-00008.safetensors": save({f"w{i}": torch.zeros(2)}) for i in range(8)}
    _sharded_repo(hf_hub, "test/overbudget", shards)
    record = HuggingFaceBackend().resolve(parse("hf:test/overbudget"))
    assert record.parameters is None
    assert "PTMHUB_MAX_REMOTE_REQUESTS" in record.parameters_note
    assert not hf_hub.requests_to(r"/test/overbudget/resolve/main/model-0000")  # no header was fetched


# -- hostile headers (examples; tests/test_hostile_safetensors.py generates many more) --------------
@pytest.mark.parametrize("raw, problem", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),                       # was: RecursionError
    (b'{"__metadata__": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "nested too deeply"),
    (b'{"w": {"dtype": "F4", "shape": [4611686018427387904, 4611686018427387904], "data_offsets": [0, 8]}}',
     "more than 9,223,372,036,854,775,807 elements"),                               # was: 2**124 parameters
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [false, 8]}}', "no valid data_offsets"),
    (b'{"w": {"dtype": "F32", "shape": [true, 2], "data_offsets": [0, 8]}}', "no valid shape"),
    (b'{"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}', "no valid shape"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}', "no valid data_offsets"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
     b'"b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}', "overlaps"),  # was: counted twice
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
     b'"a": {"dtype": "F32", "shape": [9], "data_offsets": [8, 44]}}', "names 'a' twice"),
    (b'{"w": {"dtype": "XX", "shape": [2], "data_offsets": [0, 8]}}', "unknown dtype 'XX'"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}\xff', "not UTF-8"),
    ('{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'.encode("utf-16"), "not UTF-8"),
    (b'{"__metadata__": {"a": 1}}', "not an object of strings"),
])
def test_hostile_headers_are_refused_in_one_line(raw, problem):
    with pytest.raises(MalformedResponseError, match=problem) as err:
        st.parse_header(raw, filename="bad.safetensors")
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_total_beyond_64_bits_over_shards_is_refused(hf_hub):
    # each shard claims 2**62 one-byte elements, valid alone while the file size is unknown ("/*")
    raw = json.dumps({"w": {"dtype": "BOOL", "shape": [2**31, 2**31], "data_offsets": [0, 2**62]}}).encode()
    data = struct.pack("<Q", len(raw)) + raw
    assert st.parse_header(raw).parameters == 2**62
    shards = {f"model-0000{i + 1}-of-00003.safetensors": data for i in range(3)}
    sel = _sharded_repo(hf_hub, "test/huge", shards)
    for name in shards:
        hf_hub.script("GET", f"/test/huge/resolve/main/{name}",
                      Reply(206, {"Content-Range": f"bytes 0-{len(data) - 1}/*"}, data))
    with pytest.raises(MalformedResponseError, match="more than 9,223,372,036,854,775,807 parameters together"):
        st.count_remote(sel, lambda n: _url(hf_hub, "test/huge", n))
