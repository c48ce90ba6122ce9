"""The store's two fast paths give exactly what the plain ways give (SQLite):

- the multi-row ``VALUES`` upsert writes the same rows, full-text index included, as the same
  statement sent row by row (``executemany``);
- the relevance-search shortcut for common words (``Store._popular_first``) returns the same
  models in the same order as the single full statement, across words, filters and pages.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import sys
from pathlib import Path

import pytest

from ptmhub.records import ModelRecord
from ptmhub.registry import open_store
from ptmhub.registry.engine import dispose_all, transaction
from ptmhub.registry.store import SearchQuery, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.synth import ARCHS, SIZES, SUFFIXES, generate  # noqa: E402

FIXED = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)


class RowByRow(Store):
    """The store with the upsert statement sent row by row, as before the multi-row path."""

    def _sqlite_upsert_rows(self, conn, rows):
        conn.execute(self._upsert_statement(), rows)


def _batches():
    recs = list(generate(1500, seed=5))
    yield recs
    yield [r.replace(downloads=None, summary="Some summary words", tags=()) for r in recs[:400]]
    yield [r.replace(license=None, parameters=7, parameters_source="config") for r in recs[300:900]]
    yield [ModelRecord(id="hf:x/y", platform="huggingface", name="y", extra={"files": [{"name": "a"}], "k": "é"},
                       gated=True, fine_tunable=False, tags=('a"b', "ü"), aliases=("hf:old/y",), summary="Hällo",
                       last_modified=dt.datetime(2024, 5, 1, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=5))),
                       first_seen=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), cached=True, cache_path="/x")]
    yield [ModelRecord(id="hf:x/y", platform="huggingface", name="y", extra={"m": 1}, downloads=5)]


def _dump(path: Path) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("models", "aliases")}
        out["fts"] = con.execute("SELECT rowid FROM models_fts WHERE models_fts MATCH ? ORDER BY 1",
                                 ('"summary"',)).fetchall()
        con.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")
        return out
    finally:
        con.close()


def test_multi_row_upsert_writes_what_row_by_row_writes(tmp_path, monkeypatch):
    import ptmhub.registry.store as store_module

    monkeypatch.setattr(store_module, "_utcnow", lambda: FIXED)
    dumps = []
    for cls, name in ((Store, "multi.db"), (RowByRow, "single.db")):
        store = cls(f"sqlite:///{tmp_path / name}")
        for batch in _batches():
            store.upsert(batch, batch_size=700)
        dispose_all()
        dumps.append(_dump(tmp_path / name))
    assert dumps[0]["models"] and dumps[0]["fts"]
    assert dumps[0] == dumps[1]


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('shortcut') / 'r.db'}")
    store.upsert(generate(6000, seed=21), batch_size=3000)
    # the shortcut's thresholds, scaled to this registry so that it answers often
    store._SHORTCUT_FROM, store._GLANCE = 0, (150, 450, 1200)
    yield store
    dispose_all()


def test_search_shortcut_returns_what_the_full_statement_returns(big_store):
    rng = random.Random(7)
    vocab = [a for a, _ in ARCHS] * 3 + SIZES + SUFFIXES + ["b", "ll", "s"]
    answered = 0
    for _ in range(300):
        kw = {"q": " ".join(rng.sample(vocab, rng.choice([1, 1, 2]))), "limit": rng.choice([1, 5, 20]),
              "offset": rng.choice([0, 0, 3, 11])}
        if rng.random() < 0.7:
            kw["license"] = rng.choice(["permissive", "mit", "apache-2.0", "non-commercial", "none"])
        if rng.random() < 0.5:
            kw["max_parameters"] = rng.choice([10**7, 10**9])
        if rng.random() < 0.2:
            kw["task"] = rng.choice(["text-generation", "text-classification"])
        query = SearchQuery(**kw)
        with transaction(big_store.engine) as conn:
            fast = big_store._popular_first(conn, query)
            full = conn.execute(big_store.search_statement(query)).all()
        if fast is not None:
            answered += 1
            assert [r.id for r in fast] == [r.id for r in full], kw
        assert [r.id for r in big_store.search(query)] == [r.id for r in full]
    assert answered >= 20  # the shortcut really was exercised


def test_search_shortcut_breaks_download_ties_by_rank_then_id(big_store):
    # many models with the same downloads: the order inside the tie comes from the full-text rank
    # (shorter texts rank first under bm25, and here the shorter ones have the larger ids)
    tied = [ModelRecord(id=f"hf:tie/llama-{i}", platform="huggingface", name=f"llama-{i}", downloads=10**9,
                        license="mit", summary=" ".join(f"w{j}x{i}" for j in range(14 - i)))
            for i in range(12)]
    big_store.upsert(tied)
    query = SearchQuery(q="llama", license="mit", limit=8, offset=2)
    with transaction(big_store.engine) as conn:
        fast = big_store._popular_first(conn, query)
        full = conn.execute(big_store.search_statement(query)).all()
    assert fast is not None
    assert [r.id for r in fast] == [r.id for r in full]
    assert [r.id for r in full] != sorted(r.id for r in full)  # the rank decided, not the id
