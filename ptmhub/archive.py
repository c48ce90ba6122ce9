"""Safe extraction of the archives every hub serves (TF Hub's compressed SavedModels, torch.hub
zipballs, catalog snapshots of repositories).

Three promises, whatever the archive holds:

* nothing is written outside ``dest``: absolute names, ``..`` parts, backslashes, control
  characters, links of any kind (symbolic or hard), device files, FIFOs, sparse files and
  duplicate names are refused with :class:`UnsafeArchiveError` before a byte of that member is
  written;
* the work is bounded (docs/reliability.md, "Limits"): the bytes the archive expands to
  (``PTMHUB_MAX_ARCHIVE_BYTES``), that number over the compressed bytes read so far
  (``PTMHUB_MAX_ARCHIVE_RATIO``) and its entries (``PTMHUB_MAX_ARCHIVE_FILES``) are counted as
  the data is decompressed, not taken from headers, and the first one crossed stops the
  extraction with :class:`LimitExceededError`; decompression never holds more than one chunk in
  memory, whatever the compression ratio;
* ``dest`` only ever appears complete: members go to a hidden sibling
  ``.<dest name>.<uuid>.partial`` that is renamed to ``dest`` after the last member, and
  removed when anything fails (a broken download, a corrupt archive, a refused member, a limit).

``dest`` may exist if it is an empty directory (tensorflow_hub's resolver creates its temporary
download directory before calling us); it is replaced by the finished extraction.
"""

from __future__ import annotations

import bz2
import copy
import io
import lzma
import os
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from . import settings
from .errors import CorruptArchiveError, LimitExceededError, UnsafeArchiveError

__all__ = ["safe_extract_tar", "safe_extract_zip", "safe_member_name", "IterReader", "is_archive_name"]

_CHUNK = 1 << 20        # bytes of member data read (and checked against the limits) at a time
_IN_CHUNK = 1 << 14     # compressed bytes read at a time: a bomb stops within ratio x this past the grace
_TAR_BUFSIZE = 1 << 18  # tarfile's own reads of the decompressed stream
# Below this many extracted bytes the ratio is not checked: a small archive of text can
# legitimately compress 500:1 (tar headers and padding are mostly zeros).
RATIO_GRACE_BYTES = 1 << 20
# A PAX extended header or GNU long name is metadata (a path, a few keywords): tarfile reads it
# whole into memory, so it is capped, and so is a chain of them (each one recurses in tarfile).
MAX_TAR_META_BYTES = 1 << 20
_MAX_TAR_META_CHAIN = 16
_NAME_PART_MAX = 255    # bytes in one path component (NAME_MAX on Linux and macOS)
_NAME_MAX = 4096        # bytes in a whole member path (PATH_MAX)
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".zip")


