"""The ModelScope backend: resolve, pull and load ``ms:OWNER/NAME[@REVISION]`` models.

ptmhub speaks ModelScope's REST API itself, through :mod:`ptmhub.http` (retries, offline guard,
typed errors); the ``modelscope`` package is not needed. The endpoints, as the ``modelscope``
client (``modelscope_hub._legacy_api.LegacyClient``) calls them, on ``MODELSCOPE_DOMAIN``
(default ``https://www.modelscope.cn``):

* ``GET /api/v1/models/OWNER/NAME?Revision=REV`` - the model's facts;
* ``GET /api/v1/models/OWNER/NAME/repo/files?Revision=REV&Recursive=True`` - every file with its
  ``Size``, ``Sha256`` and the commit that last changed it (``Revision``, ``CommittedDate``);
* ``GET /api/v1/models/OWNER/NAME/repo?Revision=REV&FilePath=PATH`` - one file (``Range`` works).

Every JSON answer is an envelope ``{"Code": 200, "Data": ..., "Message": ..., "RequestId": ...,
"Success": true}``; an error may come as HTTP 200 with another ``Code`` or ``Success: false``.

Files are pulled into the client's own cache layout (see :mod:`.cache`), so ``modelscope``'s
``snapshot_download(ID, local_files_only=True)`` finds them, and loaded from there offline
through :func:`ptmhub.loaders.load_folder`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import http, settings
from ... import safetensors_count as st
from ...errors import (
    AuthError,
    IntegrityError,
    MalformedResponseError,
    ModelNotFoundError,
    NotCachedError,
    PtmhubError,
    UntrustedRepoError,
    UsageError,
)
from ...ids import ModelId
from ...records import ModelRecord, summarize
from ..base import NO_CONTEXT, Backend, BackendContext, Loaded, PullResult
from .cache import (
    DEFAULT_REVISION,
    INCOMPLETE_SUFFIX,
    STAGING_PREFIX,
    legacy_dirs,
    manifest_path,
    repo_dir,
    snapshot_dir,
)

__all__ = ["TASKS", "ModelScopeBackend", "RepoFile", "parse_files", "record_from_info", "task_of"]

PLATFORM = "modelscope"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: a model-info answer carries the README (``ReadMeContent``): a few hundred kB at most
MAX_INFO_BYTES = 16 * 1024 * 1024
#: ``repo/files`` stops at 3,000 entries (``REPO_FILES_TRUNCATION_LIMIT`` in modelscope_hub)
LISTING_LIMIT = 3000
MAX_PATH_CHARS = 1024
MAX_FILES_IN_EXTRA = 2000
#: ModelScope task names with an exact Hugging Face pipeline-tag equivalent; others are kept as
#: they are (``word-segmentation``, ``named-entity-recognition``, ``chat`` ...)
TASKS = {
    "auto-speech-recognition": "automatic-speech-recognition",
    "image-object-detection": "object-detection",
    "text-to-image-synthesis": "text-to-image",
    "image-depth-estimation": "depth-estimation",
    "image-classification": "image-classification",
    "text-classification": "text-classification",
}
_FRAMEWORKS = {"pytorch": "pytorch", "torch": "pytorch", "tensorflow": "tensorflow", "tf": "tensorflow",
               "jax": "jax", "flax": "jax", "onnx": "onnx", "paddlepaddle": "paddlepaddle", "paddle": "paddlepaddle"}
_LOADABLE = ("transformers", "sentence-transformers", "timm")


@dataclass(frozen=True)
class RepoFile:
    """One file of the repo as ``repo/files`` lists it (checked before any use)."""

    path: str
    size: int | None
    sha256: str | None
    commit: str | None
    committed: int | None


# -- HTTP ------------------------------------------------------------------------------------------
def _endpoint() -> str:
    return settings.get().modelscope_endpoint


def _token() -> str | None:
    """MODELSCOPE_API_TOKEN, when set (sent only to the ModelScope endpoint)."""
    return settings.get().modelscope_token


def _headers() -> dict[str, str]:
    """Headers for requests to the endpoint: the token as the client sends it (a Bearer header and
    the ``m_session_id`` cookie). Only endpoint URLs get them; requests drops both on a redirect
    to another host (the file CDN)."""
    token = _token()
    return {"Authorization": f"Bearer {token}", "Cookie": f"m_session_id={token}"} if token else {}


def _api(mid: ModelId, suffix: str = "") -> str:
    return f"{_endpoint()}/api/v1/models/{mid.path}{suffix}"


def _file_url(mid: ModelId, revision: str, path: str) -> str:
    from urllib.parse import urlencode

    return _api(mid, "/repo?" + urlencode({"Revision": revision, "FilePath": path}))


def _refused(status: int, mid: ModelId, what: str, message: str = "") -> PtmhubError:
    detail = f": {http.redact(message)[:160]}" if message else ""
    has_token = _token() is not None
    if status == 401:
        if has_token:
            return AuthError(f"the hub refused your ModelScope token for {what} (401){detail}",
                             hint="create a new access token on ModelScope and set it for ptmhub", model_id=str(mid))
        return AuthError(f"{what}: ModelScope wants you to log in (401){detail}",
                         hint="the model may be private; set a ModelScope access token for ptmhub", model_id=str(mid))
    if status == 403:
        return AuthError(f"{what}: ModelScope refused access (403){detail}",
                         hint="check that your account may read this repository (some need approval on its page)",
                         model_id=str(mid))
    return ModelNotFoundError(f"{mid} was not found on ModelScope ({status}){detail}",
                              hint=f"check the ID and revision on {mid.with_(revision=None).url()}", model_id=str(mid))


def _envelope(body: Any, *, mid: ModelId, what: str) -> Any:
    """The ``Data`` of a ModelScope answer.

    Raises:
        ModelNotFoundError: ``Success: false`` or a ``Code`` other than 200 (the hub's way of
            saying "no such model or revision" with HTTP 200).
        AuthError: the envelope's code is 401 or 403.
        MalformedResponseError: not an envelope.
    """
    if not isinstance(body, dict) or not ("Data" in body or "Code" in body or "Success" in body):
        raise MalformedResponseError(f"ModelScope answered {what} with something other than its JSON envelope",
                                     hint="check MODELSCOPE_DOMAIN: it must be a ModelScope endpoint",
                                     model_id=str(mid))
    code = body.get("Code", 200)
    message = body.get("Message") if isinstance(body.get("Message"), str) else ""
    if body.get("Success") is False or code not in (200, "200", None):
        if code in (401, 403, "401", "403"):
            raise _refused(int(code), mid, what, message)
        raise ModelNotFoundError(f"ModelScope answered {what} with Code {str(code)[:20]}"
                                 + (f": {http.redact(message)[:160]}" if message else ""),
                                 hint=f"check the ID and revision on {mid.with_(revision=None).url()}",
                                 model_id=str(mid))
    return body.get("Data")


def _get(url: str, *, mid: ModelId, what: str) -> Any:
    """GET a ModelScope API URL and return the envelope's ``Data``.

    Raises:
        ModelNotFoundError, AuthError, MalformedResponseError, NetworkError, HubServerError,
        RateLimitedError, OfflineError.
    """
    response = http.request("GET", url, model_id=str(mid), what=what, headers=_headers(), stream=True,
                            allow_status=(401, 403, 404, 410))
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in http.iter_body(response, 65536):
            size += len(chunk)
            if size > MAX_INFO_BYTES:
                raise MalformedResponseError(f"ModelScope answered {what} with more than {MAX_INFO_BYTES:,} bytes",
                                             hint="check MODELSCOPE_DOMAIN: it must be a ModelScope endpoint",
                                             model_id=str(mid))
            chunks.append(chunk)
    finally:
        response.close()
    body = b"".join(chunks)
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):
        data = None
        if response.status_code < 400:
            raise MalformedResponseError(f"ModelScope answered {what} with malformed JSON",
                                         hint="retry later; if it persists, check MODELSCOPE_DOMAIN",
                                         model_id=str(mid)) from None
    if response.status_code >= 400:
        message = data.get("Message") if isinstance(data, dict) and isinstance(data.get("Message"), str) else ""
        raise _refused(response.status_code, mid, what, message)
    return _envelope(data, mid=mid, what=what)


# -- the answers, checked --------------------------------------------------------------------------
def _safe_path(value: Any) -> str | None:
    """A repo file path fit to be joined to a folder: relative, no ``..``, no backslash."""
    if not isinstance(value, str) or not value or len(value) > MAX_PATH_CHARS or _CONTROL.search(value):
        return None
    if value.startswith("/") or "\\" in value or ":" in value.split("/", 1)[0]:
        return None
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[-1].endswith(INCOMPLETE_SUFFIX):
        return None
    return value


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_files(data: Any, *, mid: ModelId) -> list[RepoFile]:
    """The blobs of a ``repo/files`` answer's ``Data`` (``{"Files": [...]}`` or a bare list).

    Raises:
        MalformedResponseError: not a list of entries, a path that would leave the model's folder,
            or a ``Sha256`` / commit that is not a hex digest.
    """
    entries = data.get("Files") if isinstance(data, dict) else data
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise MalformedResponseError(f"ModelScope's file list for {mid} is not a list", model_id=str(mid))
    out: list[RepoFile] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedResponseError(f"ModelScope's file list for {mid} has an entry that is not an object",
                                         model_id=str(mid))
        if (entry.get("Type") or "blob") == "tree":
            continue
        raw = entry.get("Path") or entry.get("Name")
        path = _safe_path(raw)
        if path is None:
            raise MalformedResponseError(f"ModelScope's file list for {mid} names an unsafe path {str(raw)[:60]!r}",
                                         hint="a file path is relative and stays inside the model's folder",
                                         model_id=str(mid))
        sha = entry.get("Sha256") or None
        if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha.lower())):
            raise MalformedResponseError(f"ModelScope's file list for {mid} gives {path} an invalid sha256 "
                                         f"{str(sha)[:70]!r}", model_id=str(mid))
        commit = entry.get("Revision") or None
        if commit is not None and not (isinstance(commit, str) and _COMMIT.fullmatch(commit)):
            raise MalformedResponseError(f"ModelScope's file list for {mid} gives {path} an invalid commit hash "
                                         f"{str(commit)[:60]!r}", hint="a commit hash is 40 hex digits",
                                         model_id=str(mid))
        if path in seen:
            continue
        seen.add(path)
        out.append(RepoFile(path, _int_or_none(entry.get("Size")), sha.lower() if sha else None, commit,
                            _int_or_none(entry.get("CommittedDate"))))
    return out


def _timestamp(value: Any) -> dt.datetime | None:
    """Epoch seconds (or milliseconds), or an ISO string, as the API sends times."""
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            seconds = float(value)
            seconds = seconds / 1000 if seconds > 1e11 else seconds
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _names(value: Any) -> list[str]:
    """Strings of a list of strings or of ``{"Name": ...}`` objects."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        name = item.get("Name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            out.append(name.strip())
    return out


