"""Safe extraction: malicious tar/zip archives are refused and leave nothing behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.archive import IterReader, safe_extract_tar, safe_extract_zip, safe_member_name
from ptmhub.errors import CorruptArchiveError, LimitExceededError, UnsafeArchiveError


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def box(tmp_path):
    """A sandbox: archives are extracted to box/cache/dest; anything else appearing is an escape."""
    (tmp_path / "cache").mkdir()
    return tmp_path


def test_good_tar_extracts_files_and_folders(box):
    root, variables = tarfile.TarInfo("."), tarfile.TarInfo("./variables")
    root.type = variables.type = tarfile.DIRTYPE
    # the way `tar -C model -czf model.tar.gz .` lays it out
    archive = _tar(box / "m.tar.gz", [(root, None), (variables, None), (_file("./saved_model.pb"), b"pb"),
                                      (_file("variables/variables.index"), b"ix")])
    dest = box / "cache" / "dest"
    files = safe_extract_tar(archive, dest)
    assert files == ["saved_model.pb", "variables/variables.index"]
    assert (dest / "saved_model.pb").read_bytes() == b"pb"
    assert _tree(box / "cache") == {"dest", "dest/saved_model.pb", "dest/variables", "dest/variables/variables.index"}


def test_setuid_bits_are_dropped(box):
    info = _file("run.sh")
    info.mode = 0o4755
    dest = box / "cache" / "dest"
    safe_extract_tar(_tar(box / "a.tar", [(info, b"#!/bin/sh\n")], "w"), dest)
    mode = stat.S_IMODE(os.stat(dest / "run.sh").st_mode)
    assert mode == 0o755


@pytest.mark.parametrize(
    "member, message",
    [
        (_file("../escaped.txt"), "climbs out"),
        (_file("ok/../../escaped.txt"), "climbs out"),
        (_file("/tmp/absolute.txt"), "absolute path"),
        (_file("C:/windows.txt"), "absolute path"),
        (_file("dir\\..\\escaped.txt"), "backslash"),
        (_link("link", "/etc/passwd", tarfile.SYMTYPE), "symbolic link"),
        (_link("link", "../../outside", tarfile.SYMTYPE), "symbolic link"),
        (_link("hard", "/etc/passwd", tarfile.LNKTYPE), "hard link"),
        (_link("fifo", "", tarfile.FIFOTYPE), "device, FIFO"),
        (_link("dev", "", tarfile.CHRTYPE), "device, FIFO"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "backslash", "symlink-abs", "symlink-rel",
         "hardlink", "fifo", "chardev"],
)
def test_malicious_tar_is_refused_and_leaves_nothing(box, member, message):
    data = b"evil" if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None
    # a good file first, so that a partial extraction would have something to leave behind
    archive = _tar(box / "evil.tar.gz", [(_file("saved_model.pb"), b"pb"), (member, data)])
    dest = box / "cache" / "dest"
    before = _tree(box)
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract_tar(archive, dest)
    assert _tree(box) == before  # no dest, no partial folder, nothing outside
    assert not dest.exists()


def test_link_then_write_through_it_is_refused(box):
    # the classic two-step escape: a symlink to outside, then a file "inside" the link
    outside = box / "outside"
    outside.mkdir()
    archive = _tar(box / "evil.tar", [(_link("sub", str(outside), tarfile.SYMTYPE), None),
                                      (_file("sub/pwned.txt"), b"x")], "w")
    with pytest.raises(UnsafeArchiveError):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert list(outside.iterdir()) == []


def test_include_filter_skips_members_without_refusing_their_type(box):
    archive = _tar(box / "repo.tar.gz", [(_file("repo/assets/docs/a/1.md"), b"# Module a/b/1"),
                                         (_link("repo/README.link", "/etc/passwd", tarfile.SYMTYPE), None)])
    files = safe_extract_tar(archive, box / "cache" / "dest", include=lambda rel: rel.endswith(".md"))
    assert files == ["repo/assets/docs/a/1.md"]


def test_include_filter_still_checks_names(box):
    archive = _tar(box / "repo.tar.gz", [(_file("../evil.md"), b"x")])
    with pytest.raises(UnsafeArchiveError):
        safe_extract_tar(archive, box / "cache" / "dest", include=lambda rel: False)


def test_truncated_archive_leaves_no_complete_looking_folder(box):
    archive = _tar(box / "m.tar.gz", [(_file("saved_model.pb"), os.urandom(200_000)),
                                      (_file("variables/variables.index"), b"ix")])
    data = archive.read_bytes()
    dest = box / "cache" / "dest"
    with pytest.raises(CorruptArchiveError, match="not a complete tar archive"):
        safe_extract_tar(io.BytesIO(data[: len(data) // 2]), dest)
    assert _tree(box / "cache") == set()


def test_not_an_archive(box):
    with pytest.raises(CorruptArchiveError):
        safe_extract_tar(io.BytesIO(b"<html>not found</html>"), box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def test_streamed_from_chunks(box):
    archive = _tar(box / "m.tar.gz", [(_file("saved_model.pb"), b"x" * 5000)])
    data = archive.read_bytes()
    seen: list[int] = []
    reader = IterReader((data[i:i + 100] for i in range(0, len(data), 100)), seen.append)
    assert safe_extract_tar(reader, box / "cache" / "dest") == ["saved_model.pb"]
    assert sum(seen) == len(data) == reader.bytes_read


def test_error_raised_mid_stream_cleans_up(box):
    archive = _tar(box / "m.tar", [(_file("a.bin"), b"a" * 300_000), (_file("b.bin"), b"b")], "w")
    data = archive.read_bytes()

    def chunks():
        yield data[:200_000]
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        safe_extract_tar(IterReader(chunks()), box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def test_existing_empty_dest_is_replaced_nonempty_refused(box):
    archive = _tar(box / "m.tar.gz", [(_file("saved_model.pb"), b"pb")])
    dest = box / "cache" / "dest"
    dest.mkdir()
    safe_extract_tar(archive, dest)
    assert (dest / "saved_model.pb").exists()
    with pytest.raises(FileExistsError):
        safe_extract_tar(archive, dest)


def test_max_bytes(box):
    archive = _tar(box / "bomb.tar.gz", [(_file("zeros"), bytes(2_000_000))])
    with pytest.raises(LimitExceededError, match="more than 1,000,000 bytes"):
        safe_extract_tar(archive, box / "cache" / "dest", max_bytes=1_000_000)
    assert _tree(box / "cache") == set()


# -- zip --------------------------------------------------------------------------------------
def _zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_good_zip(box):
    archive = _zip(box / "r.zip", [("repo/", b"", 0o40755), ("repo/assets/docs/x/1.md", b"# Module", 0o100644)])
    assert safe_extract_zip(archive, box / "cache" / "dest") == ["repo/assets/docs/x/1.md"]


@pytest.mark.parametrize(
    "name, mode, message",
    [("../evil.txt", 0o100644, "climbs out"), ("/abs.txt", 0o100644, "absolute"),
     ("link", stat.S_IFLNK | 0o777, "symbolic link"), ("fifo", stat.S_IFIFO | 0o644, "device")],
)
def test_malicious_zip_is_refused(box, name, mode, message):
    archive = _zip(box / "evil.zip", [("ok.txt", b"ok", 0o100644), (name, b"/etc/passwd", mode)])
    before = _tree(box)
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract_zip(archive, box / "cache" / "dest")
    assert _tree(box) == before


def test_corrupt_zip(box):
    bad = box / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CorruptArchiveError):
        safe_extract_zip(bad, box / "cache" / "dest")


@pytest.mark.parametrize("name, expected", [("./a/b", "a/b"), ("a//b/./c", "a/b/c"), (".", None), ("./", None)])
def test_member_names(name, expected):
    assert safe_member_name(name) == expected


# -- limits (PTMHUB_MAX_ARCHIVE_*), counted while decompressing -------------------------------
class _Counted(io.RawIOBase):
    """A file object that remembers how many bytes were read from it."""

    def __init__(self, data: bytes):
        super().__init__()
        self._data, self.read_bytes = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self._data.readinto(b)
        self.read_bytes += n
        return n


def zero_bomb(path: Path, size: int, name: str = "zeros", compressor: str = "gz") -> Path:
    """A tar of one member of ``size`` zero bytes, compressed without holding it in memory."""
    import bz2
    import lzma
    import zlib

    comp = {"gz": lambda: zlib.compressobj(9, zlib.DEFLATED, 31), "bz2": bz2.BZ2Compressor,
            "xz": lambda: lzma.LZMACompressor(lzma.FORMAT_XZ)}[compressor]()
    info = _file(name)
    info.size = size
    with open(path, "wb") as out:
        out.write(comp.compress(info.tobuf(tarfile.GNU_FORMAT)))
        block, left = bytes(1 << 20), size
        while left:
            out.write(comp.compress(block[:min(left, len(block))]))
            left -= min(left, len(block))
        out.write(comp.compress(bytes((-size) % 512 + 1024)))
        out.write(comp.flush())
    return path


@pytest.mark.parametrize("compressor", ["gz", "bz2", "xz"])
def test_bomb_is_stopped_by_the_ratio_early(box, compressor):
    size = {"gz": 128, "bz2": 32, "xz": 32}[compressor] * 1024**2  # ~1000:1, ~1e6:1, ~7000:1
    data = zero_bomb(box / f"bomb.tar.{compressor}", size, compressor=compressor).read_bytes()
    source = _Counted(data)
    with pytest.raises(LimitExceededError, match="times its compressed size.*PTMHUB_MAX_ARCHIVE_RATIO"):
        safe_extract_tar(source, box / "cache" / "dest")
    assert _tree(box / "cache") == set()
    # stopped as soon as the ratio was crossed, not after decompressing the whole archive
    assert source.read_bytes < len(data) or compressor != "gz"


def test_ratio_limit_is_configurable(box, monkeypatch):
    archive = zero_bomb(box / "zeros.tar.gz", 4 * 1024**2)
    with pytest.raises(LimitExceededError, match="max_archive_ratio"):
        safe_extract_tar(archive, box / "cache" / "dest")
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_RATIO", "5000")
    settings.reload()
    assert safe_extract_tar(archive, box / "cache" / "dest") == ["zeros"]
    assert (box / "cache" / "dest" / "zeros").stat().st_size == 4 * 1024**2


def test_small_archives_are_not_refused_for_their_ratio(box):
    # 1 MiB of zeros compresses ~1000:1 but is under the grace amount
    archive = zero_bomb(box / "small.tar.gz", 1024**2 - 4096)
    assert safe_extract_tar(archive, box / "cache" / "dest") == ["zeros"]


def test_total_bytes_limit_names_its_variable(box, monkeypatch):
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_BYTES", "100000")
    settings.reload()
    archive = _tar(box / "m.tar", [(_file("a.bin"), os.urandom(60_000)), (_file("b.bin"), os.urandom(60_000))], "w")
    with pytest.raises(LimitExceededError, match="more than 100,000 bytes.*PTMHUB_MAX_ARCHIVE_BYTES"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()
    # the caller's max_bytes only ever lowers the setting
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_BYTES", "1000000")
    settings.reload()
    assert len(safe_extract_tar(archive, box / "cache" / "dest", max_bytes=10**9)) == 2


def test_skipped_members_count_toward_the_limits(box):
    # a stream decompresses a member it skips: a bomb there is a bomb too
    archive = zero_bomb(box / "bomb.tar.gz", 64 * 1024**2, name="repo/big.bin")
    with pytest.raises(LimitExceededError, match="max_archive_ratio"):
        safe_extract_tar(archive, box / "cache" / "dest", include=lambda rel: rel.endswith(".md"))
    assert _tree(box / "cache") == set()


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_file_count_limit(box, monkeypatch, fmt):
    monkeypatch.setenv("PTMHUB_MAX_ARCHIVE_FILES", "50")
    settings.reload()

    def build(n: int) -> Path:
        if fmt == "zip":
            return _zip(box / f"{n}.zip", [(f"f{i}", b"", None) for i in range(n)])
        return _tar(box / f"{n}.tar", [(_file(f"f{i}"), b"") for i in range(n)], "w")

    extract = safe_extract_zip if fmt == "zip" else safe_extract_tar
    assert len(extract(build(50), box / "cache" / "ok")) == 50
    with pytest.raises(LimitExceededError, match="more than 50 entries.*PTMHUB_MAX_ARCHIVE_FILES"):
        extract(build(51), box / "cache" / "dest")
    assert not (box / "cache" / "dest").exists() and len(_tree(box / "cache")) == 51


# -- sparse members and tar metadata ------------------------------------------------------------
def gnu_sparse_tar(path: Path, realsize: int) -> Path:
    """An old-style GNU sparse member (type 'S'): no data, one hole of ``realsize`` bytes."""
    info = _file("holes.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    buf = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    buf[386:410] = b"%011o\x00%011o\x00" % (realsize, 0)  # one sparse struct: offset, numbytes
    buf[482] = 0                                          # no extension headers
    buf[483:495] = b"%011o\x00" % realsize                # the size it claims
    buf[148:156] = b"        "
    buf[148:156] = b"%06o\x00 " % sum(buf[:512])
    path.write_bytes(gzip_bytes(bytes(buf[:512]) + bytes(1024)))
    return path


def gzip_bytes(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def pax_sparse_tar(path: Path, version: str, realsize: int) -> Path:
    headers = {"1.0": {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "holes.bin",
                       "GNU.sparse.realsize": str(realsize)},
               "0.1": {"GNU.sparse.map": f"{realsize - 1},1", "GNU.sparse.size": str(realsize)},
               "0.0": {"GNU.sparse.size": str(realsize), "GNU.sparse.offset": str(realsize - 1),
                       "GNU.sparse.numbytes": "1"}}[version]
    info = _file("GNUSparseFile.0/holes.bin")
    info.pax_headers = headers
    data = b"1\n%d\n1\n" % (realsize - 1) if version == "1.0" else b""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info.size = len(data.ljust(512, b"\0")) + 1 if version == "1.0" else 1
        tar.addfile(info, io.BytesIO(data.ljust(512, b"\0") + b"x" if version == "1.0" else b"x"))
    return path


def test_gnu_sparse_member_is_refused(box):
    archive = gnu_sparse_tar(box / "sparse.tar.gz", 64 * 1024**2)
    assert len(archive.read_bytes()) < 200  # a few bytes that claim 64 MiB
    with pytest.raises(UnsafeArchiveError, match="sparse file"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_pax_sparse_member_is_refused(box, version):
    archive = pax_sparse_tar(box / "sparse.tar", version, 64 * 1024**2)
    with pytest.raises(UnsafeArchiveError, match="sparse file"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def _pax_header(records: dict[str, str]) -> tuple[tarfile.TarInfo, bytes]:
    data = b""
    for key, value in records.items():
        rec = f" {key}={value}\n".encode()
        n = len(rec) + len(str(len(rec)))
        n = len(rec) + len(str(n))
        data += str(n).encode() + rec
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    return info, data


def test_oversized_pax_header_is_refused(box):
    header = _pax_header({"comment": "a" * (2 * 1024**2)})
    archive = _tar(box / "pax.tar.gz", [header, (_file("a.txt"), b"a")])
    with pytest.raises(UnsafeArchiveError, match="extended header"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def test_chain_of_pax_headers_is_refused(box):
    # each header makes tarfile recurse: thousands of them were a RecursionError traceback
    archive = _tar(box / "chain.tar.gz", [_pax_header({"comment": "x"}) for _ in range(3000)]
                   + [(_file("a.txt"), b"a")])
    with pytest.raises(UnsafeArchiveError, match="extended headers in a row"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


# -- names: control characters, duplicates, length ---------------------------------------------
@pytest.mark.parametrize("name", ["a\nb.txt", "a\x1b[2Jb.txt", "tab\there", "del\x7f", "dir/\rfile"])
def test_control_characters_in_names_are_refused(box, name):
    archive = _tar(box / "c.tar", [(_file("ok.txt"), b"ok"), (_file(name), b"x")], "w")
    with pytest.raises(UnsafeArchiveError, match="control character"):
        safe_extract_tar(archive, box / "cache" / "dest")
    zarchive = _zip(box / "c.zip", [("ok.txt", b"ok", None), (name, b"x", None)])
    with pytest.raises(UnsafeArchiveError, match="control character"):
        safe_extract_zip(zarchive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


@pytest.mark.parametrize(
    "members, message",
    [([(_file("a.txt"), b"1"), (_file("a.txt"), b"2")], "appears twice"),
     ([(_file("./a.txt"), b"1"), (_file("a.txt"), b"2")], "appears twice"),
     ([(_file("d//a.txt"), b"1"), (_file("d/./a.txt"), b"2")], "appears twice"),
     ([(_dir("d"), None), (_dir("./d/"), None)], "appears twice"),
     ([(_file("a"), b"1"), (_dir("a"), None)], "both a file and a folder"),
     ([(_dir("a"), None), (_file("a"), b"1")], "both a file and a folder"),
     ([(_file("a"), b"1"), (_file("a/b"), b"2")], "both a file and a folder"),
     ([(_file("a/b"), b"1"), (_file("a"), b"2")], "both a file and a folder")],
    ids=["same", "dot-slash", "slashes", "dir-twice", "file-then-dir", "dir-then-file", "file-as-parent",
         "parent-as-file"],
)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_names_are_refused(box, members, message):
    archive = _tar(box / "dup.tar", members, "w")
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract_tar(archive, box / "cache" / "dest")
    zentries = [(m.name + ("/" if m.isdir() else ""), data or b"", None) for m, data in members]
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract_zip(_zip(box / "dup.zip", zentries), box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def test_too_long_names_are_refused(box):
    archive = _tar(box / "long.tar", [(_file("a" * 300), b"x")], "w")
    with pytest.raises(UnsafeArchiveError, match="too long"):
        safe_extract_tar(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


# -- zip specifics -----------------------------------------------------------------------------
def test_zip_members_without_type_bits_are_regular_files(box):
    archive = box / "w.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("repo/hubconf.py", "dependencies = []\n")  # external_attr = 0o600 << 16, no S_IFREG
        info = zipfile.ZipInfo("repo/README.md")  # written as 0o600 << 16 too; Windows tools write 0
        zf.writestr(info, "# readme")
    dest = box / "cache" / "dest"
    assert safe_extract_zip(archive, dest) == ["repo/hubconf.py", "repo/README.md"]
    assert (dest / "repo" / "hubconf.py").read_text() == "dependencies = []\n"
    assert stat.S_IMODE(os.stat(dest / "repo" / "hubconf.py").st_mode) == 0o644


def patch_zip(path: Path, *, flags: int = 0, method: int | None = None) -> Path:
    """Set general-purpose flag bits and/or the compression method in every local and central
    header of a zip (the way an encrypting or exotic tool would have written them)."""
    data = bytearray(path.read_bytes())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = data.find(sig)
        while i >= 0:
            data[i + flag_at] |= flags
            if method is not None:
                data[i + method_at:i + method_at + 2] = method.to_bytes(2, "little")
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))
    return path


def test_encrypted_zip_member_is_one_line_error(box):
    archive = patch_zip(_zip(box / "enc.zip", [("ok.txt", b"ok", None), ("secret.txt", b"s", None)]), flags=0x1)
    with pytest.raises(UnsafeArchiveError, match="is encrypted"):
        safe_extract_zip(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


@pytest.mark.parametrize("method", [99, 20, 93])  # AES (WinZip), zstd (old id), zstd
def test_unknown_zip_compression_is_one_line_error(box, method):
    archive = patch_zip(_zip(box / "m.zip", [("a.txt", b"a", None)]), method=method)
    with pytest.raises(CorruptArchiveError, match=f"compression method {method}"):
        safe_extract_zip(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()


def test_zip_bomb_is_stopped(box):
    archive = box / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros", "w") as out:
        for _ in range(64):
            out.write(bytes(1 << 20))
    with pytest.raises(LimitExceededError, match="max_archive_ratio"):
        safe_extract_zip(archive, box / "cache" / "dest")
    assert _tree(box / "cache") == set()
