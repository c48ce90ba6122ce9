"""A loopback Hugging Face Hub for tests: the HTTP protocol huggingface_hub and ptmhub speak.

Serves, on 127.0.0.1:

* ``GET /api/models`` - search/author/pipeline_tag/filter/sort/limit/expand, paginated with a
  ``Link: <...cursor=...>; rel="next"`` header like the Hub;
* ``GET /api/models/{id}`` and ``/api/models/{id}/revision/{rev}`` - recorded real bodies
  (``add_recorded``) or bodies built from a repo's files; ``?blobs=true`` adds sizes/LFS info
  for the files this server holds;
* ``GET /api/models/{id}/tree/{rev}[/{path}]`` - the file listing ``snapshot_download`` uses;
* ``HEAD``/``GET /{id}/resolve/{rev}/{file}`` - ``ETag``, ``X-Repo-Commit``, ``Content-Length``,
  ``Accept-Ranges`` and ``Range`` (206 + ``Content-Range``, 416);
* renames answered with 307 (``/api/models/bert-base-uncased`` ->
  ``/api/models/google-bert/bert-base-uncased``, and the same for ``resolve``);
* gated repos: files answer 401 (no token) / 403 (token not granted) with
  ``X-Error-Code: GatedRepo``; private and unknown repos answer 401/404 ``RepoNotFound``;
* scripted faults (:meth:`FakeHub.script`): any status and headers (429 with ``RateLimit`` /
  ``Retry-After``, 500, ...), malformed bodies, and delays longer than a client's timeout.

``bytes_sent`` counts the body bytes the server sent per path (counted as each chunk is handed
to the socket, chunks of at most 256 KiB), so tests can assert how much a client downloaded.
Use the ``hf_hub`` fixture: it starts a server and points ``HF_ENDPOINT`` at it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".ot", ".onnx", ".ckpt", ".pt", ".pth", ".gguf")
DEFAULT_LIST_FIELDS = ("_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
                       "library_name", "createdAt", "modelId")


@dataclass
class Reply:
    """A scripted answer. ``delay`` seconds pass before anything is sent."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | Any = b""
    delay: float = 0.0


@dataclass
class HostedFile:
    path: str
    source: bytes | Path

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        end = self.size - 1 if end is None else end
        if isinstance(self.source, bytes):
            return self.source[start:end + 1]
        with self.source.open("rb") as f:
            f.seek(start)
            return f.read(end - start + 1)

    def chunks(self, start: int, end: int, size: int = 1 << 20):
        pos = start
        while pos <= end:
            yield self.read(pos, min(end, pos + size - 1))
            pos += size

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES) or self.size > 10 * 1024 * 1024

    _digests: dict | None = None

    def digests(self) -> tuple[str, str]:
        """(git blob sha1, sha256) of the content."""
        if self._digests is None:
            sha1 = hashlib.sha1(f"blob {self.size}\0".encode())
            sha256 = hashlib.sha256()
            for chunk in self.chunks(0, self.size - 1):
                sha1.update(chunk)
                sha256.update(chunk)
            self._digests = {"sha1": sha1.hexdigest(), "sha256": sha256.hexdigest()}
        return self._digests["sha1"], self._digests["sha256"]

    def etag(self) -> str:
        sha1, sha256 = self.digests()
        return f'"{sha256 if self.lfs else sha1}"'


@dataclass
class Repo:
    id: str
    sha: str
    info: dict[str, Any]
    files: dict[str, HostedFile] = field(default_factory=dict)
    gated: bool | str = False
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)

    def add_file(self, path: str, source: bytes | str | Path) -> None:
        if isinstance(source, str):
            source = source.encode()
        self.files[path] = HostedFile(path, source)
        names = [s["rfilename"] for s in self.info.setdefault("siblings", [])]
        if path not in names:
            self.info["siblings"].append({"rfilename": path})