def is_archive_name(name: str) -> bool:
    """True for names ending in a suffix :func:`safe_extract_tar` / :func:`safe_extract_zip` read."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_name(name: str) -> str | None:
    """The member's relative POSIX path, ``None`` for the archive root (``.``, ``./``).

    Raises:
        UnsafeArchiveError: absolute paths, drive letters, ``..`` parts, backslashes, control
            characters (NUL to 0x1f, DEL), names too long for a file system.
    """
    if "\x00" in name:
        raise UnsafeArchiveError(f"archive member {name!r} has a NUL byte in its name")
    bad = next((c for c in name if c < " " or c == "\x7f"), None)
    if bad is not None:
        raise UnsafeArchiveError(f"archive member {name!r} has a control character ({bad!r}) in its name",
                                 hint="names with control characters can hide what is written; the archive is refused")
    if "\\" in name:
        raise UnsafeArchiveError(f"archive member {name!r} has a backslash in its name",
                                 hint="archives use '/' between parts; this one may target Windows paths")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path",
                                 hint="the archive tries to write outside its folder; do not use it")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} climbs out of its folder with '..'",
                                 hint="the archive tries to write outside its folder; do not use it")
    rel = "/".join(parts)
    if len(rel.encode("utf-8", "surrogateescape")) > _NAME_MAX or any(
            len(p.encode("utf-8", "surrogateescape")) > _NAME_PART_MAX for p in parts):
        raise UnsafeArchiveError(f"archive member {name[:80]!r}... has a name too long for a file system",
                                 hint=f"at most {_NAME_PART_MAX} bytes a part and {_NAME_MAX} in all")
    return rel or None


# -- limits -----------------------------------------------------------------------------------
class _Meter:
    """Counts what an archive expands to as it is decompressed, and stops it at the first limit.

    ``compressed()`` is the number of archive bytes read so far: the ratio is checked against
    what has actually been read, so a bomb is stopped after about ``RATIO_GRACE_BYTES``, not
    after ratio x its whole size.
    """

    def __init__(self, compressed: Callable[[], int], max_bytes: int | None):
        limits = settings.get()
        self.compressed = compressed
        self.max_bytes = limits.max_archive_bytes
        self.bytes_by_caller = max_bytes is not None and max_bytes < self.max_bytes
        if self.bytes_by_caller:
            self.max_bytes = max_bytes  # type: ignore[assignment]
        self.max_ratio = limits.max_archive_ratio
        self.max_files = limits.max_archive_files
        self.expanded = 0
        self.entries = 0

    def entry(self) -> None:
        self.entries += 1
        self.check_entries(self.entries)

    def check_entries(self, count: int) -> None:
        if count > self.max_files:
            raise LimitExceededError(f"the archive has more than {self.max_files:,} entries (max_archive_files)",
                                     hint="raise PTMHUB_MAX_ARCHIVE_FILES if you trust this archive")

    def declare(self, size: int) -> None:
        """A header announces ``size`` bytes: refuse at once if they cannot fit (headers may
        also understate; :meth:`add` counts what really comes)."""
        if self.expanded + size > self.max_bytes:
            self._too_big(self.expanded + size)

    def add(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.max_bytes:
            self._too_big(self.expanded)
        if self.expanded > RATIO_GRACE_BYTES:
            compressed = max(self.compressed(), 1)
            if self.expanded > self.max_ratio * compressed:
                raise LimitExceededError(
                    f"the archive expands to more than {self.max_ratio:g} times its compressed size "
                    f"(max_archive_ratio: {self.expanded:,} bytes from the first {compressed:,})",
                    hint="it looks like a decompression bomb; raise PTMHUB_MAX_ARCHIVE_RATIO if you trust it")

    def _too_big(self, size: int) -> None:
        if self.bytes_by_caller:
            raise LimitExceededError(f"the archive expands to more than {self.max_bytes:,} bytes "
                                     f"(at least {size:,}), the most allowed for this kind of archive",
                                     hint="it may be a decompression bomb")
        raise LimitExceededError(f"the archive expands to more than {self.max_bytes:,} bytes "
                                 f"(at least {size:,}; max_archive_bytes)",
                                 hint="it may be a decompression bomb; raise PTMHUB_MAX_ARCHIVE_BYTES if you trust it")


# -- the shared extraction loop ---------------------------------------------------------------
def _partial_dir(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.partial"


def _check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise FileExistsError(f"{dest} already exists and is not an empty directory")


def _finish(partial: Path, dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        dest.rmdir()  # empty (checked before extraction); replaced by the complete tree
    os.replace(partial, dest)


def _copy(src: IO[bytes], out: IO[bytes] | None, meter: _Meter) -> None:
    """Copy (or, with ``out=None``, only read) a member, counting every chunk before writing it."""
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return
        meter.add(len(chunk))
        if out is not None:
            out.write(chunk)


@dataclass(frozen=True)
class _Entry:
    """One archive member as the shared extraction loop sees it."""

    name: str
    kind: str                      # "file", "dir", "symbolic link", "hard link" or "special"
    open: Callable[[], IO[bytes]]  # the member's data (files only)
    mode: int = 0o644
    link: str = ""
    size: int = 0                  # as the header declares it
    drain: bool = False            # a skipped member's data is decompressed anyway (tar streams)


_Entries = Generator[_Entry, None, None]


class _Names:
    """Refuses a path given twice, and a path that is both a file and a folder (explicitly, or
    a file used as a parent folder): extraction would overwrite or fail half-way."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()       # explicit folder entries
        self.parents: set[str] = set()    # folders implied by a member's path

    def add(self, rel: str, name: str, is_dir: bool) -> None:
        parts = rel.split("/")
        if ((rel in self.files if is_dir else (rel in self.dirs or rel in self.parents))
                or any("/".join(parts[:i]) in self.files for i in range(1, len(parts)))):
            raise UnsafeArchiveError(f"archive member {name!r} is both a file and a folder",
                                     hint="the archive is inconsistent; it is refused")
        if rel in (self.dirs if is_dir else self.files):
            raise UnsafeArchiveError(f"archive member {name!r} appears twice",
                                     hint="a later copy would silently replace the first; the archive is refused")
        (self.dirs if is_dir else self.files).add(rel)
        self.parents.update("/".join(parts[:i]) for i in range(1, len(parts)))


