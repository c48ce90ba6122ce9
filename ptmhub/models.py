"""Resolve, show, pull and load one model against a given registry: the services layer under
:mod:`ptmhub.api`.

Every function takes a parsed :class:`~ptmhub.ids.ModelId` and an open
:class:`~ptmhub.registry.store.Store`; :mod:`ptmhub.api` turns what users pass (a string, a
path, ``None``) into those. Backends never see the store: :func:`context_for` reads what a
call needs (the model's record, the trust list) into a frozen
:class:`~ptmhub.hubs.base.BackendContext`, and what a backend returns is stored here, by the
store's own merge rules.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import NotCachedError, NotInRegistryError, OfflineError, PtmhubError
from .hubs.base import Backend, BackendContext, backend_for

if TYPE_CHECKING:
    from .hubs.base import Loaded, PullResult
    from .ids import ModelId
    from .records import ModelRecord
    from .registry.store import Store

__all__ = ["context_for", "resolve", "show", "pull", "load", "did_you_mean", "pinned"]


def context_for(mid: ModelId, store: Store, *, trust: bool = False, known: ModelRecord | None = None) -> BackendContext:
    """What the model's backend may know of ``store`` for one call: the model's record and the
    trust list (read here, so ``store=`` decides what is trusted, not the default registry).
    A registry that cannot be read gives an empty context: a hub call never fails for it."""
    try:
        record = known if known is not None else store.get(mid.key)
        trusted = frozenset(store.trusted()) if backend_for(mid.platform).uses_trust else frozenset()
    except PtmhubError:
        record, trusted = known, frozenset()
    return BackendContext(known=record, trusted=trusted, trust=trust)


def _store_records(backend: Backend, store: Store, records: list[ModelRecord], *,
                   authoritative: tuple[str, ...] | bool = False) -> None:
    store.upsert(records, authoritative=authoritative, combine=backend.combines)


def pinned(mid: ModelId) -> bool:
    """An ID naming an old revision (``hf:X@<commit>``) of a hub that keeps revisions: answered
    from, and kept in, the revision history; the model's current record stays what ``refs/main``
    names."""
    return backend_for(mid.platform).pinned(mid)


def resolve(mid: ModelId, *, store: Store, trust: bool = False) -> ModelRecord:
    """Ask the model's hub about it and record the answer (see :func:`ptmhub.api.resolve`).
    The caller has checked that the process is online."""
    backend = backend_for(mid.platform)
    record = backend.resolve(mid, context=context_for(mid, store, trust=trust))
    extra_aliases = tuple(a for a in backend.aliases_for(mid, record) if a not in record.aliases)
    now = dt.datetime.now(dt.timezone.utc)
    record = record.replace(aliases=record.aliases + extra_aliases, resolved_at=record.resolved_at or now)
    if pinned(mid):
        store.save_revision(record, revision=mid.revision)
        return store.get_revision(record.id, record.revision or mid.revision) or record
    _store_records(backend, store, [record], authoritative=backend.authoritative_fields)
    if backend.keeps_revisions:
        store.save_revision(record)
    return store.get(record.id) or record


def show(mid: ModelId, *, store: Store, offline: bool) -> ModelRecord:
    """The registry's record; asks the hub on a miss unless ``offline`` (see :func:`ptmhub.api.show`)."""
    record = store.get(mid.key)
    if pinned(mid):
        # hf:X@<commit>: the history's record of that revision, or the current one when it is
        # that revision (or the branch it names, refs/main being what the current record is)
        if record is not None and _names_current(mid.revision, record):
            return record
        found = store.get_revision(mid.key, mid.revision)
        if found is not None:
            return found
        if offline:
            raise NotInRegistryError(f"the registry has no record of revision {mid.revision} of {mid.key} and "
                                     "offline mode is on", hint=f"run 'ptmhub resolve {mid}' while online",
                                     model_id=str(mid))
        return resolve(mid, store=store)
    if record is not None:
        return record
    if offline:
        raise NotInRegistryError(f"{mid} is not in the registry and offline mode is on",
                                 hint=did_you_mean(store, mid, f"run 'ptmhub resolve {mid}' while online"),
                                 model_id=str(mid))
    return resolve(mid, store=store)


def _names_current(revision: str | None, record: ModelRecord) -> bool:
    current = record.revision or ""
    return revision == "main" or (revision is not None and len(revision) >= 7 and current.startswith(revision))


def did_you_mean(store: Store, mid: ModelId, hint: str | None) -> str | None:
    """``hint`` with the stored IDs closest to ``mid`` in front (a typo's likely meaning)."""
    try:
        close = store.suggest(mid.key)
    except PtmhubError:
        close = []
    if not close:
        return hint
    return "did you mean " + " or ".join(close) + "?" + (f"; {hint}" if hint else "")


def pull(mid: ModelId, *, store: Store, progress: Callable[[int], None] | None = None,
         trust: bool = False) -> PullResult:
    """Download into the hub's own cache and record it as cached (see :func:`ptmhub.api.pull`)."""
    if settings.get().offline:
        raise OfflineError(f"offline mode is on: cannot pull {mid}", hint="drop --offline / PTMHUB_OFFLINE to download",
                           model_id=str(mid))
    backend = backend_for(mid.platform)
    result = backend.pull(mid, progress=progress, context=context_for(mid, store, trust=trust))
    result.record = store.mark_cached(result.record, cache_path=result.path,
                                      cache_size_bytes=result.record.cache_size_bytes, combine=backend.combines)
    return result


def load(mid: ModelId, *, store: Store, offline: bool, trust: bool = False, **kwargs: Any) -> Loaded:
    """Load from the hub's native cache and record the use (see :func:`ptmhub.api.load`)."""
    from .offline import guard

    record = store.get(mid.key)
    context = context_for(mid, store, trust=trust, known=record)  # the registry is read before the guard
    use = _RecordUse(store, record) if record is not None else None
    try:
        with guard(offline):
            loaded = backend_for(mid.platform).load(mid, record, context=context, **kwargs)
    except BaseException as exc:
        if use is not None:
            use.undo()
        if record is None and isinstance(exc, (NotInRegistryError, NotCachedError)):
            exc.hint = did_you_mean(store, mid, exc.hint)  # a typo'd ID is not in the cache either
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