class FakeHub:
    """State of the loopback Hub. Thread-safe enough for tests (one lock around counters)."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.renames: dict[str, str] = {}
        self.listing: list[dict[str, Any]] = []
        self.max_page_size = 1000
        self.throttle = 0.0  # seconds to wait before each 256 KiB chunk of a file (slow-network tests)
        # answer as a mirror serving git repos (olah) does: model info without pipeline_tag,
        # library_name, safetensors, config or transformersInfo (cardData from README.md instead),
        # no /api/models list (404 without X-Error-Code), and 401 RepoNotFound for unknown repos
        self.mirror = False
        self.token = "hf_ptmhubtesttoken000000"
        self.granted: set[str] = set()
        self.bytes_sent: Counter[str] = Counter()
        # (method, unquoted path, query, headers with case-insensitive keys)
        self.requests: list[tuple[str, str, dict[str, list[str]], CaseInsensitiveDict]] = []
        self.errors: list[str] = []  # tracebacks of handler failures (tests assert it stays empty)
        self._scripts: list[tuple[str, re.Pattern[str], list[Reply]]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- building the hub -------------------------------------------------------------------------
    def add_repo(self, repo_id: str, *, files: dict[str, bytes | str | Path] | None = None, info: dict | None = None,
                 sha: str | None = None, gated: bool | str = False, private: bool = False) -> Repo:
        sha = sha or (info or {}).get("sha") or hashlib.sha1(repo_id.encode()).hexdigest()
        body = dict(info) if info else {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "author": repo_id.split("/")[0] if "/" in repo_id else None, "sha": sha, "private": private,
            "gated": gated, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": [],
            "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
        }
        body["sha"] = sha
        repo = Repo(id=repo_id, sha=sha, info=body, gated=gated, private=private, branches={"main": sha})
        for path, source in (files or {}).items():
            repo.add_file(path, source)
        self.repos[repo_id] = repo
        return repo

    def add_recorded(self, path: str | Path, **kwargs: Any) -> Repo:
        """A repo whose API answer is a recorded real response body."""
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        return self.add_repo(body["id"], info=body, **kwargs)

    def rename(self, old: str, new: str) -> None:
        self.renames[old] = new

    def script(self, method: str, path_pattern: str, *replies: Reply) -> None:
        """The next requests matching ``method`` (or ``*``) and the regex get these replies, in order.

        The regex is searched in the unquoted path with its query string."""
        with self._lock:
            self._scripts.append((method.upper(), re.compile(path_pattern), list(replies)))

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_sent.clear()
            self.requests.clear()

    def requests_to(self, pattern: str, method: str | None = None) -> list[tuple[str, str, dict, dict]]:
        rx = re.compile(pattern)
        return [r for r in self.requests if rx.search(r[1]) and (method is None or r[0] == method)]

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys
                import traceback

                exc = sys.exc_info()[1]
                if not isinstance(exc, (BrokenPipeError, ConnectionResetError, TimeoutError)):
                    hub.errors.append(traceback.format_exc())

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hf-hub",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- internals used by the handler -----------------------------------------------------------------
    def _scripted(self, method: str, path: str) -> Reply | None:
        with self._lock:
            for m, rx, replies in self._scripts:
                if replies and (m == method or m == "*") and rx.search(path):
                    return replies.pop(0)
        return None

    def _authorized(self, headers: Any) -> bool | None:
        """True: the valid token; False: another token; None: no token."""
        value = headers.get("Authorization")
        if not value:
            return None
        return value == f"Bearer {self.token}"


def _mirror_body(repo: Repo, body: dict[str, Any]) -> dict[str, Any]:
    """The model info a git mirror can give: git facts and the README front matter, nothing the Hub computes."""
    for key in ("pipeline_tag", "library_name", "safetensors", "config", "transformersInfo", "usedStorage",
                "widgetData", "model-index", "spaces", "inference"):
        body.pop(key, None)
    body["tags"] = []
    card: Any = None
    readme = repo.files.get("README.md")
    if readme is not None:
        m = re.match(r"\s*---\n(.*?)\n---", readme.read().decode("utf-8", "replace"), flags=re.S)
        if m:
            import yaml

            card = yaml.safe_load(m.group(1))
    body["cardData"] = card
    body["siblings"] = [{"rfilename": p} for p in sorted(repo.files)]
    return body


def _split_repo(segments: list[str], markers: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """['google-bert','bert-base-uncased','resolve','main','x'] -> ('google-bert/bert-base-uncased', [...])."""
    for n in (2, 1):
        if len(segments) > n and segments[n] in markers:
            return "/".join(segments[:n]), segments[n:]
    if 1 <= len(segments) <= 2:
        return "/".join(segments), []
    return None


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- writing ------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes | str | Any = b"", headers: dict[str, str] | None = None,
              *, path: str | None = None) -> None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self._write(body, path or self._path)

    def _write(self, data: bytes, path: str) -> None:
        # counted before writing: a client may read the last byte and check the counter before
        # this thread would get back from write()
        with self.hub._lock:
            self.hub.bytes_sent[path] += len(data)
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers)

    # -- dispatch -------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        self._path = unquote(parts.path)
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(k.removesuffix("[]"), []).append(v)
        self._query = query
        with self.hub._lock:
            self.hub.requests.append((self.command, self._path, query, CaseInsensitiveDict(self.headers.items())))
        reply = self.hub._scripted(self.command, unquote(self.path))
        if reply is not None:
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self._send(reply.status, reply.body, reply.headers)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        try:
            if segments[:2] == ["api", "models"]:
                if len(segments) == 2:
                    return self._list_models()
                return self._api_model(segments[2:], parts.query)
            split = _split_repo(segments, ("resolve",))
            if split and split[1] and split[1][0] == "resolve":
                return self._resolve(split[0], split[1][1:], parts.query)
            self._error(404, None, "Not Found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- /api/models -----------------------------------------------------------------------------------
    def _list_models(self) -> None:
        if self.hub.mirror:
            return self._send(404, {"detail": "Not Found"})
        q = self._query
        items = list(self.hub.listing)
        if q.get("search"):
            needle = q["search"][0].lower()
            items = [i for i in items if needle in i["id"].lower()]
        if q.get("author"):
            items = [i for i in items if i["id"].startswith(q["author"][0] + "/")]
        if q.get("pipeline_tag"):
            items = [i for i in items if i.get("pipeline_tag") == q["pipeline_tag"][0]]
        for value in q.get("filter", []):
            items = [i for i in items if value in (i.get("tags") or []) or i.get("library_name") == value]
        if q.get("sort"):
            key = q["sort"][0]
            items.sort(key=lambda i: i.get(key) or 0, reverse=True)
        size = min(int(q.get("limit", [self.hub.max_page_size])[0]), self.hub.max_page_size)
        offset = 0
        if q.get("cursor"):
            try:
                offset = int(base64.urlsafe_b64decode(q["cursor"][0].encode()).decode())
            except ValueError:
                return self._error(400, None, "Invalid cursor")
        page = items[offset:offset + size]
        expand = q.get("expand")
        fields = ("_id", "id", *expand) if expand else DEFAULT_LIST_FIELDS
        body = [{k: item[k] for k in fields if k in item} for item in page]
        headers = {}
        if offset + size < len(items):
            rest = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs]
            cursor = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            headers["Link"] = f'<{self.hub.url}/api/models?{urlencode(rest + [("cursor", cursor)])}>; rel="next"'
        self._send(200, body, headers)

    def _lookup(self, repo_id: str, rest: list[str], query: str, prefix: str) -> Repo | None:
        """The repo, or None after answering (rename 307, private/unknown 401/404)."""
        if repo_id in self.hub.renames:
            target = "/".join(quote(s, safe="") for s in [*prefix.split("/"), *self.hub.renames[repo_id].split("/"),
                                                          *rest] if s)
            location = "/" + target + (f"?{query}" if query else "")
            self._send(307, {"message": "Moved"}, {"Location": location})
            return None
        repo = self.hub.repos.get(repo_id)
        auth = self.hub._authorized(self.headers)
        if repo is None or (repo.private and auth is not True):
            if self.hub.mirror:
                self._error(401, "RepoNotFound", "Repository not found")
            elif auth is False:
                self._error(401, None, "Invalid credentials in Authorization header")
            elif auth is None:
                self._error(401, "RepoNotFound", "Repository not found")
            else:
                self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _revision(self, repo: Repo, rev: str) -> str | None:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev == repo.sha:
            return rev
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return None

    def _api_model(self, segments: list[str], query: str) -> None:
        split = _split_repo(segments, ("revision", "tree"))
        if split is None:
            return self._error(404, None, "Not Found")
        repo_id, rest = split
        repo = self._lookup(repo_id, rest, query, "api/models")
        if repo is None:
            return
        if rest:
            if rest[0] == "tree" and len(rest) >= 2:
                if self._revision(repo, rest[1]) is not None:
                    self._tree(repo, "/".join(rest[2:]))
                return
            if rest[0] != "revision" or len(rest) != 2:
                return self._error(404, None, "Not Found")
            if self._revision(repo, rest[1]) is None:
                return
        body = json.loads(json.dumps(repo.info))
        if self.hub.mirror:
            body = _mirror_body(repo, body)
        if self._query.get("blobs") in (["true"], ["True"], ["1"]):
            for sibling in body.get("siblings", []):
                hosted = repo.files.get(sibling["rfilename"])
                if hosted is not None:
                    sha1, sha256 = hosted.digests()
                    sibling.update(size=hosted.size, blobId=sha1)
                    if hosted.lfs:
                        sibling["lfs"] = {"size": hosted.size, "sha256": sha256, "pointerSize": 134}
        self._send(200, body)

    def _tree(self, repo: Repo, prefix: str) -> None:
        recursive = self._query.get("recursive") in (["true"], ["True"], ["1"])
        entries = []
        dirs = set()
        for path, hosted in sorted(repo.files.items()):
            if prefix and not path.startswith(prefix.rstrip("/") + "/"):
                continue
            rel = path[len(prefix.rstrip("/")) + 1:] if prefix else path
            if "/" in rel and not recursive:
                dirs.add((prefix.rstrip("/") + "/" if prefix else "") + rel.split("/")[0])
                continue
            sha1, sha256 = hosted.digests()
            entry = {"type": "file", "oid": sha1, "size": hosted.size, "path": path}
            if hosted.lfs:
                entry["lfs"] = {"oid": sha256, "size": hosted.size, "pointerSize": 134}
            entries.append(entry)
        if recursive:
            for path in repo.files:
                parts = path.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    dirs.add("/".join(parts[:i]))
        entries += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                    for d in sorted(dirs)]
        self._send(200, entries)

    # -- /{repo}/resolve/{rev}/{file} ------------------------------------------------------------------
    def _resolve(self, repo_id: str, rest: list[str], query: str) -> None:
        if len(rest) < 2:
            return self._error(404, None, "Not Found")
        repo = self._lookup(repo_id, ["resolve", *rest], query, "")
        if repo is None:
            return
        sha = self._revision(repo, rest[0])
        if sha is None:
            return
        if repo.gated:
            auth = self.hub._authorized(self.headers)
            if auth is None:
                return self._error(401, "GatedRepo", f"Access to model {repo.id} is restricted. You must have access "
                                                     "to it and be authenticated to access it. Please log in.")
            if auth is False or repo.id not in self.hub.granted:
                return self._error(403, "GatedRepo", f"Access to model {repo.id} is restricted and you are not in "
                                                     "the authorized list.")
        filename = "/".join(rest[1:])
        hosted = repo.files.get(filename)
        if hosted is None:
            self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound",
                                                            "X-Error-Message": "Entry not found", "X-Repo-Commit": sha})
            return
        size = hosted.size
        headers = {"ETag": hosted.etag(), "X-Repo-Commit": sha, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not m or (not m.group(1) and not m.group(2)):
                return self._send(416, b"", {"Content-Range": f"bytes */{size}"})
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # suffix range: the last N bytes
                start, end = max(0, size - int(m.group(2))), size - 1
            if start >= size or start > end:
                return self._send(416, b"", {"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in hosted.chunks(start, end, size=256 * 1024):
            if self.hub.throttle:
                time.sleep(self.hub.throttle)
            with self.hub._lock:
                self.hub.bytes_sent[self._path] += len(chunk)
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return


@pytest.fixture
def hf_hub(monkeypatch):
    """A started :class:`FakeHub`; ``HF_ENDPOINT`` points at it for ptmhub and huggingface_hub."""
    from ptmhub import settings

    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    settings.reload()
    yield hub
    hub.stop()
    settings.reload()