def _extract(entries: _Entries, dest: Path, partial: Path, meter: _Meter, *, fmt: str,
             corrupt: tuple[type[BaseException], ...], include: Callable[[str], bool] | None) -> list[str]:
    files: list[str] = []
    names = _Names()
    try:
        for entry in entries:
            meter.entry()
            rel = safe_member_name(entry.name)
            if rel is None:
                continue
            if include is not None and not include(rel):
                if entry.drain and entry.kind == "file":
                    meter.declare(entry.size)
                    with entry.open() as src:
                        _copy(src, None, meter)
                continue
            if entry.kind in ("symbolic link", "hard link"):
                to = f" (to {entry.link!r})" if entry.link else ""
                raise UnsafeArchiveError(f"archive member {entry.name!r} is a {entry.kind}{to}",
                                         hint="links are never extracted; the archive is refused")
            if entry.kind not in ("dir", "file"):
                raise UnsafeArchiveError(f"archive member {entry.name!r} is a device, FIFO or other special file",
                                         hint="only regular files and folders are extracted")
            names.add(rel, entry.name, entry.kind == "dir")
            target = partial / rel
            if entry.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
                continue
            meter.declare(entry.size)
            target.parent.mkdir(parents=True, exist_ok=True)
            with entry.open() as src, open(target, "xb") as out:
                _copy(src, out, meter)
            # regular permissions only: never setuid/setgid/sticky, always owner-readable
            os.chmod(target, 0o755 if entry.mode & 0o111 else 0o644)
            files.append(rel)
        _finish(partial, dest)
    except corrupt as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise CorruptArchiveError(f"not a complete {fmt} archive ({type(exc).__name__}: {exc})",
                                  hint="the download may have been cut off; retry it") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        entries.close()  # the generator closes its archive now, not at garbage collection
    return files


def _run(make_entries: Callable[[], _Entries], dest: str | os.PathLike[str], meter: _Meter, **kwargs: object) -> list[str]:
    dest = Path(dest)
    _check_dest(dest)
    partial = _partial_dir(dest)
    partial.mkdir(parents=True)
    try:
        entries = make_entries()
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _extract(entries, dest, partial, meter, **kwargs)  # type: ignore[arg-type]


# -- tar --------------------------------------------------------------------------------------
_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}


class _Inflater(io.RawIOBase):
    """A tar stream, decompressed here rather than by tarfile (whose ``r|gz`` inflates each
    10 KiB read in one call: ~10 MB for gzip, gigabytes for bzip2): each call returns at most
    what was asked for. Compression is told by the magic bytes (gzip, bzip2, xz, or none);
    concatenated streams (pigz, pbzip2) are followed; ``compressed`` counts bytes read."""

    def __init__(self, source: IO[bytes]):
        super().__init__()
        self._src = source
        self.compressed = 0
        self._input = self._pull_at_least(6)
        self._kind = next((k for m, k in _MAGIC.items() if self._input.startswith(m)), None)
        self._dec = self._new() if self._kind else None

    def readable(self) -> bool:
        return True

    def _pull(self) -> bytes:
        data = self._src.read(_IN_CHUNK) or b""
        self.compressed += len(data)
        return data

    def _pull_at_least(self, n: int, data: bytes = b"") -> bytes:
        while len(data) < n:
            more = self._pull()
            if not more:
                break
            data += more
        return data

    def _new(self):  # type: ignore[no-untyped-def]
        if self._kind == "gz":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and CRC checked
        if self._kind == "bz2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)

    def _next_stream(self) -> bool:
        rest = self._pull_at_least(6, self._dec.unused_data + self._input)
        if not any(rest.startswith(m) and k == self._kind for m, k in _MAGIC.items()):
            return False  # trailing padding after the last stream is ignored, as gzip does
        self._dec, self._input = self._new(), rest
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = len(b)
        while True:
            if self._dec is None:  # an uncompressed tar
                if not self._input:
                    self._input = self._pull()
                out, self._input = self._input[:n], self._input[n:]
                if not out:
                    return 0
            else:
                if self._dec.eof:
                    if not self._next_stream():
                        return 0
                    continue
                if not self._input and (self._kind == "gz" or self._dec.needs_input):
                    self._input = self._pull()
                    if not self._input:
                        raise tarfile.ReadError("the compressed archive ends early")
                try:
                    out = self._dec.decompress(self._input, n)
                except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
                    raise tarfile.ReadError(f"invalid {self._kind} data: {exc}") from None
                self._input = getattr(self._dec, "unconsumed_tail", b"")
            if out:
                b[:len(out)] = out
                return len(out)


