"""The platform matrix: what each model platform offers, and what the registry knows about it.

Static facts (:data:`FACTS`) are documented capabilities of each platform — ID scheme,
versioning, frameworks, published metadata, license information, parameter counts, the offline
cache and its location, authentication, the trust model for remote code, and fine-tuning. The
four platforms ptmhub supports are rows with live figures from the registry
(:meth:`Store.stats`); TF.js, SageMaker and Papers with Code (the other platforms of the
comparisons ptmhub grew from) are *informational* rows: ptmhub has no backend for them.

No network, no framework import: ``matrix()`` reads the registry and the settings only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry.store import Store

__all__ = ["PlatformFacts", "LiveStats", "PlatformRow", "PlatformMatrix", "FACTS", "FACETS", "facts",
           "publishes", "title", "cache_location", "matrix", "shown_url"]


@dataclass(frozen=True)
class PlatformFacts:
    """Documented capabilities of one platform. Every field is a short sentence."""

    name: str               # registry platform (huggingface, tfhub, ...) or an informational key
    title: str              # display name
    supported: bool         # True: a ptmhub backend exists; False: informational row only
    id_scheme: str          # how a model is named (ptmhub's form first)
    versioning: str         # how versions are pinned
    frameworks: str         # what the models are for
    metadata: str           # what the platform publishes about a model
    license_info: str       # where a model's license is stated
    parameter_counts: str   # whether parameter counts are published
    offline_cache: str      # the native cache and its layout
    cache_env: str          # the environment variable that moves the cache, and its default
    auth: str               # credentials
    remote_code: str        # whose code runs when a model loads, and who decides
    fine_tuning: str        # how a model is fine-tuned
    status: str = "active"  # active, or what happened to it
    #: ModelRecord fields the platform itself publishes (a missing value elsewhere is "not published")
    publishes: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "title": self.title, "supported": self.supported}
        out.update({key: getattr(self, key) for key, _ in FACETS})
        out["publishes"] = sorted(self.publishes)
        return out


#: (attribute, label) of every static fact, in display order.
FACETS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("id_scheme", "ID scheme"),
    ("versioning", "Versioning"),
    ("frameworks", "Frameworks"),
    ("metadata", "Metadata published"),
    ("license_info", "License info"),
    ("parameter_counts", "Parameter counts"),
    ("offline_cache", "Offline cache"),
    ("cache_env", "Cache location"),
    ("auth", "Auth"),
    ("remote_code", "Remote code trust"),
    ("fine_tuning", "Fine-tuning"),
)

FACTS: tuple[PlatformFacts, ...] = (
    PlatformFacts(
        name="huggingface", title="Hugging Face Hub", supported=True,
        id_scheme="hf:OWNER/NAME[@REVISION] (the repo id); legacy ids without an owner "
                  "(bert-base-uncased) redirect to the namespaced repo",
        versioning="git: every commit, branch and tag is a revision; pin one with @REVISION (default main)",
        frameworks="any: PyTorch, TensorFlow, JAX/Flax, ONNX, GGUF, Core ML, ...; the library tag names "
                   "the loader (transformers, diffusers, timm, sentence-transformers, ...)",
        metadata="API: pipeline tag (task), library, tags, model-card YAML (license, datasets, language, "
                 "base_model), downloads (last 30 days), likes, last modified, files, safetensors counts",
        license_info="model-card `license:` (SPDX-style id, or `other` with license_name/license_link); "
                     "optional, so some repos state none",
        parameter_counts="published for safetensors repos (`safetensors.total`, per dtype); ptmhub can also "
                         "sum safetensors headers with HTTP range reads",
        offline_cache="huggingface_hub cache: blobs + one snapshot folder per revision; offline with HF_HUB_OFFLINE=1",
        cache_env="HF_HUB_CACHE (default $HF_HOME/hub = ~/.cache/huggingface/hub)",
        auth="optional token (HF_TOKEN); needed for private repos and for gated models once their terms are accepted",
        remote_code="repos may ship modeling code; transformers runs it only with trust_remote_code=True; "
                    "pickled .bin weights can run code when unpickled (safetensors cannot)",
        fine_tuning="the checkpoint is trainable as is: transformers Trainer, PEFT/LoRA; no fine-tunable flag",
        publishes=frozenset({"task", "parameters", "license", "framework", "library", "format", "downloads",
                             "likes", "tags", "datasets", "languages", "architecture", "revision", "size_bytes",
                             "gated", "last_modified"}),
    ),
    PlatformFacts(
        name="tfhub", title="TF Hub (tfhub.dev)", supported=True,
        status="archived 2024-03-18: tfhub.dev handles redirect to Kaggle Models (downloads still work)",
        id_scheme="tfhub:PUBLISHER/NAME.../VERSION (the tfhub.dev handle); Lite/TF.js/Coral variants under "
                  "lite-model/, tfjs-model/, coral-model/",
        versioning="an integer version ends every handle; each version is a separate, immutable model",
        frameworks="TensorFlow: TF2 SavedModel, TF1 Hub format; TF Lite, TF.js and Coral variants",
        metadata="catalog docs (markdown): task, dataset, language, network architecture, fine-tunable, "
                 "format, description; no API, no downloads or likes",
        license_info="optional `license` line, on a minority of docs (320 of the 2,730 model docs)",
        parameter_counts="not published; ptmhub counts a pulled SavedModel's variables (checkpoint index)",
        offline_cache="tensorflow_hub cache: one folder per SHA-1 of the handle URL, written by rename",
        cache_env="TFHUB_CACHE_DIR (default <tmp>/tfhub_modules)",
        auth="none: public downloads",
        remote_code="no Python runs: a SavedModel is a TensorFlow graph, but TensorFlow's security policy "
                    "treats models as programs (ops can read and write files): load trusted ones only",
        fine_tuning="docs marked fine-tunable: hub.KerasLayer(trainable=True) in a Keras 2 (tf_keras) model",
        publishes=frozenset({"task", "license", "format", "fine_tunable", "datasets", "languages",
                             "architecture", "version", "summary", "size_bytes"}),
    ),
    PlatformFacts(
        name="kaggle", title="Kaggle Models", supported=True,
        id_scheme="kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION] (the Kaggle Models handle)",
        versioning="integer versions per variation; an unversioned handle means the latest",
        frameworks="per variation: TensorFlow 2, TF Lite, TF.js, PyTorch, JAX, Flax, Keras, Transformers, "
                   "GGUF, ONNX, scikit-learn, ...",
        metadata="model-instance API: license, fine-tunable flag, training data, size, overview (model card)",
        license_info="a license name per model variation (API license_name)",
        parameter_counts="not published; ptmhub counts a pulled SavedModel's variables",
        offline_cache="kagglehub cache: models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION with completion "
                      "markers; kagglehub has no offline switch (ptmhub reads the cache itself)",
        cache_env="KAGGLEHUB_CACHE (default ~/.cache/kagglehub)",
        auth="public models: none; KAGGLE_USERNAME/KAGGLE_KEY (or kaggle.json) for private models and for "
             "models whose terms must be accepted first",
        remote_code="kagglehub runs no code; the files are loaded by their framework (SavedModel graphs, "
                    "PyTorch pickles): trust the publisher",
        fine_tuning="fine-tunable flag per variation; the framework's own training",
        publishes=frozenset({"license", "fine_tunable", "datasets", "framework", "version", "size_bytes",
                             "summary"}),
    ),
    PlatformFacts(
        name="torchhub", title="PyTorch Hub", supported=True,
        id_scheme="torchhub:OWNER/REPO[:REF]/ENTRYPOINT[#WEIGHTS] (a GitHub repo with a hubconf.py, and a "
                  "function in it)",
        versioning="the repo's git ref (branch, tag or commit; default branch otherwise); torchvision "
                    "weights enums (IMAGENET1K_V2, ...)",
        frameworks="PyTorch",
        metadata="hubconf.py entrypoints, docstrings, dependencies; the pytorch/hub docs (title, summary, "
                 "category, tags) of featured repos; no task, license, downloads",
        license_info="none from the hub: the repo's LICENSE covers its code, not necessarily the weights",
        parameter_counts="not published (torchvision's weights meta has num_params); ptmhub builds trusted "
                         "models on the meta device to count them",
        offline_cache="torch.hub cache: repos in hub/OWNER_REPO_REF, weights in hub/checkpoints",
        cache_env="TORCH_HOME (default ~/.cache/torch; torch.hub uses $TORCH_HOME/hub)",
        auth="none for public repos; GITHUB_TOKEN raises GitHub's API rate limit (torch.hub reads it)",
        remote_code="hubconf.py is arbitrary Python run at load: torch.hub asks (trust_repo, trusted_list); "
                    "ptmhub never imports an untrusted repo (reads it with ast in a quarantine)",
        fine_tuning="entrypoints return an nn.Module: replace the head and train",
        publishes=frozenset({"revision", "tags", "summary", "framework"}),
    ),
    # -- informational rows: platforms ptmhub has no backend for ---------------------------------
    PlatformFacts(
        name="tfjs", title="TensorFlow.js models", supported=False,
        id_scheme="npm packages (@tensorflow-models/NAME) or a model.json URL; TF Hub/Kaggle tfjs variants",
        versioning="npm semver for packages; TF Hub/Kaggle versions for variants",
        frameworks="TensorFlow.js (graph or layers models: model.json + binary weight shards)",
        metadata="package README; no central metadata API",
        license_info="the npm package's license field (the code's license)",
        parameter_counts="not published",
        offline_cache="browser HTTP cache, or model.save('indexeddb://...'); Node.js: file:// paths",
        cache_env="-",
        auth="none",
        remote_code="the package's JavaScript runs in the page or Node.js process",
        fine_tuning="transfer learning with tf.layers models in the browser or Node.js",
        publishes=frozenset(),
    ),
    PlatformFacts(
        name="sagemaker", title="Amazon SageMaker JumpStart", supported=False,
        id_scheme="JumpStart model_id (e.g. huggingface-text2text-flan-t5-xl) + model_version ('*' = latest)",
        versioning="semver per model_id",
        frameworks="PyTorch, TensorFlow, Hugging Face, MXNet, ... in AWS deep-learning containers",
        metadata="model specs in the SageMaker Python SDK: task, framework, training support, instance types",
        license_info="per model; some require accepting an EULA (accept_eula=True)",
        parameter_counts="not a published field (often part of the model name)",
        offline_cache="none locally: artifacts live in S3 and are deployed to AWS endpoints",
        cache_env="-",
        auth="AWS credentials with IAM permissions; billed per instance hour",
        remote_code="the model's container and script bundle run in your AWS account",
        fine_tuning="JumpStartEstimator(...).fit() for models with training support",
        publishes=frozenset({"task", "framework", "fine_tunable", "version"}),
    ),
    PlatformFacts(
        name="paperswithcode", title="Papers with Code", supported=False,
        status="sunset in July 2025: its pages redirect to Hugging Face's Papers pages",
        id_scheme="paper slugs and links to GitHub repositories (not a model host)",
        versioning="none",
        frameworks="code links tagged PyTorch, TensorFlow, JAX, ...",
        metadata="papers, tasks, datasets, methods, benchmark leaderboards",
        license_info="none (see each linked repository)",
        parameter_counts="some leaderboards list a model's parameter count",
        offline_cache="none (a website and REST API)",
        cache_env="-",
        auth="none for reading",
        remote_code="n/a: it links to repositories",
        fine_tuning="n/a",
        publishes=frozenset(),
    ),
)

_BY_NAME = {f.name: f for f in FACTS}


def facts(name: str) -> PlatformFacts:
    """The facts of one platform (``huggingface``/``hf``, ``tfhub``, ``kaggle``, ``torchhub``, ...).

    Raises:
        UnknownPlatformError: no such platform in the matrix.
    """
    from .ids import PREFIXES

    key = PREFIXES.get(name, name)
    if key not in _BY_NAME:
        from .errors import UnknownPlatformError

        raise UnknownPlatformError(f"unknown platform {name!r}", hint="one of " + ", ".join(_BY_NAME))
    return _BY_NAME[key]


def publishes(platform: str, field_name: str) -> bool | None:
    """Whether ``platform`` itself publishes ``field_name``; None for an unknown platform."""
    f = _BY_NAME.get(platform)
    return None if f is None else field_name in f.publishes


def title(platform: str) -> str:
    f = _BY_NAME.get(platform)
    return f.title if f else platform


def cache_location(platform: str) -> Path | None:
    """Where this machine's native cache for ``platform`` is (from the settings), or None."""
    from . import settings

    s = settings.get()
    return {
        "huggingface": s.hf_hub_cache,
        "tfhub": s.tfhub_cache_dir,
        "kaggle": s.kagglehub_cache,
        "torchhub": Path(s.torch_home) / "hub",
    }.get(platform)


