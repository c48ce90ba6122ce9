"""Hostile archives, generated: bombs (gzip, bzip2, xz, zip), too many entries, sparse members,
oversized and chained tar extended headers, unsafe and duplicate names, links and devices,
encrypted and exotic zip members, truncated, bit-flipped and lying archives. Each class is built
from seeded random choices (sizes, positions, compressions, names), so a failure names its seed.

Whatever the archive, the outcome is one of two: a one-line :class:`PtmhubError` with nothing
left in the cache folder (no ``dest``, no ``.partial``), or a sane extraction (regular files and
folders only, inside ``dest``, within the limits). Nothing ever appears outside the cache
folder, and no other exception (a traceback at the CLI) escapes.
"""

from __future__ import annotations

import bz2
import lzma
import random
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.archive import IterReader, safe_extract_tar, safe_extract_zip
from ptmhub.errors import CorruptArchiveError, LimitExceededError, PtmhubError, UnsafeArchiveError

pytestmark = pytest.mark.slow

PER_CLASS = 12  # archives generated per class below (13 classes: 156 archives)
MiB = 1024**2
_COMPRESSORS: dict[str, Callable[[], object] | None] = {
    "": None,
    "gz": lambda: zlib.compressobj(6, zlib.DEFLATED, 31),
    "bz2": bz2.BZ2Compressor,
    "xz": lambda: lzma.LZMACompressor(lzma.FORMAT_XZ),
}


@dataclass
class Case:
    path: Path
    fmt: str                                   # "tar" or "zip"
    expect: type[PtmhubError] | None           # None: an error or a sane extraction are both fine
    include: Callable[[str], bool] | None = None
    env: dict[str, str] = field(default_factory=dict)
    stream: bool = False                       # feed a tar through IterReader in random chunks


# -- writers ------------------------------------------------------------------------------------
def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


Member = tuple[tarfile.TarInfo | None, object]  # (header, bytes | (fill byte, size) | raw bytes if header is None)


def write_tar(path: Path, members: Iterable[Member], comp: str = "gz", fmt: int = tarfile.PAX_FORMAT) -> Path:
    """A tar written member by member (``(fill, size)`` data is streamed, never held in memory)."""
    c = _COMPRESSORS[comp]() if _COMPRESSORS[comp] else None
    with open(path, "wb") as out:
        def w(data: bytes) -> None:
            out.write(c.compress(data) if c else data)  # type: ignore[attr-defined]

        for info, data in members:
            if info is None:
                w(data)  # type: ignore[arg-type]
                continue
            if isinstance(data, tuple):
                fill, size = data
                info.size = size
                w(info.tobuf(fmt))
                block = bytes([fill]) * MiB
                for i in range(0, size, MiB):
                    w(block[:min(MiB, size - i)])
            else:
                body = data or b""
                info.size = len(body)  # type: ignore[arg-type]
                w(info.tobuf(fmt))
                w(body)  # type: ignore[arg-type]
                size = len(body)  # type: ignore[arg-type]
            w(bytes((-size) % 512))
        w(bytes(1024))
        if c:
            out.write(c.flush())  # type: ignore[attr-defined]
    return path


def write_zip(path: Path, members: Iterable[tuple[str, object, int | None]], method: int = zipfile.ZIP_DEFLATED) -> Path:
    """``(name, bytes | (fill, size), unix mode or None)`` members."""
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if mode is not None:
                info.external_attr = mode << 16
            if isinstance(data, tuple):
                fill, size = data
                with zf.open(info, "w", force_zip64=size > 2**31) as out:
                    for i in range(0, size, MiB):
                        out.write(bytes([fill]) * min(MiB, size - i))
            else:
                zf.writestr(info, data)  # type: ignore[arg-type]
    return path