class _TarInfo(tarfile.TarInfo):
    """tarfile's member header, with metadata blocks capped and sparse files refused before
    tarfile reads them (the ``_proc_*`` hooks are its documented way to change this)."""

    _META = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
             tarfile.SOLARIS_XHDTYPE)

    def _proc_member(self, tar):  # type: ignore[no-untyped-def]
        if self.type == tarfile.GNUTYPE_SPARSE:
            self._refuse_sparse()
        if self.type not in self._META:
            return super()._proc_member(tar)
        if self.size > MAX_TAR_META_BYTES:
            raise UnsafeArchiveError(f"a tar extended header of {self.size:,} bytes (more than "
                                     f"{MAX_TAR_META_BYTES:,}) precedes member {self.name!r}",
                                     hint="extended headers hold a name and a few fields; the archive is refused")
        depth = getattr(tar, "_ptmhub_meta_depth", 0) + 1
        if depth > _MAX_TAR_META_CHAIN:
            raise UnsafeArchiveError(f"more than {_MAX_TAR_META_CHAIN} tar extended headers in a row",
                                     hint="the archive is malformed or hostile; it is refused")
        tar._ptmhub_meta_depth = depth
        try:
            return super()._proc_member(tar)
        finally:
            tar._ptmhub_meta_depth = depth - 1

    def _refuse_sparse(self, *args: object) -> None:
        member = args[0] if args and isinstance(args[0], tarfile.TarInfo) else self  # PAX: the next member
        raise UnsafeArchiveError(f"archive member {member.name!r} is a sparse file",
                                 hint="sparse files can claim any size from a few bytes; re-create the archive "
                                      "without --sparse")

    # the three PAX sparse formats (GNU 0.0, 0.1, 1.0)
    _proc_gnusparse_00 = _proc_gnusparse_01 = _proc_gnusparse_10 = _refuse_sparse


def _tar_entries(source: _Inflater) -> _Entries:
    # streamed (r|): each member's data must be read before the next member is asked for,
    # which the extraction loop does (skipped members are drained through the meter)
    with tarfile.open(fileobj=source, mode="r|", tarinfo=_TarInfo, bufsize=_TAR_BUFSIZE) as tar:
        for m in tar:
            kind = ("file" if m.isreg() else "dir" if m.isdir() else "symbolic link" if m.issym()
                    else "hard link" if m.islnk() else "special")
            yield _Entry(m.name, kind, lambda m=m: tar.extractfile(m), m.mode, m.linkname, m.size, drain=True)


def _tar(source: IO[bytes], dest: str | os.PathLike[str], include: Callable[[str], bool] | None,
         max_bytes: int | None) -> list[str]:
    inflater: list[_Inflater] = []

    def entries() -> _Entries:
        inflater.append(_Inflater(source))
        return _tar_entries(inflater[0])

    meter = _Meter(lambda: inflater[0].compressed if inflater else 0, max_bytes)
    return _run(entries, dest, meter, fmt="tar", corrupt=(tarfile.TarError, EOFError, zlib.error), include=include)


# -- zip --------------------------------------------------------------------------------------
def _zip_declared_entries(fp: IO[bytes]) -> int | None:
    """The entry count in a zip's end-of-central-directory record (zip64 too), read before
    zipfile builds an object for each central-directory entry; ``None`` if not found."""
    size = fp.seek(0, os.SEEK_END)
    tail_start = max(0, size - (22 + 65535))
    fp.seek(tail_start)
    tail = fp.read()
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        return None
    count = int.from_bytes(tail[i + 10:i + 12], "little")
    if count == 0xFFFF and i >= 20 and tail[i - 20:i - 16] == b"PK\x06\x07":
        fp.seek(int.from_bytes(tail[i - 12:i - 4], "little"))
        record = fp.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            count = int.from_bytes(record[32:40], "little")
    fp.seek(0)
    return count


