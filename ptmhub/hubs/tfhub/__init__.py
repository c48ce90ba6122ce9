"""TF Hub (``tfhub:``) and Kaggle Models (``kaggle:``) backends.

TF Hub: a handle ``PUBLISHER/NAME.../VERSION`` becomes the URL ``<endpoint>/<handle>``
(endpoint: ``PTMHUB_TFHUB_ENDPOINT``, default ``https://tfhub.dev``; since 2024 tfhub.dev
answers with redirects to Kaggle Models). Pulling goes through tensorflow_hub's own cache
machinery, so that ``hub.load(url)`` and ``hub.KerasLayer(url)`` find the model afterwards,
offline, exactly as if tensorflow_hub had downloaded it:

* the cache folder is ``$TFHUB_CACHE_DIR/<sha1 of the handle URL>`` plus
  ``<sha1>.descriptor.txt`` (tensorflow_hub's ``compressed_module_resolver._module_dir``);
* the download runs inside tensorflow_hub's ``resolver.atomic_download`` (its lock file, its
  ``<sha1>.<uuid>.tmp`` folder renamed at the end), fetching ``<url>?tf-hub-format=compressed``;
* only the transport and the extraction are ptmhub's: :mod:`ptmhub.http` (offline guard,
  retries, typed errors, redirects followed) and :func:`ptmhub.archive.safe_extract_tar`
  (tensorflow_hub's own extractor silently rewrites absolute member paths; ours refuses them).

Kaggle: handles go to kagglehub (``kagglehub.model_download``) and its cache
(``KAGGLEHUB_CACHE``, completion markers under ``.complete/``). kagglehub has no offline switch:
offline, ptmhub reads kagglehub's cache itself and never calls it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import http, settings
from ...errors import (
    AuthError,
    IntegrityError,
    ModelNotFoundError,
    NetworkError,
    NotCachedError,
    PtmhubError,
    UsageError,
)
from ...ids import ModelId
from ...ids import parse as parse_id
from ...records import ModelRecord
from ..base import Backend, BackendContext, Loaded, NO_CONTEXT, PullResult

__all__ = ["TFHubBackend", "KaggleBackend", "handle_url", "module_dir", "is_complete", "kaggle_framework"]

_COMPRESSED_QUERY = "tf-hub-format=compressed"
_VARIANT_SEGMENTS = {"lite-model": "tflite", "tfjs-model": "tfjs", "coral-model": "coral"}
# the query tfhub.dev used to serve each variant's file
_VARIANT_QUERY = {"lite-model": "lite-format=tflite", "tfjs-model": "tfjs-format=compressed",
                  "coral-model": "coral-format=tflite"}
_MAX_ARCHIVE_BYTES = 64 * 1024**3  # refuse archives that expand past 64 GiB


# -- TF Hub: handles, URLs and tensorflow_hub's cache layout ----------------------------------
def handle_url(model_id: ModelId) -> str:
    """The URL tensorflow_hub is given for a TF Hub ID: ``<endpoint>/<handle>``."""
    return f"{settings.get().tfhub_endpoint}/{model_id.handle}"


def module_dir(url: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where tensorflow_hub caches a compressed module: ``<cache>/<sha1(url)>``."""
    base = Path(cache_dir) if cache_dir is not None else settings.get().tfhub_cache_dir
    return base / hashlib.sha1(url.encode("utf8")).hexdigest()


def is_complete(path: Path) -> bool:
    """tensorflow_hub's own test (``check_module_exists``): the folder exists and is not empty."""
    try:
        return path.is_dir() and any(path.iterdir())
    except OSError:
        return False


def _variant_kind(model_id: ModelId) -> str | None:
    parts = model_id.path.split("/")
    return parts[1] if len(parts) > 1 and parts[1] in _VARIANT_SEGMENTS else None


def _tree_size(path: Path) -> tuple[list[str], int]:
    files, size = [], 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            files.append(full.relative_to(path).as_posix())
            size += full.stat().st_size
    return files, size


def _base_record(model_id: ModelId, **fields: Any) -> ModelRecord:
    kind = _variant_kind(model_id)
    library = {"lite-model": "tflite", "coral-model": "tflite", "tfjs-model": "tfjs"}.get(kind or "", "tensorflow-hub")
    values: dict[str, Any] = dict(
        id=model_id.key, platform="tfhub", name=model_id.name, owner=model_id.owner, framework="tensorflow",
        library=library, version=model_id.version, source_url=model_id.url(),
        format=_VARIANT_SEGMENTS.get(kind or ""),
    )
    values.update(fields)
    return ModelRecord(**values)