def patch_zip(path: Path, *, flags: int = 0, method: int | None = None, file_size: int | None = None,
              compress_size: int | None = None) -> Path:
    """Rewrite fields in every local and central header (what a hostile or exotic tool writes)."""
    data = bytearray(path.read_bytes())
    # signature, flags, method, compressed size, uncompressed size offsets
    for sig, fl, me, cs, us in ((b"PK\x03\x04", 6, 8, 18, 22), (b"PK\x01\x02", 8, 10, 20, 24)):
        i = data.find(sig)
        while i >= 0:
            data[i + fl] |= flags
            for at, value, width in ((me, method, 2), (cs, compress_size, 4), (us, file_size, 4)):
                if value is not None:
                    data[i + at:i + at + width] = value.to_bytes(width, "little")
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))
    return path


def _good_members(rng: random.Random, n: int) -> list[Member]:
    return [(_info(f"ok/{i}-{rng.randrange(10**6)}.bin"), rng.randbytes(rng.randrange(0, 3000))) for i in range(n)]


def _checksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block[:512])
    return bytes(block[:512])


# -- the classes --------------------------------------------------------------------------------
def bomb(rng: random.Random, box: Path) -> Case:
    comp = rng.choice(["gz", "bz2", "xz", "zip", "zip-bz2", "zip-xz"])
    size = rng.randint(8, 16 if "xz" in comp else 40) * MiB + rng.randrange(4096)
    fill = rng.choice([0, 0, 0x41, rng.randrange(256)])
    if comp.startswith("zip"):
        method = {"zip": zipfile.ZIP_DEFLATED, "zip-bz2": zipfile.ZIP_BZIP2, "zip-xz": zipfile.ZIP_LZMA}[comp]
        members = [(f"ok/{i}.txt", rng.randbytes(100), None) for i in range(rng.randrange(3))]
        members.insert(rng.randrange(len(members) + 1), (f"data/{rng.randrange(99)}.bin", (fill, size), None))
        return Case(write_zip(box / "bomb.zip", members, method), "zip", LimitExceededError)
    members = _good_members(rng, rng.randrange(3))
    hidden = rng.random() < 0.4  # the bomb in a member the include filter skips
    name = f"repo/{'images' if hidden else 'docs'}/{rng.randrange(99)}.bin"
    members.insert(rng.randrange(len(members) + 1), (_info(name), (fill, size)))
    path = write_tar(box / f"bomb.tar.{comp}", members, comp)
    return Case(path, "tar", LimitExceededError, include=(lambda rel: "/images/" not in rel) if hidden else None,
                stream=rng.random() < 0.5)


def many_files(rng: random.Random, box: Path) -> Case:
    limit = rng.randint(5, 300)
    n = limit + rng.randint(1, 60)
    names = [f"d{i % 7}/{i}" + ("/" if rng.random() < 0.1 else "") for i in range(n)]
    env = {"PTMHUB_MAX_ARCHIVE_FILES": str(limit)}
    if rng.random() < 0.5:
        return Case(write_zip(box / "many.zip", [(nm, b"", None) for nm in names]), "zip", LimitExceededError, env=env)
    members = [(_info(nm.rstrip("/"), tarfile.DIRTYPE if nm.endswith("/") else tarfile.REGTYPE), b"") for nm in names]
    return Case(write_tar(box / "many.tar.gz", members), "tar", LimitExceededError, env=env)