class _ZipMember(io.RawIOBase):
    """A zip member's data, decompressed here from its raw bytes: zipfile's bzip2 and lzma
    readers inflate a whole read in one call (gigabytes for a bzip2 bomb), and no zipfile
    reader tells how many compressed bytes it has used. Each call returns at most what was
    asked for; ``on_compressed`` sees the compressed bytes consumed; size and CRC-32 are
    checked at the end as zipfile does."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, on_compressed: Callable[[int], None]):
        super().__init__()
        raw_info = copy.copy(info)
        raw_info.compress_type, raw_info.file_size = zipfile.ZIP_STORED, info.compress_size
        del raw_info.CRC  # zipfile checks the raw bytes against no CRC; the output is checked below
        self._raw = zf.open(raw_info)
        self._info, self._count = info, on_compressed
        self._method = info.compress_type
        self._crc = self._size = 0
        self._input = b""
        self._dec = None
        if self._method == zipfile.ZIP_DEFLATED:
            self._dec = zlib.decompressobj(-zlib.MAX_WBITS)
        elif self._method == zipfile.ZIP_BZIP2:
            self._dec = bz2.BZ2Decompressor()
        elif self._method == zipfile.ZIP_LZMA:
            self._dec = self._lzma()

    def _lzma(self) -> lzma.LZMADecompressor:
        # zip's LZMA: version (2 bytes), properties size (2), properties (lc/lp/pb, dictionary size)
        head = self._pull_exact(4)
        props = self._pull_exact(int.from_bytes(head[2:4], "little"))
        if len(props) < 5:
            raise zipfile.BadZipFile(f"{self._info.filename!r}: bad LZMA properties")
        lc_lp_pb, dict_size = props[0], int.from_bytes(props[1:5], "little")
        lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "pb": lc_lp_pb // 45,
                 "lp": lc_lp_pb % 45 // 9, "lc": lc_lp_pb % 9}
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])

    def _pull_exact(self, n: int) -> bytes:
        data = self._raw.read(n)
        self._count(len(data))
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = len(b)
        while True:
            if self._dec is None:
                out = self._pull_exact(min(n, _IN_CHUNK))
                if not out:
                    return self._end()
            else:
                if self._dec.eof:
                    return self._end()
                if not self._input and (self._method == zipfile.ZIP_DEFLATED or self._dec.needs_input):
                    self._input = self._pull_exact(_IN_CHUNK)
                    if not self._input:
                        raise zipfile.BadZipFile(f"the data of {self._info.filename!r} ends early")
                try:
                    out = self._dec.decompress(self._input, n)
                except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
                    raise zipfile.BadZipFile(f"{self._info.filename!r}: {exc}") from None
                self._input = getattr(self._dec, "unconsumed_tail", b"")
            if out:
                self._size += len(out)
                if self._size > self._info.file_size:
                    raise zipfile.BadZipFile(f"{self._info.filename!r} is longer than its header says")
                self._crc = zlib.crc32(out, self._crc)
                b[:len(out)] = out
                return len(out)

    def _end(self) -> int:
        if self._size != self._info.file_size or self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"bad size or CRC-32 for {self._info.filename!r}")
        return 0


def _zip_entries(zf: zipfile.ZipFile, read: list[int]) -> _Entries:
    with zf:
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0xFFFF  # Unix mode bits, when the zip has them
            ftype = stat.S_IFMT(mode)
            if ftype == stat.S_IFLNK:
                kind = "symbolic link"
            elif ftype == stat.S_IFDIR or info.is_dir():
                kind = "dir"
            elif ftype in (0, stat.S_IFREG):  # no type bits: zipfile.writestr, DOS and Windows tools
                kind = "file"
            else:
                kind = "special"

            def open_(info: zipfile.ZipInfo = info) -> IO[bytes]:
                if info.flag_bits & 0x1:
                    raise UnsafeArchiveError(f"archive member {info.filename!r} is encrypted",
                                             hint="ptmhub does not extract encrypted archives")
                if info.compress_type not in _ZIP_METHODS:
                    raise CorruptArchiveError(f"archive member {info.filename!r} uses compression method "
                                              f"{info.compress_type}, which ptmhub cannot read",
                                              hint="re-create the archive with deflate (zip's default)")
                def count(n: int) -> None:
                    read[0] += n

                return _ZipMember(zf, info, count)

            yield _Entry(info.filename, kind, open_, (mode & 0o777) or 0o644, size=info.file_size)


def safe_extract_tar(source: str | os.PathLike[str] | IO[bytes], dest: str | os.PathLike[str], *,
                     include: Callable[[str], bool] | None = None, max_bytes: int | None = None) -> list[str]:
    """Extract a (possibly compressed) tar archive into ``dest``, refusing anything unsafe.

    The archive is read as a stream, so ``source`` may be an HTTP body wrapped in
    :class:`IterReader`; nothing is buffered in memory beyond one chunk, whatever the
    compression ratio (gzip, bzip2 and xz are told by their magic bytes).

    Args:
        source: a path, or a binary file object positioned at the start of the archive.
        dest: the directory to create (absent, or an existing empty directory).
        include: optional filter on member paths (relative, POSIX); members it rejects are not
            extracted, and are not refused for their type (their names are still checked, and
            their bytes still count toward the limits: a stream decompresses them anyway).
        max_bytes: a lower cap than ``PTMHUB_MAX_ARCHIVE_BYTES`` for this archive (``None``:
            the setting alone).

    Returns:
        The relative paths of the regular files written, in archive order.

    Raises:
        UnsafeArchiveError: a member is absolute, climbs out with ``..``, is a link, a device,
            a sparse file, has a control character in its name or appears twice.
        LimitExceededError: the archive expands beyond ``PTMHUB_MAX_ARCHIVE_BYTES`` (or
            ``max_bytes``), ``PTMHUB_MAX_ARCHIVE_RATIO`` times its compressed size, or has more
            than ``PTMHUB_MAX_ARCHIVE_FILES`` entries.
        CorruptArchiveError: the bytes are not a readable tar archive (or end too early).
        FileExistsError: ``dest`` exists and is not an empty directory.
    """
    if hasattr(source, "read"):
        return _tar(source, dest, include, max_bytes)  # type: ignore[arg-type]
    with open(source, "rb") as fileobj:  # type: ignore[arg-type]
        return _tar(fileobj, dest, include, max_bytes)


def safe_extract_zip(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                     include: Callable[[str], bool] | None = None, max_bytes: int | None = None) -> list[str]:
    """Extract a zip archive into ``dest`` with the same rules and limits as
    :func:`safe_extract_tar`. Members without file-type bits (what ``zipfile.writestr`` and
    Windows tools write) are regular files; the ratio counts the compressed sizes of the
    members read so far.

    Raises:
        UnsafeArchiveError: absolute names, ``..``, symbolic links (Unix mode bits), devices,
            control characters, duplicates, encrypted members.
        LimitExceededError: as for :func:`safe_extract_tar`.
        CorruptArchiveError: the file is not a readable zip archive, or a member uses a
            compression method zipfile cannot read.
        FileExistsError: ``dest`` exists and is not an empty directory.
    """
    read = [0]
    meter = _Meter(lambda: read[0], max_bytes)
    corrupt = (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, NotImplementedError)
    try:
        with open(source, "rb") as fp:
            declared = _zip_declared_entries(fp)
            if declared is not None:
                meter.check_entries(declared)
            zf = zipfile.ZipFile(fp)
            try:
                meter.check_entries(len(zf.infolist()))
                return _run(lambda: _zip_entries(zf, read), dest, meter, fmt="zip", corrupt=corrupt,
                            include=include)
            finally:
                zf.close()
    except corrupt as exc:  # the central directory itself
        raise CorruptArchiveError(f"not a complete zip archive ({type(exc).__name__}: {exc})",
                                  hint="the download may have been cut off; retry it") from None


class IterReader(io.RawIOBase):
    """A read-only binary stream over an iterator of byte chunks (an HTTP body), so that
    :func:`safe_extract_tar` can extract while downloading. ``on_chunk(n)`` sees every chunk."""

    def __init__(self, chunks: Iterable[bytes], on_chunk: Callable[[int], None] | None = None):
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self._on_chunk = on_chunk
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        while not self._buffer:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return 0
            if chunk:
                self.bytes_read += len(chunk)
                if self._on_chunk is not None:
                    self._on_chunk(len(chunk))
                self._buffer = chunk
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
