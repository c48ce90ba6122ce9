"""Hostile servers on loopback: every fault gives one clear, typed error after bounded retries,
and the registry is left unchanged. Exercised through ptmhub's own HTTP layer and through a
whole API call (TF Hub resolve, which uses that layer)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ptmhub import http, settings
from ptmhub.errors import (
    AuthError,
    MalformedResponseError,
    ModelNotFoundError,
    NetworkError,
    PtmhubError,
    RateLimitedError,
)


class Faults(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = urlsplit(self.path)
        kind = parts.path.strip("/").split("/")[0]
        query = parse_qs(parts.query)
        Faults.hits[kind] = Faults.hits.get(kind, 0) + 1
        if kind.isdigit():
            headers = {}
            if "retry_after" in query:
                headers["Retry-After"] = query["retry_after"][0]
            return self._send(int(kind), b'{"error": "x"}', headers)
        if kind == "ratelimit":
            return self._send(429, b"{}", {"RateLimit": '"api";r=0;t=1'})
        if kind == "flaky":
            if Faults.hits[kind] <= 2:
                return self._send(503)
            return self._send(200, b'{"ok": true}')
        if kind == "hang":
            time.sleep(3)
            return self._send(200, b"{}")
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return None
        if kind == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        if kind == "malformed":
            return self._send(200, b'{"id": "x", "tags": [1, 2', {"Content-Type": "application/json"})
        if kind == "huge":
            return self._send(200, b"[" + b"0," * 600_000 + b"0]")
        if kind == "loop":
            return self._send(302, headers={"Location": self.path})
        if kind == "elsewhere":
            return self._send(302, headers={"Location": f"http://127.0.0.1:{query['port'][0]}/x"})
        return self._send(200, b'{"ok": true}')


@pytest.fixture
def server(monkeypatch):
    Faults.hits = {}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Faults)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PTMHUB_MAX_RETRIES", "2")
    monkeypatch.setenv("PTMHUB_MAX_WAIT", "4")
    monkeypatch.setenv("PTMHUB_HTTP_TIMEOUT", "1")
    settings.reload()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CASES = [
    ("401", AuthError, "log in"),
    ("403", AuthError, "refused"),
    ("404", ModelNotFoundError, "not found"),
    ("410", ModelNotFoundError, "not found"),
    ("429", RateLimitedError, "rate-limiting"),
    ("429?retry_after=1", RateLimitedError, "rate-limiting"),
    ("429?retry_after=3600", RateLimitedError, "rate-limiting"),
    ("ratelimit", RateLimitedError, "rate-limiting"),
    ("500", NetworkError, "HTTP 500"),
    ("502", NetworkError, "HTTP 502"),
    ("503", NetworkError, "HTTP 503"),
    ("hang", NetworkError, "could not reach"),
    ("reset", NetworkError, "could not reach"),
    ("malformed", MalformedResponseError, "malformed JSON"),
    ("huge", MalformedResponseError, "larger than"),
    ("loop", NetworkError, "too many redirects"),
    ("elsewhere?port={port}", NetworkError, "could not reach"),
]


@pytest.mark.parametrize("path,error,words", CASES, ids=[c[0].split("?")[0] + ("+q" if "?" in c[0] else "") for c in CASES])
def test_each_fault_is_one_clear_error(server, path, error, words):
    url = f"{server}/{path.format(port=_closed_port())}"
    start = time.monotonic()
    with pytest.raises(error) as info:
        http.get_json(url, max_bytes=1_000_000, what="the test request")
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert words in message and "\n" not in message and "Traceback" not in message
    assert elapsed < 15, f"{path} took {elapsed:.1f}s: retries are not bounded"
    kind = path.split("?")[0]
    if kind in ("500", "502", "503", "429") and "3600" not in path:
        assert Faults.hits[kind] == 3  # one try + PTMHUB_MAX_RETRIES
    if path == "429?retry_after=3600":
        assert Faults.hits["429"] == 1  # a wait over the budget is not attempted
    if kind in ("401", "403", "404", "410", "malformed"):
        assert Faults.hits[kind] == 1  # never retried


def test_transient_failures_are_retried(server):
    assert http.get_json(f"{server}/flaky") == {"ok": True}
    assert Faults.hits["flaky"] == 3


def test_truncated_body_is_an_error(server):
    response = http.request("GET", f"{server}/truncated", stream=True)
    with pytest.raises(NetworkError) as info:
        b"".join(http.iter_body(response))
    assert "10 of 100000" in str(info.value) or "broke off" in str(info.value)


def test_retry_after_budget_is_respected(server):
    start = time.monotonic()
    with pytest.raises(RateLimitedError):
        http.get_json(f"{server}/429?retry_after=1")
    assert 1.5 < time.monotonic() - start < 10  # waited twice for 1 s, then gave up


@pytest.mark.parametrize("fault", ["404", "500", "reset", "loop", "hang"])
def test_api_call_leaves_the_registry_unchanged(server, monkeypatch, tmp_path, fault):
    from ptmhub import api
    from ptmhub.records import ModelRecord
    from ptmhub.registry import open_store

    monkeypatch.setenv("PTMHUB_TFHUB_ENDPOINT", f"{server}/{fault}")
    settings.reload()
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    store.upsert([ModelRecord(id="tfhub:google/nnlm-en-dim128/2", platform="tfhub", name="nnlm-en-dim128/2",
                              owner="google", task="feature-extraction", license="apache-2.0")])
    before = [r.to_dict() for r in store.iter_all()]
    with pytest.raises(PtmhubError) as info:
        api.resolve("tfhub:google/nnlm-en-dim128/2", store=store)
    assert "\n" not in str(info.value)
    assert [r.to_dict() for r in store.iter_all()] == before


def test_token_is_never_shown(server):
    with pytest.raises(PtmhubError) as info:
        http.get_json(f"{server}/401?token=hf_abcdefghijklmnopqrstuvwxyz", headers={"Authorization": "Bearer hf_secretsecretsecret"})
    assert "hf_abc" not in str(info.value) and "secret" not in str(info.value)