def sparse(rng: random.Random, box: Path) -> Case:
    realsize = rng.choice([2 * 1024**3, 2**40, rng.randrange(1, 2**33)])
    kind = rng.choice(["gnu", "pax-0.0", "pax-0.1", "pax-1.0"])
    members = _good_members(rng, rng.randrange(3))
    if kind == "gnu":  # the 168-byte tar.gz that claimed 2 GiB
        block = bytearray(_info("holes.bin", tarfile.GNUTYPE_SPARSE).tobuf(tarfile.GNU_FORMAT))
        block[386:410] = b"%011o\x00%011o\x00" % (realsize, 0)
        block[483:495] = b"%011o\x00" % realsize
        members.append((None, _checksum(block)))
    else:
        version = kind[4:]
        info = _info("GNUSparseFile.0/holes.bin")
        info.pax_headers = {
            "1.0": {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": str(realsize)},
            "0.1": {"GNU.sparse.map": f"{realsize - 1},1", "GNU.sparse.size": str(realsize)},
            "0.0": {"GNU.sparse.size": str(realsize), "GNU.sparse.offset": str(realsize - 1),
                    "GNU.sparse.numbytes": "1"}}[version]
        data = (b"1\n%d\n1\n" % (realsize - 1)).ljust(512, b"\0") + b"x" if version == "1.0" else b"x"
        members.append((info, data))
    return Case(write_tar(box / "sparse.tar.gz", members, rng.choice(["gz", ""])), "tar", UnsafeArchiveError)


def _hostile_name(rng: random.Random) -> str:
    base = f"dir{rng.randrange(9)}/file{rng.randrange(99)}.txt"
    how = rng.choice(["control", "control", "dotdot", "absolute", "backslash", "long-part", "long-path", "drive"])
    if how == "control":
        c = chr(rng.choice([*range(1, 32), 127]))
        i = rng.randrange(len(base) + 1)
        return base[:i] + c + base[i:]
    return {"dotdot": "/".join(["ok"] * rng.randrange(3) + [".."] * rng.randint(1, 4) + [base]),
            "absolute": "/" + base, "backslash": base.replace("/", "\\"), "drive": "C:/" + base,
            "long-part": "a/" + "x" * rng.randint(256, 1000),
            "long-path": "/".join(["y" * 200] * rng.randint(21, 40))}[how]


def names(rng: random.Random, box: Path) -> Case:
    bad = _hostile_name(rng)
    if rng.random() < 0.5:
        members = [(f"ok/{i}.txt", b"ok", None) for i in range(rng.randrange(4))]
        members.insert(rng.randrange(len(members) + 1), (bad, b"evil", 0o100644))
        return Case(write_zip(box / "names.zip", members), "zip", UnsafeArchiveError)
    members = _good_members(rng, rng.randrange(4))
    members.insert(rng.randrange(len(members) + 1), (_info(bad), b"evil"))
    return Case(write_tar(box / "names.tar.gz", members, fmt=rng.choice([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])),
                "tar", UnsafeArchiveError)


def duplicates(rng: random.Random, box: Path) -> Case:
    a = f"d{rng.randrange(9)}/f{rng.randrange(99)}"
    first, second = rng.choice([
        ((a, "f"), (a, "f")), ((a, "f"), ("./" + a, "f")), ((a, "f"), (a.replace("/", "//"), "f")),
        ((a, "f"), (a.replace("/", "/./"), "f")), ((a, "d"), (a, "d")), ((a, "f"), (a, "d")), ((a, "d"), (a, "f")),
        ((a, "f"), (a + "/x", "f")), ((a + "/x", "f"), (a, "f"))])
    pair = [first, second]
    if rng.random() < 0.5:
        entries = [(n + ("/" if k == "d" else ""), b"x" if k == "f" else b"", None) for n, k in pair]
        entries[1:1] = [(f"ok/{i}", b"ok", None) for i in range(rng.randrange(3))]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
            return Case(write_zip(box / "dup.zip", entries), "zip", UnsafeArchiveError)
    members: list[Member] = [(_info(n, tarfile.DIRTYPE if k == "d" else tarfile.REGTYPE), b"x" if k == "f" else b"")
                             for n, k in pair]
    members[1:1] = _good_members(rng, rng.randrange(3))
    return Case(write_tar(box / "dup.tar", members, ""), "tar", UnsafeArchiveError)


def links_and_devices(rng: random.Random, box: Path) -> Case:
    target = rng.choice(["/etc/passwd", "../../outside", "ok/0.bin", str(box / "outside")])
    if rng.random() < 0.4:
        mode = rng.choice([stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o600, stat.S_IFBLK | 0o600,
                           stat.S_IFSOCK | 0o600])
        members = [("ok.txt", b"ok", 0o100644), ("evil", target.encode(), mode)]
        rng.shuffle(members)
        return Case(write_zip(box / "links.zip", members), "zip", UnsafeArchiveError)
    kind = rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
    members = _good_members(rng, rng.randrange(3))
    members.insert(rng.randrange(len(members) + 1), (_info("evil", kind, link=target), None))
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) and rng.random() < 0.5:
        members.append((_info("evil/through-the-link.txt"), b"pwned"))
    return Case(write_tar(box / "links.tar.gz", members), "tar", UnsafeArchiveError)