_EXAMPLES = {"tfhub": "tfhub:google/nnlm-en-dim128/2",
             "kaggle": "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2"}


def _parse_for(platform: str, model_id: ModelId | str) -> ModelId:
    mid = parse_id(model_id)
    if mid.platform != platform:
        raise UsageError(f"{mid} is not a {platform} ID", hint=f"{platform} IDs look like {_EXAMPLES[platform]}")
    return mid


def _saved_model_facts(path: Path) -> dict[str, Any]:
    from ...savedmodel import count_parameters, detect_format

    count = count_parameters(path)
    return {"parameters": count.parameters, "parameters_source": count.source if count.parameters is not None else None,
            "parameters_note": count.note, "format": detect_format(path)}


#: ``hub.KerasLayer`` options a fine-tuning call may give (the rest goes to the head's builder)
_LAYER_OPTIONS = ("signature", "output_key", "arguments", "tags")


def _layer_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the KerasLayer options out of ``kwargs``."""
    return {k: kwargs.pop(k) for k in _LAYER_OPTIONS if k in kwargs}


class TFHubBackend(Backend):
    """tfhub.dev handles, pulled and loaded through tensorflow_hub."""

    platform = "tfhub"

    def parents(self, record: ModelRecord) -> list[tuple[str, str, str]]:
        """A Lite, TF.js or Coral variant's parent model, as its catalog doc names it."""
        parent = (record.extra or {}).get("parent")
        if not isinstance(parent, str) or not parent:
            return []
        kind = (record.extra or {}).get("doc_type") or "variant"
        return [(parent if parent.startswith("tfhub:") else f"tfhub:{parent}", "converted",
                 f"the {kind} doc's parent-model")]

    def describe_origin(self, record: ModelRecord) -> str | None:
        doc = (record.extra or {}).get("doc_path")
        return f"tfhub.dev catalog doc {doc}" if doc else None

    def finetune_load_kwargs(self, model_id: ModelId, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A frozen ``hub.KerasLayer`` (the head's builder sets what trains) with the layer's own
        options taken from ``kwargs``."""
        return {"kind": "layer", "trainable": False, **_layer_options(kwargs)}

    @staticmethod
    def _check(model_id: ModelId | str) -> ModelId:
        return _parse_for("tfhub", model_id)

    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """Check that the hub serves the handle and return what the ID itself tells.

        tfhub.dev never had a metadata API: task, license, format and the rest come from the
        catalog (``ptmhub sync tfhub``). This asks for the model's download (following the
        redirects to Kaggle) and reads only the headers.

        Raises:
            OfflineError: offline mode is on.
            ModelNotFoundError: the hub answers 404/410.
            NetworkError: the hub cannot be reached.
        """
        mid = self._check(model_id)
        kind = _variant_kind(mid)
        url = f"{handle_url(mid)}?{_VARIANT_QUERY[kind] if kind else _COMPRESSED_QUERY}"
        response = http.request("GET", url, stream=True, model_id=mid.key, what=f"resolving {mid}")
        try:
            length = response.headers.get("Content-Length")
        finally:
            response.close()
        # no ``extra``: the store replaces extra wholesale, and the catalog's (doc type,
        # metadata, variants, collections) must survive a resolve
        return _base_record(mid, size_bytes=int(length) if length and length.isdigit() else None)

    # -- pull ---------------------------------------------------------------------------------
    def cache_path(self, model_id: ModelId | str) -> Path:
        """The folder tensorflow_hub uses for this ID at the configured endpoint and cache."""
        return module_dir(handle_url(self._check(model_id)))

    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        """Download and extract the compressed SavedModel into tensorflow_hub's cache, then count
        its parameters. A model already in the cache is not downloaded again (and needs no network).

        Raises:
            UsageError: a TF Lite / TF.js / Coral variant (not a SavedModel).
            OfflineError: offline mode is on and the model is not cached.
            ModelNotFoundError, NetworkError: from the hub.
            UnsafeArchiveError, CorruptArchiveError: the archive is refused or cut off.
        """
        mid = self._check(model_id)
        kind = _variant_kind(mid)
        if kind:
            raise UsageError(f"{mid} is a {_VARIANT_SEGMENTS[kind]} deployment variant, "
                             "which tensorflow_hub cannot load",
                             hint="pull its parent SavedModel instead (see 'ptmhub show' for extra.parent)")
        url = handle_url(mid)
        target = module_dir(url)
        downloaded = 0
        if not is_complete(target):
            http.check_online(f"pulling {mid}", model_id=mid.key)
            downloaded = self._download(mid, url, target, progress)
        files, size = _tree_size(target)
        # no ``extra`` (see resolve); the cache folder is recorded as the cache state
        record = _base_record(mid, size_bytes=size, cache_size_bytes=size, **_saved_model_facts(target))
        return PullResult(record=record, path=str(target), bytes_downloaded=downloaded, files=files)

    def _download(self, mid: ModelId, url: str, target: Path, progress: Callable[[int], None] | None) -> int:
        from ...archive import IterReader, safe_extract_tar
        from ...savedmodel import import_tensorflow

        import_tensorflow()
        # tensorflow_hub reads TFHUB_CACHE_DIR itself: make it agree with ptmhub's setting so
        # that hub.load() in this process finds what we put there
        settings.setdefault_env("TFHUB_CACHE_DIR", str(settings.get().tfhub_cache_dir))
        from tensorflow_hub import resolver as hub_resolver

        counted = [0]

        def on_chunk(n: int) -> None:
            counted[0] += n
            if progress is not None:
                progress(n)

        def download(handle: str, tmp_dir: str) -> None:
            response = http.request("GET", f"{handle}?{_COMPRESSED_QUERY}", stream=True, model_id=mid.key,
                                    what=f"downloading {mid}")
            with response:
                safe_extract_tar(IterReader(http.iter_body(response), on_chunk), tmp_dir,
                                 max_bytes=_MAX_ARCHIVE_BYTES)

        target.parent.mkdir(parents=True, exist_ok=True)
        path = hub_resolver.atomic_download(url, download, str(target), lock_file_timeout_sec=10 * 60)
        if Path(path) != target or not is_complete(target):  # pragma: no cover - tensorflow_hub changed its layout
            raise NetworkError(f"tensorflow_hub left no model in {target} for {mid}", model_id=mid.key)
        return counted[0]

    # -- load ---------------------------------------------------------------------------------
    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             trainable: bool = False,
             kind: str = "layer", input_shape: tuple[int | None, ...] | None = None, dtype: str | None = None,
             signature: str | None = None, output_key: str | None = None,
             arguments: dict[str, Any] | None = None, **kwargs: Any) -> Loaded:
        """Load a cached model offline (from its cache folder, never from the network).

        Args:
            kind: ``layer`` — a ``hub.KerasLayer`` (a Keras 2 / tf_keras layer); ``model`` — a
                ``tf_keras.Sequential`` of an input of ``input_shape``/``dtype`` and that layer;
                ``module`` — the object ``hub.load`` returns.
            trainable: make the KerasLayer's variables trainable (fine-tuning).

        Raises:
            NotCachedError: the model has not been pulled.
            UsageError: an unknown ``kind``, or ``kind="model"`` without ``input_shape``.
        """
        mid = self._check(model_id)
        if kind not in ("layer", "model", "module"):
            raise UsageError(f"unknown kind {kind!r}", hint="one of layer, model, module")
        if kind == "model" and input_shape is None:
            raise UsageError("kind='model' needs input_shape",
                             hint="e.g. input_shape=(224, 224, 3) for images, () for text")
        path = module_dir(handle_url(mid))
        if not is_complete(path):
            raise NotCachedError(f"{mid} is not in the TF Hub cache ({path.parent})",
                                 hint=f"run 'ptmhub pull {mid}' while online", model_id=mid.key)
        from ...savedmodel import import_tensorflow

        import_tensorflow()
        import tensorflow_hub as hub

        if kind == "module":
            model = hub.load(str(path), **kwargs)
        else:
            import tf_keras

            layer_kwargs: dict[str, Any] = {"trainable": trainable}
            if signature:
                layer_kwargs.update(signature=signature, signature_outputs_as_dict=output_key is None)
            if output_key:
                layer_kwargs["output_key"] = output_key
            if arguments:
                layer_kwargs["arguments"] = arguments
            layer = hub.KerasLayer(str(path), **layer_kwargs, **kwargs)
            if kind == "model":
                model = tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=tuple(input_shape or ()),
                                                                        dtype=dtype or "float32"), layer])
            else:
                model = layer
        return Loaded(model=model, framework="tensorflow", record=record)


# -- Kaggle Models ----------------------------------------------------------------------------
_KAGGLE_FRAMEWORKS = {
    "tensorflow1": "tensorflow", "tensorflow2": "tensorflow", "tflite": "tensorflow", "tfjs": "tensorflow",
    "coral": "tensorflow", "pytorch": "pytorch", "jax": "jax", "flax": "jax", "keras": "keras",
    "transformers": "pytorch", "scikitlearn": "scikit-learn", "onnx": "onnx", "gguf": "gguf", "mxnet": "mxnet",
}


def kaggle_framework(slug: str) -> str | None:
    """The framework a Kaggle framework slug (``tensorFlow2``, ``pyTorch``, ...) stands for."""
    return _KAGGLE_FRAMEWORKS.get(slug.lower())


def _ask_for_version(mid: ModelId, why: str) -> UsageError:
    return UsageError(f"{mid} has no version and {why}",
                      hint=f"add the version, e.g. kaggle:{mid.path}/1 (see the model's page for its versions)")


class KaggleBackend(Backend):
    """Kaggle Models handles, through kagglehub."""

    platform = "kaggle"

    def describe_origin(self, record: ModelRecord) -> str | None:
        return "Kaggle Models API (model instance)" if record.resolved_at else None

    def finetune_load_kwargs(self, model_id: ModelId, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A frozen layer (the head's builder sets what trains) with the layer's own options."""
        return {"trainable": False, **_layer_options(kwargs)}

    @staticmethod
    def _check(model_id: ModelId | str) -> ModelId:
        return _parse_for("kaggle", model_id)

    @staticmethod
    def _handle(mid: ModelId) -> Any:
        from kagglehub.handle import parse_model_handle

        return parse_model_handle(mid.handle)

    def resolve(self, model_id: ModelId, *, context: BackendContext = NO_CONTEXT) -> ModelRecord:
        """Ask Kaggle about a model variation (latest version when the ID has none).

        Raises:
            UsageError: unversioned ID while offline.
            OfflineError: offline mode is on.
            ModelNotFoundError, AuthError, NetworkError: mapped from kagglehub.
        """
        mid = self._check(model_id)
        if mid.version is None and settings.get().offline:
            raise _ask_for_version(mid, "its latest version cannot be looked up offline")
        http.check_online(f"resolving {mid}", model_id=mid.key)
        from kagglehub.clients import build_kaggle_client
        from kagglehub.exceptions import handle_call
        from kagglesdk.models.types.model_api_service import ApiGetModelInstanceRequest

        h = self._handle(mid)
        request = ApiGetModelInstanceRequest()
        request.owner_slug, request.model_slug, request.instance_slug = h.owner, h.model, h.variation
        request.framework = h.framework_enum()
        with _kaggle_errors(mid):
            with build_kaggle_client() as client:
                instance = handle_call(lambda: client.models.model_api_client.get_model_instance(request), h)
        version = str(instance.version_number) if instance.version_number else mid.version
        resolved = mid.with_(version=version)
        from ...records import summarize
        from ...licenses import normalize

        license_raw = instance.license_name or None
        extra: dict[str, Any] = {"kaggle_url": instance.url or resolved.url()}
        if instance.model_instance_type and getattr(instance.model_instance_type, "name", ""):
            extra["instance_type"] = instance.model_instance_type.name
        return ModelRecord(
            id=resolved.key, platform="kaggle", name=resolved.name, owner=resolved.owner,
            framework=kaggle_framework(h.framework), version=version,
            license=normalize(license_raw), license_raw=license_raw,
            license_source="Kaggle model instance" if license_raw else None,
            fine_tunable=bool(instance.fine_tunable), datasets=tuple(instance.training_data or ()),
            size_bytes=instance.total_uncompressed_bytes or None, source_url=resolved.url(),
            summary=summarize(instance.overview) if instance.overview else None, extra=extra,
        )

    def cache_path(self, model_id: ModelId | str) -> Path:
        """kagglehub's folder for a versioned handle under ``KAGGLEHUB_CACHE``."""
        mid = self._check(model_id)
        if mid.version is None:
            raise _ask_for_version(mid, "only a versioned handle has a cache folder")
        return Path(self._kaggle_cache(mid)[1])

    def _kaggle_cache(self, mid: ModelId) -> tuple[str | None, str]:
        settings.setdefault_env("KAGGLEHUB_CACHE", str(settings.get().kagglehub_cache))
        from kagglehub.cache import Cache

        cache = Cache()
        h = self._handle(mid)
        return cache.load_from_cache(h), cache.get_path(h)

    def pull(self, model_id: ModelId, *, progress: Callable[[int], None] | None = None,
             context: BackendContext = NO_CONTEXT) -> PullResult:
        """Download a model version into kagglehub's cache (kagglehub's own download,
        extraction and completion marker), then count a SavedModel's parameters.

        Raises:
            UsageError: unversioned ID while offline.
            NotCachedError: offline and the version is not cached.
            ModelNotFoundError, AuthError, NetworkError: mapped from kagglehub.
        """
        mid = self._check(model_id)
        offline = settings.get().offline
        if mid.version is None and offline:
            raise _ask_for_version(mid, "its latest version cannot be looked up offline")
        cached = self._kaggle_cache(mid)[0] if mid.version is not None else None
        if cached is None:
            if offline:
                raise NotCachedError(f"{mid} is not in the kagglehub cache",
                                     hint=f"run 'ptmhub pull {mid}' while online",
                                     model_id=mid.key)
            import kagglehub

            with _kaggle_errors(mid):
                cached = kagglehub.model_download(mid.handle)
        path = Path(cached)
        resolved = mid if mid.version else mid.with_(version=path.name if path.name.isdigit() else None)
        files, size = _tree_size(path) if path.is_dir() else ([path.name], path.stat().st_size)
        fields: dict[str, Any] = {}
        from ...savedmodel import is_saved_model

        if path.is_dir() and is_saved_model(path):
            fields = _saved_model_facts(path)
        else:
            fields["parameters_note"] = "not a SavedModel; no parameter count read from the files"
        record = ModelRecord(id=resolved.key, platform="kaggle", name=resolved.name, owner=resolved.owner,
                             framework=kaggle_framework(resolved.path.split("/")[2]), version=resolved.version,
                             source_url=resolved.url(), size_bytes=size, cache_size_bytes=size, **fields)
        return PullResult(record=record, path=str(path), files=files)

    def load(self, model_id: ModelId, record: ModelRecord | None = None, *, context: BackendContext = NO_CONTEXT,
             trainable: bool = False,
             **kwargs: Any) -> Loaded:
        """Load a cached TensorFlow SavedModel variation with ``hub.KerasLayer`` (offline).

        Raises:
            NotCachedError: not pulled yet. UsageError: not a SavedModel.
        """
        mid = self._check(model_id)
        if mid.version is None:
            raise _ask_for_version(mid, "loading needs the exact version that was pulled")
        cached = self._kaggle_cache(mid)[0]
        if cached is None:
            raise NotCachedError(f"{mid} is not in the kagglehub cache", hint=f"run 'ptmhub pull {mid}'",
                                 model_id=mid.key)
        from ...savedmodel import import_tensorflow, is_saved_model

        if not is_saved_model(cached):
            raise UsageError(f"{mid} is not a TensorFlow SavedModel", hint=f"its files are in {cached}")
        import_tensorflow()
        import tensorflow_hub as hub

        layer = hub.KerasLayer(cached, trainable=trainable, **kwargs)
        return Loaded(model=layer, framework="tensorflow", record=record)


class _kaggle_errors:
    """Map kagglehub's and requests' exceptions to ptmhub's typed errors."""

    def __init__(self, mid: ModelId):
        self.mid = mid

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, PtmhubError):
            return False
        import requests
        from kagglehub import exceptions as kex

        key = self.mid.key
        if isinstance(exc, (kex.UnauthenticatedError, kex.CredentialError)):
            raise AuthError(f"Kaggle needs credentials for {self.mid} ({exc})",
                            hint="set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)", model_id=key) from None
        if isinstance(exc, kex.DataCorruptionError):
            raise IntegrityError(f"the download of {self.mid} failed its checksum", hint="pull it again",
                                 model_id=key) from None
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise AuthError(f"Kaggle refused access to {self.mid} ({status})",
                            hint="set KAGGLE_USERNAME/KAGGLE_KEY, and accept the model's terms on its page",
                            model_id=key) from None
        if status in (404, 410):
            raise ModelNotFoundError(f"{self.mid} was not found on Kaggle Models ({status})",
                                     hint="check owner, model, framework, variation and version on the model's page",
                                     model_id=key) from None
        if isinstance(exc, requests.HTTPError):
            raise NetworkError(f"Kaggle answered {status} for {self.mid}", model_id=key) from None
        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            raise NetworkError(f"could not reach Kaggle for {self.mid} ({type(exc).__name__})",
                               hint="check your connection, or use --offline with cached models",
                               model_id=key) from None
        if isinstance(exc, ValueError) and re.search(r"handle|version|framework", str(exc), re.I):
            raise UsageError(f"kagglehub rejected {self.mid}: {exc}", model_id=key) from None
        return False

