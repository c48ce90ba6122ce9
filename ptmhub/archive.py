"""Safe extraction of the archives every hub serves (TF Hub's compressed SavedModels, catalog
snapshots of repositories).

Two promises, whatever the archive holds:

* nothing is written outside ``dest``: absolute names, ``..`` parts, backslashes, links of any
  kind (symbolic or hard), device files and FIFOs are refused with :class:`UnsafeArchiveError`
  before a byte of that member is written;
* ``dest`` only ever appears complete: members go to a hidden sibling
  ``.<dest name>.<uuid>.partial`` that is renamed to ``dest`` after the last member, and
  removed when anything fails (a broken download, a corrupt archive, a refused member).

``dest`` may exist if it is an empty directory (tensorflow_hub's resolver creates its temporary
download directory before calling us); it is replaced by the finished extraction.
"""

from __future__ import annotations

import io
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

from .errors import CorruptArchiveError, UnsafeArchiveError

__all__ = ["safe_extract_tar", "safe_extract_zip", "safe_member_name", "IterReader", "is_archive_name"]

_CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".zip")


def is_archive_name(name: str) -> bool:
    """True for names ending in a suffix :func:`safe_extract_tar` / :func:`safe_extract_zip` read."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_name(name: str) -> str | None:
    """The member's relative POSIX path, ``None`` for the archive root (``.``, ``./``).

    Raises:
        UnsafeArchiveError: absolute paths, drive letters, ``..`` parts, backslashes, NUL bytes.
    """
    if "\x00" in name:
        raise UnsafeArchiveError(f"archive member {name!r} has a NUL byte in its name")
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
    return "/".join(parts) or None


def _partial_dir(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.partial"


def _check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise FileExistsError(f"{dest} already exists and is not an empty directory")


def _finish(partial: Path, dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        dest.rmdir()  # empty (checked before extraction); replaced by the complete tree
    os.replace(partial, dest)


def _write_member(src: IO[bytes], target: Path, mode: int, budget: list[int] | None) -> None:
    if target.exists() and target.is_dir():
        raise UnsafeArchiveError(f"archive member {target.name!r} is both a file and a folder")
    with open(target, "wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            if budget is not None:
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise UnsafeArchiveError("the archive expands to more bytes than allowed",
                                             hint="it may be a decompression bomb")
            out.write(chunk)
    # regular permissions only: never setuid/setgid/sticky, always owner-readable
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)


@dataclass(frozen=True)
class _Entry:
    """One archive member as the shared extraction loop sees it."""

    name: str
    kind: str                      # "file", "dir", "symbolic link", "hard link" or "special"
    open: Callable[[], IO[bytes]]  # the member's data (files only)
    mode: int = 0o644
    link: str = ""


_Entries = Generator[_Entry, None, None]


def _extract(entries: _Entries, dest: str | os.PathLike[str], *, fmt: str, corrupt: tuple[type[BaseException], ...],
             include: Callable[[str], bool] | None, max_bytes: int | None) -> list[str]:
    dest = Path(dest)
    _check_dest(dest)
    partial = _partial_dir(dest)
    files: list[str] = []
    budget = [max_bytes] if max_bytes is not None else None
    try:
        partial.mkdir(parents=True)
        for entry in entries:
            rel = safe_member_name(entry.name)
            if rel is None or (include is not None and not include(rel)):
                continue
            if entry.kind in ("symbolic link", "hard link"):
                to = f" (to {entry.link!r})" if entry.link else ""
                raise UnsafeArchiveError(f"archive member {entry.name!r} is a {entry.kind}{to}",
                                         hint="links are never extracted; the archive is refused")
            if entry.kind == "dir":
                (partial / rel).mkdir(parents=True, exist_ok=True)
                continue
            if entry.kind != "file":
                raise UnsafeArchiveError(f"archive member {entry.name!r} is a device, FIFO or other special file",
                                         hint="only regular files and folders are extracted")
            target = partial / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with entry.open() as src:
                _write_member(src, target, entry.mode, budget)
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


def _tar_entries(fileobj: IO[bytes]) -> _Entries:
    # streamed (r|*): each member's data must be read before the next member is asked for,
    # which the extraction loop does
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for m in tar:
            kind = ("file" if m.isreg() else "dir" if m.isdir() else "symbolic link" if m.issym()
                    else "hard link" if m.islnk() else "special")
            yield _Entry(m.name, kind, lambda m=m: tar.extractfile(m), m.mode, m.linkname)


def _zip_entries(source: str | os.PathLike[str]) -> _Entries:
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0xFFFF  # Unix mode bits, when the zip has them
            if mode and stat.S_ISLNK(mode):
                kind = "symbolic link"
            elif mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "special"
            else:
                kind = "dir" if info.is_dir() else "file"
            yield _Entry(info.filename, kind, lambda info=info: zf.open(info), mode or 0o644)


def safe_extract_tar(source: str | os.PathLike[str] | IO[bytes], dest: str | os.PathLike[str], *,
                     include: Callable[[str], bool] | None = None, max_bytes: int | None = None) -> list[str]:
    """Extract a (possibly compressed) tar archive into ``dest``, refusing anything unsafe.

    The archive is read as a stream (``r|*``), so ``source`` may be an HTTP body wrapped in
    :class:`IterReader`; nothing is buffered in memory beyond one chunk.

    Args:
        source: a path, or a binary file object positioned at the start of the archive.
        dest: the directory to create (absent, or an existing empty directory).
        include: optional filter on member paths (relative, POSIX); members it rejects are not
            extracted, and are not refused for their type (their names are still checked).
        max_bytes: refuse archives that expand to more than this many bytes.

    Returns:
        The relative paths of the regular files written, in archive order.

    Raises:
        UnsafeArchiveError: a member is absolute, climbs out with ``..``, is a link or a device.
        CorruptArchiveError: the bytes are not a readable tar archive (or end too early).
        FileExistsError: ``dest`` exists and is not an empty directory.
    """
    if hasattr(source, "read"):
        return _extract(_tar_entries(source), dest, fmt="tar", corrupt=(tarfile.TarError, EOFError, zlib.error),
                        include=include, max_bytes=max_bytes)
    with open(source, "rb") as fileobj:
        return _extract(_tar_entries(fileobj), dest, fmt="tar", corrupt=(tarfile.TarError, EOFError, zlib.error),
                        include=include, max_bytes=max_bytes)


def safe_extract_zip(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                     include: Callable[[str], bool] | None = None, max_bytes: int | None = None) -> list[str]:
    """Extract a zip archive into ``dest`` with the same rules as :func:`safe_extract_tar`.

    Raises:
        UnsafeArchiveError: absolute names, ``..``, symbolic links (Unix mode bits), devices.
        CorruptArchiveError: the file is not a readable zip archive.
        FileExistsError: ``dest`` exists and is not an empty directory.
    """
    return _extract(_zip_entries(source), dest, fmt="zip", corrupt=(zipfile.BadZipFile, EOFError, zlib.error),
                    include=include, max_bytes=max_bytes)


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