def zip_exotic(rng: random.Random, box: Path) -> Case:
    path = write_zip(box / "exotic.zip", [(f"f{i}.txt", rng.randbytes(200), None) for i in range(rng.randint(1, 4))])
    if rng.random() < 0.5:
        return Case(patch_zip(path, flags=0x1), "zip", UnsafeArchiveError)
    method = rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 10, 18, 19, 20, 93, 94, 95, 96, 97, 98, 99])
    return Case(patch_zip(path, method=method), "zip", CorruptArchiveError)


def tar_metadata(rng: random.Random, box: Path) -> Case:
    def pax(records: dict[str, str]) -> Member:
        body = b""
        for key, value in records.items():
            rec = f" {key}={value}\n".encode()
            n = len(rec) + 1
            while len(str(n)) + len(rec) != n:  # the length counts its own digits
                n = len(str(n)) + len(rec)
            body += str(n).encode() + rec
        return _info("././@PaxHeader", tarfile.XHDTYPE), body

    members = _good_members(rng, rng.randrange(3))
    if rng.random() < 0.5:
        huge = pax({"comment": "a" * (MiB + rng.randrange(8 * MiB))})
        members.append(huge)
    else:  # a chain of extended headers (each one a level of recursion in tarfile)
        members += [pax({"comment": str(i)}) for i in range(rng.randint(17, 3000))]
    members.append((_info("after.txt"), b"after"))
    return Case(write_tar(box / "meta.tar.gz", members, rng.choice(["gz", ""])), "tar", UnsafeArchiveError)


def truncated(rng: random.Random, box: Path) -> Case:
    members = _good_members(rng, rng.randint(1, 6))
    if rng.random() < 0.5:
        path = write_zip(box / "cut.zip", [(i.name, d, None) for i, d in members])  # type: ignore[union-attr]
        fmt = "zip"
    else:
        path = write_tar(box / "cut.tar.gz", members, rng.choice(["gz", "bz2", "xz", ""]))
        fmt = "tar"
    data = path.read_bytes()
    path.write_bytes(data[:rng.randrange(1, len(data))])
    return Case(path, fmt, None, stream=fmt == "tar" and rng.random() < 0.5)


def bit_flips(rng: random.Random, box: Path) -> Case:
    case = truncated(rng, box)
    good = write_tar(box / "flip.tar.gz", _good_members(rng, rng.randint(1, 6)), rng.choice(["gz", ""])) \
        if case.fmt == "tar" else write_zip(box / "flip.zip", [(f"f{i}", rng.randbytes(500), None) for i in range(4)])
    data = bytearray(good.read_bytes())
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    good.write_bytes(bytes(data))
    return Case(good, case.fmt, None, stream=case.stream)


def zip_lies(rng: random.Random, box: Path) -> Case:
    size = rng.choice([3000, 2 * MiB])
    path = write_zip(box / "lies.zip", [("a.bin", rng.randbytes(size) if size < MiB else (0, size), None)])
    lie = rng.choice(["small", "big", "csize"])
    if lie == "small":
        return Case(patch_zip(path, file_size=rng.randrange(size)), "zip", None)
    if lie == "big":
        return Case(patch_zip(path, file_size=rng.randint(size + 1, 2**32 - 1)), "zip", None)
    return Case(patch_zip(path, compress_size=rng.randint(1, 2**32 - 1)), "zip", None)


def not_an_archive(rng: random.Random, box: Path) -> Case:
    head = rng.choice([b"", b"\x1f\x8b", b"BZh9", b"\xfd7zXZ\x00", b"PK\x03\x04", b"<html>", b"ustar"])
    path = box / rng.choice(["x.tar.gz", "x.zip"])
    path.write_bytes(head + rng.randbytes(rng.randrange(0, 5000)))
    return Case(path, "zip" if path.suffix == ".zip" else "tar", CorruptArchiveError)


