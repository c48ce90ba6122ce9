"""The platform matrix: what each model platform offers, and what the registry knows about it.

Static facts (:data:`FACTS`) are documented capabilities of each platform — ID scheme,
versioning, frameworks, published metadata, license information, parameter counts, the offline
cache and its location, authentication, the trust model for remote code, and fine-tuning. The
platforms ptmhub supports (each hub's own row, from its package) have live figures from the registry
(:meth:`Store.stats`); TF.js, SageMaker and Papers with Code (the other platforms of the
comparisons ptmhub grew from) are *informational* rows: ptmhub has no backend for them.

No network, no framework import: ``matrix()`` reads the registry and the settings only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hubs.base import FACETS, MATRIX_ROWS, PlatformFacts, load_target

if TYPE_CHECKING:
    from .registry.store import Store

__all__ = ["PlatformFacts", "LiveStats", "PlatformRow", "PlatformMatrix", "FACTS", "FACETS", "INFORMATIONAL", "facts",
           "publishes", "title", "color", "downloads_window", "cache_location", "matrix", "shown_url"]

#: Platforms ptmhub has no backend for, shown beside the supported ones for comparison.
INFORMATIONAL: tuple[PlatformFacts, ...] = (
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

#: Every row: each supported hub's own (``ptmhub/hubs/<hub>/facts.py``, registered in
#: :data:`ptmhub.hubs.base.MATRIX_ROWS`), then the informational ones.
FACTS: tuple[PlatformFacts, ...] = tuple(load_target(t) for t in MATRIX_ROWS.values()) + INFORMATIONAL

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
    from .hubs.native import cache_for, caches_of

    names = caches_of(platform) if platform in MATRIX_ROWS else []
    return cache_for(names[0]).root() if names else None


def downloads_window(platform: str) -> str | None:
    """Over what period ``platform`` counts downloads ("last 30 days"), when it says."""
    f = _BY_NAME.get(platform)
    return f.downloads_window or None if f is not None else None


def color(platform: str) -> str | None:
    """The colour that marks ``platform`` in charts (its matrix row's), or None."""
    f = _BY_NAME.get(platform)
    return f.color if f is not None and f.color else None


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