def task_of(tasks: list[str]) -> str | None:
    """The record's task: the first ModelScope task, as its pipeline tag where one is the same task."""
    from ...vocab import pipeline_task

    return pipeline_task(TASKS.get(tasks[0], tasks[0])) if tasks else None


def _library_of(libraries: list[str], files: Iterable[str]) -> str | None:
    names = set(files)
    published = [lib.lower() for lib in libraries]
    for known in ("sentence-transformers", "timm", "diffusers", "transformers", "peft"):
        if known in published:
            return known
    if "modules.json" in names or "sentence_bert_config.json" in names:
        return "sentence-transformers"
    if "model_index.json" in names:
        return "diffusers"
    return None


def record_from_info(mid: ModelId, data: Any, files: list[RepoFile] | None) -> ModelRecord:
    """A record from the model-info ``Data`` (field names as modelscope's ``ModelInfo`` reads
    them) and the file list. Parameters are left to :meth:`ModelScopeBackend.resolve`.

    Raises:
        MalformedResponseError: ``Data`` is not an object.
    """
    from ...licenses import normalize

    if not isinstance(data, dict):
        raise MalformedResponseError(f"ModelScope's model info for {mid} is not an object", model_id=str(mid))
    base = mid.with_(revision=None)
    tasks = _names(data.get("Tasks"))
    tags = _names(data.get("Tags"))
    frameworks = [f.lower() for f in _names(data.get("Frameworks"))]
    libraries = _names(data.get("Libraries"))
    license_raw = data.get("License") if isinstance(data.get("License"), str) and data["License"].strip() else None
    model_types = _names(data.get("ModelType"))
    description = data.get("Description") if isinstance(data.get("Description"), str) else ""
    names = [f.path for f in files or []]
    framework = next((_FRAMEWORKS[f] for f in frameworks if f in _FRAMEWORKS), None)
    library = _library_of(libraries, names)
    size = sum(f.size or 0 for f in files) if files is not None and all(f.size is not None for f in files) else None
    commits = [f for f in files or [] if f.commit]
    latest = max(commits, key=lambda f: f.committed or 0) if commits else None
    ref = mid.revision or DEFAULT_REVISION
    hub_revision = data.get("Revision") if isinstance(data.get("Revision"), str) else None
    extra: dict[str, Any] = {
        "ref": ref, "tasks": tasks, "frameworks": frameworks, "libraries": libraries,
        "files": [{"name": f.path, "size": f.size, "sha256": f.sha256} for f in (files or [])[:MAX_FILES_IN_EXTRA]],
    }
    if files is not None and len(files) > MAX_FILES_IN_EXTRA:
        extra["files_truncated"] = len(files)
    if files is not None and len(files) >= LISTING_LIMIT:
        extra["listing_may_be_truncated"] = True
    if hub_revision:
        extra["hub_revision"] = hub_revision[:128]
    if isinstance(data.get("ChineseName"), str) and data["ChineseName"].strip():
        extra["chinese_name"] = data["ChineseName"].strip()[:200]
    if latest is not None:
        extra["latest_commit_date"] = _timestamp(latest.committed).isoformat() if latest.committed else None
    created = _timestamp(data.get("CreatedTime"))
    if created:
        extra["created_at"] = created.isoformat()
    return ModelRecord(
        id=base.key, platform=PLATFORM, name=mid.name, owner=mid.owner,
        task=task_of(tasks), license=normalize(license_raw), license_raw=license_raw,
        license_source="modelscope: model info (License)" if license_raw else None,
        framework=framework, library=library,
        format="safetensors" if any(n.endswith(".safetensors") for n in names) else None,
        downloads=_int_or_none(data.get("Downloads")),
        likes=_int_or_none(data.get("Stars") if data.get("Stars") is not None else data.get("Likes")),
        tags=tuple(dict.fromkeys(tags)),
        architecture=model_types[0].lower() if model_types else None,
        revision=latest.commit if latest is not None else None,
        size_bytes=size, source_url=mid.url(), summary=summarize(description) if description else None,
        last_modified=_timestamp(data.get("LastUpdatedTime")) or (_timestamp(latest.committed) if latest else None),
        fine_tunable=None, extra=extra,
    )


