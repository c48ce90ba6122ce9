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
it, huggingface_hub's import-time flag is on (put back afterwards, so a program that goes on
using huggingface_hub online is not silently switched off) and any ``connect()`` or name lookup
from *this thread* on an internet socket fails at once with :class:`~ptmhub.errors.OfflineError`
(a ``ConnectionError``: urllib and requests report it as a failed connection and the backends
turn it into ``NotCachedError`` naming ``ptmhub pull ID``). That covers what has no switch of its
own, such as a hubconf entrypoint whose ``load_state_dict_from_url`` finds its checkpoint
missing. Other threads are not affected, Unix-domain sockets (a local PostgreSQL) are allowed,
and every refused call is recorded in :func:`blocked_attempts`: after loading a fully cached
model the list is empty.
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

__all__ = ["enable", "is_offline", "apply", "offline_mode", "NATIVE_SWITCHES", "guard", "blocked_attempts",
           "clear_blocked_attempts"]

#: Environment variables the native libraries read to stay off the network.
NATIVE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_OWN = "PTMHUB_OFFLINE"
# values of the variables before ptmhub first set them, so enable(False) can put them back
_saved: dict[str, str | None] | None = None


def is_offline() -> bool:
    """Whether offline mode is on (settings: ``PTMHUB_OFFLINE``, ``HF_HUB_OFFLINE``, ``--offline``)."""
    return settings.get().offline


def _patch_loaded_libraries(offline: bool) -> None:
    """Libraries that read their switch once at import: update the already-imported copy."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and hasattr(constants, "HF_HUB_OFFLINE"):
        constants.HF_HUB_OFFLINE = offline
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None and hasattr(datasets_config, "HF_HUB_OFFLINE"):
        datasets_config.HF_HUB_OFFLINE = offline


def enable(offline: bool = True) -> bool:
    """Turn offline mode on (or off) for this process, for ptmhub and every native library.

    ``enable(False)`` restores the native variables to what they were before ptmhub first set
    them; a switch the user exported (``HF_HUB_OFFLINE=1`` in the shell) stays as it was.

    Returns:
        The new state.
    """
    global _saved
    if offline:
        if _saved is None:
            _saved = {name: os.environ.get(name) for name in (*NATIVE_SWITCHES, _OWN)}
        settings.override(offline=True)  # sets the variables (settings.set_offline_env)
        _patch_loaded_libraries(True)
        return True
    if _saved is not None:
        for name, value in _saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _saved = None
    state = settings.reload().offline  # back to what the environment says
    _patch_loaded_libraries(state)
    return state


def apply(offline: bool | None = None) -> bool:
    """What every API entry point calls first: ``offline=True`` turns offline mode on; ``None``
    keeps the current mode but, when it is on (e.g. ``PTMHUB_OFFLINE=1`` alone), makes sure the
    native switches agree before any library is used. Returns whether offline mode is on."""
    if offline or settings.get().offline:
        return enable(True)
    return False


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


@contextmanager
def guard(enabled: bool | None = None) -> Iterator[None]:
    """Run a block (a load from a native cache) with offline mode enforced; see the module
    docstring. ``enabled=None`` follows the setting; False runs the block unchanged.

    The native libraries' environment switches are set for the rest of the process
    (:func:`ptmhub.settings.set_offline_env`); huggingface_hub's import-time flag and the socket
    guard last only for the block.
    """
    if enabled is None:
        enabled = is_offline()
    if not enabled:
        yield
        return
    settings.set_offline_env()
    _install()
    outermost = not _active()
    constants = sys.modules.get("huggingface_hub.constants")
    previous = getattr(constants, "HF_HUB_OFFLINE", None) if constants is not None else None
    if outermost and constants is not None:
        constants.HF_HUB_OFFLINE = True
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
        if outermost and constants is not None:
            constants.HF_HUB_OFFLINE = previous
