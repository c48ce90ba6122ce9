"""The store: the only code that touches the registry database. It takes and returns
:class:`~ptmhub.records.ModelRecord` values, never ORM rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .. import licenses
from ..errors import DatabaseError, PtmhubError, UsageError
from ..ids import parse as parse_id
from ..quality import higher_is_better
from ..records import FIELDS, Evaluation, ModelRecord
from ..vocab import KNOWN_TASKS, TASK_TO_PIPELINE
from . import migrate
from .engine import get_engine, normalize_url, transaction
from .tables import JsonType, aliases, model_revisions, models
from .tables import evaluations as evaluations_t
from .tables import sync_state as sync_state_t
from .tables import trusted_repos as trusted

__all__ = ["Store", "SearchQuery", "SORTS", "open_store"]


SORTS = ("relevance", "downloads", "likes", "parameters", "name", "recent", "accuracy")
_LIST_FIELDS = ("tags", "datasets", "languages")
_RECORD_COLUMNS = [f for f in FIELDS if f not in ("aliases",)]
_RECORD_VALUES = operator.attrgetter(*_RECORD_COLUMNS)
_LIST_POSITIONS = tuple(i for i, name in enumerate(_RECORD_COLUMNS) if name in _LIST_FIELDS)
_EXTRA_POSITION = _RECORD_COLUMNS.index("extra")
_ROW_KEYS = (*_RECORD_COLUMNS, "search_text", "updated_at")  # the keys of a row as _to_row builds it
# Fields that move together when merging: a newer non-null value replaces the whole group.
_GROUPS = {
    "parameters": ("parameters", "parameters_source", "parameters_note"),
    "license": ("license", "license_raw", "license_source"),
}
# Kept by the store itself; an upsert never changes them (set_cache_state / touch do).
_STATE_FIELDS = ("first_seen", "cached", "cache_path", "cache_size_bytes", "last_used")
#: How good a parameter count's source is: a count never gives way to one from a worse source
#: (an exact count from the weights or the hub's own total, over one built from config.json,
#: over a catalog's published figure). Unknown sources rank lowest.
PARAMETER_SOURCE_RANK = {"safetensors-header": 3, "api": 3, "state-dict": 3, "saved-model": 3, "meta-device": 3,
                         "config": 2, "catalog": 1}
#: Fields an authoritative upsert may set (to ``None`` too): what a hub publishes about a model.
#: The parameter count is not among them: a count is cleared by no one, only replaced by one at
#: least as well sourced.
AUTHORITATIVE_FIELDS = frozenset(f for f in FIELDS if f not in (*_STATE_FIELDS, "id", "platform", "name", "aliases",
                                                                 "parameters", "parameters_source", "parameters_note",
                                                                 "resolved_at", "extra", "license_raw", "license_source"))
_INT64 = (-(2**63), 2**63 - 1)
_BIGINT_POSITIONS = tuple(i for i, name in enumerate(_RECORD_COLUMNS)
                          if name in ("downloads", "likes", "size_bytes", "cache_size_bytes"))
_PARAMETERS_POSITION = _RECORD_COLUMNS.index("parameters")
_EVALUATIONS_POSITION = _RECORD_COLUMNS.index("evaluations")
_GFLOPS_POSITION = _RECORD_COLUMNS.index("gflops")
_HF = "huggingface"


def _too_big_note(value: int) -> str:
    # never str() the number: past 4,300 digits that raises ValueError
    return (f"the published count ({value.bit_length()} bits) does not fit a 64-bit integer, so it is not "
            "stored (no model has that many parameters: the source is wrong)")


def _json_safe(value: Any) -> Any:
    """``value`` with what JSON (and PostgreSQL's JSONB) cannot hold replaced: integers too long
    to print (over 4,300 digits) by a short description, NaN and infinities by None, other objects by their text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        # JSON holds any integer Python can print (4,300 digits; 14,000 bits is below that)
        return value if value.bit_length() <= 14_000 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


def _dumps_safe(value: Any) -> str:
    """json.dumps, falling back to :func:`_json_safe` for what JSON cannot hold (the normal
    case costs nothing more than json.dumps)."""
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(_json_safe(value), allow_nan=False)


def _checked_json(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (ValueError, TypeError, RecursionError):
        return _json_safe(value)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


_WORD = re.compile(r"[0-9a-z]+")


def search_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def search_text(record: ModelRecord) -> str:
    """What full-text search sees: id, owner, name, task, architecture, summary, tags, library."""
    parts = [record.id, record.owner or "", record.name, record.task or "", record.architecture or "",
             record.library or "", record.summary or "", " ".join(record.tags), " ".join(record.aliases)]
    return " ".join(dict.fromkeys(search_words(" ".join(parts))))  # each word once, first-seen order


@dataclass(frozen=True)
class SearchQuery:
    """A search: full-text words plus filters. ``license`` is an id or a group
    (``permissive``, ``commercial-ok``, ``copyleft``, ``non-commercial``, ``restricted``, ``none``)."""

    q: str | None = None
    task: str | None = None
    license: str | None = None
    platform: str | None = None
    framework: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    #: with a size filter: models whose count is unknown pass it too (marked as such by callers)
    include_unknown: bool = False
    fine_tunable: bool | None = None
    cached: bool | None = None
    #: published figures a model must reach, each ``(dataset, metric, value)`` or the text
    #: ``"imagenet-1k:acc@1=80"`` (:func:`ptmhub.quality.parse_min_accuracy`): at least ``value``
    #: (at most, for an error metric such as ``wer``)
    min_accuracy: tuple[Any, ...] = ()
    #: what ``sort="accuracy"`` orders by: ``(dataset, metric)`` or ``"imagenet-1k:acc@1"``;
    #: default: the first ``min_accuracy`` figure, else the one most of the matches publish
    accuracy_on: Any = None
    sort: str = "relevance"
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise UsageError(f"unknown sort {self.sort!r}", hint="one of " + ", ".join(SORTS))
        from ..quality import dataset_key, metric_key, parse_metric_ref, parse_min_accuracy

        wanted = self.min_accuracy
        one = isinstance(wanted, str) or (isinstance(wanted, tuple) and len(wanted) == 3 and isinstance(wanted[0], str)
                                          and isinstance(wanted[2], (int, float)))
        wanted = [wanted] if one else list(wanted or ())
        figures = []
        for item in wanted:
            if isinstance(item, str):
                figures.append(parse_min_accuracy(item))
            elif isinstance(item, (tuple, list)) and len(item) == 3 and not isinstance(item[2], bool) \
                    and isinstance(item[2], (int, float)) and math.isfinite(item[2]):
                figures.append((dataset_key(str(item[0])), metric_key(str(item[1])), float(item[2])))
            else:
                raise UsageError(f"min_accuracy takes 'DATASET:METRIC=VALUE' or (dataset, metric, value), "
                                 f"not {item!r}", hint="e.g. imagenet-1k:acc@1=80")
        object.__setattr__(self, "min_accuracy", tuple(figures))
        on = self.accuracy_on
        if isinstance(on, str):
            on = parse_metric_ref(on)
        elif isinstance(on, (tuple, list)) and len(on) == 2:
            on = (dataset_key(str(on[0])), metric_key(str(on[1])))
        elif on is not None:
            raise UsageError(f"accuracy_on takes 'DATASET:METRIC' or (dataset, metric), not {on!r}",
                             hint="e.g. imagenet-1k:acc@1")
        if on is None and figures:
            on = figures[0][:2]
        object.__setattr__(self, "accuracy_on", on)
        for label, value in (("--limit", self.limit), ("--offset", self.offset),
                             ("--min-params", self.min_parameters), ("--max-params", self.max_parameters)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{label} must be a whole number, not {type(value).__name__}")
            if not 0 <= value <= _INT64[1]:
                raise UsageError(f"{label} {value if value.bit_length() < 80 else 'value'} is out of range",
                                 hint=f"give a number from 0 to {_INT64[1]:,}".replace(",", "_"))
        if (self.min_parameters is not None and self.max_parameters is not None
                and self.min_parameters > self.max_parameters):
            raise UsageError("--min-params is larger than --max-params")
        if self.platform is not None:
            from ..ids import PLATFORMS, PREFIXES

            if self.platform not in PLATFORMS and self.platform not in PREFIXES:
                raise UsageError(f"unknown platform {self.platform!r}", hint="one of " + ", ".join(PLATFORMS))


class Store:
    """A registry database (SQLite file or PostgreSQL), at the code's schema version."""

    def __init__(self, url: str, *, create: bool = True):
        self.url = normalize_url(url)
        self.engine = get_engine(self.url)
        self.dialect = self.engine.dialect.name
        if self._schema_version() == migrate.SCHEMA_HEAD:
            return  # the usual case, answered by one query (no schema reflection)
        try:
            with transaction(self.engine) as conn:
                rev = migrate.check(conn, self.url)
                empty = rev is None and not migrate.has_tables(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open the registry: {str(exc).splitlines()[0]}") from None
        if rev is None:
            if not empty:
                raise migrate.SchemaOutdatedError("the registry has tables but no schema version",
                                                  hint="it was not created by ptmhub; point --db at another file")
            if not create:
                raise DatabaseError("the registry database is empty", hint="run 'ptmhub db upgrade' to create it")
            if self.dialect == "sqlite":
                self._sqlite_pragma("PRAGMA journal_mode=WAL")
            migrate.upgrade(self.url)

    def _schema_version(self) -> str | None:
        """The registry's schema revision from ``alembic_version``; None when that cannot be read
        (a new or foreign database: the full check in ``__init__`` then decides)."""
        try:
            with transaction(self.engine) as conn:
                return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except (sa.exc.SQLAlchemyError, DatabaseError):
            return None

    def close(self) -> None:
        pass  # engines are shared per URL and disposed at exit

    # -- conversion ------------------------------------------------------------------------
    @staticmethod
    def _to_row(record: ModelRecord, now: dt.datetime) -> dict[str, Any]:
        # one C-level attrgetter call instead of a getattr per field: this runs once per record
        # of every sync, so it is on the ingest benchmark's hot path
        values = list(_RECORD_VALUES(record))
        for i in _LIST_POSITIONS:
            values[i] = list(values[i]) or None  # empty = unknown, so a merge keeps known values
        extra = values[_EXTRA_POSITION]
        values[_EXTRA_POSITION] = dict(extra) if extra else None
        found = values[_EVALUATIONS_POSITION]
        values[_EVALUATIONS_POSITION] = [e.to_dict() for e in found if math.isfinite(e.value)] or None if found else None
        gflops = values[_GFLOPS_POSITION]
        if gflops is not None and (isinstance(gflops, bool) or not isinstance(gflops, (int, float))
                                   or not math.isfinite(gflops) or gflops < 0):
            values[_GFLOPS_POSITION] = None  # unknown rather than a value no query can compare
        for i in _BIGINT_POSITIONS:
            value = values[i]
            if value is not None and not _INT64[0] <= value <= _INT64[1]:
                values[i] = None  # beyond the column: unknown rather than an overflow
        row = dict(zip(_RECORD_COLUMNS, values))
        count = values[_PARAMETERS_POSITION]
        if count is not None and not _INT64[0] <= count <= _INT64[1]:
            row.update(parameters=None, parameters_source=None, parameters_note=_too_big_note(count))
        row["search_text"] = search_text(record)
        row["first_seen"] = record.first_seen or now
        row["updated_at"] = now
        row["cached"] = bool(record.cached)
        return row

    @staticmethod
    def _to_record(row: sa.Row, alias_list: Sequence[str] = ()) -> ModelRecord:
        data = row._mapping
        kwargs: dict[str, Any] = {}
        for name in _RECORD_COLUMNS:
            value = data[name]
            if name in _LIST_FIELDS:
                value = tuple(value or ())
            elif name == "extra":
                value = value or {}
            elif name == "evaluations":
                value = tuple(Evaluation.from_dict(e) for e in value or () if isinstance(e, dict))
            elif isinstance(value, dt.datetime):
                value = _aware(value)
            kwargs[name] = value
        kwargs["aliases"] = tuple(alias_list)
        kwargs["cached"] = bool(kwargs["cached"])
        return ModelRecord(**kwargs)

    def _insert(self):
        """The dialect's INSERT (with ON CONFLICT), imported only for the dialect in use."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert

    # -- writes ------------------------------------------------------------------------------
    def upsert(self, records: Iterable[ModelRecord], *, batch_size: int = 1000,
               authoritative: Iterable[str] | bool = False, combine: bool = False) -> int:
        """Insert or merge records. Idempotent. Returns the number of records.

        The merge: a ``None`` (or empty) value never overwrites a known one, which is right for
        partial sources (a catalog page knows some facts); grouped fields (parameters + source +
        note, license + raw + source) move together; a parameter count never gives way to one
        from a worse source (:data:`PARAMETER_SOURCE_RANK`); ``first_seen`` and cache state are
        kept. ``authoritative`` names the fields the records answer for in full, as a hub's
        fresh answer about one model does (``True``: all of :data:`AUTHORITATIVE_FIELDS`): for
        those a ``None`` or empty value clears the stored one (a license the hub no longer
        publishes, with its raw text and source). A Hugging Face record lands on the row whose
        ID differs from its own only in case (HF repo ids are case-insensitive); an
        authoritative one renames that row to its own casing. ``combine``: ``extra`` and
        ``tags`` are added to the stored record's instead of replacing them whole, for sources
        that describe the same model from different sides (the pytorch/hub docs, torchvision's
        weights and a repository's hubconf.py).

        Raises:
            UsageError: not a ModelRecord, or an unknown field in ``authoritative``.
            DatabaseError: the registry cannot be written (nothing of the batch is written).
        """
        if authoritative is True:
            fields = AUTHORITATIVE_FIELDS
        elif authoritative is False or authoritative is None:
            fields = frozenset()
        else:
            fields = frozenset(authoritative)
            unknown = fields - AUTHORITATIVE_FIELDS - {"license_raw", "license_source"}
            if unknown:
                raise UsageError(f"cannot upsert {', '.join(sorted(unknown))} authoritatively",
                                 hint="choose from " + ", ".join(sorted(AUTHORITATIVE_FIELDS)))
        total = 0
        batch: list[ModelRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                total += self._upsert_batch(self._combined(batch) if combine else batch, fields)
                batch = []
        if batch:
            total += self._upsert_batch(self._combined(batch) if combine else batch, fields)
        return total

    def _combined(self, records: list[ModelRecord]) -> list[ModelRecord]:
        """``records`` with ``extra`` and ``tags`` added to the stored record's (its keys are kept
        unless the new record sets them)."""
        stored = self.get_many([r.id for r in records if isinstance(r, ModelRecord)])
        out = []
        for record in records:
            old = stored.get(record.id) if isinstance(record, ModelRecord) else None
            if old is not None and old.id == record.id:
                record = record.replace(extra={**dict(old.extra or {}), **dict(record.extra or {})},
                                        tags=tuple(dict.fromkeys(tuple(old.tags) + tuple(record.tags))))
            out.append(record)
        return out

    @staticmethod
    def _fold(record_id: str, platform: str) -> str:
        return record_id.lower() if platform == _HF else record_id

    def _upsert_batch(self, batch: list[ModelRecord], authoritative: frozenset[str] = frozenset()) -> int:
        now = _utcnow()
        # one row per id (last wins; HF ids regardless of case) so a batch never conflicts with itself
        by_id: dict[str, ModelRecord] = {}
        for record in batch:
            if not isinstance(record, ModelRecord):
                raise UsageError(f"upsert takes ModelRecord values, not {type(record).__name__}")
            by_id[self._fold(record.id, record.platform)] = record
        rows = [self._to_row(r, now) for r in by_id.values()]
        alias_rows = [{"alias": a, "model_id": r.id} for r in by_id.values() for a in r.aliases if a != r.id]
        fast = self.dialect == "sqlite" and not authoritative
        if not fast:
            for row in rows:  # the SQLite fast path does this in its JSON processor
                if row["extra"] is not None:
                    row["extra"] = _checked_json(row["extra"])
        with transaction(self.engine, write=True) as conn:
            self._tune(conn, self.WRITE_PRAGMAS, "ptmhub_write_pragmas")
            self._fold_case(conn, rows, alias_rows, rename=bool(authoritative))
            self._merge_extra(conn, rows)
            if fast:
                self._sqlite_upsert_rows(conn, rows)
            else:
                conn.execute(self._upsert_statement(authoritative), rows)
            if alias_rows:
                ains = self._insert()(aliases)
                conn.execute(ains.on_conflict_do_update(index_elements=[aliases.c.alias],
                                                        set_={"model_id": ains.excluded.model_id}), alias_rows)
            self._index_evaluations(conn, rows, cleared="evaluations" in authoritative)
        return len(rows)

    @staticmethod
    def _index_evaluations(conn: sa.Connection, rows: list[dict[str, Any]], *, cleared: bool) -> None:
        """Keep the ``evaluations`` table equal to ``models.evaluations`` for the rows written:
        a row that brings figures replaces the model's; one without keeps them (unknown is not
        none), unless the upsert answers for them (``cleared``)."""
        changed = [row for row in rows if row["evaluations"] is not None or cleared]
        if not changed:
            return
        ids = [row["id"] for row in changed]
        e = evaluations_t.c
        for start in range(0, len(ids), 500):
            conn.execute(evaluations_t.delete().where(e.model_id.in_(ids[start:start + 500])))
        new = [{"model_id": row["id"], "dataset": ev["dataset"], "metric": ev["metric"], "value": ev["value"]}
               for row in changed for ev in row["evaluations"] or ()]
        if new:
            conn.execute(evaluations_t.insert(), new)

    def _fold_case(self, conn: sa.Connection, rows: list[dict[str, Any]], alias_rows: list[dict[str, Any]],
                   *, rename: bool) -> None:
        """Point each Hugging Face row at the stored row whose ID differs only in case: the
        incoming row takes the stored ID, or (``rename``: the hub's own fresh answer, so its
        casing is the canonical one) the stored row is renamed to the incoming ID."""
        wanted = {row["id"].lower(): row for row in rows if row["platform"] == _HF}
        if not wanted:
            return
        folded = list(wanted)
        found: dict[str, str] = {}
        lower = sa.func.lower(models.c.id)
        for start in range(0, len(folded), 500):
            chunk = folded[start:start + 500]
            for stored in conn.execute(sa.select(models.c.id).where(lower.in_(chunk))).scalars():
                if wanted[stored.lower()]["id"] != stored:
                    found[stored.lower()] = stored
        if not found:
            return
        for fold, stored in found.items():
            row = wanted[fold]
            if rename:
                self._rename(conn, stored, row["id"])
            else:
                new = row["id"]
                row["id"] = stored
                for alias_row in alias_rows:
                    if alias_row["model_id"] == new:
                        alias_row["model_id"] = stored
        alias_rows[:] = [a for a in alias_rows if a["alias"] != a["model_id"]]

    def _rename(self, conn: sa.Connection, old: str, new: str) -> None:
        """Give a stored model (its aliases and revision history) a new ID."""
        conn.execute(aliases.delete().where(aliases.c.alias == new))
        conn.execute(models.update().where(models.c.id == old).values(id=new))
        # aliases follow through ON UPDATE CASCADE; history has no foreign key
        conn.execute(aliases.update().where(aliases.c.model_id == old).values(model_id=new))
        conn.execute(model_revisions.update().where(model_revisions.c.model_id == old).values(model_id=new))

    def _upsert_statement(self, authoritative: frozenset[str] = frozenset()) -> Any:
        """INSERT ... ON CONFLICT (id) DO UPDATE with the merge rules (built once per store and
        set of authoritative fields)."""
        cache = self.__dict__.setdefault("_upsert_stmts", {})
        stmt = cache.get(authoritative)
        if stmt is not None:
            return stmt
        ins = self._insert()(models)
        ex = ins.excluded
        c = models.c
        set_: dict[str, Any] = {}
        grouped = {f: lead for lead, fs in _GROUPS.items() for f in fs}

        def rank(source: Any) -> Any:
            return sa.case(PARAMETER_SOURCE_RANK, value=source, else_=0)

        # a count replaces the stored one (with its source and note) unless that one is better
        # sourced; while neither knows a count, a newer note on why says more
        better_count = sa.and_(ex.parameters.is_not(None),
                               sa.or_(c.parameters.is_(None), rank(ex.parameters_source) >= rank(c.parameters_source)))
        no_count = sa.and_(ex.parameters.is_(None), c.parameters.is_(None), ex.parameters_note.is_not(None))
        for name in _RECORD_COLUMNS:
            if name in _STATE_FIELDS or name == "id":
                continue
            col = c[name]
            lead = grouped.get(name)
            if lead == "parameters":
                set_[name] = sa.case((better_count, ex[name]), (no_count, ex[name]), else_=col)
            elif lead is not None and lead in authoritative:
                set_[name] = ex[name]  # the whole group, cleared too
            elif lead is not None:
                set_[name] = sa.case((ex[lead].is_not(None), ex[name]), else_=col)
            elif name in authoritative:
                set_[name] = ex[name]
            elif name in _LIST_FIELDS or name in ("extra", "evaluations"):
                set_[name] = sa.case((ex[name].is_(None), col), else_=ex[name])
            else:
                set_[name] = sa.func.coalesce(ex[name], col)
        if "summary" in authoritative:
            set_["search_text"] = ex.search_text
        else:
            # a thinner record (no summary) must not drop words the stored one was found by
            set_["search_text"] = sa.case(
                (sa.and_(ex.summary.is_(None), c.summary.is_not(None)), ex.search_text + " " + c.search_text),
                else_=ex.search_text)
        set_["updated_at"] = ex.updated_at
        stmt = cache[authoritative] = ins.on_conflict_do_update(index_elements=[c.id], set_=set_)
        return stmt

    def _sqlite_upsert_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """The same upsert statement, sent to SQLite as multi-row ``VALUES`` lists.

        Row by row (``executemany``), every row is its own statement, so the FTS5 trigger
        flushes the full-text index once per row; in one multi-row statement it flushes once
        per statement. Measured on 100,000 synthetic HF records, this halves SQLite's time per
        row (51 -> 24 us CPU) and skips SQLAlchemy's per-parameter loop (see docs/benchmarks.md).
        Values go through the same SQLAlchemy bind processors, so what is stored is identical.
        """
        plan = self.__dict__.get("_sqlite_plan")
        if plan is None:
            plan = self._sqlite_plan = self._sqlite_upsert_plan(conn)
        head, one_row, tail, names, processors, tail_params, per_statement = plan
        processed_now: dict[Any, Any] = {}
        flat_rows = []
        for row in rows:
            values = [row[name] for name in names]
            for i, process in processors:
                value = values[i]
                if value is not None:
                    if isinstance(value, dt.datetime):
                        # first_seen / updated_at of a batch share one timestamp: format it once
                        key = (i, value)
                        if key not in processed_now:
                            processed_now[key] = process(value)
                        values[i] = processed_now[key]
                    else:
                        values[i] = process(value)
            flat_rows.append(values)
        cursor = conn.connection.driver_connection.cursor()
        try:
            for start in range(0, len(flat_rows), per_statement):
                chunk = flat_rows[start:start + per_statement]
                params = [value for values in chunk for value in values]
                params.extend(tail_params)
                cursor.execute(head + ",".join([one_row] * len(chunk)) + tail, params)
        finally:
            cursor.close()

    def _sqlite_upsert_plan(self, conn: sa.Connection) -> tuple:
        """Split the compiled upsert into (``INSERT ... VALUES``, one row's placeholders, the
        ``ON CONFLICT`` tail), with each column's bind processor and the tail's own parameters."""
        import sqlite3

        dialect = self.engine.dialect
        compiled = self._upsert_statement().compile(dialect=dialect, column_keys=list(_ROW_KEYS))
        sql = str(compiled)
        order = list(compiled.positiontup or ())
        names = order[:len(_ROW_KEYS)]
        if sorted(names) != sorted(_ROW_KEYS) or compiled.positional is False:
            raise DatabaseError("unexpected compiled upsert statement", hint="please report this")
        one_row = "(" + ", ".join(["?"] * len(names)) + ")"
        at = sql.index(" VALUES " + one_row) + len(" VALUES ")
        head, tail = sql[:at], sql[at + len(one_row):]
        if one_row in tail or "?" in head:
            raise DatabaseError("unexpected compiled upsert statement", hint="please report this")
        processors = []
        for i, name in enumerate(names):
            process = models.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None and isinstance(models.c[name].type, JsonType) and dialect._json_serializer is None:
                # what SQLAlchemy's JSON processor does for a non-null value, without its call
                # chain; what JSON cannot hold (a 5,000-digit integer, NaN) is replaced, not raised
                process = _dumps_safe
            if process is not None:
                processors.append((i, process))
        tail_params = []
        for name in order[len(names):]:
            bind = compiled.binds[name]
            value, process = bind.effective_value, bind.type.dialect_impl(dialect).bind_processor(dialect)
            tail_params.append(process(value) if process is not None and value is not None else value)
        try:
            limit = conn.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # Python < 3.11: assume SQLite's historical default
            limit = 999
        per_statement = max(1, min(1000, (limit - len(tail_params)) // len(names)))
        return head, one_row, tail, names, processors, tail_params, per_statement

    def _merge_extra(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """``extra`` merges key by key: a record that knows some per-hub facts (a sync page) does
        not wipe others (a resolve's file list). Done here, inside the write transaction, so
        SQLite and PostgreSQL merge identically."""
        with_extra = {row["id"]: row for row in rows if row["extra"]}
        if not with_extra:
            return
        ids = list(with_extra)
        for start in range(0, len(ids), 500):
            stmt = sa.select(models.c.id, models.c.extra).where(models.c.id.in_(ids[start:start + 500]),
                                                                  models.c.extra.is_not(None))
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update()
            for model_id, old in conn.execute(stmt):
                if old:
                    row = with_extra[model_id]
                    row["extra"] = {**old, **row["extra"]}

    def add_alias(self, alias: str, model_id: str) -> None:
        alias_key, target = self._key(alias), self._key(model_id)
        if alias_key == target:
            return
        ins = self._insert()(aliases)
        with transaction(self.engine, write=True) as conn:
            conn.execute(ins.on_conflict_do_update(index_elements=[aliases.c.alias],
                                                   set_={"model_id": ins.excluded.model_id}),
                         [{"alias": alias_key, "model_id": target}])

    def delete(self, model_id: str) -> bool:
        with transaction(self.engine, write=True) as conn:
            key = self._resolve_key(conn, model_id)
            if key is None:
                return False
            conn.execute(aliases.delete().where(aliases.c.model_id == key))
            conn.execute(evaluations_t.delete().where(evaluations_t.c.model_id == key))
            conn.execute(model_revisions.delete().where(model_revisions.c.model_id == key))
            return conn.execute(models.delete().where(models.c.id == key)).rowcount > 0

    def set_cache_state(self, model_id: str, *, cached: bool, cache_path: str | None = None,
                        cache_size_bytes: int | None = None) -> None:
        values = {"cached": cached, "cache_path": cache_path if cached else None,
                  "cache_size_bytes": cache_size_bytes if cached else None, "updated_at": _utcnow()}
        self._update(model_id, values)

    def mark_cached(self, record: ModelRecord, *, cache_path: str, cache_size_bytes: int | None = None,
                    combine: bool = False) -> ModelRecord:
        """Store ``record`` (merged as :meth:`upsert` merges) and mark it cached at ``cache_path``
        (a pull, an added folder, an adopted one); returns the registry's record."""
        self.upsert([record], combine=combine)
        self.set_cache_state(record.id, cached=True, cache_path=cache_path, cache_size_bytes=cache_size_bytes)
        return self.get(record.id) or record

    def mark_uncached(self, model_ids: Iterable[str]) -> list[str]:
        """Mark these models as no longer cached (their files are gone; the metadata stays);
        returns the ones the registry has."""
        done = []
        for model_id in model_ids:
            if self.get(model_id) is not None:
                self.set_cache_state(model_id, cached=False)
                done.append(model_id)
        return done

    def touch(self, model_id: str, *, at: dt.datetime | None = None) -> dt.datetime:
        """Record that a model was just used (``last_used``); returns the time written."""
        at = at or _utcnow()
        self._update(model_id, {"last_used": at})
        return at

    def untouch(self, model_id: str, *, at: dt.datetime, previous: dt.datetime | None) -> bool:
        """Undo :meth:`touch` (``last_used`` back to ``previous``) unless another use was
        recorded since; True when it was undone."""
        with transaction(self.engine, write=True) as conn:
            return bool(conn.execute(models.update().where(models.c.id == self._key(model_id),
                                                           models.c.last_used == at)
                                     .values(last_used=previous)).rowcount)

    def _update(self, model_id: str, values: dict[str, Any]) -> None:
        with transaction(self.engine, write=True) as conn:
            key = self._key(model_id)
            # the canonical ID (what callers holding a record pass) in one statement; an alias after
            if conn.execute(models.update().where(models.c.id == key).values(**values)).rowcount:
                return
            key = self._alias_target(conn, key) or self._folded_id(conn, key)
            if key is None:
                from ..errors import NotInRegistryError

                raise NotInRegistryError(f"{model_id} is not in the registry", hint=f"run 'ptmhub resolve {model_id}'")
            conn.execute(models.update().where(models.c.id == key).values(**values))

    # -- reads -------------------------------------------------------------------------------
    @staticmethod
    def _key(model_id: str) -> str:
        return parse_id(model_id).key

    def _resolve_key(self, conn: sa.Connection, model_id: str) -> str | None:
        key = self._key(model_id)
        if conn.execute(sa.select(models.c.id).where(models.c.id == key)).first():
            return key
        return self._alias_target(conn, key) or self._folded_id(conn, key)

    @staticmethod
    def _alias_target(conn: sa.Connection, key: str) -> str | None:
        """The model an alias (an old name, a URL form) points at; None if ``key`` is none."""
        return conn.execute(sa.select(aliases.c.model_id).where(aliases.c.alias == key)).scalar()

    @staticmethod
    def _folded_id(conn: sa.Connection, key: str) -> str | None:
        """The stored Hugging Face model whose ID (or an alias of it) differs from ``key`` only
        in case: HF repo ids are case-insensitive (``ix_models_id_lower`` answers this)."""
        if not key.startswith("hf:"):
            return None
        folded = key.lower()
        found = conn.execute(sa.select(models.c.id).where(sa.func.lower(models.c.id) == folded,
                                                          models.c.platform == _HF).limit(1)).scalar()
        if found is None:
            found = conn.execute(sa.select(aliases.c.model_id).where(sa.func.lower(aliases.c.alias) == folded)
                                 .limit(1)).scalar()
        return found

    def get(self, model_id: str) -> ModelRecord | None:
        """The record for an ID (any accepted form) or one of its aliases; None if unknown."""
        with transaction(self.engine) as conn:
            key = self._key(model_id)
            row = conn.execute(sa.select(models).where(models.c.id == key)).first()
            if row is None:  # an alias (an old name, a URL form) of a stored model, or another case?
                key = self._alias_target(conn, key) or self._folded_id(conn, key)
                if key is None:
                    return None
                row = conn.execute(sa.select(models).where(models.c.id == key)).first()
            alias_list = conn.execute(sa.select(aliases.c.alias).where(aliases.c.model_id == key)
                                      .order_by(aliases.c.alias)).scalars().all()
        return self._to_record(row, alias_list) if row else None

    # -- revision history ------------------------------------------------------------------------
    _HISTORY_DROPPED = ("cached", "cache_path", "cache_size_bytes", "last_used", "first_seen", "aliases")

    def save_revision(self, record: ModelRecord, *, revision: str | None = None) -> bool:
        """Keep what the hub said about one revision of a model (``record.revision``, or
        ``revision``) in the history, beside the model's current record, which this never
        changes. Saving the same revision again replaces its entry. False when the record names
        no revision (nothing to key it by)."""
        rev = record.revision or revision
        if not rev:
            return False
        data = record.to_dict()
        for name in self._HISTORY_DROPPED:
            data.pop(name, None)
        count = data.get("parameters")
        if count is not None and not _INT64[0] <= count <= _INT64[1]:
            data.update(parameters=None, parameters_source=None, parameters_note=_too_big_note(count))
        data = _checked_json(data)
        now = _utcnow()
        ins = self._insert()(model_revisions)
        with transaction(self.engine, write=True) as conn:
            model_id = record.id
            if record.platform == _HF:  # the history joins the stored model's casing
                model_id = self._folded_id(conn, record.id) or record.id
            conn.execute(ins.on_conflict_do_update(
                index_elements=[model_revisions.c.model_id, model_revisions.c.revision],
                set_={"record": ins.excluded.record, "resolved_at": ins.excluded.resolved_at}),
                [{"model_id": model_id, "revision": rev[:256], "record": data,
                  "resolved_at": record.resolved_at or now}])
        return True

    def get_revision(self, model_id: str, revision: str | None = None) -> ModelRecord | None:
        """The history's record of one revision of a model: ``revision`` (default: the one in
        ``model_id``, e.g. ``hf:OWNER/NAME@<commit>``) matched exactly, or as a commit prefix
        of at least 7 hex digits. None when the history has no such revision.

        Raises:
            UsageError: a commit prefix that matches more than one stored revision.
        """
        mid = parse_id(model_id)
        rev = revision or mid.revision
        if not rev:
            return None
        r = model_revisions.c
        with transaction(self.engine) as conn:
            keys = {mid.key}
            current = self._resolve_key(conn, mid.key)
            if current is not None:
                keys.add(current)
            match = r.revision == rev
            if re.fullmatch(r"[0-9a-f]{7,39}", rev):
                match = sa.or_(match, r.revision.like(rev + "%"))
            rows = conn.execute(sa.select(r.revision, r.record, r.resolved_at).where(r.model_id.in_(sorted(keys)), match)
                                .order_by(r.resolved_at.desc())).all()
            alias_list = conn.execute(sa.select(aliases.c.alias).where(aliases.c.model_id == current)
                                      .order_by(aliases.c.alias)).scalars().all() if current else []
        exact = [row for row in rows if row.revision == rev]
        if not exact and len({row.revision for row in rows}) > 1:
            raise UsageError(f"the commit prefix {rev!r} matches {len(rows)} stored revisions of {mid.key}",
                             hint="give more of the commit: " + ", ".join(sorted({row.revision[:12] for row in rows})))
        if not (exact or rows):
            return None
        row = (exact or rows)[0]
        data = dict(row.record)
        data["aliases"] = list(alias_list)
        if not data.get("resolved_at"):
            data["resolved_at"] = _aware(row.resolved_at).isoformat()
        return ModelRecord.from_dict(data)

    def revisions(self, model_id: str) -> list[dict[str, Any]]:
        """The history of a model: ``{"revision", "resolved_at"}`` entries, newest first."""
        r = model_revisions.c
        with transaction(self.engine) as conn:
            key = self._resolve_key(conn, model_id) or self._key(model_id)
            rows = conn.execute(sa.select(r.revision, r.resolved_at).where(r.model_id == key)
                                .order_by(r.resolved_at.desc(), r.revision)).all()
        return [{"revision": row.revision, "resolved_at": _aware(row.resolved_at)} for row in rows]

    # -- "did you mean" ---------------------------------------------------------------------------
    def suggest(self, model_id: str, *, limit: int = 3) -> list[str]:
        """Stored model IDs close to ``model_id`` (a typo, another hub's spelling), best first.

        Candidates are the models sharing a word prefix with the ID's owner or name (from the
        full-text index, most downloaded first, at most 5,000), kept when nearly the same string
        (a typo) and ranked by similarity.
        """
        import difflib

        try:
            mid = parse_id(model_id)
            key, words = mid.key, search_words(f"{mid.owner or ''} {mid.name}")
        except PtmhubError:
            key, words = str(model_id), search_words(str(model_id))
        words = [w for w in dict.fromkeys(w[:3] for w in words if w)][:8]
        if not words:
            return []
        c = models.c
        if self.dialect == "sqlite":
            match = " OR ".join(f'"{w}"*' for w in words)
            stmt = sa.text("SELECT m.id FROM models_fts JOIN models m ON m.pk = models_fts.rowid "
                           "WHERE models_fts MATCH :match ORDER BY m.downloads DESC LIMIT 5000").bindparams(match=match)
        else:
            tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), " | ".join(f"{w}:*" for w in words))
            tsv = sa.func.to_tsvector(sa.literal_column("'simple'"), c.search_text)
            stmt = sa.select(c.id).where(tsv.op("@@")(tsquery)).order_by(c.downloads.desc().nulls_last()).limit(5000)
        with transaction(self.engine) as conn:
            self._reading(conn)
            ids = list(conn.execute(stmt).scalars())
        by_folded = {i.lower(): i for i in ids if i != key}
        if key.startswith("hf:") and "/" not in key:
            # a legacy ID without its owner (hf:bert-base-uncased) is compared with the stored IDs'
            # names, which is what it stands for (hf:google-bert/bert-base-uncased)
            for i in ids:
                if i.startswith("hf:") and "/" in i and i != key:
                    by_folded.setdefault("hf:" + i.split("/", 1)[1].lower(), i)
        # 0.9: a typo (a letter missing, doubled or swapped) scores 0.94-0.99 on an ID of usual
        # length; a different model sharing the owner (all-mpnet-base-v2 / all-MiniLM-L6-v2:
        # 0.84) does not, and is no answer to "did you mean"
        close = difflib.get_close_matches(key.lower(), list(by_folded), n=limit * 2, cutoff=0.9)
        return list(dict.fromkeys(by_folded[i] for i in close))[:limit]

    def get_many(self, model_ids: Iterable[str]) -> dict[str, ModelRecord]:
        out = {}
        for mid in model_ids:
            rec = self.get(mid)
            if rec is not None:
                out[mid] = rec
        return out

    def iter_all(self, *, platform: str | None = None, batch_size: int = 1000) -> Iterator[ModelRecord]:
        """Every record, in id order, read in batches (bounded memory)."""
        last = ""
        while True:
            stmt = sa.select(models).where(models.c.id > last).order_by(models.c.id).limit(batch_size)
            if platform:
                stmt = stmt.where(models.c.platform == platform)
            with transaction(self.engine) as conn:
                rows = conn.execute(stmt).all()
            if not rows:
                return
            for row in rows:
                yield self._to_record(row)
            last = rows[-1]._mapping["id"]

    def _filters(self, query: SearchQuery) -> list[Any]:
        from ..ids import PREFIXES

        c = models.c
        where: list[Any] = []
        if query.platform:
            where.append(c.platform == PREFIXES.get(query.platform, query.platform))
        if query.task:
            # records carry HF pipeline tags; TF Hub's own task names are accepted too
            where.append(c.task.in_(sorted({query.task, TASK_TO_PIPELINE.get(query.task, query.task)})))
        if query.license:
            lic = query.license.lower()
            if lic in licenses.GROUPS:
                where.append(c.license.in_(sorted(licenses.ids_in_group(lic))))
            elif lic in ("none", "unknown"):
                where.append(c.license.is_(None))
            else:
                where.append(c.license == (licenses.normalize(lic) or lic))
        if query.framework:
            fw = query.framework.lower()
            where.append(sa.or_(c.framework == fw, c.library == fw))
        size = []
        if query.min_parameters is not None:
            size.append(c.parameters >= query.min_parameters)
        if query.max_parameters is not None:
            size.append(c.parameters <= query.max_parameters)
        if size:
            where.append(sa.or_(sa.and_(*size), c.parameters.is_(None)) if query.include_unknown else sa.and_(*size))
        if query.fine_tunable is not None:
            where.append(c.fine_tunable.is_(query.fine_tunable))
        if query.cached is not None:
            where.append(c.cached.is_(query.cached))
        e = evaluations_t.c
        for dataset, metric, value in query.min_accuracy:
            reached = e.value >= value if higher_is_better(metric) else e.value <= value
            # IN (one range scan of ix_evaluations_dataset_metric_value), not a correlated EXISTS,
            # which SQLite answers by scanning that index once per model row
            where.append(c.id.in_(sa.select(e.model_id).where(e.dataset == dataset, e.metric == metric, reached)))
        return where

    def _fts(self, q: str) -> tuple[Any, Any] | None:
        """(join target / condition, rank expression) for the full-text part, or None."""
        words = search_words(q)
        if not words:
            return None
        if self.dialect == "sqlite":
            match = " AND ".join(f'"{w}"*' for w in words)
            fts = (sa.select(sa.literal_column("rowid").label("rid"), sa.literal_column("rank").label("rank"))
                   .select_from(sa.table("models_fts"))
                   .where(sa.text("models_fts MATCH :match").bindparams(match=match))
                   .subquery("fts"))
            return fts, fts.c.rank
        tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), " & ".join(f"{w}:*" for w in words))
        tsv = sa.func.to_tsvector(sa.literal_column("'simple'"), models.c.search_text)
        return tsv.op("@@")(tsquery), -sa.func.ts_rank(tsv, tsquery)

    def _select(self, query: SearchQuery, columns: Sequence[Any]) -> tuple[sa.Select, Any]:
        stmt = sa.select(*columns).select_from(models)
        rank = None
        if query.q:
            fts = self._fts(query.q)
            if fts is None:
                raise UsageError(f"the search words {query.q!r} contain no letters or digits")
            target, rank = fts
            if self.dialect == "sqlite":
                stmt = stmt.join(target, target.c.rid == models.c.pk)
            else:
                stmt = stmt.where(target)
        for cond in self._filters(query):
            stmt = stmt.where(cond)
        return stmt, rank

    def search_statement(self, query: SearchQuery) -> sa.Select:
        """The exact SELECT :meth:`search` issues (benchmarks compare it with the bare SQL)."""
        stmt, rank = self._select(query, [models])
        c = models.c
        nulls_last = lambda col: col.desc().nulls_last()  # noqa: E731
        figure_order: list[Any] = [nulls_last(c.downloads)]  # accuracy without a basis: popularity
        if query.sort == "accuracy" and query.accuracy_on is not None:
            figures = self._figures(query.accuracy_on)
            stmt = stmt.outerjoin(figures, figures.c.model_id == c.id)
            first = figures.c.figure.desc() if higher_is_better(query.accuracy_on[1]) else figures.c.figure.asc()
            figure_order = [first.nulls_last(), nulls_last(c.downloads)]
        order = {
            "downloads": [nulls_last(c.downloads)],
            "likes": [nulls_last(c.likes)],
            "parameters": [nulls_last(c.parameters)],
            "name": [c.name.asc()],
            "recent": [nulls_last(c.last_modified)],
            "accuracy": figure_order,
        }.get(query.sort)
        if order is None:
            # relevance: models whose name starts with (then contains) the first word, then
            # popularity, then the full-text rank
            order = [nulls_last(c.downloads)]
            if rank is not None:
                order.append(rank.asc())
                words = search_words(query.q or "")
                name = sa.func.lower(c.name)
                order.insert(0, sa.case((name.like(f"{words[0]}%"), 0), (name.like(f"%{words[0]}%"), 1), else_=2))
        return stmt.order_by(*order, c.id.asc()).limit(query.limit).offset(query.offset)

    @staticmethod
    def _figures(basis: tuple[str, str]) -> Any:
        """Each model's best figure of ``basis`` (dataset, metric): one aggregate over the
        evaluations index, to outer-join (a correlated subquery per model row is what SQLite
        turns into a scan of the index per row: 54 s for 25,000 models)."""
        e = evaluations_t.c
        best = sa.func.max(e.value) if higher_is_better(basis[1]) else sa.func.min(e.value)
        return (sa.select(e.model_id.label("model_id"), best.label("figure"))
                .where(e.dataset == basis[0], e.metric == basis[1]).group_by(e.model_id).subquery("figures"))

    def accuracy_basis(self, query: SearchQuery) -> tuple[str, str] | None:
        """The (dataset, metric) ``sort="accuracy"`` orders ``query``'s matches by: the query's
        own (``accuracy_on``, or its first ``min_accuracy`` figure), else the figure the most
        matching models publish (accuracy first). None when no match publishes any."""
        if query.accuracy_on is not None:
            return query.accuracy_on
        e = evaluations_t.c
        matching, _ = self._select(query, [models.c.id])
        models_with = sa.func.count(sa.distinct(e.model_id))
        stmt = (sa.select(e.dataset, e.metric, models_with.label("n"))
                .where(e.model_id.in_(matching))
                .group_by(e.dataset, e.metric)
                .order_by(sa.case((e.metric == "accuracy", 0), else_=1), models_with.desc(), e.dataset, e.metric)
                .limit(1))
        with transaction(self.engine) as conn:
            self._reading(conn)
            row = conn.execute(stmt).first()
        return (row.dataset, row.metric) if row else None

    def evaluated(self, query: SearchQuery, basis: tuple[str, str]) -> int:
        """How many of ``query``'s matches publish ``basis`` (dataset, metric)."""
        e = evaluations_t.c
        matching, _ = self._select(query, [models.c.id])
        stmt = sa.select(sa.func.count(sa.distinct(e.model_id))).where(
            e.model_id.in_(matching), e.dataset == basis[0], e.metric == basis[1])
        with transaction(self.engine) as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def search(self, query: SearchQuery | None = None, /, **kwargs: Any) -> list[ModelRecord]:
        """Full-text search (``q``) combined with filters; see :class:`SearchQuery`."""
        query = query or SearchQuery(**kwargs)
        if query.sort == "accuracy" and query.accuracy_on is None:
            query = dataclasses.replace(query, accuracy_on=self.accuracy_basis(query))
        with transaction(self.engine) as conn:
            self._reading(conn)
            self._check_values(conn, query)
            rows = self._popular_first(conn, query) if self.dialect == "sqlite" else None
            if rows is None:
                rows = conn.execute(self.search_statement(query)).all()
        return [self._to_record(r) for r in rows]

    def count(self, query: SearchQuery | None = None, /, **kwargs: Any) -> int:
        query = query or SearchQuery(**kwargs)
        stmt, _ = self._select(query, [sa.func.count()])
        with transaction(self.engine) as conn:
            self._reading(conn)
            self._check_values(conn, query)
            return int(conn.execute(stmt).scalar() or 0)

    def _check_values(self, conn: sa.Connection, query: SearchQuery) -> None:
        """Refuse a ``task`` or ``license`` filter that no vocabulary knows and no stored model
        has (a typo would otherwise just find nothing), naming the close values."""
        c = models.c
        if query.task and query.task not in KNOWN_TASKS:
            if query.task not in TASK_TO_PIPELINE and not conn.execute(
                    sa.select(c.pk).where(c.task == query.task).limit(1)).first():
                stored = [t for t in conn.execute(sa.select(c.task).distinct().where(c.task.is_not(None))).scalars()]
                _refuse("task", query.task, sorted({*KNOWN_TASKS, *TASK_TO_PIPELINE, *stored}))
        if query.license:
            lic = query.license.lower()
            if lic in licenses.GROUPS or lic in ("none", "unknown"):
                return
            wanted = licenses.normalize(lic) or lic
            known = _known_licenses()
            if wanted in known or conn.execute(sa.select(c.pk).where(c.license == wanted).limit(1)).first():
                return
            stored = [v for v in conn.execute(sa.select(c.license).distinct().where(c.license.is_not(None))).scalars()]
            _refuse("license", query.license, sorted({*known, *stored}),
                    groups=(*licenses.GROUPS, "none"))

    #: SQLite settings of a connection that searches: memory-mapped reads (no read() call and
    #: copy per page), which halves the time of a search that visits many rows of a large
    #: registry. Set once per connection, on its first search.
    READ_PRAGMAS = ("PRAGMA mmap_size=1073741824",)
    #: ... and of one that upserts: a 64 MiB page cache (SQLite's default is 2 MiB), so that the
    #: index pages a batch touches stay in memory instead of being re-read and spilled to the
    #: WAL in the middle of the transaction once the registry has some 100,000 models.
    WRITE_PRAGMAS = ("PRAGMA cache_size=-65536",)

    def _reading(self, conn: sa.Connection) -> None:
        self._tune(conn, self.READ_PRAGMAS, "ptmhub_read_pragmas")

    def _tune(self, conn: sa.Connection, pragmas: tuple[str, ...], flag: str) -> None:
        if self.dialect != "sqlite":
            return
        info = conn.connection.info
        if not info.get(flag):
            for pragma in pragmas:
                conn.exec_driver_sql(pragma)
            info[flag] = True

    # How far down the downloads index the shortcut below looks: a first glance, then a longer
    # look only when what was found so far predicts a full answer there.
    _GLANCE = (2_000, 6_000, 16_000)
    # Below this many models (rows ever inserted), visiting every match costs less than the
    # shortcut's looks (measured: at 100,000 models the plain query is the faster one).
    _SHORTCUT_FROM = 250_000

    def _popular_first(self, conn: sa.Connection, query: SearchQuery) -> list[sa.Row] | None:
        """The relevance search's answer found from the most downloaded models, or None.

        Relevance orders by (name starts with the first word, downloads, full-text rank, id), so
        every full-text match has to be visited, which for a common word in a large registry
        means tens of thousands of rows. But when at least ``offset + limit`` models whose name
        starts with the first word (and that match and pass the filters) are among the models
        with at least ``D`` downloads, those are the answer: any other such model has fewer
        downloads. This walks the downloads index down to ``D`` (the downloads of the 2,000th,
        then, while what it found so far predicts enough, the 6,000th and the 16,000th most
        downloaded model), checking the words on ``search_text`` (the
        text the full-text index holds, so a word is a prefix of one of its tokens exactly when
        the full-text match finds it), and falls back to the full query when it finds too few.
        The full-text rank, the last tie-breaker, is computed only for models that tie on
        downloads inside the answer.
        """
        want = query.offset + query.limit
        words = search_words(query.q or "")
        if query.sort != "relevance" or not words or not 0 < want <= 200:
            return None
        c = models.c
        if (conn.execute(sa.select(sa.func.max(c.pk))).scalar() or 0) < self._SHORTCUT_FROM:
            return None  # a registry this small searches fast enough the plain way
        haystack = sa.literal(" ") + c.search_text
        # cheapest and most selective first: SQLite checks them in this order
        conditions = [sa.func.lower(c.name).like(f"{words[0]}%"), *self._filters(query),
                      *(haystack.like(f"% {w}%") for w in words)]
        glance = self._GLANCE[0]
        while True:
            floor = conn.execute(sa.select(c.downloads).where(c.downloads.is_not(None))
                                 .order_by(c.downloads.desc()).limit(1).offset(glance - 1)).scalar()
            if floor is None:
                return None  # a small registry: the full query is cheap
            # the LIMIT keeps SQLite from flattening the subquery, so it walks the downloads
            # index (rather than, say, the license index) and fetches only those rows
            top = (sa.select(_TOP.c.pk).where(_TOP.c.downloads >= floor).order_by(_TOP.c.downloads.desc())
                   .limit(2**62).subquery("top"))
            stmt = sa.select(c.pk, c.downloads, c.id).join_from(top, models, models.c.pk == top.c.pk).where(*conditions)
            found = conn.execute(stmt).all()
            if len(found) >= want:
                break
            longer = [g for g in self._GLANCE if g > glance]
            if not longer or len(found) * longer[-1] < want * glance:
                return None  # too few names start with the word near the top: the full query decides
            glance = longer[0]  # one step at a time: each look predicts the next better
        found.sort(key=lambda r: (-r.downloads, r.id))
        cut = found[want - 1].downloads
        window = [r for r in found if r.downloads >= cut]  # the answer and everything tied with its last
        by_downloads: dict[int, int] = {}
        for r in window:
            by_downloads[r.downloads] = by_downloads.get(r.downloads, 0) + 1
        tied = [r.pk for r in window if by_downloads[r.downloads] > 1]
        rank: dict[int, float] = {}
        if tied:
            match = " AND ".join(f'"{w}"*' for w in words)
            ranked = sa.text("SELECT rowid, rank FROM models_fts WHERE models_fts MATCH :match AND rowid IN "
                             "(SELECT value FROM json_each(:pks))").bindparams(match=match, pks=json.dumps(tied))
            rank = {pk: r for pk, r in conn.execute(ranked)}
        window.sort(key=lambda r: (-r.downloads, rank.get(r.pk, 0.0), r.id))
        pks = [r.pk for r in window[query.offset:want]]
        rows = {r.pk: r for r in conn.execute(sa.select(models).where(c.pk.in_(pks)))}
        return [rows[pk] for pk in pks]

    def stats(self) -> list[dict[str, Any]]:
        """Per-platform figures for ``ptmhub platforms``."""
        c = models.c
        stmt = (sa.select(c.platform, sa.func.count().label("models"),
                          sa.func.count(sa.distinct(c.task)).label("tasks"),
                          sa.func.count(c.license).label("with_license"),
                          sa.func.count(c.parameters).label("with_parameters"),
                          sa.func.sum(sa.case((c.cached.is_(True), 1), else_=0)).label("cached"),
                          sa.func.sum(sa.case((c.cached.is_(True), c.cache_size_bytes), else_=0)).label("cached_bytes"))
                .group_by(c.platform).order_by(c.platform))
        with transaction(self.engine) as conn:
            rows = [{k: (int(v) if k in ("cached", "cached_bytes") and v is not None else v)
                     for k, v in r._mapping.items()} for r in conn.execute(stmt)]
            for row in rows:
                params = conn.execute(sa.select(c.parameters).where(c.platform == row["platform"],
                                                                    c.parameters.is_not(None))
                                      .order_by(c.parameters)).scalars().all()
                row["median_parameters"] = params[len(params) // 2] if params else None
        return rows

    # -- trust list (torch.hub repositories whose code may run) -------------------------------
    def trust_add(self, repo: str) -> None:
        ins = self._insert()(trusted)
        with transaction(self.engine, write=True) as conn:
            conn.execute(ins.on_conflict_do_nothing(index_elements=[trusted.c.repo]),
                         [{"repo": repo.lower(), "added_at": _utcnow()}])

    def trust_remove(self, repo: str) -> bool:
        with transaction(self.engine, write=True) as conn:
            return conn.execute(trusted.delete().where(trusted.c.repo == repo.lower())).rowcount > 0

    def trusted(self) -> list[str]:
        with transaction(self.engine) as conn:
            return list(conn.execute(sa.select(trusted.c.repo).order_by(trusted.c.repo)).scalars())

    # -- sync progress -----------------------------------------------------------------------
    def sync_state(self, source: str) -> dict[str, Any] | None:
        with transaction(self.engine) as conn:
            value = conn.execute(sa.select(sync_state_t.c.state).where(sync_state_t.c.source == source)).scalar()
        return dict(value) if value is not None else None

    def save_sync_state(self, source: str, **fields: Any) -> None:
        """Store a sync's progress (cursor, counts, done flag); replaces the previous state."""
        ins = self._insert()(sync_state_t)
        with transaction(self.engine, write=True) as conn:
            conn.execute(ins.on_conflict_do_update(index_elements=[sync_state_t.c.source],
                                                   set_={"state": ins.excluded.state,
                                                         "updated_at": ins.excluded.updated_at}),
                         [{"source": source, "state": fields, "updated_at": _utcnow()}])

    def clear_sync_state(self, source: str) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(sync_state_t.delete().where(sync_state_t.c.source == source))

    def vacuum(self) -> None:
        """Compact a SQLite registry into a single file (WAL checkpointed), e.g. before shipping it."""
        if self.dialect != "sqlite":
            return
        for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA journal_mode=DELETE"):
            self._sqlite_pragma(statement)

    def _sqlite_pragma(self, statement: str) -> None:
        """Run a statement outside any transaction (journal mode, VACUUM)."""
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute(statement).fetchall()
        finally:
            raw.close()

    def integrity_check(self) -> str:
        if self.dialect != "sqlite":
            return "ok"
        with transaction(self.engine) as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())




def _known_licenses() -> frozenset[str]:
    return (licenses.PERMISSIVE | licenses.COPYLEFT | licenses.NON_COMMERCIAL | licenses.RESTRICTED
            | {"other"})


def _refuse(what: str, value: str, valid: Sequence[str], *, groups: Sequence[str] = ()) -> None:
    import difflib

    close = difflib.get_close_matches(value.lower(), [v.lower() for v in valid], n=5, cutoff=0.5)
    if close:
        hint = "did you mean " + ", ".join(close) + "?"
    else:
        hint = "known values include " + ", ".join(list(valid)[:12]) + (", ..." if len(valid) > 12 else "")
    if groups:
        hint += " (or a group: " + ", ".join(groups) + ")"
    raise UsageError(f"unknown {what} {value!r}: no model in the registry has it", hint=hint)


_TOP = models.alias("top_models")  # built once: an alias's column collection is costly to make


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open the registry at ``url`` (default: settings' database URL), creating it when new."""
    from .. import settings

    return Store(url or settings.get().database_url, create=create)