# -- the backend -----------------------------------------------------------------------------------
class ModelScopeBackend(Backend):
    """``ms:OWNER/NAME[@REVISION]`` models on ModelScope (or any ``MODELSCOPE_DOMAIN``)."""

    platform = PLATFORM
    # a resolve is ModelScope's whole answer about these: what it no longer publishes is cleared
    authoritative_fields = ("license", "task", "tags", "library", "framework", "format", "architecture")
    # git revisions: ms:X@v1.0 goes to the history; ms:X (the master branch) is the record
    keeps_revisions = True

    def pinned(self, model_id: ModelId) -> bool:
        return model_id.revision not in (None, DEFAULT_REVISION)

    def describe_origin(self, record: ModelRecord) -> str | None:
        if record.resolved_at or record.downloads is not None:
            return "ModelScope API (model info and file list)"
        return None

    @staticmethod
    def _check(model_id: ModelId) -> ModelId:
        if model_id.platform != PLATFORM:
            raise UsageError(f"{model_id} is not a ModelScope model", hint="use an ms:OWNER/NAME ID")
        return model_id

    # resolve -----------------------------------------------------------------------------------
    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """Ask ModelScope about one model and count its parameters from the safetensors headers
        (HTTP ``Range`` reads of a few kB), never by downloading the weights.

        Raises:
            ModelNotFoundError, AuthError, MalformedResponseError, NetworkError, HubServerError,
            RateLimitedError, OfflineError.
        """
        mid = self._check(model_id)
        record, files = self._describe(mid)
        return self._with_parameters(record, mid, files)

    def _describe(self, mid: ModelId) -> tuple[ModelRecord, list[RepoFile]]:
        from urllib.parse import urlencode

        ref = mid.revision or DEFAULT_REVISION
        info = _get(_api(mid, "?" + urlencode({"Revision": ref})), mid=mid, what=f"model info for {mid}")
        listing = _get(_api(mid, "/repo/files?" + urlencode({"Revision": ref, "Recursive": "True"})), mid=mid,
                       what=f"the file list of {mid}")
        files = parse_files(listing, mid=mid)
        return record_from_info(mid, info, files), files

    def _with_parameters(self, record: ModelRecord, mid: ModelId, files: list[RepoFile]) -> ModelRecord:
        """The count from the safetensors headers, read remotely; else None and why."""
        selection = st.select_weight_files(f.path for f in files)
        if selection.reason:
            return record.replace(parameters=None, parameters_source=None, parameters_note=selection.reason)
        ref = mid.revision or DEFAULT_REVISION
        sizes = {f.path: f.size for f in files}
        try:
            count = st.count_remote(selection, lambda name: _file_url(mid, ref, name), headers=_headers(),
                                    model_id=record.id, sizes=sizes,
                                    budget=st.HeaderBudget.from_settings(model_id=record.id))
        except PtmhubError as exc:
            return record.replace(parameters=None, parameters_source=None,
                                  parameters_note=f"could not read the safetensors headers: {exc.message}")
        extra = {**record.extra, "parameters_by_dtype": count.parameters_by_dtype, "counted_files": count.files,
                 "header_bytes_fetched": count.bytes_fetched}
        return record.replace(parameters=count.parameters, parameters_source="safetensors-header",
                              parameters_note=f"{count.description}, read remotely with HTTP Range "
                                              f"({count.bytes_fetched:,} bytes in {count.requests} requests)",
                              extra=extra)

    # pull --------------------------------------------------------------------------------------
    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        """Download every file of the revision into the client's cache layout
        (``models/OWNER--NAME/snapshots/REVISION``).

        Files go to a staging folder beside ``snapshots/``, each checked against the size and
        sha256 the file list publishes; the folder becomes ``snapshots/REVISION`` only when all are
        complete, so an interrupted or failed pull leaves nothing that looks like a cached model.
        Files of an earlier pull whose sha256 still matches are reused, not downloaded again.

        Raises:
            IntegrityError: a file's size or sha256 differs from what the file list publishes.
            UsageError: a revision with '/' (the client would nest folders).
            ModelNotFoundError, AuthError, MalformedResponseError, NetworkError, OfflineError.
        """
        mid = self._check(model_id)
        ref = mid.revision or DEFAULT_REVISION
        if "/" in ref:
            raise UsageError(f"{mid}: ptmhub does not pull revisions with '/' in their name",
                             hint="pull a tag or commit of that branch instead", model_id=str(mid))
        record, files = self._describe(mid)
        if record.extra.get("listing_may_be_truncated"):
            raise UsageError(f"{mid} lists {len(files):,} files, as many as ModelScope's file list returns: it may "
                             "have more, and ptmhub does not pull a repo it cannot list whole",
                             hint="download it with the modelscope client, which walks the tree folder by folder",
                             model_id=str(mid))
        if not files:
            raise ModelNotFoundError(f"{mid} has no files at revision {ref}", hint="check the revision",
                                     model_id=str(mid))
        repo = repo_dir(mid.path)
        target = snapshot_dir(mid.path, ref)
        repo.mkdir(parents=True, exist_ok=True)
        staging = repo / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        downloaded = 0
        try:
            for f in files:
                downloaded += self._fetch(mid, ref, f, staging, reuse=target, progress=progress)
            self._install(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            for empty in (repo / "snapshots", repo):  # left as found: no empty folders of a failed pull
                try:
                    empty.rmdir()
                except OSError:
                    pass
            raise
        manifest = {"id": str(mid), "revision": ref, "commit": record.revision,
                    "pulled_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "files": {f.path: {"size": f.size, "sha256": f.sha256} for f in files}}
        _write_json(manifest_path(mid.path, ref), manifest)
        record = self._with_folder(record, target, files)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        record = record.replace(cached=True, cache_path=str(target), cache_size_bytes=size,
                                extra={**record.extra, "pull_files": sorted(f.path for f in files)})
        return PullResult(record=record, path=str(target), bytes_downloaded=downloaded,
                          files=sorted(f.path for f in files))

    def _fetch(self, mid: ModelId, ref: str, f: RepoFile, staging: Path, *, reuse: Path,
               progress: Callable[[int], None] | None) -> int:
        """One file into ``staging``: reused from ``reuse`` when its hash matches, else downloaded
        to a temporary name, checked, and renamed. Returns the bytes downloaded.

        Raises:
            IntegrityError: the size or sha256 differs from the file list's.
            NetworkError: the body broke off or ended short.
        """
        dest = staging / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        old = reuse / f.path
        if old.is_file() and not old.is_symlink() and f.sha256 and _sha256(old) == f.sha256:
            try:
                os.link(old, dest)
            except OSError:
                shutil.copy2(old, dest)
            return 0
        tmp = dest.with_name(dest.name + INCOMPLETE_SUFFIX)
        digest = hashlib.sha256()
        written = 0
        response = http.request("GET", _file_url(mid, ref, f.path), model_id=str(mid), stream=True,
                                headers={**_headers(), "Accept-Encoding": "identity"},
                                what=f"downloading {f.path} of {mid}", allow_status=(401, 403, 404, 410))
        try:
            if response.status_code in (404, 410):
                raise ModelNotFoundError(f"{f.path} is not in {mid} at revision {ref} ({response.status_code})",
                                         hint="the file list may have changed meanwhile; pull again",
                                         model_id=str(mid))
            if response.status_code >= 400:
                raise _refused(response.status_code, mid, f"downloading {f.path}")
            with open(tmp, "wb") as out:
                written = http.stream_to_file(response, out, progress=progress, digest=digest)
        finally:
            response.close()
        if f.size is not None and written != f.size:
            raise IntegrityError(f"{f.path} of {mid}: got {written:,} bytes, the file list says {f.size:,}",
                                 hint="retry; nothing was marked cached", model_id=str(mid))
        if f.sha256 and digest.hexdigest() != f.sha256:
            raise IntegrityError(f"{f.path} of {mid}: sha256 {digest.hexdigest()[:16]}... differs from the published "
                                 f"{f.sha256[:16]}...", hint="retry; if it persists the hub serves a corrupt file "
                                                             "(nothing was marked cached)", model_id=str(mid))
        os.replace(tmp, dest)
        return written

    @staticmethod
    def _install(staging: Path, target: Path) -> None:
        """Put the complete staging folder at ``target``, replacing an older copy of the revision."""
        target.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if target.exists():
            old = target.parent.parent / f"{STAGING_PREFIX}old-{uuid.uuid4().hex[:8]}"  # beside snapshots/
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _with_folder(record: ModelRecord, folder: Path, files: list[RepoFile]) -> ModelRecord:
        """What the pulled files tell and the API did not: library, framework, architecture."""
        from ...localmodel import folder_facts

        try:
            facts = folder_facts(folder, [f.path for f in files])
        except (OSError, PtmhubError):
            return record
        changes: dict[str, Any] = {}
        for name in ("library", "framework", "architecture", "format", "fine_tunable"):
            if getattr(record, name) is None and facts.get(name) is not None:
                changes[name] = facts[name]
        if record.parameters is None and facts.get("parameters") is not None:
            changes.update(parameters=facts["parameters"], parameters_source=facts.get("parameters_source"),
                           parameters_note=facts.get("parameters_note"))
        extra = dict(record.extra)
        for key in ("architectures", "custom_code"):
            if key in facts.get("extra", {}):
                extra[key] = facts["extra"][key]
        return record.replace(**changes, extra=extra)

    # load --------------------------------------------------------------------------------------
    def local_folder(self, model_id: ModelId, record: ModelRecord | None) -> Path:
        """The cached folder the client would use offline (see :func:`find_snapshot`).

        Raises:
            NotCachedError: the model is not in the ModelScope cache.
        """
        mid = self._check(model_id)
        folder = find_snapshot(mid)
        if folder is None:
            raise NotCachedError(f"{mid} is not in the ModelScope cache ({settings.get().modelscope_cache})",
                                 hint=f"run 'ptmhub pull {mid}' first", model_id=str(mid))
        return folder

    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             **kwargs: Any) -> Loaded:
        """Load a pulled model from the ModelScope cache, offline, with the library its files name
        (transformers, sentence-transformers, timm) through :func:`ptmhub.loaders.load_folder`.

        Raises:
            NotCachedError: the model is not cached (run ``ptmhub pull``), or its files are incomplete.
            UntrustedRepoError: the model needs its own Python code.
            UsageError: the folder holds no model ptmhub can load (e.g. a ModelScope pipeline).
            MissingDependencyError: the framework is not installed.
        """
        from ...loaders import load_folder

        mid = self._check(model_id)
        folder = self.local_folder(mid, record)
        if record is not None and record.extra.get("custom_code"):
            raise UntrustedRepoError(f"{mid} needs its own Python code (trust_remote_code), which ptmhub does not run",
                                     hint="load it with transformers yourself if you trust the repository",
                                     model_id=str(mid))
        model, preprocess, framework = load_folder(folder, label=str(mid), auto_class=kwargs.pop("auto_class", None),
                                                   **kwargs)
        return Loaded(model=model, preprocess=preprocess, framework=framework, record=record)


def find_snapshot(mid: ModelId) -> Path | None:
    """The cached folder of ``mid``, found as the client finds it offline: ``snapshots/REVISION``
    for ``ms:X@REVISION``; for ``ms:X``, ``snapshots/master``, ``snapshots/main``, the only snapshot,
    else a folder of the 1.37-and-earlier layout. A folder with a ``.incomplete`` file is none."""
    root = repo_dir(mid.path) / "snapshots"

    def usable(path: Path) -> bool:
        try:
            return path.is_dir() and any(path.iterdir()) and not any(
                p.name.endswith(INCOMPLETE_SUFFIX) for p in path.rglob("*"))
        except OSError:
            return False

    if mid.revision:
        path = root / mid.revision
        return path if "/" not in mid.revision and usable(path) else None
    for name in (DEFAULT_REVISION, "main"):
        if usable(root / name):
            return root / name
    candidates = [p for p in sorted(root.iterdir()) if usable(p)] if root.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise NotCachedError(f"{mid}: several revisions are cached ({', '.join(p.name for p in candidates[:5])}) "
                             "and none is master", hint=f"name one, e.g. 'ms:{mid.path}@{candidates[0].name}'",
                             model_id=str(mid))
    return next((p for p in legacy_dirs(mid.path) if usable(p)), None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` by rename (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)

