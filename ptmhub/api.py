"""The public Python API. The CLI is a thin layer over these functions.

Every function takes the model ID first and keyword-only options after; ``store`` selects a
registry other than the default (``PTMHUB_DATABASE_URL`` / ``--db``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import NotCachedError, NotInRegistryError, OfflineError, PtmhubError
from .ids import ModelId, parse

if TYPE_CHECKING:
    from .comparison import Comparison
    from .finetune import FinetuneBundle
    from .hubs.base import Loaded, PullResult, SyncReport
    from .records import ModelRecord
    from .registry.store import Store

__all__ = ["resolve", "show", "search", "compare", "sync", "pull", "load", "load_for_finetune", "add", "get_store"]

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


def _backend(mid: ModelId):
    from .hubs.base import backend_for

    return backend_for(mid.platform)


def _trust_kwargs(mid: ModelId, trust: bool) -> dict[str, Any]:
    return {"trust": True} if trust and mid.platform == "torchhub" else {}


#: Per hub, the fields a plain resolve answers for in full (see ``Store.upsert(authoritative=)``):
#: what the hub no longer publishes is cleared instead of kept. A backend may say it itself
#: with an ``authoritative_fields`` attribute. Catalog syncs are never authoritative.
AUTHORITATIVE_ON_RESOLVE: dict[str, tuple[str, ...]] = {
    "huggingface": ("license", "task", "gated", "tags", "datasets", "languages", "library", "framework",
                    "format", "architecture"),
}


def _pinned(mid: ModelId) -> bool:
    """A Hugging Face ID naming a revision (``hf:X@<commit>``): answered from, and kept in, the
    revision history; the model's current record stays what ``refs/main`` names."""
    return mid.platform == "huggingface" and mid.revision not in (None, "main")


def resolve(model_id: str | ModelId, *, offline: bool | None = None, store: Store | str | os.PathLike[str] | None = None,
            trust: bool = False) -> ModelRecord:
    """Ask the model's hub about it and record the answer in the registry.

    A plain ID updates the model's current record, the hub's answer being authoritative for the
    fields in :data:`AUTHORITATIVE_ON_RESOLVE` (a license the hub dropped is cleared), and keeps
    that revision in the history. A pinned Hugging Face ID (``hf:X@<commit>``, a tag or a
    branch) only adds to the history (``show hf:X@<commit>`` answers from it): the current
    record is never overwritten by an old revision.

    Raises:
        InvalidIdError: the ID cannot be parsed.
        OfflineError: offline mode is on (use :func:`show` to answer from the registry).
        ModelNotFoundError, AuthError, NetworkError: what the hub said.
    """
    mid = parse(model_id)
    if _offline(offline):
        raise OfflineError(f"offline mode is on: cannot ask the hub about {mid}",
                           hint=f"use 'ptmhub show {mid}' to read the registry", model_id=str(mid))
    backend = _backend(mid)
    record = backend.resolve(mid, **_trust_kwargs(mid, trust))
    extra_aliases = tuple(a for a in backend.aliases_for(mid, record) if a not in record.aliases)
    now = dt.datetime.now(dt.timezone.utc)
    record = record.replace(aliases=record.aliases + extra_aliases, resolved_at=record.resolved_at or now)
    st = get_store(store)
    if _pinned(mid):
        st.save_revision(record, revision=mid.revision)
        return st.get_revision(record.id, record.revision or mid.revision) or record
    fields = getattr(backend, "authoritative_fields", None)
    if fields is None:
        fields = AUTHORITATIVE_ON_RESOLVE.get(mid.platform, ())
    st.upsert([record], authoritative=fields)
    if mid.platform == "huggingface":
        st.save_revision(record)
    return st.get(record.id) or record


def show(model_id: str | ModelId, *, offline: bool | None = None, store: Store | str | os.PathLike[str] | None = None) -> ModelRecord:
    """The registry's record for a model; asks the hub on a miss when online.

    Raises:
        NotInRegistryError: not in the registry and offline.
    """
    mid = parse(model_id)
    st = get_store(store)
    record = st.get(mid.key)
    if _pinned(mid):
        # hf:X@<commit>: the history's record of that revision, or the current one when it is
        # that revision (or the branch it names, refs/main being what the current record is)
        if record is not None and _names_current(mid.revision, record):
            return record
        pinned = st.get_revision(mid.key, mid.revision)
        if pinned is not None:
            return pinned
        if _offline(offline):
            raise NotInRegistryError(f"the registry has no record of revision {mid.revision} of {mid.key} and "
                                     "offline mode is on", hint=f"run 'ptmhub resolve {mid}' while online",
                                     model_id=str(mid))
        return resolve(mid, store=st)
    if record is not None:
        return record
    if _offline(offline):
        raise NotInRegistryError(f"{mid} is not in the registry and offline mode is on",
                                 hint=_did_you_mean(st, mid, f"run 'ptmhub resolve {mid}' while online"),
                                 model_id=str(mid))
    return resolve(mid, store=st)


def _names_current(revision: str | None, record: ModelRecord) -> bool:
    current = record.revision or ""
    return revision == "main" or (revision is not None and len(revision) >= 7 and current.startswith(revision))


