"""A loopback ModelScope hub for tests: the REST protocol the ``modelscope`` client and ptmhub speak.

Serves, on 127.0.0.1 (point ``MODELSCOPE_DOMAIN`` at :attr:`FakeModelScope.url`):

* ``GET /api/v1/models/OWNER/NAME?Revision=REV`` - model info;
* ``GET /api/v1/models/OWNER/NAME/repo/files?Revision=REV&Recursive=True`` - the file list;
* ``GET /api/v1/models/OWNER/NAME/repo?Revision=REV&FilePath=PATH`` - one file, with
  ``Content-Length``, ``Accept-Ranges`` and ``Range`` (206 + ``Content-Range``, 416);
* ``GET /api/v1/models/OWNER/NAME/revisions`` - branches and tags (the client's revision check).

Where the shapes come from (modelscope 1.40.2 / modelscope-hub 0.5.1, read from their wheels):

* the envelope ``{"Code": 200, "Data": ..., "Message": "success", "RequestId": ..., "Success": true}``:
  ``LegacyClient._json_data`` reads ``Data``; ``list_dataset_files_paginated`` treats
  ``Success is False`` or a ``Code`` other than 200 as an error; ``errors._extract_payload`` reads
  ``Message`` and ``RequestId``;
* model info ``Data``: the keys ``modelscope.hub.info.ModelInfo.__init__`` pops (``Id``, ``Name``,
  ``Path`` (owner, per ``HubApi._repo_info_from_payload``), ``ChineseName``, ``Visibility``,
  ``Description``, ``License``, ``Downloads``, ``Stars``, ``CreatedTime``, ``LastUpdatedTime``
  (epoch seconds, ``convert_timestamp``), ``Architectures``, ``ModelType``, ``Tasks`` (objects
  with ``Name``), ``Tags``, ``Revision``, ``ModelInfos``, ``ReadMeContent`` ...);
* file list ``Data``: ``{"Files": [...]}`` (``LegacyClient._list_files_page``), entries with the
  keys ``info._parse_siblings`` and ``DownloadManager.download_repo`` read: ``Path``, ``Name``,
  ``Size``, ``Sha256``, ``Type`` (``blob`` / ``tree``), ``Revision`` (commit), ``CommittedDate``;
* revisions ``Data``: ``{"RevisionMap": {"Branches": [...], "Tags": [...]}}`` with ``Revision`` and
  ``CreatedAt`` (``LegacyClient.list_revisions_detail``);
* the file URL ``/api/v1/models/{id}/repo?Revision=&FilePath=`` (``LegacyClient`` file download).

Unknown models answer HTTP 404 with an envelope (``Code`` 10010205, ``Success`` false), or, with
``not_found_as_200``, HTTP 200 with that envelope as the hub also does. Faults are scripted with
:meth:`FakeModelScope.script` (status, headers, body, a body cut short, a delay).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Reply:
    """A scripted answer. ``truncate``: send only this many body bytes of the real answer (with
    the full ``Content-Length``) and hang up; ``corrupt``: flip the body's first byte."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict | None = None
    delay: float = 0.0
    truncate: int | None = None
    corrupt: bool = False


@dataclass
class Repo:
    repo_id: str
    files: dict[str, bytes]
    info: dict[str, Any]
    commit: str
    branches: tuple[str, ...] = ("master",)
    tags: tuple[str, ...] = ()
    private: bool = False

    def listing(self) -> list[dict[str, Any]]:
        out = []
        folders = sorted({p.rsplit("/", 1)[0] for p in self.files if "/" in p})
        for folder in folders:
            out.append({"Name": folder.rsplit("/", 1)[-1], "Path": folder, "Type": "tree", "Size": 0,
                        "Sha256": "", "Revision": self.commit, "CommittedDate": 1717200000, "IsLFS": False})
        for path, data in sorted(self.files.items()):
            out.append({"Name": path.rsplit("/", 1)[-1], "Path": path, "Type": "blob", "Size": len(data),
                        "Sha256": hashlib.sha256(data).hexdigest(), "Revision": self.commit,
                        "CommittedDate": 1717200000, "CommitMessage": "upload", "CommitterName": "tester",
                        "IsLFS": path.endswith((".safetensors", ".bin")), "Mode": "33188", "InCheck": False})
        return out


def envelope(data: Any, *, code: int = 200, message: str = "success", success: bool = True) -> dict[str, Any]:
    return {"Code": code, "Data": data, "Message": message, "RequestId": str(uuid.uuid4()), "Success": success}


def model_info(repo_id: str, **overrides: Any) -> dict[str, Any]:
    """A model-info ``Data`` with the keys ``modelscope.hub.info.ModelInfo`` reads."""
    owner, name = repo_id.split("/", 1)
    data = {
        "Id": 424242, "Name": name, "Path": owner, "ChineseName": "小测试模型", "Visibility": 5,
        "IsPublished": 1, "IsOnline": 1, "AlreadyStar": False,
        "Description": "A tiny BERT for tests. It predicts masked tokens.", "License": "Apache License 2.0",
        "Downloads": 1234, "Stars": 56, "CreatedTime": 1700000000, "LastUpdatedTime": 1717200000,
        "Architectures": ["BertForMaskedLM"], "ModelType": ["bert"],
        "Tasks": [{"Id": 7, "Name": "fill-mask", "ChineseName": "完形填空", "Type": 1}],
        "ReadMeContent": "---\nlicense: apache-2.0\ntasks:\n- fill-mask\n---\n# tiny", "Organization": None,
        "CreatedBy": owner, "IsCertification": 0, "ApprovalMode": 1, "CardReady": 1, "BackendSupport": "{}",
        "ModelInfos": {}, "Tags": ["bert", "tiny"], "IsAccessible": 1, "Revision": "master",
        "RelatedArxivId": [], "RelatedPaper": [], "Frameworks": ["pytorch"], "Libraries": ["transformers"],
    }
    data.update(overrides)
    return data