@dataclass(frozen=True)
class LiveStats:
    """What the registry knows about one platform (from :meth:`Store.stats`)."""

    models: int = 0
    tasks: int = 0
    with_license: int = 0
    with_parameters: int = 0
    median_parameters: int | None = None
    cached: int = 0
    cached_bytes: int = 0

    @property
    def license_share(self) -> float | None:
        return self.with_license / self.models if self.models else None

    @property
    def parameters_share(self) -> float | None:
        return self.with_parameters / self.models if self.models else None

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "tasks": self.tasks, "with_license": self.with_license,
                "license_share": self.license_share, "with_parameters": self.with_parameters,
                "parameters_share": self.parameters_share, "median_parameters": self.median_parameters,
                "cached": self.cached, "cached_bytes": self.cached_bytes}


@dataclass(frozen=True)
class PlatformRow:
    facts: PlatformFacts
    live: LiveStats | None        # None for informational rows
    cache_dir: str | None = None  # this machine's cache folder for the platform

    def to_dict(self) -> dict[str, Any]:
        return {**self.facts.to_dict(), "informational": not self.facts.supported,
                "live": self.live.to_dict() if self.live else None, "cache_dir": self.cache_dir}


@dataclass(frozen=True)
class PlatformMatrix:
    rows: tuple[PlatformRow, ...]
    database: str | None = None   # the registry the live columns come from (no password)

    @property
    def supported(self) -> tuple[PlatformRow, ...]:
        return tuple(r for r in self.rows if r.facts.supported)

    @property
    def informational(self) -> tuple[PlatformRow, ...]:
        return tuple(r for r in self.rows if not r.facts.supported)

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "facets": [{"key": k, "label": label} for k, label in FACETS],
                "platforms": [r.to_dict() for r in self.rows]}


def shown_url(url: str) -> str:
    """A database URL without credentials."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.rsplit('@', 1)[1]}"
    return url


def matrix(*, store: Store | None = None, live: bool = True) -> PlatformMatrix:
    """The platform matrix; with ``live`` and a ``store`` the supported rows carry that
    registry's figures (:func:`ptmhub.api.platform_matrix` opens the default one)."""
    stats: dict[str, dict[str, Any]] = {}
    database = None
    if live and store is not None:
        stats = {row["platform"]: row for row in store.stats()}
        database = shown_url(store.url)
    rows = []
    for f in FACTS:
        if not f.supported:
            rows.append(PlatformRow(f, None))
            continue
        s = stats.get(f.name, {})
        live_stats = LiveStats(
            models=int(s.get("models") or 0), tasks=int(s.get("tasks") or 0),
            with_license=int(s.get("with_license") or 0), with_parameters=int(s.get("with_parameters") or 0),
            median_parameters=s.get("median_parameters"), cached=int(s.get("cached") or 0),
            cached_bytes=int(s.get("cached_bytes") or 0)) if live else None
        cache = cache_location(f.name)
        rows.append(PlatformRow(f, live_stats, str(cache) if cache else None))
    return PlatformMatrix(tuple(rows), database)
