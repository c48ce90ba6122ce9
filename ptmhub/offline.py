"""The one offline switch.

``PTMHUB_OFFLINE=1``, ``ptmhub --offline`` and ``offline=True`` in the API all end here:
:func:`enable` turns on ptmhub's own guard (:func:`ptmhub.http.check_online` refuses before a
socket is opened) *and* the native libraries' switches, so that no library ptmhub drives goes
to the network behind its back:

==========================  =========================================================
library                     what :func:`enable` does
==========================  =========================================================
huggingface_hub             ``HF_HUB_OFFLINE=1``; also patched into
                            ``huggingface_hub.constants`` when the library is already
                            imported (it reads the variable once, at import)
transformers                ``TRANSFORMERS_OFFLINE=1`` (transformers 5 asks
                            huggingface_hub's ``is_offline_mode()``, patched above)
datasets                    ``HF_DATASETS_OFFLINE=1`` (and ``datasets.config``)
sentence-transformers       goes through huggingface_hub / transformers
tensorflow_hub, kagglehub   no switch exists: ptmhub's backends load from the cache
torch.hub                   folders and never call the library's download path
                            offline (they raise ``NotCachedError`` instead)
==========================  =========================================================

The transformers tokenizer path is known to wait minutes on network timeouts when only
``local_files_only`` is set somewhere and not everywhere; with ``HF_HUB_OFFLINE`` set, every
huggingface_hub call answers from the cache or fails at once.

:func:`guard` is the backstop around every load from a native cache (``ptmhub.load``): inside
it, the native switches are on (environment variables and the copies libraries took at import,
such as ``huggingface_hub.constants.HF_HUB_OFFLINE``) and any ``connect()`` or name lookup from
*this thread* on an internet socket fails at once with :class:`~ptmhub.errors.OfflineError` (a
``ConnectionError``: urllib and requests report it as a failed connection and the backends turn
it into ``NotCachedError`` naming ``ptmhub pull ID``). That covers what has no switch of its own,
such as a hubconf entrypoint whose ``load_state_dict_from_url`` finds its checkpoint missing.
Other threads are not affected, Unix-domain sockets (a local PostgreSQL) are allowed, and every
refused call is recorded in :func:`blocked_attempts`: after loading a fully cached model the list
is empty.

One mode, no half states: when offline mode is on for the process (``offline=True`` in the API
calls :func:`apply`, ``--offline``, ``PTMHUB_OFFLINE=1``), ptmhub's settings, the environment
variables and the libraries' import-time flags all say offline, before, inside and after a
:func:`guard`; a later plain ``from_pretrained("some/repo")`` in the same process answers from the
cache or fails at once. Only when offline mode is off does a ``guard(True)`` put the switches
(environment and flags) back as they were when its block ends. :func:`enable` ``(False)`` ends the
mode for everything at once.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import settings
from .errors import OfflineError

__all__ = ["enable", "is_offline", "apply", "reset", "offline_mode", "NATIVE_SWITCHES", "IMPORT_TIME_FLAGS",
           "guard", "blocked_attempts", "clear_blocked_attempts"]

#: Environment variables the native libraries read to stay off the network.
NATIVE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_OWN = "PTMHUB_OFFLINE"
# the variables and import-time flags before ptmhub first set them, so enable(False) can put them back
_saved: tuple[dict[str, str | None], dict[tuple[str, str], Any]] | None = None


def is_offline() -> bool:
    """Whether offline mode is on (settings: ``PTMHUB_OFFLINE``, ``HF_HUB_OFFLINE``, ``--offline``)."""
    return settings.get().offline


#: Copies of the offline switch that libraries take once, at import, as (module, attribute):
#: setting the environment variable later does not reach them, so they are patched where loaded.
IMPORT_TIME_FLAGS = (
    ("huggingface_hub.constants", "HF_HUB_OFFLINE"),   # is_offline_mode() reads it (transformers 5 too)
    ("transformers.utils.hub", "_is_offline_mode"),     # transformers 4's own copy
    ("datasets.config", "HF_HUB_OFFLINE"),
    ("datasets.config", "HF_DATASETS_OFFLINE"),
)


def _flag_values() -> dict[tuple[str, str], Any]:
    """The import-time flags of the libraries loaded now (absent ones are left out)."""
    out = {}
    for module_name, attr in IMPORT_TIME_FLAGS:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attr):
            out[(module_name, attr)] = getattr(module, attr)
    return out


def _patch_loaded_libraries(offline: bool, previous: dict[tuple[str, str], Any] | None = None) -> None:
    """Libraries that read their switch once at import: update the already-imported copy, to
    ``offline``, or to its ``previous`` value where one was saved."""
    previous = previous or {}
    for module_name, attr in IMPORT_TIME_FLAGS:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attr):
            setattr(module, attr, previous.get((module_name, attr), offline))


def enable(offline: bool = True) -> bool:
    """Turn offline mode on (or off) for this process, for ptmhub and every native library.

    ``enable(False)`` restores the native variables and the libraries' import-time flags to what
    they were before ptmhub first set them; a switch the user exported (``HF_HUB_OFFLINE=1`` in
    the shell) stays as it was.

    Returns:
        The new state.
    """
    global _saved
    if offline:
        if _saved is None:
            with _lock:  # inside a guard of a process that was online, what the guard saved is "before"
                _saved = _native_saved or ({name: os.environ.get(name) for name in (*NATIVE_SWITCHES, _OWN)},
                                           _flag_values())
        settings.override(offline=True)  # sets the variables (settings.set_offline_env)
        _patch_loaded_libraries(True)
        return True
    _restore()
    state = settings.reload().offline  # back to what the environment says
    if state:
        _patch_loaded_libraries(True)
    return state


def _put_back(env: dict[str, str | None], flags: dict[tuple[str, str], Any]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _patch_loaded_libraries(False, flags)  # a library imported since: off, like the mode


def _restore() -> None:
    """Put the variables and flags :func:`enable` changed back as they were before it."""
    global _saved
    if _saved is not None:
        saved, _saved = _saved, None
        _put_back(*saved)


def apply(offline: bool | None = None) -> bool:
    """What every API entry point calls first (``api._offline``): make the native switches agree
    with the mode. ``offline=True`` turns offline mode on for the process; ``None`` (or False)
    keeps the current mode: when it is on (e.g. ``PTMHUB_OFFLINE=1`` alone, or ``--offline``),
    the environment variables and the libraries' import-time flags are set before any library
    is used; when it is off although ptmhub had turned them on (the settings were re-read
    since), they are put back. Returns whether offline mode is on."""
    if offline or settings.get().offline:
        return enable(True)
    _restore()
    return False


def reset() -> None:
    """Forget what ptmhub changed and set the libraries' import-time flags from the current
    settings. For test harnesses that put the environment back and re-read the settings behind
    ptmhub's back (``settings.reload()``): call it after, or offline mode leaks into the next test
    through huggingface_hub's flag."""
    global _saved
    _saved = None
    _patch_loaded_libraries(settings.get().offline)


