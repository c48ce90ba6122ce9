"""The tests' network guard: only loopback (and Unix sockets) may be reached.

Loaded by ``tests/conftest.py`` into the test process and, through ``PYTHONPATH`` (this folder)
and ``PTMHUB_TEST_NETWORK_LOG``, into every Python process a test starts (CLI runs, crash and
concurrency workers, benchmark children): Python imports ``sitecustomize`` at start-up. Every
refused ``connect`` / ``connect_ex`` / name lookup raises *and* is appended to the log, so an
attempt that some library catches and swallows still fails the test that made it (conftest
checks the log after each test).
"""

from __future__ import annotations

import ipaddress
import os
import socket

LOG_VARIABLE = "PTMHUB_TEST_NETWORK_LOG"

_real = {"connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex,
         "getaddrinfo": socket.getaddrinfo}


class NonLoopbackConnection(AssertionError):
    pass


def is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    message = f"test tried to {what}: only 127.0.0.1 is allowed"
    path = os.environ.get(LOG_VARIABLE)
    if path:
        try:
            import traceback

            where = "".join(traceback.format_stack()[-40:-2])  # who asked, without the guard
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"pid {os.getpid()}: {message}\n{where}")
        except OSError:
            pass
    raise NonLoopbackConnection(message)


def _connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        _refuse(f"connect to {address!r}")
    return _real["connect"](self, address)


def _connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        _refuse(f"connect to {address!r}")
    return _real["connect_ex"](self, address)


def _getaddrinfo(host, *args, **kwargs):
    if host is not None and not is_loopback(host):
        _refuse(f"resolve {host!r}")
    return _real["getaddrinfo"](host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    socket.socket.connect = _real["connect"]
    socket.socket.connect_ex = _real["connect_ex"]
    socket.getaddrinfo = _real["getaddrinfo"]


if __name__ == "sitecustomize" and os.environ.get(LOG_VARIABLE):
    install()  # a process a test started
