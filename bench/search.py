"""Search latency: ``Store.search`` (full text + license group + max-parameters, top 20) in one
long-lived process, against the bare SQL it issues run by the database driver directly (same
statement, same connection settings), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from .common import BIN, run_timed, stats

# What people type into a model hub's search box: families, family + size/variant, purposes.
WORDS = ["bert", "llama", "whisper", "mistral", "qwen2", "t5", "clip", "resnet", "stable diffusion", "bert base",
         "llama chat", "whisper small", "gpt2 imdb", "sentiment", "embed", "gemma instruct", "deberta ner", "vit",
         "xlm roberta", "phi3 gguf"]
LICENSE = "permissive"
MAX_PARAMETERS = 10**9


def queries(limit: int = 20):
    from ptmhub.registry.store import SearchQuery

    return [SearchQuery(q=w, license=LICENSE, max_parameters=MAX_PARAMETERS, limit=limit) for w in WORDS]


def bare_sql(store, query) -> str:
    """The single full statement for a search (``Store.search_statement``), parameters inlined."""
    stmt = store.search_statement(query)
    return str(stmt.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))


def issued(store, query) -> list[tuple[str, Any]]:
    """The statements ``Store.search`` sends to the driver for a query, with their parameters
    (captured at the cursor; transaction control and connection settings left out)."""
    from sqlalchemy import event

    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            captured.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        store.search(query)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return captured


def _bare_runner(store):
    """A driver connection configured like the store's searching connections, and run(statements)."""
    url = store.engine.url
    if store.dialect == "sqlite":
        import sqlite3

        con = sqlite3.connect(url.database)
        for pragma in getattr(store, "READ_PRAGMAS", ()):
            con.execute(pragma)

        def run(statements: list[tuple[str, Any]]) -> None:
            for sql, params in statements:
                con.execute(sql, params or ()).fetchall()

        return con, run
    import psycopg

    con = psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True)

    def run(statements: list[tuple[str, Any]]) -> None:
        with con.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params or None)
                cur.fetchall()

    return con, run


def bench_search(url: str, rounds: int) -> dict[str, Any]:
    from ptmhub.registry import engine, open_store
    from ptmhub.registry.store import SearchQuery

    store = open_store(url)
    qs = queries()
    for q in qs:  # warm the store (and its caches of compiled statements)
        store.search(q)
    statements = [issued(store, q) for q in qs]
    singles = [[(bare_sql(store, q), None)] for q in qs]
    con, run = _bare_runner(store)
    per_query: dict[str, dict[str, list[float]]] = {w: {"ptmhub": [], "bare": [], "single": []} for w in WORDS}
    hits = {}
    for q, stmts, single in zip(qs, statements, singles):  # warm the bare connection
        hits[q.q] = len(store.search(q))
        run(stmts)
        run(single)
    for _ in range(rounds):
        for q, stmts, single in zip(qs, statements, singles):
            t0 = time.perf_counter()
            store.search(q)
            t1 = time.perf_counter()
            run(stmts)
            t2 = time.perf_counter()
            run(single)
            t3 = time.perf_counter()
            per_query[q.q]["ptmhub"].append(t1 - t0)
            per_query[q.q]["bare"].append(t2 - t1)
            per_query[q.q]["single"].append(t3 - t2)
    con.close()
    ours = [t for v in per_query.values() for t in v["ptmhub"]]
    bare = [t for v in per_query.values() for t in v["bare"]]
    single = [t for v in per_query.values() for t in v["single"]]
    matches = {w: store.count(SearchQuery(q=w)) for w in WORDS}
    result = {"ptmhub": stats(ours), "bare_sql": stats(bare), "single_statement": stats(single),
              "models": store.count(), "dialect": store.dialect,
              "per_query": {w: {"ptmhub": stats(v["ptmhub"])["median"], "bare": stats(v["bare"])["median"],
                                "single": stats(v["single"])["median"], "statements": len(st),
                                # the relevance statement orders by the name-match CASE; the shortcut never does
                                "answered_by": "full statement" if any("ORDER BY CASE" in sql for sql, _ in st)
                                else "shortcut",
                                "matches": matches[w], "returned": hits[w]}
                            for (w, v), st in zip(per_query.items(), statements)}}
    engine.dispose_all()
    return result


def explain(url: str) -> dict[str, Any]:
    """Where a slow search's time goes (SQLite): the plan and the cost of each part, for the
    query with the most matches."""
    import sqlite3

    from ptmhub.registry import engine, open_store
    from ptmhub.registry.store import SearchQuery, search_words

    store = open_store(url)
    worst = max(WORDS, key=lambda w: store.count(SearchQuery(q=w)))
    query = SearchQuery(q=worst, license=LICENSE, max_parameters=MAX_PARAMETERS, limit=20)
    sql = bare_sql(store, query)
    con = sqlite3.connect(store.engine.url.database)
    for pragma in getattr(store, "READ_PRAGMAS", ()):
        con.execute(pragma)
    match = " AND ".join(f'"{w}"*' for w in search_words(worst))
    import sqlalchemy as sa

    filters = str(sa.and_(*store._filters(query)).compile(dialect=store.engine.dialect,
                                                           compile_kwargs={"literal_binds": True}))
    fts = f"SELECT rowid AS rid FROM models_fts WHERE models_fts MATCH '{match}'"
    parts = {
        "full-text match alone (rowids)": fts,
        "+ bm25 rank of every match": f"SELECT rowid, rank FROM models_fts WHERE models_fts MATCH '{match}'",
        "+ fetch each match's row (join), filters": (
            f"SELECT count(*) FROM models JOIN ({fts}) f ON f.rid = models.pk WHERE {filters}"),
        "the whole search statement": sql,
    }
    timings = {}
    for name, stmt in parts.items():
        con.execute(stmt).fetchall()
        timings[name] = stats([_once(con, stmt) for _ in range(5)])["median"]
    plan = [row[-1] for row in con.execute("EXPLAIN QUERY PLAN " + sql)]
    con.close()
    engine.dispose_all()
    return {"query": worst, "matches": store.count(SearchQuery(q=worst)), "parts": timings, "plan": plan}


def _once(con, sql: str) -> float:
    start = time.perf_counter()
    con.execute(sql).fetchall()
    return time.perf_counter() - start


def cli_search(db_path: str, repeat: int) -> dict[str, Any]:
    """The same search as a user types it: a fresh ``ptmhub`` process on the big registry."""
    cmd = [str(BIN / "ptmhub"), "--db", db_path, "search", "bert", "--license", LICENSE, "--max-params", "1B",
           "--limit", "20"]
    run_timed(cmd)
    walls = [run_timed(cmd)[0] for _ in range(repeat)]
    return {"command": "ptmhub --db <registry> search bert --license permissive --max-params 1B", "wall": stats(walls)}
