"""The Hugging Face Hub backend: resolve, sync, pull and load ``hf:`` models.

Built on ``huggingface_hub`` (``HfApi.model_info``, ``snapshot_download``, ``hf_hub_download``)
so that its settings hold: ``HF_ENDPOINT``, ``HF_TOKEN`` or the stored login, ``HF_HUB_OFFLINE``,
``HF_HOME`` / ``HF_HUB_CACHE``. ptmhub adds what the library leaves out:

* bounded retries of the API calls with backoff that honours ``Retry-After`` / ``RateLimit``
  (huggingface_hub does not retry ``model_info``), and one-line typed errors with a fix;
* a parameter count that is never guessed: the API's ``safetensors.total`` (checked against its
  per-dtype sum), else the safetensors headers (cached files of the same commit, else remote
  ``Range`` reads), else ``config.json`` built on the meta device, else ``None`` with the reason;
* a resumable catalog sync. ``HfApi.list_models`` is a generator that keeps the next-page URL
  to itself, so a sync interrupted on page 300 would have to start again from page 1; this
  module pages ``GET /api/models`` itself (through :mod:`ptmhub.http`) and saves the ``Link``
  cursor after each page is stored, and parses every item with huggingface_hub's ``ModelInfo``.

Frameworks are imported inside functions only: importing this module costs nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ... import http, settings
from ...errors import (
    AuthError,
    GatedModelError,
    HubServerError,
    IntegrityError,
    InvalidIdError,
    MalformedResponseError,
    MissingDependencyError,
    ModelNotFoundError,
    NetworkError,
    NotCachedError,
    OfflineError,
    PtmhubError,
    RateLimitedError,
    UntrustedRepoError,
    UsageError,
)
from ...folders import read_config
from ...ids import ModelId
from ...ids import parse as parse_id
from ...records import ModelRecord
from ... import safetensors_count as st
from ..base import Backend, BackendContext, Loaded, NO_CONTEXT, PullResult, SyncReport

if TYPE_CHECKING:
    from ...registry.store import Store

__all__ = ["HuggingFaceBackend", "sync", "record_from_info", "call_hub", "select_pull_files", "SYNC_SORTS",
           "SYNC_EXPAND"]

PLATFORM = "huggingface"
#: ``ptmhub sync hf --sort`` values -> the Hub's sort keys.
SYNC_SORTS = {"downloads": "downloads", "likes": "likes", "trending": "trendingScore", "created": "createdAt",
              "modified": "lastModified"}
#: Fields a sync asks for (``expand``): what a record needs, without the file list.
SYNC_EXPAND = ("author", "cardData", "createdAt", "downloads", "gated", "lastModified", "library_name", "likes",
               "model-index", "pipeline_tag", "private", "safetensors", "sha", "tags", "trendingScore")
MAX_FILES_IN_EXTRA = 2000
_RETRY_STATUS = (408, 429, 500, 502, 503, 504)
#: X-Error-Code values the Hub sends and huggingface_hub types (RepoNotFound, GatedRepo, ...).
_KNOWN_ERROR_CODES = ("RepoNotFound", "GatedRepo", "EntryNotFound", "RevisionNotFound")
_PICKLE = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_OTHER_FORMATS = (".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".mlmodel", ".tflite", ".gguf", ".keras", ".pb")
_OTHER_DIRS = ("onnx/", "coreml/", "openvino/", "tflite/", "tfjs/")
_PYTORCH_LIBRARIES = {"diffusers", "timm", "sentence-transformers", "peft", "open_clip", "pyannote-audio",
                      "speechbrain", "nemo", "ultralytics", "setfit", "span-marker", "flair", "fastai", "pytorch",
                      "stable-baselines3", "espnet", "asteroid", "transformers.js"}
_TF_LIBRARIES = {"keras", "tf-keras", "tensorflowtts", "tensorflow", "keras-hub", "tfhub"}
_FINE_TUNABLE_LIBRARIES = {"transformers", "timm", "sentence-transformers"}
_COMMIT = re.compile(r"[0-9a-f]{40}")
#: Files that hold weights: a snapshot without one is not a cached model.
_WEIGHTS = (".safetensors", *_PICKLE, *_OTHER_FORMATS)


def _checked_sha(value: Any, *, what: str, model_id: str | None = None) -> str:
    """A commit hash the server sent, checked (40 lowercase hex) before it is stored or put in a path.

    Raises:
        MalformedResponseError: anything else (a mirror's garbage, or ``../`` aimed at the cache).
    """
    if isinstance(value, str) and _COMMIT.fullmatch(value):
        return value
    shown = repr(value)[:60]
    raise MalformedResponseError(f"the hub answered {what} with an invalid commit hash {shown}",
                                 hint="a commit hash is 40 hex digits; check HF_ENDPOINT (a mirror may not be "
                                      "serving git commits)", model_id=model_id)


def _source_url(repo_id: str) -> str:
    """The model's page on the configured endpoint (HF_ENDPOINT), not always huggingface.co."""
    return f"{_endpoint()}/{repo_id}"


def _hf() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise MissingDependencyError("huggingface_hub", "hf", purpose="the Hugging Face backend") from None
    return huggingface_hub


def _endpoint() -> str:
    return settings.get().hf_endpoint


def _token() -> str | None:
    """HF_TOKEN when set; otherwise None, which lets huggingface_hub use the stored login."""
    return settings.get().hf_token or None


def _api() -> Any:
    from ... import __version__

    return _hf().HfApi(endpoint=_endpoint(), token=_token(), library_name="ptmhub", library_version=__version__)


#: config.json files are a few kB; a larger one is not a config ptmhub reads.
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_configs: dict[tuple[str, str], dict[str, Any]] = {}


def _fetch_config(record: ModelRecord) -> dict[str, Any]:
    """config.json at the record's commit, read into memory (bounded), never written to the HF
    cache: a resolve must not leave a config-only snapshot that looks like a half-pulled model.
    Kept per (repo, commit) for the rest of the process (a commit never changes).

    Raises:
        PtmhubError: the request failed, or the body is not a JSON object.
    """
    repo_id = record.id.removeprefix("hf:")
    key = (f"{_endpoint()}/{repo_id}", record.revision or "")
    if key not in _configs:
        config = http.get_json(f"{_endpoint()}/{repo_id}/resolve/{record.revision}/config.json",
                               headers=_auth_headers(), max_bytes=_MAX_CONFIG_BYTES, model_id=record.id,
                               what=f"reading config.json of {record.id}")
        if not isinstance(config, dict):
            raise MalformedResponseError(f"config.json of {record.id} is not a JSON object", model_id=record.id)
        if len(_configs) > 256:
            _configs.clear()
        _configs[key] = config
    return _configs[key]


def _listing_refused(response: Any, *, has_token: bool) -> PtmhubError:
    """Why ``GET /api/models`` failed. The Hub lists models to anyone, so a 401 or 404 there means
    an endpoint without the listing API (a download-only mirror), unless a token was refused."""
    status = response.status_code
    server = response.headers.get("X-Error-Message") or ""
    if status == 401 and has_token and "invalid credentials" in server.lower():
        return AuthError("the hub refused your token for listing models (401)",
                         hint="create a new token and set HF_TOKEN, or run 'hf auth login'")
    code = http.redact(response.headers.get("X-Error-Code") or "")[:40]
    return NetworkError(f"{_endpoint()} cannot list models (HTTP {status}" + (f", X-Error-Code {code}" if code else "")
                        + ")", hint="HF_ENDPOINT may be a mirror that serves downloads only: resolve, pull and load "
                                    "work there, 'sync hf' needs the Hub's /api/models")


def _auth_headers() -> dict[str, str]:
    """Headers for requests ptmhub makes itself to the endpoint: user agent and, if any, the token."""
    from ... import __version__

    try:
        _hf()
        from huggingface_hub.utils import build_hf_headers

        return dict(build_hf_headers(token=_token(), library_name="ptmhub", library_version=__version__))
    except Exception:  # a broken stored token must not stop anonymous reads
        return {}


def _page_url(repo_id: str) -> str:
    return f"{_endpoint()}/{repo_id}"


# -- errors and backoff --------------------------------------------------------------------------
def _status_and_headers(exc: BaseException) -> tuple[int | None, Mapping[str, str]]:
    response = getattr(exc, "response", None)
    if response is None:
        return None, {}
    return getattr(response, "status_code", None), getattr(response, "headers", {}) or {}


def _root_cause(exc: BaseException) -> BaseException:
    """snapshot_download wraps API failures in LocalEntryNotFoundError: look at what it wraps."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen = 0
    while isinstance(exc, LocalEntryNotFoundError) and exc.__cause__ is not None and seen < 5:
        exc, seen = exc.__cause__, seen + 1
    return exc


def map_error(exc: BaseException, *, what: str, model_id: str | None = None) -> tuple[PtmhubError, bool]:
    """Turn a huggingface_hub / httpx error into (ptmhub error, worth retrying)."""
    import httpx2

    _hf()
    from huggingface_hub import errors
    if isinstance(exc, PtmhubError):
        return exc, False
    exc = _root_cause(exc)
    subject = model_id or "the model"
    status, headers = _status_and_headers(exc)
    server = (headers.get("X-Error-Message") or "") if headers else ""
    page = _page_url(model_id.removeprefix("hf:").split("@")[0]) if model_id else _endpoint()
    if isinstance(exc, errors.HFValidationError):  # refused before any request: the ID, not the hub
        return InvalidIdError(f"{model_id or 'the ID'} is not a valid Hugging Face repo id: "
                              f"{http.redact(str(exc).splitlines()[0])[:160]}",
                              hint="use OWNER/NAME of letters, digits, '-', '_', '.' (no '--' or '..', at most "
                                   "96 characters)", model_id=model_id), False
    code = (headers.get("X-Error-Code") or "") if headers else ""
    if status in (401, 404) and code and code not in _KNOWN_ERROR_CODES:
        # a mirror's own code (e.g. a route it lacks): not "log in", not "no such model"
        return NetworkError(f"{what}: {_endpoint()} cannot answer this request (HTTP {status}, X-Error-Code "
                            f"{http.redact(code)[:40]})",
                            hint="HF_ENDPOINT may be a mirror without this part of the Hub API; use the Hub or a "
                                 "mirror that serves it", model_id=model_id), False
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return OfflineError(f"offline mode is on and {what} needs the network",
                            hint=f"run 'ptmhub pull {model_id}' while online" if model_id else "unset HF_HUB_OFFLINE",
                            model_id=model_id), False
    if isinstance(exc, errors.GatedRepoError):
        if status == 403:
            return GatedModelError(f"{subject} is gated and your account has not been granted access (403)",
                                   hint=f"accept the terms at {page} and wait for approval, then retry",
                                   model_id=model_id), False
        return GatedModelError(f"{subject} is gated: the hub wants you to log in (401)",
                               hint=f"accept the terms at {page}, then set HF_TOKEN or run 'hf auth login'",
                               model_id=model_id), False
    if isinstance(exc, errors.RevisionNotFoundError):
        return ModelNotFoundError(f"{subject} has no such revision on the hub ({status or 404})",
                                  hint="give a branch, tag or commit that exists, or drop '@REVISION'",
                                  model_id=model_id), False
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return ModelNotFoundError(f"{what}: the file is not in {subject} ({status or 404})",
                                  hint="check the file name and revision", model_id=model_id), False
    if isinstance(exc, errors.DisabledRepoError):
        return ModelNotFoundError(f"{subject} has been disabled on the hub ({status})",
                                  hint="find another model with 'ptmhub search'", model_id=model_id), False
    if status == 401 and "invalid credentials" in server.lower():
        return AuthError(f"the hub refused your token for {what} (401)",
                         hint="create a new token and set HF_TOKEN, or run 'hf auth login'", model_id=model_id), False
    if isinstance(exc, errors.RepositoryNotFoundError) or status == 404:
        name = (model_id or "").removeprefix("hf:")
        search = f"'ptmhub search {name.split('/')[-1]}'" if name else "'ptmhub search'"
        request = getattr(getattr(exc, "response", None), "request", None)
        sent_token = bool(request is not None and request.headers.get("authorization"))
        if status == 401 and sent_token:
            return ModelNotFoundError(f"{subject} was not found on the hub, or your token cannot read it (401)",
                                      hint=f"check the ID with {search}, and that the token has read access to "
                                           "the repo", model_id=model_id), False
        if status == 401:
            return ModelNotFoundError(f"{subject} was not found on the hub, or it is private and you are not "
                                      "logged in (401)",
                                      hint=f"check the ID with {search}; for a private repo set HF_TOKEN or run "
                                           "'hf auth login'", model_id=model_id), False
        return ModelNotFoundError(f"{subject} was not found on the hub (404)",
                                  hint=f"check the ID, or find models with {search}", model_id=model_id), False
    if status == 401:
        return AuthError(f"{what}: the hub wants you to log in (401)",
                         hint="set HF_TOKEN or run 'hf auth login'", model_id=model_id), False
    if status == 403:
        return AuthError(f"{what}: the hub refused access (403)",
                         hint="check that your token may read this repository (fine-grained tokens need "
                              "read access to it)", model_id=model_id), False
    if status == 429:
        return RateLimitedError(f"the hub kept rate-limiting {what} (429)",
                                hint="wait a few minutes and retry; a token (HF_TOKEN) raises the limit, and "
                                     "PTMHUB_MAX_WAIT allows longer waits", model_id=model_id), True
    if status is not None and status in _RETRY_STATUS:
        return HubServerError(f"the hub failed {what} with HTTP {status} after retries",
                              hint="the hub may be down; retry later", model_id=model_id), True
    if status is not None and status >= 400:
        detail = f": {http.redact(server)}" if server else ""
        return NetworkError(f"{what} got HTTP {status} from the hub{detail}", model_id=model_id), False
    if isinstance(exc, httpx2.TimeoutException):
        return NetworkError(f"{what} timed out after retries ({type(exc).__name__})",
                            hint="check your connection, raise PTMHUB_HTTP_TIMEOUT, or use --offline with cached "
                                 "models", model_id=model_id), True
    if isinstance(exc, (httpx2.TransportError, ConnectionError)):
        return NetworkError(f"{what} failed: could not reach {_endpoint()} ({type(exc).__name__})",
                            hint="check your connection and HF_ENDPOINT, or use --offline with cached models",
                            model_id=model_id), True
    if isinstance(exc, errors.LocalEntryNotFoundError):
        return NotCachedError(f"{subject} is not in the Hugging Face cache and the hub could not be asked",
                              hint=f"run 'ptmhub pull {model_id}' while online" if model_id else None,
                              model_id=model_id), False
    if isinstance(exc, (ValueError, KeyError, TypeError)):  # r.json() on a broken body, or a body of the wrong shape
        return MalformedResponseError(f"the hub answered {what} with malformed data ({type(exc).__name__})",
                                      hint="retry later; if it persists, the endpoint may not be a Hub "
                                           "(check HF_ENDPOINT)", model_id=model_id), False
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return NetworkError(f"{what} failed: {type(exc).__name__}: {http.redact(first_line)}",
                        model_id=model_id), False


def call_hub(fn: Callable[[], Any], *, what: str, model_id: str | None = None, retry: bool = True) -> Any:
    """Call huggingface_hub with bounded retries on 429/5xx/timeouts and typed errors.

    The total sleep is bounded by ``PTMHUB_MAX_WAIT`` and the number of tries by
    ``PTMHUB_MAX_RETRIES`` + 1; a 429 waits what ``Retry-After`` / ``RateLimit`` asks, or
    gives up at once when that is more than the budget left. ``retry=False`` for calls that
    huggingface_hub already retries itself (file downloads: its ``http_backoff``, at most 6
    tries and 23 s of sleep per file): wrapping them multiplied the tries (35 HEADs and 119 s
    for one file answering 500, over the 60 s budget).

    Raises:
        OfflineError: offline mode is on (nothing is attempted).
        PtmhubError: the mapped error of the last try.
    """
    http.check_online(what, model_id=model_id)
    cfg = settings.get()
    waited = 0.0
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a typed error below
            error, retryable = map_error(exc, what=what, model_id=model_id)
            if not retry or not retryable or attempt >= cfg.max_retries:
                raise error from None
            _, headers = _status_and_headers(_root_cause(exc))
            if headers and ("Retry-After" in headers or "RateLimit" in headers or "ratelimit" in headers):
                delay = http.retry_after_seconds(headers, attempt)
            else:
                delay = min(30.0, 0.25 * 2**attempt)
            if waited + delay > cfg.max_wait:
                if delay > cfg.max_wait:
                    error = type(error)(f"{error.message}; it asks to wait {delay:.0f} s", hint=error.hint,
                                        model_id=model_id)
                raise error from None
            time.sleep(delay)
            waited += delay
            attempt += 1


# -- mapping a ModelInfo into a record -------------------------------------------------------------
def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _card(info: Any) -> dict[str, Any]:
    card = getattr(info, "card_data", None)
    if card is None:
        return {}
    if isinstance(card, dict):
        return dict(card)
    try:
        return dict(card.to_dict())
    except Exception:  # noqa: BLE001 - a card we cannot read is an empty card
        return {}


def _card_str(card: Mapping[str, Any], key: str) -> str | None:
    value = card.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _tag_values(tags: Iterable[str], prefix: str) -> list[str]:
    return [t[len(prefix):] for t in tags if t.startswith(prefix) and len(t) > len(prefix)]


def license_of(card: Mapping[str, Any], tags: Iterable[str]) -> tuple[str | None, str | None, str | None]:
    """(normalized license, the hub's words, where it came from) from card metadata or tags."""
    from ...licenses import category, normalize

    raw_values = _as_list(card.get("license"))
    source = "huggingface: model card metadata (cardData.license)"
    if not raw_values:
        raw_values = _tag_values(tags, "license:")
        source = "huggingface: repo tag license:*"
    if not raw_values:
        return None, None, None
    raw = raw_values[0]
    lic = normalize(raw)
    if lic == "other":
        name = card.get("license_name")
        link = card.get("license_link")
        words = ", ".join(str(v) for v in (name, link) if v)
        candidate = normalize(str(name)) if name else None
        if candidate and category(candidate) != "unknown":
            lic = candidate
        return lic, f"other ({words})" if words else "other", source
    text = ", ".join(raw_values)
    return lic, text, source


def base_models_of(info: Any, card: Mapping[str, Any], tags: Iterable[str]) -> tuple[list[str], str | None]:
    """Base model ids and the relation (finetune, adapter, quantized, merge) when the hub says it."""
    relation = None
    models: list[str] = []
    api_value = getattr(info, "base_models", None)
    if isinstance(api_value, dict):
        relation = api_value.get("relation")
        models = [m.get("id") if isinstance(m, dict) else str(m) for m in api_value.get("models") or []]
    if not models:
        models = _as_list(card.get("base_model"))
    if not models:
        for value in _tag_values(tags, "base_model:"):
            parts = value.split(":", 1)
            if len(parts) == 2 and parts[0] in ("finetune", "adapter", "quantized", "merge"):
                relation = relation or parts[0]
                models.append(parts[1])
            elif ":" not in value:
                models.append(value)
    if relation is None and card.get("base_model_relation"):
        relation = str(card["base_model_relation"])
    seen: list[str] = []
    for m in models:
        if m and m not in seen:
            seen.append(m)
    return seen, relation


def framework_of(library: str | None, tags: Iterable[str], files: Iterable[str] = ()) -> str | None:
    tags = set(tags)
    names = list(files)
    if library == "transformers" or library is None:
        if {"pytorch", "safetensors"} & tags or any(n.endswith((".safetensors", ".bin")) for n in names):
            return "pytorch" if library == "transformers" or "pytorch" in tags else None
        if "tf" in tags or "tensorflow" in tags:
            return "tensorflow"
        if "jax" in tags or "flax" in tags:
            return "jax"
        return None
    if library in _PYTORCH_LIBRARIES:
        return "pytorch"
    if library in _TF_LIBRARIES:
        return "tensorflow"
    if library in ("jax", "flax"):
        return "jax"
    if library in ("mlx", "onnx", "gguf"):
        return library
    return None


def format_of(files: Iterable[str], tags: Iterable[str]) -> str | None:
    names = list(files)
    tags = set(tags)
    for suffix, name in ((".safetensors", "safetensors"), (".gguf", "gguf")):
        if any(n.endswith(suffix) for n in names):
            return name
    if any(n.endswith(_PICKLE) for n in names):
        return "pickle"
    if any(n.endswith(".onnx") for n in names):
        return "onnx"
    for tag in ("safetensors", "gguf", "onnx"):
        if tag in tags:
            return tag
    return None


def _parameters_from_api(info: Any) -> tuple[int | None, str | None, dict[str, int]]:
    """(total, note, per-dtype) from ``safetensors`` in the API answer; total None when missing or wrong."""
    sf = getattr(info, "safetensors", None)
    if not sf:
        return None, "the Hub API publishes no safetensors parameter count", {}
    try:
        by_dtype = {str(k): int(v) for k, v in dict(sf.get("parameters") or {}).items()}
        total = int(sf.get("total")) if sf.get("total") is not None else None
    except (TypeError, ValueError, AttributeError):
        return None, "the Hub API's safetensors field is malformed", {}
    dtype_sum = sum(by_dtype.values())
    if total is None:
        return None, "the Hub API's safetensors field has no total", by_dtype
    if not by_dtype:
        return None, f"the Hub API's safetensors.total ({total:,}) comes without a per-dtype breakdown to check it", {}
    if dtype_sum != total:
        return None, (f"the Hub API's safetensors.total ({total:,}) disagrees with its per-dtype sum "
                      f"({dtype_sum:,}), so it was not used"), by_dtype
    dtypes = ", ".join(sorted(by_dtype))
    return total, f"safetensors.total from the Hub API, equal to its per-dtype sum ({dtypes})", by_dtype


def record_from_info(info: Any, *, requested: ModelId | None = None) -> ModelRecord:
    """Map a huggingface_hub ``ModelInfo`` (from model_info or a list page) into a record.

    No network: parameters are taken from the API's ``safetensors`` field only (when its
    total equals the per-dtype sum); :meth:`HuggingFaceBackend.resolve` does the rest.
    ``info`` may also be the API's JSON body as a dict.

    Raises:
        MalformedResponseError: the body does not have the shape the Hub API documents (the
            repo id is invalid, or a field has the wrong type).
    """
    try:
        if isinstance(info, Mapping):
            _hf()
            from huggingface_hub.hf_api import ModelInfo

            info = ModelInfo(**{"siblings": None, **info})
        return _record_from_info(info, requested=requested)
    except PtmhubError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        shown = requested or (info.get("id") if isinstance(info, Mapping) else getattr(info, "id", "?"))
        raise MalformedResponseError(
            f"the Hub's answer for {str(shown)[:100]!r} has an unexpected shape ({type(exc).__name__})",
            hint="retry later; if it persists the Hub API changed: please report it") from None


def _record_from_info(info: Any, *, requested: ModelId | None = None) -> ModelRecord:
    repo_id = str(info.id)
    mid = parse_id(f"hf:{repo_id}")
    if mid.revision is not None:
        raise MalformedResponseError(f"the Hub answered with an invalid repo id {repo_id[:100]!r}")
    tags = [str(t) for t in (info.tags or [])]
    card = _card(info)
    siblings = info.siblings or []
    files = [s.rfilename for s in siblings]
    sizes = [s.size for s in siblings]
    # a mirror (or an old API answer) may carry these only in the card's front matter
    library = getattr(info, "library_name", None) or _card_str(card, "library_name")
    lic, lic_raw, lic_source = license_of(card, tags)
    bases, relation = base_models_of(info, card, tags)
    parameters, note, by_dtype = _parameters_from_api(info)
    config = info.config if isinstance(getattr(info, "config", None), dict) else {}
    tinfo = getattr(info, "transformers_info", None)
    task = (info.pipeline_tag or (tinfo.get("pipeline_tag") if isinstance(tinfo, dict) else None)
            or _card_str(card, "pipeline_tag"))
    sha = _checked_sha(info.sha, what=f"model info for {repo_id[:100]}") if info.sha is not None else None
    gated = info.gated
    extra: dict[str, Any] = {}
    if files:
        extra["files"] = [{"name": n, "size": s} for n, s in zip(files[:MAX_FILES_IN_EXTRA], sizes)]
        extra["files_count"] = len(files)
        if len(files) > MAX_FILES_IN_EXTRA:
            extra["files_truncated"] = True
    if bases:
        extra["base_model"] = bases
    if relation:
        extra["base_model_relation"] = relation
    if getattr(info, "created_at", None):
        extra["created_at"] = info.created_at.isoformat()
    if getattr(info, "used_storage", None) is not None:
        extra["used_storage_bytes"] = int(info.used_storage)
    if config.get("architectures"):
        extra["architectures"] = _as_list(config.get("architectures"))
    if isinstance(tinfo, dict) and tinfo.get("auto_model"):
        extra["auto_model"] = tinfo["auto_model"]
        if tinfo.get("processor"):
            extra["processor"] = tinfo["processor"]
    if isinstance(gated, str):
        extra["gated_mode"] = gated
    if getattr(info, "private", None):
        extra["private"] = True
    if getattr(info, "disabled", None):
        extra["disabled"] = True
    if card.get("license_name"):
        extra["license_name"] = str(card["license_name"])
    if card.get("license_link"):
        extra["license_link"] = str(card["license_link"])
    if by_dtype:
        extra["parameters_by_dtype"] = by_dtype
    if getattr(info, "trending_score", None) is not None:
        extra["trending_score"] = info.trending_score
    if "custom_code" in tags or config.get("auto_map"):
        extra["custom_code"] = True
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    if model_type is None and isinstance(config.get("diffusers"), dict):
        extra["pipeline_class"] = config["diffusers"].get("_class_name")
    languages = _as_list(card.get("language"))
    datasets = _as_list(card.get("datasets")) or _tag_values(tags, "dataset:")
    size = sum(sizes) if sizes and all(isinstance(s, int) for s in sizes) else None
    aliases = ()
    if requested is not None and requested.key != mid.key:
        aliases = (requested.key,)
    framework = framework_of(library, tags, files)
    return ModelRecord(
        id=mid.key,
        platform=PLATFORM,
        name=mid.name,
        owner=getattr(info, "author", None) or mid.owner,
        task=task,
        parameters=parameters,
        parameters_source="api" if parameters is not None else None,
        parameters_note=note,
        license=lic,
        license_raw=lic_raw,
        license_source=lic_source,
        framework=framework,
        library=library,
        format=format_of(files, tags),
        fine_tunable=True if library in _FINE_TUNABLE_LIBRARIES and framework == "pytorch" else None,
        downloads=info.downloads,
        likes=info.likes,
        tags=tuple(tags),
        datasets=tuple(datasets),
        languages=tuple(languages),
        architecture=model_type.lower() if model_type else None,
        revision=sha,
        size_bytes=size,
        source_url=_source_url(mid.path),
        gated=bool(gated) if gated is not None else None,
        last_modified=info.last_modified,
        aliases=aliases,
        extra=extra,
        evaluations=_evaluations_of(info, card),
    )


def _evaluations_of(info: Any, card: Mapping[str, Any]) -> tuple:
    """The card's ``model-index`` results (the API's top-level copy, else the card data's)."""
    from ...quality import from_model_index

    index = getattr(info, "model_index", None) or card.get("model-index")
    return from_model_index(index, source="huggingface: model card model-index")


def _apply_config(record: ModelRecord, config: Mapping[str, Any], files: Iterable[str]) -> ModelRecord:
    """Fill architecture, the config's class names, and (when unknown) the library from config.json,
    the way ``ptmhub cache scan`` reads the same snapshot (see ``cache.folder_facts``)."""
    names = set(files)
    changes: dict[str, Any] = {}
    extra = dict(record.extra)
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type and not record.architecture:
        changes["architecture"] = model_type.lower()
    if config.get("architectures") and not extra.get("architectures"):
        extra["architectures"] = _as_list(config.get("architectures"))
    if config.get("auto_map"):
        extra["custom_code"] = True
    library = record.library
    if library is None:
        if "modules.json" in names or "sentence_bert_config.json" in names:
            library = "sentence-transformers"
        elif "model_index.json" in names:
            library = "diffusers"
        elif isinstance(model_type, str) and model_type:
            library = "transformers"
        if library is not None:
            framework = framework_of(library, record.tags, names)
            changes.update(library=library, framework=framework,
                           fine_tunable=True if library in _FINE_TUNABLE_LIBRARIES and framework == "pytorch"
                           else record.fine_tunable)
    if not changes and extra == record.extra:
        return record
    return record.replace(**changes, extra=extra)


# -- choosing what to download -------------------------------------------------------------------------
def select_pull_files(filenames: Iterable[str]) -> tuple[list[str], list[str]]:
    """(files to download, files left out): one PyTorch-loadable copy, safetensors over pickle.

    Left out: pickle weights in a folder that has safetensors, ``.fp16``-style variants of a
    file that exists without the variant, other frameworks' exports (TF ``.h5``, Flax
    ``.msgpack``, Rust ``.ot``, ONNX, Core ML, GGUF) when PyTorch weights exist, and a diffusers
    pipeline's root-level single-file checkpoints (its component folders hold the same weights).
    """
    names = sorted(set(filenames))
    folder = lambda n: n.rsplit("/", 1)[0] if "/" in n else ""  # noqa: E731
    skip: set[str] = set()
    has_st = {folder(n) for n in names if n.endswith(".safetensors")}
    for n in names:
        if n.endswith((*_PICKLE, ".bin.index.json")) and folder(n) in has_st:
            skip.add(n)
    for n in names:
        base, here = n.rsplit("/", 1)[-1], (folder(n) + "/" if folder(n) else "")
        # model.fp16.safetensors, model.fp16-00001-of-00002.safetensors, model.safetensors.index.fp16.json
        m = (re.match(r"^(?P<stem>[^.]+)\.[A-Za-z0-9_]+(?:-\d+-of-\d+)?\.(?P<ext>safetensors|bin)$", base)
             or re.match(r"^(?P<stem>[^.]+)\.(?P<ext>safetensors|bin)\.index\.[A-Za-z0-9_]+\.json$", base))
        if m:
            stem = here + m.group("stem")
            plain = {f"{stem}.{ext}{suffix}" for ext in ("safetensors", "bin") for suffix in ("", ".index.json")}
            if plain & set(names):
                skip.add(n)
    weights = [n for n in names if n not in skip and n.endswith((".safetensors", *_PICKLE))]
    if weights:
        for n in names:
            if n.endswith(_OTHER_FORMATS) or n.startswith(_OTHER_DIRS):
                skip.add(n)
    if "model_index.json" in names:
        for n in names:
            if "/" not in n and n.endswith((".safetensors", *_PICKLE)):
                skip.add(n)
    return [n for n in names if n not in skip], sorted(skip)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


# -- the HF cache ------------------------------------------------------------------------------------
def _storage_folder(repo_id: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return settings.get().hf_hub_cache / repo_folder_name(repo_id=repo_id, repo_type="model")


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot folder for a branch/tag (via refs/) or a commit, or None."""
    storage = _storage_folder(repo_id)
    ref = revision or "main"
    sha = None
    if _COMMIT.fullmatch(ref):
        sha = ref
    elif ".." not in ref.split("/") and not ref.startswith("/"):
        ref_file = storage / "refs" / ref
        if ref_file.is_file():
            sha = ref_file.read_text().strip()
    if not sha or not _COMMIT.fullmatch(sha):  # a ref file holding anything else names no snapshot
        return None
    snapshot = storage / "snapshots" / sha
    return snapshot if snapshot.is_dir() else None


def _write_ref(repo_id: str, revision: str, sha: str) -> None:
    """Point refs/<revision> at a downloaded commit, as huggingface_hub does after a snapshot_download
    by branch name (a download by commit hash writes no ref)."""
    storage = _storage_folder(repo_id)
    try:
        from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision as cache_ref
    except ImportError:  # a huggingface_hub without the helper: the same atomic write
        ref = storage / "refs" / revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
        tmp.write_text(sha)
        os.replace(tmp, ref)
        return
    cache_ref(str(storage), revision, sha)


def _weights_problem(snapshot: Path, files: Mapping[str, int]) -> str | None:
    """Why a downloaded snapshot is not a usable model (no weights, or shards its index names are
    missing), or None."""
    names = set(files)
    if not any(n.endswith(_WEIGHTS) for n in names):
        return "it holds no weight files (" + (", ".join(sorted(names)[:5]) or "nothing") + ")"
    for index in sorted(n for n in names if n.endswith((".safetensors.index.json", ".bin.index.json"))):
        try:
            weight_map = json.loads((snapshot / index).read_text(encoding="utf-8")).get("weight_map") or {}
            shards = {str(v) for v in dict(weight_map).values()}
        except (OSError, ValueError, AttributeError, TypeError):
            return f"its index {index} is unreadable"
        folder = index.rsplit("/", 1)[0] + "/" if "/" in index else ""
        missing = sorted(folder + sh for sh in shards if folder + sh not in names)
        if missing:
            return f"its index {index} names {len(missing)} shard(s) the repo does not have ({missing[0]})"
    return None



def _snapshot_files(snapshot: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for root, _dirs, files in os.walk(snapshot):
        for f in files:
            p = Path(root) / f
            try:
                out[p.relative_to(snapshot).as_posix()] = p.stat().st_size  # follows the blob symlink
            except OSError:
                continue
    return out


def _blobs_size(repo_id: str) -> int:
    blobs = _storage_folder(repo_id) / "blobs"
    if not blobs.is_dir():
        return 0
    return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file() and not p.name.endswith(".incomplete"))


class _Progress:
    """A tqdm stand-in for huggingface_hub: shows nothing, forwards downloaded bytes to a callback."""

    def __init__(self, callback: Callable[[int], None] | None):
        self.callback = callback

    def factory(self) -> type:
        from huggingface_hub.utils import tqdm as hf_tqdm

        callback = self.callback

        class _Bar(hf_tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._forward = kwargs.get("unit") == "B" and not str(kwargs.get("desc") or "").startswith(
                    "Downloading bytes")
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> bool | None:
                if callback is not None and self._forward and n:
                    callback(int(n))
                return super().update(n)

        return _Bar


# -- the backend ---------------------------------------------------------------------------------------
class HuggingFaceBackend(Backend):
    """``hf:OWNER/NAME[@REVISION]`` models on the Hugging Face Hub (or any HF_ENDPOINT)."""

    platform = PLATFORM
    # a resolve is the Hub's whole answer about these: a license it dropped is cleared
    authoritative_fields = ("license", "task", "gated", "tags", "datasets", "languages", "library", "framework",
                            "format", "architecture", "evaluations")
    keeps_revisions = True  # git revisions: hf:X@<commit> goes to the history, refs/main is the record

    def describe_origin(self, record: ModelRecord) -> str | None:
        extra = record.extra or {}
        if isinstance(extra.get("timm"), dict) and record.downloads is None and record.revision is None:
            version = extra["timm"].get("timm_version")
            return f"timm {version} pretrained cfg" if version else "timm pretrained cfg"
        if record.revision or record.downloads is not None or record.resolved_at:
            return "Hugging Face Hub API (model info)"
        return None

    def parents(self, record: ModelRecord) -> list[tuple[str, str, str]]:
        """The card's ``base_model`` (with its relation), and for a timm tag that fine-tunes another
        (``augreg_in21k_ft_in1k``) the tag it starts from (``augreg_in21k``)."""
        extra = record.extra or {}
        relation = str(extra.get("base_model_relation") or "derived")
        out = []
        for base in _as_list(extra.get("base_model")):
            if isinstance(base, str) and base.strip():
                ident = base.strip()
                out.append((ident if ident.startswith("hf:") else f"hf:{ident}", relation,
                            "the model card's base_model"))
        name = record.name or ""
        if record.library == "timm" and "." in name and "_ft_" in name.split(".", 1)[1]:
            arch, tag = name.split(".", 1)
            base_tag = tag.split("_ft_", 1)[0]
            owner = f"{record.owner}/" if record.owner else ""
            out.append((f"hf:{owner}{arch}.{base_tag}", "finetune",
                        f"timm tag {tag!r}: {base_tag} fine-tuned on {tag.split('_ft_', 1)[1]}"))
        return out

    def local_folder(self, model_id: ModelId, record: ModelRecord | None) -> Path:
        """The cached snapshot, from huggingface_hub's own cache lookup (no network): what
        ``refs/main`` (or the ID's revision, or the record's when it says cached) names.

        Raises:
            UntrustedRepoError: the model needs its own Python code (trust_remote_code).
            NotCachedError: it is not in the HF cache.
        """
        mid = self._check(model_id)
        if record is not None and record.extra.get("custom_code"):
            raise UntrustedRepoError(f"{mid} needs its own Python code (trust_remote_code), which ptmhub does not run",
                                     hint="load it with transformers yourself if you trust the repository",
                                     model_id=str(mid))
        hf = _hf()
        repo_id = record.id.removeprefix("hf:") if record is not None else mid.path
        revision = mid.revision or (record.revision if record is not None and record.cached and record.revision
                                    else None)
        try:
            path = hf.snapshot_download(repo_id, revision=revision, cache_dir=str(settings.get().hf_hub_cache),
                                        local_files_only=True)
        except (hf.errors.LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
            raise NotCachedError(f"{mid} is not in the Hugging Face cache ({settings.get().hf_hub_cache})",
                                 hint=f"run 'ptmhub pull {mid}' first", model_id=str(mid)) from None
        return Path(path)

    # resolve -------------------------------------------------------------------------------------
    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """Ask the hub about one model and count its parameters without downloading weights.

        Offline, answers from the HF cache when the model is there (no socket is opened).

        Raises:
            ModelNotFoundError, AuthError, GatedModelError, RateLimitedError, HubServerError,
            NetworkError, MalformedResponseError, NotCachedError (offline and not cached).
        """
        mid = self._check(model_id)
        if settings.get().offline:
            return self._resolve_from_cache(mid)
        record, info = self._model_info(mid)
        record = self._with_config(record, info)
        return self._with_parameters(record, info)

    def _with_config(self, record: ModelRecord, info: Any) -> ModelRecord:
        """Architecture (and library) from config.json when the API answer lacks ``config``.

        The Hub sends ``config``; a mirror serving git repos (olah) does not, nor
        ``library_name``/``pipeline_tag``. config.json is small: it is fetched at the record's
        commit into the HF cache, and read as JSON (no transformers needed).
        """
        if isinstance(getattr(info, "config", None), dict) or not record.revision:
            return record
        files = [s.rfilename for s in info.siblings or []]
        if "config.json" not in files:
            return record
        try:
            config = _fetch_config(record)
        except PtmhubError:
            return record  # the architecture stays unknown; resolve does not fail for it
        return _apply_config(record, config, files)

    def _model_info(self, mid: ModelId) -> tuple[ModelRecord, Any]:
        """The record the API alone gives (parameters only from ``safetensors``), and the raw info."""
        info = call_hub(lambda: _api().model_info(mid.path, revision=mid.revision, files_metadata=True,
                                                  timeout=settings.get().http_timeout),
                        what=f"model info for {mid}", model_id=str(mid))
        try:
            record = record_from_info(info, requested=mid.with_(revision=None))
        except PtmhubError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponseError(f"the hub's answer for {mid} has an unexpected shape ({type(exc).__name__})",
                                         model_id=str(mid)) from None
        if mid.revision:
            record = record.replace(extra={**record.extra, "requested_revision": mid.revision})
        return record, info

    @staticmethod
    def _check(model_id: ModelId) -> ModelId:
        if model_id.platform != PLATFORM:
            raise UsageError(f"{model_id} is not a Hugging Face model", hint="use an hf: ID")
        return model_id

    def _with_parameters(self, record: ModelRecord, info: Any) -> ModelRecord:
        """Fill ``parameters`` from headers or config when the API did not give a trusted total."""
        if record.parameters is not None:
            return record
        reasons = [record.parameters_note] if record.parameters_note else []
        repo_id = record.id.removeprefix("hf:")
        sha = record.revision
        siblings = info.siblings or []
        files = [s.rfilename for s in siblings]
        sizes = {s.rfilename: s.size for s in siblings}
        extra = dict(record.extra)
        selection = (st.select_weight_files(files) if info.siblings is not None
                     else st.WeightSelection(reason="the Hub API gave no file list"))
        if selection.reason:
            reasons.append(selection.reason)
        else:
            snapshot = _cached_snapshot(repo_id, sha) if sha else None
            if snapshot is not None:
                try:
                    count = st.count_local(selection, snapshot)
                    extra.update(parameters_by_dtype=count.parameters_by_dtype, counted_files=count.files)
                    note = f"{count.description} in the local HF cache (commit {sha[:10]})"
                    return record.replace(parameters=count.parameters, parameters_source="safetensors-header",
                                          parameters_note=note, extra=extra)
                except (OSError, PtmhubError) as exc:
                    reasons.append(f"cached headers unreadable: {st.describe_failure(exc)}")
            try:
                hf = _hf()
                count = st.count_remote(
                    selection,
                    lambda name: hf.hf_hub_url(repo_id, name, revision=sha, endpoint=_endpoint()),
                    headers=_auth_headers(), model_id=record.id, sizes=sizes)
                extra.update(parameters_by_dtype=count.parameters_by_dtype, counted_files=count.files,
                             header_bytes_fetched=count.bytes_fetched)
                return record.replace(parameters=count.parameters, parameters_source="safetensors-header",
                                      parameters_note=f"{count.description}, read remotely with HTTP Range "
                                                      f"({count.bytes_fetched:,} bytes in {count.requests} requests)",
                                      extra=extra)
            except PtmhubError as exc:
                reasons.append(f"could not read the safetensors headers: {exc.message}")
        counted, why = self._count_from_config(record, files)
        if counted is not None:
            return record.replace(parameters=counted, parameters_source="config", parameters_note=why)
        if why:
            reasons.append(why)
        return record.replace(parameters=None, parameters_source=None,
                              parameters_note="; ".join(reasons) or "no source gave a parameter count")

    def _count_from_config(self, record: ModelRecord, files: list[str]) -> tuple[int | None, str | None]:
        """Build the architecture from config.json on the meta device (no weights) and count."""
        if "config.json" not in files:
            return None, "no config.json to build the architecture from"
        if record.library not in (None, "transformers"):
            return None, f"config.json of a {record.library} repo cannot be built with transformers"
        if record.extra.get("custom_code"):
            return None, "the architecture is custom code (auto_map), which ptmhub does not run to count parameters"
        try:
            import torch
            import transformers
        except ImportError:
            return None, "counting from config.json needs torch and transformers, which are not installed"
        try:
            raw = _fetch_config(record)
        except PtmhubError as exc:
            return None, f"could not fetch config.json: {exc.message}"
        try:
            config = transformers.CONFIG_MAPPING[raw["model_type"]].from_dict(raw)
            arch = (getattr(config, "architectures", None) or [None])[0]
            cls = getattr(transformers, arch, None) if arch else None
            with torch.device("meta"):
                model = cls(config) if cls is not None else transformers.AutoModel.from_config(config)
            n = sum(p.numel() for p in model.parameters())
        except Exception as exc:  # noqa: BLE001 - any failure is a reason, never a guess
            return None, f"building the architecture from config.json failed ({type(exc).__name__}: {str(exc)[:120]})"
        name = type(model).__name__
        return int(n), f"built {name} from config.json (transformers {transformers.__version__}) on the meta device"

    def _resolve_from_cache(self, mid: ModelId) -> ModelRecord:
        """Offline: what the HF cache says about a model, or NotCachedError."""
        snapshot = _cached_snapshot(mid.path, mid.revision)
        if snapshot is None:
            raise NotCachedError(f"offline mode is on and {mid} is neither in the registry nor in the HF cache",
                                 hint=f"run 'ptmhub pull {mid}' while online", model_id=str(mid))
        files = _snapshot_files(snapshot)
        config: dict[str, Any] = {}
        if "config.json" in files:
            try:
                config = json.loads((snapshot / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                config = {}
        if "model_index.json" in files:
            library = "diffusers"
        elif "modules.json" in files or "sentence_bert_config.json" in files:
            library = "sentence-transformers"
        elif isinstance(config, dict) and config.get("model_type"):
            library = "transformers"
        else:
            library = None
        parameters = source = None
        selection = st.select_weight_files(files)
        note = selection.reason
        if not selection.reason:
            try:
                count = st.count_local(selection, snapshot)
                parameters, source = count.parameters, "safetensors-header"
                note = f"{count.description} in the local HF cache (offline)"
            except (OSError, PtmhubError) as exc:
                note = f"offline and the cached headers are unreadable: {st.describe_failure(exc)}"
        model_type = config.get("model_type") if isinstance(config, dict) else None
        return ModelRecord(
            id=mid.key, platform=PLATFORM, name=mid.name, owner=mid.owner, library=library,
            framework="pytorch" if library in ("transformers", "diffusers", "sentence-transformers") else None,
            format=format_of(files, ()), parameters=parameters, parameters_source=source, parameters_note=note,
            architecture=model_type.lower() if isinstance(model_type, str) else None,
            revision=snapshot.name, size_bytes=sum(files.values()), source_url=_source_url(mid.path),
            cached=True, cache_path=str(snapshot), cache_size_bytes=sum(files.values()),
            extra={"source": "hf-cache (offline)", "files": [{"name": n, "size": s} for n, s in sorted(files.items())],
                   "architectures": _as_list(config.get("architectures")) if isinstance(config, dict) else []},
        )

    # pull ----------------------------------------------------------------------------------------
    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        """Download one PyTorch-loadable copy of the model into the standard HF cache.

        Safetensors are preferred over pickle weights (see :func:`select_pull_files`); files
        already cached are not downloaded again. Offline, answers from the cache or raises.

        Raises:
            NotCachedError (offline, not cached), GatedModelError, ModelNotFoundError,
            RateLimitedError, HubServerError, NetworkError.
        """
        mid = self._check(model_id)
        if settings.get().offline:
            record = self._resolve_from_cache(mid)
            return PullResult(record=record, path=record.cache_path or "", bytes_downloaded=0,
                              files=[f["name"] for f in record.extra.get("files", [])])
        # parameters are counted after the download, from the local headers, not with Range reads
        record, info = self._model_info(mid)
        repo_id = record.id.removeprefix("hf:")
        # one commit for everything: the file list above is the one at info.sha, and the download
        # asks for that commit, not for a branch that may have moved in between
        sha = _checked_sha(info.sha, what=f"model info for {mid}", model_id=str(mid))
        files = [f["name"] for f in record.extra.get("files", [])]
        allow: list[str] | None = None
        if files and not record.extra.get("files_truncated"):
            wanted, _skipped = select_pull_files(files)
            allow = [_glob_escape(n) for n in wanted]
        before = _blobs_size(repo_id)
        cfg = settings.get()
        path = call_hub(lambda: _hf().snapshot_download(
            repo_id, revision=sha, cache_dir=cfg.hf_hub_cache, endpoint=_endpoint(),
            token=_token(), allow_patterns=allow, etag_timeout=cfg.http_timeout,
            tqdm_class=_Progress(progress).factory(), library_name="ptmhub"),
            what=f"downloading {record.id}", model_id=record.id, retry=False)
        snapshot = Path(path)
        if snapshot.name != sha:
            raise MalformedResponseError(f"downloading {record.id} asked for commit {sha[:12]} but got {snapshot.name[:12]}",
                                         hint="retry; if it persists, check HF_ENDPOINT", model_id=record.id)
        on_disk = _snapshot_files(snapshot)
        problem = _weights_problem(snapshot, on_disk)
        if problem:  # nothing is marked cached, and refs/ is not moved to this snapshot
            kind = ModelNotFoundError if problem.startswith("it holds no weight") else IntegrityError
            raise kind(f"{record.id} at commit {sha[:12]} is not a loadable model: {problem}",
                       hint="check the repository's files on the hub (a mirror may lack some); nothing was "
                            "marked cached", model_id=record.id)
        # refs/<branch> moves only now, to a complete snapshot: 'load hf:X' loads what refs/main names
        requested = mid.revision or "main"
        if requested != sha:
            _write_ref(repo_id, requested, sha)
        size = sum(on_disk.values())
        extra = {**record.extra, "pull_files": sorted(on_disk), "pull_size_bytes": size}
        record = record.replace(revision=sha, cached=True, cache_path=str(snapshot), cache_size_bytes=size,
                                extra=extra)
        config = read_config(snapshot) if "config.json" in on_disk else {}
        record = _apply_config(record, config, on_disk) if config else record
        record = self._with_parameters(record, info)
        return PullResult(record=record, path=str(snapshot), bytes_downloaded=max(0, _blobs_size(repo_id) - before),
                          files=sorted(on_disk))

    # load ----------------------------------------------------------------------------------------
    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             **kwargs: Any) -> Loaded:
        """Load a pulled model from the HF cache, never from the network (``local_files_only``).

        Through :func:`ptmhub.loaders.load_folder`, with the library the snapshot's files name:
        ``transformers`` models with the Auto class the hub names (``transformersInfo``, e.g.
        ``AutoModelForMaskedLM``; ``auto_class=`` overrides it), else the class config.json
        names, and their tokenizer or processor; ``sentence-transformers`` models as
        ``SentenceTransformer``; ``timm`` models with ``timm.create_model`` and their transform.

        Raises:
            NotCachedError: the model is not in the HF cache (run ``ptmhub pull``).
            UntrustedRepoError: the model needs its own Python code.
            MissingDependencyError: transformers / sentence-transformers missing.
        """
        mid = self._check(model_id)
        repo_id = record.id.removeprefix("hf:") if record is not None else mid.path
        # as transformers does: 'hf:X' is what refs/main names, 'hf:X@rev' is refs/rev or that commit;
        # never the revision a registry record happens to carry
        snapshot = _cached_snapshot(repo_id, mid.revision)
        if snapshot is None:
            raise NotCachedError(f"{mid} is not in the Hugging Face cache ({settings.get().hf_hub_cache})",
                                 hint=f"run 'ptmhub pull {mid}' first", model_id=str(mid))
        from ...folders import detect
        from ...loaders import load_folder

        if record is not None and record.extra.get("custom_code"):
            raise UntrustedRepoError(f"{mid} needs its own Python code (trust_remote_code), which ptmhub does not run",
                                     hint="load it with transformers yourself and trust_remote_code=True if you "
                                          "trust the repository", model_id=str(mid))
        found = detect(snapshot, prefer=record.library if record is not None else None)  # the hub's library_name
        if found.library is None and record is not None and record.library == "transformers":
            found = type(found)("transformers", found.config)  # the hub says so; transformers says what is missing
        # the Hub's Auto class (transformersInfo) when the record describes this very snapshot
        hub_class = (str(record.extra["auto_model"]) if record is not None and record.revision == snapshot.name
                     and record.extra.get("auto_model") else None)
        model, preprocess, framework = load_folder(snapshot, label=str(mid), model=found,
                                                   auto_class=kwargs.pop("auto_class", None),
                                                   default_class=hub_class, **kwargs)
        return Loaded(model=model, preprocess=preprocess, framework=framework, record=record)


# -- sync ----------------------------------------------------------------------------------------------
def _read_json(response: Any, url: str, *, requested: int) -> list[Any]:
    """One model-list page, bounded before it becomes Python objects.

    At most ``PTMHUB_MAX_PAGE_BYTES`` of body are read, and items are decoded one at a time up
    to the smaller of ``PTMHUB_MAX_PAGE_ITEMS`` and ``2 x requested + _PAGE_SLACK``: the Hub
    never sends more than the ``limit`` it was asked for, so a page far beyond it is refused
    however small its items are.

    Raises:
        LimitExceededError: the body or the item count is over its PTMHUB_MAX_PAGE_* limit.
        MalformedResponseError: not a JSON list, or far more items than ``requested``.
        NetworkError: the body broke off.
    """
    from ...errors import LimitExceededError

    cfg = settings.get()
    body = http.read_capped(response, max_bytes=cfg.max_page_bytes, what="a model list page",
                            variable="PTMHUB_MAX_PAGE_BYTES")
    sane = 2 * requested + _PAGE_SLACK
    items: list[Any] = []
    for item in http.iter_json_array(body, what="the model list"):
        if len(items) >= cfg.max_page_items:
            raise LimitExceededError(f"a model list page from {http.host_of(url)} holds more than "
                                     f"{cfg.max_page_items:,} items, the page limit (PTMHUB_MAX_PAGE_ITEMS)",
                                     hint="raise PTMHUB_MAX_PAGE_ITEMS if this endpoint really sends such pages")
        if len(items) >= sane:
            raise MalformedResponseError(f"a model list page from {http.host_of(url)} holds more than {sane:,} "
                                         f"items though {requested} were asked for",
                                         hint="the endpoint ignores the page size; check HF_ENDPOINT")
        items.append(item)
    return items


#: Items a page may hold beyond twice the page size asked for (see ``_read_json``).
_PAGE_SLACK = 100


def _requested(url: str, page_size: int) -> int:
    """The page size ``url`` asks for (its ``limit``, as the Hub's own next links carry it)."""
    from urllib.parse import parse_qsl, urlsplit

    values = [v for k, v in parse_qsl(urlsplit(url).query) if k == "limit"]
    if values and values[-1].isdigit() and 1 <= int(values[-1]) <= 1000:
        return int(values[-1])
    return page_size


def _next_page(link: str | None, *, base: str, endpoint: str, seen: set[str], page: int) -> str | None:
    """The next page's URL from a ``Link`` header, checked before any of its page is stored.

    Raises:
        MalformedResponseError: a malformed header or URL; a link to another scheme, host or
            port than HF_ENDPOINT's (the token goes only there); a link to a page this sync
            already fetched (a cursor that repeats or cycles would page forever).
    """
    url = http.next_link(link, base=base)
    if url is None:
        return None
    if not http.same_origin(url, endpoint):
        where = f"{url.split(':', 1)[0].lower()}://{http.host_of(url)}"
        raise MalformedResponseError(f"the hub's next-page link points to another host ({where}); ptmhub sends "
                                     f"HF_TOKEN only to the HF_ENDPOINT host ({http.host_of(endpoint)})",
                                     hint="if the Hub moved, set HF_ENDPOINT to its new address")
    if url in seen:
        raise MalformedResponseError(f"the hub's paging loops: the next-page link of page {page} leads back to a "
                                     "page this sync already fetched",
                                     hint="retry later; if it persists, check HF_ENDPOINT")
    seen.add(url)
    return url


def _sync_query(search: str | None, author: str | None, task: str | None, library: str | None,
                sort: str) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if search:
        query.append(("search", search))
    if author:
        query.append(("author", author))
    if task:
        query.append(("pipeline_tag", task))
    if library:
        query.append(("filter", library))
    query.append(("sort", SYNC_SORTS[sort]))
    return query


def sync(store: Store, *, search: str | None = None, author: str | None = None, task: str | None = None,
         library: str | None = None, sort: str = "downloads", limit: int | None = None,
         progress: Callable[[int], None] | None = None, page_size: int = 500, restart: bool = False) -> SyncReport:
    """Page through the Hub's model list into the registry, resumably.

    Each page is upserted, then its ``Link: rel="next"`` cursor is saved with
    ``store.save_sync_state``; an interrupted sync with the same filters resumes from the
    saved cursor (no page lost, and re-storing a page is harmless because upserts are
    idempotent). ``progress`` is called with the number of records stored after each page.

    Raises:
        UsageError: an unknown sort or a bad limit.
        OfflineError: offline mode is on.
        RateLimitedError, HubServerError, NetworkError, MalformedResponseError, AuthError.
    """
    if sort not in SYNC_SORTS:
        raise UsageError(f"unknown sort {sort!r}", hint="one of " + ", ".join(SYNC_SORTS))
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    if not 1 <= page_size <= 1000:
        raise UsageError(f"page_size must be between 1 and 1000, not {page_size}")
    http.check_online("syncing the Hugging Face model list")
    started = time.monotonic()
    query = _sync_query(search, author, task, library, sort)
    filters = [(k, v) for k, v in query if k != "sort"]
    source = "hf" + ("?" + urlencode(query) if filters or sort != "downloads" else "")
    report = SyncReport(source=source)
    endpoint = _endpoint()
    state = None if restart else store.sync_state(source)
    stored = str(state.get("next_url") or "") if state else ""
    # resume only at a cursor of this endpoint (not one another endpoint or an older ptmhub left)
    resumable = bool(state and not state.get("done") and stored and state.get("limit") == limit
                     and http.same_origin(stored, endpoint) and stored.startswith(endpoint + "/"))
    if resumable:
        url, count = stored, int(state.get("count") or 0)  # type: ignore[union-attr]
        report.counts["resumed_at"] = count
    else:
        first = min(page_size, limit) if limit else page_size
        params = query + [("limit", str(first))] + [("expand", e) for e in SYNC_EXPAND]
        url, count = f"{endpoint}/api/models?{urlencode(params)}", 0
    _hf()
    from huggingface_hub.hf_api import ModelInfo

    headers = _auth_headers()
    pages = 0
    seen = {url}
    while True:
        # Every URL here is the endpoint's own or a checked next link (requests itself drops the
        # token on a redirect to another host or port); a page is checked whole - size, items,
        # next link - before any of it is stored, so the saved cursor is always one that passed.
        response = http.request("GET", url, headers=headers, stream=True, what="listing Hugging Face models",
                                allow_status=(401, 404, 405, 410))
        try:
            if response.status_code >= 400:
                raise _listing_refused(response, has_token=any(k.lower() == "authorization" for k in headers))
            items = _read_json(response, url, requested=_requested(url, page_size))
            link, final_url = response.headers.get("Link"), response.url or url
        finally:
            response.close()
        if limit is not None:
            items = items[: max(0, limit - count)]
        limit_reached = limit is not None and count + len(items) >= limit
        next_url = None if limit_reached else _next_page(link, base=final_url, endpoint=endpoint, seen=seen,
                                                         page=pages + 1)
        records = []
        for item in items:
            try:
                if "siblings" not in item:
                    item["siblings"] = None
                records.append(record_from_info(ModelInfo(**item)))
            except Exception as exc:  # noqa: BLE001 - one bad item is a problem, not a failed sync
                ident = item.get("id") if isinstance(item, dict) else None
                report.problems.append((str(ident or f"item {count + len(records)}"), f"{type(exc).__name__}: {exc}"))
                report.skipped += 1
        # a sync record carries no file list: leave extra empty so it never replaces a resolve's
        records = [r.replace(extra={}) for r in records]
        store.upsert(records)
        count += len(items)
        pages += 1
        report.records += len(records)
        done = next_url is None or limit_reached
        store.save_sync_state(source, query=dict(query), limit=limit, next_url=None if done else next_url,
                              count=count, done=done)
        if progress is not None:
            progress(len(records))
        if done:
            break
        url = next_url  # type: ignore[assignment]
    report.counts["pages"] = pages
    report.counts["total"] = count
    report.seconds = time.monotonic() - started
    return report