def _did_you_mean(st: Store, mid: ModelId, hint: str | None) -> str | None:
    """``hint`` with the stored IDs closest to ``mid`` in front (a typo's likely meaning)."""
    try:
        close = st.suggest(mid.key)
    except PtmhubError:
        close = []
    if not close:
        return hint
    return "did you mean " + " or ".join(close) + "?" + (f"; {hint}" if hint else "")


def search(q: str | None = None, *, task: str | None = None, license: str | None = None,
           platform: str | None = None, framework: str | None = None, min_parameters: int | None = None,
           max_parameters: int | None = None, fine_tunable: bool | None = None, cached: bool | None = None,
           sort: str = "relevance", limit: int = 20, offset: int = 0,
           store: Store | str | os.PathLike[str] | None = None) -> list[ModelRecord]:
    """Search the registry: full-text words in ``q`` plus filters (see docs/cli.md#search)."""
    from .registry.store import SearchQuery

    query = SearchQuery(q=q, task=task, license=license, platform=platform, framework=framework,
                        min_parameters=min_parameters, max_parameters=max_parameters,
                        fine_tunable=fine_tunable, cached=cached, sort=sort, limit=limit, offset=offset)
    return get_store(store).search(query)


def sync(source: str, /, *, store: Store | str | os.PathLike[str] | None = None, progress: Callable[[int], None] | None = None,
         **options: Any) -> SyncReport:
    """Import a whole catalog (``hf``, ``tfhub``, ``torchhub``, ``torchvision``, ``timm``)."""
    from .hubs.base import sync_source

    func = sync_source(source)
    return func(get_store(store), progress=progress, **{k: v for k, v in options.items() if v is not None})


def pull(model_id: str | ModelId, *, store: Store | str | os.PathLike[str] | None = None,
         progress: Callable[[int], None] | None = None, trust: bool = False) -> PullResult:
    """Download a model into its hub's own cache and record it in the registry."""
    mid = parse(model_id)
    if settings.get().offline:
        raise OfflineError(f"offline mode is on: cannot pull {mid}", hint="drop --offline / PTMHUB_OFFLINE to download",
                           model_id=str(mid))
    result = _backend(mid).pull(mid, progress=progress, **_trust_kwargs(mid, trust))
    st = get_store(store)
    st.upsert([result.record])
    size = result.record.cache_size_bytes if result.record.cache_size_bytes is not None else None
    st.set_cache_state(result.record.id, cached=True, cache_path=result.path, cache_size_bytes=size)
    result.record = st.get(result.record.id) or result.record
    return result


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
    from .offline import guard

    mid = parse(model_id)
    offline_on = _offline(offline)
    st = get_store(store)
    record = st.get(mid.key)
    use = _RecordUse(st, record) if record is not None else None
    try:
        with guard(offline_on):
            loaded = _backend(mid).load(mid, record, **_trust_kwargs(mid, trust), **kwargs)
    except BaseException as exc:
        if use is not None:
            use.undo()
        if record is None and isinstance(exc, (NotInRegistryError, NotCachedError)):
            exc.hint = _did_you_mean(st, mid, exc.hint)  # a typo'd ID is not in the cache either
        raise
    if use is not None:
        use.wait()
    return loaded


class _RecordUse:
    """``last_used`` written in a thread while the model loads.

    A process's first write to a SQLite registry syncs the write-ahead log (an fsync: 5-13 ms on
    the benchmark machine, most of ``ptmhub.load``'s own cost); done beside the load, that wait
    overlaps the library's work instead of adding to it. :meth:`wait` joins the thread before
    ``load`` returns, so the use is recorded when it returns; a load that fails puts
    ``last_used`` back (:meth:`undo`). A registry that cannot be written never fails a load.
    """

    def __init__(self, store: Store, record: ModelRecord) -> None:
        import threading

        self.store, self.record, self.at = store, record, None
        self.thread = threading.Thread(target=self._touch, name="ptmhub-record-use", daemon=True)
        self.thread.start()

    def _touch(self) -> None:
        try:
            self.at = self.store.touch(self.record.id)
        except PtmhubError:
            pass

    def wait(self) -> None:
        self.thread.join()

    def undo(self) -> None:
        self.thread.join()
        if self.at is not None:
            try:
                self.store.untouch(self.record.id, at=self.at, previous=self.record.last_used)
            except PtmhubError:
                pass


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

    return _compare(model_ids, store=store, offline=offline)


def load_for_finetune(model_id: Any, *, num_labels: int, task: str | None = None, strategy: str = "auto",
                      train_size: int | None = None, unfreeze_last: int | None = None, offline: bool | None = None,
                      store: Store | str | os.PathLike[str] | None = None, trust: bool = False, **framework_kwargs: Any) -> FinetuneBundle:
    """A pretrained model with a new ``num_labels``-way head, frozen by ``strategy``
    (``feature_extraction``, ``partial``, ``full`` or ``auto`` by ``train_size``); see
    :func:`ptmhub.finetune.load_for_finetune` and docs/finetune.md."""
    from .finetune import load_for_finetune as _load_for_finetune

    return _load_for_finetune(model_id, num_labels=num_labels, task=task, strategy=strategy, train_size=train_size,
                              unfreeze_last=unfreeze_last, offline=offline, store=store, trust=trust,
                              **framework_kwargs)



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

    return list_entrypoints(repo_or_id, trust=trust, store=get_store(store))
