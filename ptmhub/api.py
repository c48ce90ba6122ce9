"""The public Python API. The CLI is a thin layer over these functions.

Every function takes the model ID first and keyword-only options after; ``store`` selects a
registry other than the default (``PTMHUB_DATABASE_URL`` / ``--db``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import OfflineError
from .ids import ModelId, parse

if TYPE_CHECKING:
    from .comparison import Comparison, SameAs
    from .export import ExportReport
    from .lineage import Lineage
    from .platforms import PlatformMatrix
    from .recommend import Recommendation
    from .finetune import FinetuneBundle
    from .finetune.heads import HeadsArg
    from .hubs.base import Loaded, PullResult, SyncReport
    from .records import ModelRecord
    from .registry.store import Store

__all__ = ["resolve", "show", "search", "compare", "same_as", "lineage", "platform_matrix", "sync", "pull", "load",
           "load_for_finetune", "export_onnx", "add", "recommend", "get_store"]

_default_store: Store | None = None


def get_store(store: Store | str | os.PathLike[str] | None = None) -> Store:
    """The registry to use: a Store, a URL, a path to a SQLite file (as ``--db`` takes), or the
    default from settings.

    Raises:
        UsageError: a path whose folder does not exist, a URL that cannot be understood.
        DatabaseError, SchemaOutdatedError: the registry cannot be opened at this schema.
    """
    global _default_store
    from .registry import Store, open_store

    if isinstance(store, Store):
        return store
    if isinstance(store, (str, os.PathLike)):
        return open_store(settings.database_url_from(os.fspath(store)))
    if store is not None:
        from .errors import UsageError

        raise UsageError(f"store= takes a Store, a database URL or a file path, not {type(store).__name__}")
    url = settings.get().database_url
    if _default_store is None or _default_store.url != url:
        from .registry.engine import normalize_url

        if _default_store is None or _default_store.url != normalize_url(url):
            _default_store = open_store(url)
    return _default_store


def _offline(offline: bool | None) -> bool:
    """Whether this call runs offline. ``offline=True`` turns offline mode on for the whole process
    through :func:`ptmhub.offline.apply`, so ptmhub's settings, the native libraries' environment
    switches and their import-time flags (``huggingface_hub.constants.HF_HUB_OFFLINE``) all agree,
    and stay so after the call; when the mode is already on, makes sure they still agree."""
    from .offline import apply

    return apply(offline)


def resolve(model_id: str | ModelId, *, offline: bool | None = None, store: Store | str | os.PathLike[str] | None = None,
            trust: bool = False) -> ModelRecord:
    """Ask the model's hub about it and record the answer in the registry.

    A plain ID updates the model's current record, the hub's answer being authoritative for the
    fields its backend names (``authoritative_fields``: a license the hub dropped is cleared), and keeps that revision in the history. A pinned Hugging Face ID
    (``hf:X@<commit>``, a tag or a branch) only adds to the history (``show hf:X@<commit>``
    answers from it): the current record is never overwritten by an old revision. ``trust``
    (torch.hub) runs the repository's hubconf.py for this call; otherwise the trust list of
    ``store`` decides.

    Raises:
        InvalidIdError: the ID cannot be parsed.
        OfflineError: offline mode is on (use :func:`show` to answer from the registry).
        ModelNotFoundError, AuthError, NetworkError: what the hub said.
    """
    from . import models

    mid = parse(model_id)
    if _offline(offline):
        raise OfflineError(f"offline mode is on: cannot ask the hub about {mid}",
                           hint=f"use 'ptmhub show {mid}' to read the registry", model_id=str(mid))
    return models.resolve(mid, store=get_store(store), trust=trust)


def show(model_id: str | ModelId, *, offline: bool | None = None, store: Store | str | os.PathLike[str] | None = None) -> ModelRecord:
    """The registry's record for a model; asks the hub on a miss when online.

    Raises:
        NotInRegistryError: not in the registry and offline.
    """
    from . import models

    mid = parse(model_id)
    return models.show(mid, store=get_store(store), offline=_offline(offline))


def search(q: str | None = None, *, task: str | None = None, license: str | None = None,
           platform: str | None = None, framework: str | None = None, min_parameters: int | None = None,
           max_parameters: int | None = None, fine_tunable: bool | None = None, cached: bool | None = None,
           sort: str = "relevance", limit: int = 20, offset: int = 0, include_unknown: bool = False,
           min_accuracy: str | tuple[Any, ...] = (), accuracy_on: str | tuple[str, str] | None = None,
           store: Store | str | os.PathLike[str] | None = None) -> list[ModelRecord]:
    """Search the registry: full-text words in ``q`` plus filters (see docs/cli.md#search).
    ``include_unknown``: the size filters let models of unknown size through too.
    ``min_accuracy``: published figures a model must reach (``"imagenet-1k:acc@1=80"``, or
    several); ``sort="accuracy"`` orders by ``accuracy_on`` (``"imagenet-1k:acc@1"``; default:
    the first ``min_accuracy`` figure, else the figure most matches publish)."""
    from .registry.store import SearchQuery

    query = SearchQuery(q=q, task=task, license=license, platform=platform, framework=framework,
                        min_parameters=min_parameters, max_parameters=max_parameters, include_unknown=include_unknown,
                        fine_tunable=fine_tunable, cached=cached, sort=sort, limit=limit, offset=offset,
                        min_accuracy=min_accuracy, accuracy_on=accuracy_on)
    return get_store(store).search(query)


def sync(source: str, /, *, store: Store | str | os.PathLike[str] | None = None, progress: Callable[[int], None] | None = None,
         **options: Any) -> SyncReport:
    """Import a whole catalog (``hf``, ``tfhub``, ``torchhub``, ``torchvision``, ``timm``)."""
    from .catalogs import sync_source

    func = sync_source(source)
    return func(get_store(store), progress=progress, **{k: v for k, v in options.items() if v is not None})


def pull(model_id: str | ModelId, *, store: Store | str | os.PathLike[str] | None = None,
         progress: Callable[[int], None] | None = None, trust: bool = False) -> PullResult:
    """Download a model into its hub's own cache and record it in the registry."""
    from . import models

    mid = parse(model_id)
    return models.pull(mid, store=get_store(store), progress=progress, trust=trust)


def load(model_id: str | ModelId, *, offline: bool | None = None, store: Store | str | os.PathLike[str] | None = None,
         trust: bool = False, **kwargs: Any) -> Loaded:
    """Load a model (and its preprocessor) from its hub's native cache, or a ``local:`` model
    from its folder; records ``last_used``.

    Offline (``offline=True``, ``--offline`` or ``PTMHUB_OFFLINE=1``) the load runs inside
    :func:`ptmhub.offline.guard`: the native libraries' offline switches are on and any network
    call fails at once, so a model that is not fully cached raises ``NotCachedError`` naming
    ``ptmhub pull ID`` and nothing waits on a timeout. ``offline=True`` turns offline mode on
    for the whole process, not just this call (settings and the ``HF_HUB_OFFLINE`` /
    ``TRANSFORMERS_OFFLINE`` environment variables stay set): right for a script or the CLI; a
    long-running program that wants to go online again should set ``PTMHUB_OFFLINE`` instead.

    Raises:
        NotCachedError: the model is not (fully) in its native cache.
        NotInRegistryError: a ``local:`` ID that was never added.
        UntrustedRepoError, MissingDependencyError: as for each backend.
    """
    from . import models

    mid = parse(model_id)
    offline_on = _offline(offline)
    return models.load(mid, store=get_store(store), offline=offline_on, trust=trust, **kwargs)


def add(path: str, *, model_id: str | None = None, store: Store | str | os.PathLike[str] | None = None) -> ModelRecord:
    """Register a model folder (a fine-tuned model, or one shipped in a Python package) as
    ``local:NAME`` (used where it is), or copy it into the Hugging Face cache as
    ``hf:OWNER/NAME`` (``model_id``); see :func:`ptmhub.cache.add`. Cache scanning, listing,
    verification and removal are in :mod:`ptmhub.cache`."""
    from .cache import add as _add

    return _add(path, model_id=model_id, store=get_store(store))


def compare(model_ids: Sequence[str], *, store: Store | str | os.PathLike[str] | None = None, offline: bool | None = None) -> Comparison:
    """Several models side by side: one row per fact, each value with its source, differing rows
    flagged (see :mod:`ptmhub.comparison`; ``comparison.same_as`` finds cross-hub equivalents)."""
    from .comparison import compare as _compare

    return _compare(model_ids, store=get_store(store), offline=_offline(offline))


def same_as(model_id: str, *, store: Store | str | os.PathLike[str] | None = None, offline: bool | None = None,
            tolerance: float = 0.1, limit: int = 20) -> SameAs:
    """The same architecture on other hubs (see :func:`ptmhub.comparison.same_as`)."""
    from .comparison import same_as as _same_as

    return _same_as(model_id, store=get_store(store), offline=_offline(offline), tolerance=tolerance, limit=limit)


def lineage(model_id: str | ModelId, *, store: Store | str | os.PathLike[str] | None = None,
            offline: bool | None = None) -> Lineage:
    """Where a model comes from (HF base_model, timm fine-tune tags, TF Hub variants' parents) and
    what the registry holds that was made from it, with license conflicts (see :mod:`ptmhub.lineage`)."""
    from .lineage import lineage as _lineage

    return _lineage(parse(model_id), store=get_store(store), offline=_offline(offline))


def recommend(task: str, *, license: str | None = None, max_parameters: int | None = None,
              max_gflops: float | None = None, framework: str | None = None, platform: str | None = None,
              train_size: int | None = None, num_labels: int | None = None, accuracy_on: str | None = None,
              include_unknown: bool = False, limit: int = 10, plans: int = 3,
              store: Store | str | os.PathLike[str] | None = None) -> Recommendation:
    """The registry's best models for ``task`` under a license group, a parameter or GFLOPs
    budget and a framework, ranked across hubs with the evidence for each rank (published
    accuracy, accuracy per parameter, popularity, license verdict) and a fine-tuning plan for
    the top ``plans`` picks by ``train_size`` (see :mod:`ptmhub.recommend`, docs/recommend.md)."""
    from .recommend import recommend as _recommend

    return _recommend(task, store=get_store(store), license=license, max_parameters=max_parameters,
                      max_gflops=max_gflops, framework=framework, platform=platform, train_size=train_size,
                      num_labels=num_labels, accuracy_on=accuracy_on, include_unknown=include_unknown, limit=limit,
                      plans=plans)


def platform_matrix(*, store: Store | str | os.PathLike[str] | None = None, live: bool = True) -> PlatformMatrix:
    """What each hub offers, side by side; with ``live`` the rows carry the registry's figures
    (see :mod:`ptmhub.platforms`)."""
    from .platforms import matrix

    return matrix(store=get_store(store) if live else None, live=live)


def load_for_finetune(model_id: Any, *, num_labels: int | None = None, heads: HeadsArg | None = None,
                      task: str | None = None, strategy: str = "auto", train_size: int | None = None,
                      unfreeze_last: int | None = None, offline: bool | None = None,
                      store: Store | str | os.PathLike[str] | None = None, trust: bool = False,
                      **framework_kwargs: Any) -> FinetuneBundle:
    """A pretrained model with a new ``num_labels``-way head (or several named ``heads`` on one
    shared backbone), frozen by ``strategy`` (``feature_extraction``, ``partial``, ``full`` or
    ``auto`` by ``train_size``); see :func:`ptmhub.finetune.load_for_finetune` and docs/finetune.md.
    After training, ``bundle.save(path)`` writes a folder the framework's own loader reads, whose
    model card names the base model, so that :func:`add` registers it with its lineage
    (docs/finetune.md#saving)."""
    from .finetune import load_for_finetune as _load_for_finetune

    return _load_for_finetune(model_id, num_labels=num_labels, heads=heads, task=task, strategy=strategy,
                              train_size=train_size,
                              unfreeze_last=unfreeze_last, offline=offline, store=get_store(store),
                              trust=trust, **framework_kwargs)


def export_onnx(source: Any, output: str | os.PathLike[str] | None = None, *, opset: int | None = None,
                atol: float | None = None, force: bool = False, offline: bool | None = None,
                store: Store | str | os.PathLike[str] | None = None, trust: bool = False) -> ExportReport:
    """Export a cached hub model or a model folder (torch, transformers, sentence-transformers,
    timm) to one ONNX file, checked in onnxruntime against torch on two input shapes; see
    :func:`ptmhub.export.export_onnx` and docs/export.md. The registry is opened for hub IDs only.

    Raises:
        UsageError, ExportError, ParityError, NotCachedError, MissingDependencyError: see
            :func:`ptmhub.export.export_onnx`.
    """
    from . import export

    _offline(offline)
    registry = None if export.is_path(source) or not isinstance(source, (str, ModelId)) else get_store(store)
    return export.export_onnx(source, output, store=registry, opset=opset,
                              atol=export.DEFAULT_ATOL if atol is None else atol, force=force, trust=trust)


def trust(repo: str, *, store: Store | str | os.PathLike[str] | None = None) -> str:
    """Allow ptmhub to import ``OWNER/REPO``'s (or every ``OWNER/*``) hubconf.py. Returns the
    normalized entry."""
    from .hubs.torchhub import trust_add

    return trust_add(repo, store=get_store(store))


def untrust(repo: str, *, store: Store | str | os.PathLike[str] | None = None) -> str:
    """Stop trusting a repository (registry list and torch.hub's trusted_list)."""
    from .errors import UsageError
    from .hubs.torchhub import trust_remove

    if not trust_remove(repo, store=get_store(store)):
        raise UsageError(f"{repo} was not in the trust list", hint="see 'ptmhub trust ls'")
    return repo.lower()


def trusted(*, store: Store | str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """Trusted repositories: the registry's list, torch.hub's trusted_list and trusted owners."""
    from .hubs.torchhub import trusted_repos

    return trusted_repos(store=get_store(store))


def entrypoints(repo_or_id: str, *, trust: bool = False, store: Store | str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """A torch.hub repository's entrypoints with their docstrings (static reading when untrusted)."""
    from .hubs.torchhub import list_entrypoints

    return list_entrypoints(repo_or_id, trust=trust, trusted=get_store(store).trusted())