class FakeModelScope:
    """The state of the loopback hub."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.not_found_as_200 = False
        self.token: str | None = None
        self.bytes_sent: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.errors: list[str] = []
        self._scripts: list[tuple[re.Pattern[str], list[Reply]]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def add_repo(self, repo_id: str, files: dict[str, bytes | str | Path], *, info: dict[str, Any] | None = None,
                 commit: str | None = None, **kwargs: Any) -> Repo:
        data = {p: (s.encode() if isinstance(s, str) else s.read_bytes() if isinstance(s, Path) else s)
                for p, s in files.items()}
        repo = Repo(repo_id, data, info if info is not None else model_info(repo_id),
                    commit or hashlib.sha1(repo_id.encode()).hexdigest(), **kwargs)
        self.repos[repo_id] = repo
        return repo

    def script(self, pattern: str, *replies: Reply) -> None:
        """The next requests whose path and query match ``pattern`` get these replies, in order."""
        with self._lock:
            self._scripts.append((re.compile(pattern), list(replies)))

    def _scripted(self, target: str) -> Reply | None:
        with self._lock:
            for rx, replies in self._scripts:
                if replies and rx.search(target):
                    return replies.pop(0)
        return None

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent.clear()
            self.requests.clear()

    def requests_to(self, pattern: str) -> list[tuple[str, str, dict[str, list[str]], dict[str, str]]]:
        rx = re.compile(pattern)
        return [r for r in self.requests if rx.search(r[1])]

    def start(self) -> FakeModelScope:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


_ROUTE = re.compile(r"^/api/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)(?P<rest>/repo/files|/repo|/revisions)?/?$")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeModelScope
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # noqa: BLE001 - recorded for the tests to assert on
            self.hub.errors.append(traceback.format_exc())
            self._send(500, envelope(None, code=500, message="test server error", success=False))

    def _get(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        with self.hub._lock:
            self.hub.requests.append(("GET", path, query, dict(self.headers.items())))
        reply = self.hub._scripted(f"{path}?{unquote(parts.query)}")
        if reply is not None and reply.delay:
            time.sleep(reply.delay)
        if reply is not None and reply.body is not None:
            self._send(reply.status, reply.body, reply.headers, truncate=reply.truncate)
            return
        m = _ROUTE.match(path)
        repo = self.hub.repos.get(f"{m['owner']}/{m['name']}") if m else None
        if repo is not None and repo.private and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            repo = None
        if m is None or repo is None:
            status = 200 if self.hub.not_found_as_200 else 404
            self._send(status, envelope(None, code=10010205, message="模型不存在 (model does not exist)",
                                        success=False))
            return
        revision = (query.get("Revision") or ["master"])[0]
        if m["rest"] != "/revisions" and revision not in (*repo.branches, *repo.tags, repo.commit):
            self._send(404 if not self.hub.not_found_as_200 else 200,
                       envelope(None, code=10010206, message=f"revision {revision} does not exist", success=False))
            return
        rest = m["rest"]
        if rest is None:
            self._send(200, envelope(repo.info), (reply.headers if reply else {}))
        elif rest == "/repo/files":
            self._send(200, envelope({"Files": repo.listing(), "LatestCommitter": {"CommitterName": "tester"}}))
        elif rest == "/revisions":
            def rev(name: str) -> dict[str, Any]:
                return {"Revision": name, "CreatedAt": 1717200000, "CommitId": repo.commit}

            self._send(200, envelope({"RevisionMap": {"Branches": [rev(b) for b in repo.branches],
                                                      "Tags": [rev(t) for t in repo.tags]}}))
        else:
            file_path = (query.get("FilePath") or [""])[0]
            data = repo.files.get(file_path)
            if data is None:
                self._send(404, envelope(None, code=10010207, message="file not found", success=False))
                return
            if reply is not None and reply.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            status = reply.status if reply is not None else 200
            if status != 200:
                self._send(status, envelope(None, code=status, message="scripted", success=False))
                return
            self._file(data, file_path, truncate=reply.truncate if reply else None)

    def _file(self, data: bytes, name: str, *, truncate: int | None) -> None:
        size = len(data)
        rng = self.headers.get("Range")
        start, end, status = 0, size - 1, 200
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng.strip())
            if m:
                start = int(m[1])
                end = min(int(m[2]) if m[2] else size - 1, size - 1)
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        body = data[start:end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        sent = body if truncate is None else body[:truncate]
        self.wfile.write(sent)
        with self.hub._lock:
            self.hub.bytes_sent[name] += len(sent)
        if truncate is not None:
            self.wfile.flush()
            self.close_connection = True

    def _send(self, status: int, body: bytes | str | dict | list | None, headers: dict[str, str] | None = None, *,
              truncate: int | None = None) -> None:
        raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (
            body.encode() if isinstance(body, str) else body or b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw if truncate is None else raw[:truncate])
        if truncate is not None:
            self.wfile.flush()
            self.close_connection = True