def mixed_safe(rng: random.Random, box: Path) -> Case:
    """A control: ordinary archives with odd but legal layouts must extract."""
    members = _good_members(rng, rng.randint(1, 30))
    members.insert(0, (_info(".", tarfile.DIRTYPE), b""))
    if rng.random() < 0.5:
        entries = [(i.name, d, rng.choice([None, 0o100644, 0o100755, 0])) for i, d in members[1:]]  # type: ignore[union-attr]
        return Case(write_zip(box / "ok.zip", entries, rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])), "zip",
                    None)
    return Case(write_tar(box / "ok.tar.xz", members, rng.choice(["gz", "bz2", "xz", ""])), "tar", None,
                stream=rng.random() < 0.5)


CLASSES = [bomb, many_files, sparse, names, duplicates, links_and_devices, zip_exotic, tar_metadata, truncated,
           bit_flips, zip_lies, not_an_archive, mixed_safe]


# -- the check ------------------------------------------------------------------------------------
def _outside(box: Path) -> set[str]:
    return {p.relative_to(box).as_posix() for p in box.rglob("*") if "cache" not in p.relative_to(box).parts}


def check(case: Case, box: Path, monkeypatch: pytest.MonkeyPatch, rng: random.Random) -> str:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    limits = settings.reload()
    cache = box / "cache"
    dest = cache / "dest"
    before = _outside(box)
    if case.fmt == "zip":
        run = lambda: safe_extract_zip(case.path, dest, include=case.include)  # noqa: E731
    elif case.stream:
        data = case.path.read_bytes()
        step = rng.choice([1, 7, 512, 4096, 65536, 1 << 20])
        chunks = (data[i:i + step] for i in range(0, len(data), step))
        run = lambda: safe_extract_tar(IterReader(chunks), dest, include=case.include)  # noqa: E731
    else:
        run = lambda: safe_extract_tar(case.path, dest, include=case.include)  # noqa: E731
    try:
        files = run()
    except PtmhubError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2000
        if case.expect is not None:
            assert isinstance(exc, case.expect), f"{type(exc).__name__}: {message}"
        assert list(cache.iterdir()) == [], "an error left something in the cache folder"
        outcome = type(exc).__name__
    else:
        assert case.expect is None, f"accepted an archive that must raise {case.expect.__name__}"
        assert [p.name for p in cache.iterdir()] == ["dest"]
        total = 0
        for path in dest.rglob("*"):
            mode = path.lstat().st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), f"{path} is neither a file nor a folder"
            assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
            total += path.lstat().st_size if stat.S_ISREG(mode) else 0
        assert total <= limits.max_archive_bytes and len(files) <= limits.max_archive_files
        assert sorted(files) == sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
        outcome = "extracted"
    assert _outside(box) == before, "something was written outside the cache folder"
    return outcome


@pytest.mark.parametrize("seed", range(PER_CLASS))
@pytest.mark.parametrize("make", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_hostile_archive(tmp_path, monkeypatch, make, seed):
    rng = random.Random(f"{make.__name__}-{seed}")
    box = tmp_path
    (box / "cache").mkdir()
    (box / "outside").mkdir()
    case = make(rng, box)
    outcome = check(case, box, monkeypatch, rng)
    if make is mixed_safe:
        assert outcome == "extracted"


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_default_file_count_limit(tmp_path, monkeypatch, fmt):
    """20,001 empty entries: over the default PTMHUB_MAX_ARCHIVE_FILES (20,000) without any setting."""
    (tmp_path / "cache").mkdir()
    n = settings.get().max_archive_files + 1
    if fmt == "zip":
        path = write_zip(tmp_path / "many.zip", [(f"d{i % 100}/{i}", b"", None) for i in range(n)], zipfile.ZIP_STORED)
    else:
        path = write_tar(tmp_path / "many.tar.gz", [(_info(f"d{i % 100}/{i}"), b"") for i in range(n)])
    # entries count whether or not they are extracted (a stream parses each one): skipping them
    # all keeps the test from creating 20,000 files
    case = Case(path, fmt, LimitExceededError, include=(lambda rel: False) if fmt == "tar" else None)
    assert check(case, tmp_path, monkeypatch, random.Random(0)) == "LimitExceededError"