@contextmanager
def offline_mode() -> Iterator[None]:
    """``with offline_mode():`` offline inside the block, the previous mode after it."""
    was = settings.get().offline
    enable(True)
    try:
        yield
    finally:
        if not was:
            enable(False)


# -- the guard around loads from the native caches -------------------------------------------------
_local = threading.local()
_blocked: list[str] = []
_lock = threading.Lock()
_MARK = "_ptmhub_offline_guard"


def blocked_attempts() -> list[str]:
    """Connections (``connect ('1.2.3.4', 443)``) and name lookups :func:`guard` refused, oldest
    first. Empty after loads of fully cached models."""
    with _lock:
        return list(_blocked)


def clear_blocked_attempts() -> None:
    with _lock:
        _blocked.clear()


def _active() -> bool:
    return getattr(_local, "depth", 0) > 0


def _refuse(what: str) -> OfflineError:
    with _lock:
        _blocked.append(what)
    return OfflineError(f"offline mode is on: ptmhub refused a network call ({what})",
                        hint="the model is not fully cached: run 'ptmhub pull ID' while online")


def _wrap_method(previous: Any) -> Any:
    def connect(self: socket.socket, address: Any, *args: Any) -> Any:
        if _active() and self.family in (socket.AF_INET, socket.AF_INET6):
            raise _refuse(f"connect {address!r}")
        return previous(self, address, *args)

    setattr(connect, _MARK, True)
    return connect


def _wrap_getaddrinfo(previous: Any) -> Any:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _active() and host is not None:  # loopback too: offline means no socket at all
            raise _refuse(f"getaddrinfo {(host.decode() if isinstance(host, bytes) else str(host))!r}")
        return previous(host, *args, **kwargs)

    setattr(getaddrinfo, _MARK, True)
    return getaddrinfo


def _install() -> None:
    """Wrap socket.connect / connect_ex / getaddrinfo (again if someone replaced them since).
    The wrappers do nothing unless the calling thread is inside :func:`guard`."""
    for name in ("connect", "connect_ex"):
        current = getattr(socket.socket, name)
        if not getattr(current, _MARK, False):
            setattr(socket.socket, name, _wrap_method(current))
    if not getattr(socket.getaddrinfo, _MARK, False):
        socket.getaddrinfo = _wrap_getaddrinfo(socket.getaddrinfo)


# The native switches are process-wide, so guards in every thread share one count: the first to
# enter saves them (only when offline mode is off), the last to leave puts them back.
_native_depth = 0
_native_saved: tuple[dict[str, str | None], dict[tuple[str, str], Any]] | None = None


def _switches_on() -> None:
    global _native_depth, _native_saved
    with _lock:
        if _native_depth == 0:
            _native_saved = None if is_offline() else (
                {name: os.environ.get(name) for name in (*NATIVE_SWITCHES, _OWN)}, _flag_values())
        _native_depth += 1
        settings.set_offline_env()
        _patch_loaded_libraries(True)


def _switches_back() -> None:
    global _native_depth, _native_saved
    with _lock:
        _native_depth -= 1
        if _native_depth or _native_saved is None:
            return
        saved, _native_saved = _native_saved, None
        if not is_offline():  # (offline mode turned on meanwhile stays, whole)
            _put_back(*saved)


@contextmanager
def guard(enabled: bool | None = None) -> Iterator[None]:
    """Run a block (a load from a native cache) with offline mode enforced; see the module
    docstring. ``enabled=None`` follows the setting; False runs the block unchanged.

    Inside the block the native switches are on (environment variables and import-time flags) and
    this thread's sockets are refused. Afterwards the switches stay on when offline mode is on for
    the process (:func:`is_offline`); when it is off, they are put back as they were.
    """
    if enabled is None:
        enabled = is_offline()
    if not enabled:
        yield
        return
    _install()
    _switches_on()
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
        _switches_back()
