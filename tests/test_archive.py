"""Safe extraction: malicious tar/zip archives are refused and leave nothing behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from ptmhub.archive import IterReader, safe_extract_tar, safe_extract_zip, safe_member_name
from ptmhub.errors import CorruptArchiveError, UnsafeArchiveError


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
    with pytest.raises(UnsafeArchiveError, match="more bytes than allowed"):
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
