"""docs/benchmarks.md (and the scaling plot docs/benchmarks-scaling.svg) from the results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .common import fmt_spread, ms

TARGETS = {
    "help": 0.100,             # ptmhub --help, seconds
    "search_vs_import": 1.15,  # ptmhub search / python -c "import sqlalchemy, click"
    "search_p95": 0.050,       # seconds, 1M models, in-process, SQLite
    "search_vs_bare": 2.0,     # p95 ratio to the bare SQL
    "ingest_rate": 50_000,     # records/s, 1M models, SQLite
    "ingest_rss": 300,         # MB
    "load_ratio": 1.05,        # ptmhub.load / from_pretrained(local_dir)
}


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _n(key: Any) -> int:
    return int(key)


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}")


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


class Report:
    def __init__(self, results: dict[str, Any]):
        self.r = results
        self.lines: list[str] = []
        self.summary: list[tuple[str, str, str, str]] = []  # figure, measured, target, verdict

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def check(self, figure: str, measured: str, target: str, ok: bool | None) -> None:
        self.summary.append((figure, measured, target, _verdict(ok)))

    # -- sections -----------------------------------------------------------------------------
    def startup(self) -> None:
        s = self.r.get("startup")
        if not s:
            return
        c = s["cases"]
        base = c["baseline"]["wall"]["median"]
        self.add("## CLI start-up", "",
                 f"Each command is a fresh process, run {c['help']['wall']['n']} times round-robin with the others "
                 "(so a burst of load hits them all alike) after two warm-up rounds; wall time median, its "
                 "min..max, and the CPU time (user + system) the process used. Every command runs with "
                 "huggingface_hub's network calls off (`HF_HUB_OFFLINE=1`, `HF_HUB_DISABLE_UPDATE_CHECK=1`, "
                 "`HF_HUB_DISABLE_TELEMETRY=1`): importing its CLI otherwise asks the Hub for an agent "
                 "registry, which would time a network round trip, not start-up.", "",
                 "| command | wall median | wall min..max | CPU median | ratio to `import sqlalchemy, click` |",
                 "|---|---:|---:|---:|---:|")
        for case in c.values():
            w = case["wall"]
            self.add(f"| `{case['label']}` | {ms(w['median'])} | {fmt_spread(w)} | {ms(case['cpu']['median'])} | "
                     f"{w['median'] / base:.2f} |")
        helpt = c["help"]["wall"]["median"]
        search = c["search"]["wall"]["median"]
        hf = c.get("hf_help", {}).get("wall", {}).get("median")
        ratio = search / base
        cpu_ratio = c["search"]["cpu"]["median"] / c["baseline"]["cpu"]["median"]
        self.check("`ptmhub --help`", ms(helpt), "<= 100 ms", helpt <= TARGETS["help"])
        self.check("`ptmhub search` on registry.db.example / `python -c 'import sqlalchemy, click'`",
                   f"{ratio:.2f} x ({ms(search)} / {ms(base)}; CPU {cpu_ratio:.2f} x)"
                   + (f"; {search / c['baseline_frozen']['wall']['median']:.2f} x like for like (below)"
                      if "baseline_frozen" in c else ""), "<= 1.15 x",
                   ratio <= TARGETS["search_vs_import"])
        self.check("`ptmhub search` vs `hf --help`", f"{ms(search)} vs {ms(hf)}" if hf else "hf not installed",
                   "faster", None if hf is None else search < hf)
        self.add("", "Where the search command's time goes (one process, phases in order, median of "
                     f"{s['phases'][next(iter(s['phases']))]['n']} runs):", "", "| phase | median |", "|---|---:|")
        for name, st in s["phases"].items():
            self.add(f"| {name} | {ms(st['median'])} |")
        if s.get("importtime"):
            self.add("", "Modules the search command imports beyond `import sqlalchemy, click` "
                         "(`python -X importtime`, cumulative, one run):", "",
                     ", ".join(f"`{name}` {t:.1f} ms" for name, t in s["importtime"]), "")
        self.add("What was changed for this target: the CLI imports a command's API only when the command "
                 "runs, the query path uses SQLAlchemy Core tables (the typed ORM classes moved to "
                 "`registry/orm.py`), listings print without rich (360 -> 245 ms); the user data dir "
                 "(platformdirs, ~2.4 ms) is looked up only when no `--db` or `PTMHUB_DATABASE_URL` is given; "
                 "SQLite file URLs are built without SQLAlchemy's URL grammar (a regex compiled on first use, "
                 "~1.5 ms); and the command ends without the interpreter's final garbage collection "
                 "(`gc.freeze()` after closing the registry connections and flushing output; atexit handlers "
                 "still run), which walked every object the process made only for the OS to free them.", "")
        frozen = c.get("baseline_frozen", {}).get("wall", {}).get("median")
        if frozen:
            self.add(f"That last change also helps the baseline: ending `import sqlalchemy, click` the same way "
                     f"takes {ms(frozen)}, and against that like-for-like baseline the search is "
                     f"{search / frozen:.2f} x. The target's ratio (above) is against the plain baseline, as "
                     "the issue states it; the like-for-like ratio is ptmhub's own work (its imports, the "
                     "engine, the queries; phases below) over SQLAlchemy's import alone.", "")
        if ratio > TARGETS["search_vs_import"]:
            aio = next((f", {t:.0f} ms in this run" for name, t in s.get("importtime") or ()
                        if name.endswith("sqlite.aiosqlite")), "")
            extra = sum(st["median"] for name, st in s["phases"].items() if not name.startswith("import sqlalchemy"))
            self.add(f"**Why the search misses 1.15 x.** Beyond importing SQLAlchemy and click, the command "
                     f"spends {ms(extra)} of its own (the phases above): importing ptmhub's CLI and API, the "
                     "SQLite dialect (SQLAlchemy's `sqlite` package also imports its aiosqlite dialect and the "
                     f"asyncio connector it needs{aio}), creating the engine and checking the schema version, "
                     "compiling and running the "
                     "search and count statements, and printing. The allowance is 15% of the baseline, "
                     f"{ms(0.15 * base)} here. The remaining cost is SQLAlchemy's own first-use work (dialect "
                     "import, engine creation, statement compilation) that the baseline, which only imports "
                     "SQLAlchemy, never pays: meeting the ratio would mean reading SQLite without SQLAlchemy on "
                     "this path.", "")
        self.add("")

    def ingest(self) -> None:
        ing = self.r.get("ingest")
        if not ing or not ing.get("sizes"):
            return
        sizes = sorted(ing["sizes"], key=_n)
        self.add("## Catalog ingest (HF-shaped records -> SQLite registry)", "",
                 "Records come from the synthetic catalog (`bench/synth.py`: what the Hugging Face backend makes "
                 "of list-page items) and stream into `Store.upsert(records, batch_size="
                 f"{ing['sizes'][sizes[0]].get('batch') or 1000:,})` (one transaction per batch), in a fresh "
                 "process per size. *Store rate* counts only the time inside the store (the generator's own "
                 "time is measured and subtracted); *end to end* includes it. Peak RSS is the process's "
                 "high-water mark (`VmHWM`: Linux carries `getrusage`'s maxrss over `exec`, so a child would "
                 "report the harness's own peak). Each size is one run (the 1M run is the long one).", "",
                 "| records | store rate | end to end | store seconds | CPU per record | peak RSS |",
                 "|---:|---:|---:|---:|---:|---:|")
        for key in sizes:
            r = ing["sizes"][key]
            self.add(f"| {_n(key):,} | {_rate(r['rate'])} | {_rate(r['end_to_end_rate'])} | {r['store_seconds']:.1f} | "
                     f"{r['cpu'] / r['n'] * 1e6:.0f} us | {r['maxrss_mb']:.0f} MB |")
        big = ing["sizes"][sizes[-1]]
        big_n = _n(sizes[-1])
        self.check(f"ingest rate, {big_n:,} records, SQLite", _rate(big["rate"]), ">= 50,000/s",
                   big["rate"] >= TARGETS["ingest_rate"] if big_n >= 1_000_000 else None)
        self.check(f"ingest peak RSS, {big_n:,} records", f"{big['maxrss_mb']:.0f} MB", "<= 300 MB",
                   big["maxrss_mb"] <= TARGETS["ingest_rss"] if big_n >= 1_000_000 else None)
        dflt = ing.get("default_batch")
        if dflt:
            self.add("", f"With the store's default batch size (1,000 records per transaction, what a `ptmhub sync` "
                         f"page uses), {dflt['n']:,} records: {_rate(dflt['rate'])} (peak RSS "
                         f"{dflt['maxrss_mb']:.0f} MB).")
        naive = ing.get("naive")
        if naive:
            hours = big_n / naive["rate"] / 3600
            self.add("", f"Baseline, the textbook ORM loop (`session.add(ModelRow(...))` + `commit()` per record), "
                         f"measured on {naive['n']:,} records: {_rate(naive['rate'])}. Extrapolated (linearly, "
                         f"which flatters it: its per-row cost grows with the table) to {big_n:,} records that is "
                         f"{hours:.1f} h against the store's {big['store_seconds'] / 60:.1f} min: the store, at "
                         f"{big_n:,} records, is {big['rate'] / naive['rate']:.0f} x faster than the loop at "
                         f"{naive['n']:,}.")
        floor = ing.get("floor")
        if floor:
            full = floor["full schema"]
            self.add("", "The machine's limit for this schema: the statements the store sends for "
                         f"{full['rows']:,} records, replayed with the bare `sqlite3` driver (no SQLAlchemy, no "
                         "record conversion) into an empty registry, then into registries with parts of the "
                         "schema removed:", "",
                     "| schema | driver rate | wall per row | CPU per row |", "|---|---:|---:|---:|")
            for variant, v in floor.items():
                self.add(f"| {variant} | {_rate(v['rate'])} | {v['us_per_row']:.1f} us | "
                         f"{v['us_per_row_cpu']:.1f} us |")
            small = ing["sizes"][min(sizes, key=lambda k: abs(_n(k) - full["rows"]))]
            self.add("", f"At a similar size the store reaches {_rate(small['rate'])}, "
                         f"{small['rate'] / full['rate']:.0%} of the bare driver writing the same rows.")
            if big["rate"] < TARGETS["ingest_rate"]:
                nofts, noidx = floor["no FTS trigger"], floor["no secondary indexes"]
                bare = floor["no secondary indexes, no FTS trigger"]
                floor_says = (f"The target is above what SQLite itself does with this schema on this machine: "
                              f"the bare driver, with no Python work at all, writes {_rate(full['rate'])} into the "
                              "full schema." if full["rate"] < TARGETS["ingest_rate"] else
                              f"The bare driver, with no Python work at all, writes {_rate(full['rate'])} into the "
                              "full schema, so SQLite alone would meet it; the Python side misses it.")
                self.add("", f"**Why ingest misses 50,000/s.** {floor_says} Per row, the FTS5 index costs "
                             f"{full['us_per_row'] - nofts['us_per_row']:.0f} us and the six secondary b-tree "
                             f"indexes {full['us_per_row'] - noidx['us_per_row']:.0f} us on top of the table "
                             f"itself ({bare['us_per_row']:.0f} us). The store adds its Python side (record -> row, "
                             "search text, SQLAlchemy's bind processors for JSON, datetimes and booleans; profile "
                             "below) and the rate falls further as the b-trees outgrow the page cache (the 1M row "
                             "above). What was fixed: the store used to send one `INSERT ... ON CONFLICT` per row "
                             "(`executemany`), so the FTS5 trigger flushed the full-text index once per row; it now "
                             "sends multi-row `VALUES` statements (up to the driver's variable limit) through the "
                             "same SQLAlchemy bind processors, which halved SQLite's cost per row (51 -> 24 us CPU "
                             "per row, measured on 100,000 records while making the change) and removed "
                             "SQLAlchemy's per-parameter loop; the writing connection also gets a 64 MiB page cache "
                             "(`Store.WRITE_PRAGMAS`), and this benchmark writes 20,000 records per transaction. Schema "
                             "revision 0002 dropped three indexes no query used (`ix_models_platform`, the prefix "
                             "of `ix_models_platform_downloads`; `ix_models_owner`; `ix_models_architecture`). "
                             f"What remains: 50,000/s allows 20 us a row; SQLite's share is {full['us_per_row']:.0f} "
                             f"us and the store's Python side (at {small['n']:,} records, "
                             f"{1e6 / small['rate']:.0f} us a row in all) {1e6 / small['rate'] - full['us_per_row']:.0f} "
                             "us more, already more than the whole allowance. Meeting it would mean skipping the "
                             "full-text and b-tree upkeep during a bulk load and rebuilding them once at its end, "
                             "which a registry that others search while a sync runs cannot do, and a record path "
                             "without SQLAlchemy's bind processors.")
        prof = ing.get("profile")
        if prof:
            self.add("", "Profile of the store's upsert (pyinstrument, 30,000 records):", "", "```", prof.rstrip(),
                     "```")
        pages = ing.get("hf_pages")
        if pages:
            self.add("", f"The whole Hugging Face path, {pages['n']:,} list-page items (JSON bytes as the wire "
                         f"delivers them, pages of 1,000) -> records -> registry, in one process: "
                         f"**{_rate(pages['rate'])}** (peak RSS {pages['maxrss_mb']:.0f} MB). Per stage:", "",
                     "| stage | seconds | per record |", "|---|---:|---:|")
            for stage, secs in pages["stages"].items():
                self.add(f"| {stage}{' (not counted)' if stage.startswith('produce') else ''} | {secs:.2f} | "
                         f"{secs / pages['n'] * 1e6:.0f} us |")
            rfi = pages["stages"].get("record_from_info (HF backend)", 0)
            self.add("", f"Parsing a list item into a record (huggingface_hub's `ModelInfo` and the backend's "
                         f"mapping) costs {rfi / pages['n'] * 1e6:.0f} us per record, more than storing it: "
                         "the end-to-end sync is bound by the parse, not by the registry.")
        sync = ing.get("hf_sync")
        if sync:
            self.add("", f"Over HTTP, `ptmhub sync hf` against the loopback Hub of the test suite "
                         f"(`tests/hf_server.py`, pages of 1,000): {sync['n']:,} records in {sync['seconds']:.1f} s, "
                         f"**{_rate(sync['rate'])}** ({sync['pages']} pages).")
        pg = self.r.get("postgres", {}).get("ingest")
        if pg:
            self.add("", f"PostgreSQL (a private server on the same machine, same generator, the store's default "
                         f"batch of 1,000): {pg['n']:,} records at **{_rate(pg['rate'])}** (store time "
                         f"{pg['store_seconds']:.1f} s, of which {pg['cpu']:.1f} s CPU in the client; peak RSS "
                         f"{pg['maxrss_mb']:.0f} MB). The server's own work (the same six b-tree indexes plus a GIN "
                         "index on the text) is the rest.")
        self.add("")

    def search(self) -> None:
        se = self.r.get("search")
        if not se:
            return
        from .search import LICENSE, MAX_PARAMETERS, WORDS

        rows = [(k, v) for k, v in se.items()]
        pg = self.r.get("postgres", {}).get("search")
        if pg:
            rows.append(("postgres", pg))
        first = rows[0][1]
        self.add("## Search (full text + license group + max parameters, top 20)", "",
                 f"{len(WORDS)} queries (`{'`, `'.join(WORDS)}`), each with `license={LICENSE}` and "
                 f"`max_parameters={MAX_PARAMETERS:,}`, limit 20, run {first['ptmhub']['n'] // len(WORDS)} times "
                 "each in one long-lived process after a warm-up. *Bare SQL* is the statements `Store.search` "
                 "sent to the driver for that query (captured at the cursor, with their parameters), run by "
                 "the driver itself (`sqlite3` / `psycopg`) with the same connection settings, timed right "
                 "after ours. *Single statement* is the one-statement form of the same search "
                 "(`Store.search_statement`: every full-text match joined, filtered, ranked and sorted), "
                 "which the store uses unless its shortcut for common words applies (see below).", "",
                 "| registry | models | ptmhub p50 | ptmhub p95 | bare SQL p50 | bare SQL p95 | p95 ratio | "
                 "single statement p50 / p95 |", "|---|---:|---:|---:|---:|---:|---:|---:|")
        for key, v in rows:
            label = "PostgreSQL" if key == "postgres" else "SQLite"
            single = v.get("single_statement")
            self.add(f"| {label} | {v['models']:,} | {ms(v['ptmhub']['median'])} | {ms(v['ptmhub']['p95'])} | "
                     f"{ms(v['bare_sql']['median'])} | {ms(v['bare_sql']['p95'])} | "
                     f"{v['ptmhub']['p95'] / v['bare_sql']['p95']:.2f} | "
                     + (f"{ms(single['median'])} / {ms(single['p95'])} |" if single else "- |"))
        sqlite_rows = [v for k, v in rows if k != "postgres"]
        big = max(sqlite_rows, key=lambda v: v["models"])
        is_full = big["models"] >= 1_000_000
        self.check(f"search p95, {big['models']:,} models, SQLite, in-process", ms(big["ptmhub"]["p95"]), "<= 50 ms",
                   big["ptmhub"]["p95"] <= TARGETS["search_p95"] if is_full else None)
        ratio = big["ptmhub"]["p95"] / big["bare_sql"]["p95"]
        self.check("search p95 / bare SQL p95", f"{ratio:.2f} x", "<= 2 x",
                   ratio <= TARGETS["search_vs_bare"] if is_full else None)
        if pg:
            self.check(f"search p95, {pg['models']:,} models, PostgreSQL", ms(pg["ptmhub"]["p95"]), "(report)", None)
        self.add("", f"Per query on the largest SQLite registry ({big['models']:,} models; *matches* is the "
                     "full-text match count before filters):", "",
                 "| words | matches | returned | answered by | statements | ptmhub median | bare SQL median | "
                 "single statement |", "|---|---:|---:|---|---:|---:|---:|---:|")
        for w, q in big["per_query"].items():
            self.add(f"| `{w}` | {q['matches']:,} | {q['returned']} | {q.get('answered_by', '-')} | "
                     f"{q.get('statements', 1)} | {ms(q['ptmhub'])} | {ms(q['bare'])} | "
                     f"{ms(q['single']) if 'single' in q else '-'} |")
        self.add("", "*Answered by*: `shortcut` when `Store._popular_first` found the answer among the most "
                     "downloaded models (it reads the registry's size, the downloads of the 2,000th most downloaded "
                     "model, the models above it whose name starts with the first word, then their rows; two more "
                     "statements per longer look, to the 6,000th and 16,000th), `full statement` when it found too "
                     "few and the single statement ran after its look. The shortcut returns exactly what the "
                     "single statement returns (`tests/test_store_fast_paths.py` compares them over 300 random "
                     "searches): it answers only when at least `offset + limit` models whose name starts with the "
                     "first word match among the models with at least the cut-off's downloads, which makes them "
                     "the answer, and it computes the full-text rank for the models that tie on downloads.")
        cli = self.r.get("cli_search")
        if cli:
            self.add("", f"The same kind of search as a user types it, a fresh process on the {big['models']:,}-model "
                         f"registry (`{cli['command']}`): {ms(cli['wall']['median'])} median "
                         f"({fmt_spread(cli['wall'])}).")
        ex = self.r.get("search_explain")
        if ex:
            self.add("", f"Where the time of the query with the most matches goes (`{ex['query']}`, "
                         f"{ex['matches']:,} full-text matches; bare SQLite, each part median of 5):", "",
                     "| part | time |", "|---|---:|")
            for part, t in ex["parts"].items():
                self.add(f"| {part} | {ms(t)} |")
            self.add("", "Plan: " + "; ".join(f"`{p}`" for p in ex["plan"]) + ".")
        if is_full and big["ptmhub"]["p95"] > TARGETS["search_p95"]:
            slow = sorted(big["per_query"].items(), key=lambda kv: -kv[1]["ptmhub"])[:3]
            self.add("", "**Why search misses 50 ms at p95.** The slowest queries are "
                         + ", ".join(f"`{w}` ({ms(q['ptmhub'])}, {q['matches']:,} matches)" for w, q in slow)
                         + ". When the shortcut cannot answer, the relevance order (name match first, then "
                         "downloads, then the full-text rank) is a property of *every* match, so SQLite visits "
                         "every full-text match: it reads the match list from the FTS5 index (prefix queries "
                         "merge the lists of every token with that prefix), fetches each matching row by primary "
                         "key to apply the license and parameter filters, computes the bm25 rank, and sorts; the "
                         "table above splits that cost for the most common word. For a word matched by a few "
                         "percent of a million models that is tens of thousands of row fetches. ptmhub's own "
                         "overhead on top of the driver is the ratio column. Faster for those words would need a "
                         "narrower covering index for the filter columns or an FTS5 prefix index: a schema change.")
        self.add("", "What was changed for this target: searching connections memory-map the database "
                     "(`PRAGMA mmap_size`, halving the cost of visiting rows), and the store answers common words "
                     "from the most downloaded models when that is provably the same answer (compare the "
                     "single-statement column, which is what every search cost before).")
        self.add("")

    def scaling(self, svg_name: str | None) -> None:
        ing = self.r.get("ingest", {}).get("sizes", {})
        se = self.r.get("search", {})
        sizes = sorted({_n(k) for k in ing} | {int(k.split("-")[1]) for k in se}, key=int)
        if len(sizes) < 2:
            return
        self.add("## Scaling", "", "How cost grows with the registry (SQLite):", "",
                 "| models | ingest (store rate) | peak RSS | search p50 | search p95 | bare SQL p95 | DB file |",
                 "|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            i = ing.get(n) or ing.get(str(n)) or {}
            s = se.get(f"sqlite-{n}") or {}
            rss = f"{i['maxrss_mb']:.0f} MB" if i else "-"
            size = f"{i['db_mb']:.0f} MB" if i.get("db_mb") else "-"
            lat = [ms(s["ptmhub"]["median"]), ms(s["ptmhub"]["p95"]), ms(s["bare_sql"]["p95"])] if s else ["-"] * 3
            self.add(f"| {n:,} | {_rate(i['rate']) if i else '-'} | {rss} | {' | '.join(lat)} | {size} |")
        if svg_name:
            self.add("", f"![search latency and ingest rate against registry size]({svg_name})")
        self.add("")

    def safetensors(self) -> None:
        st = self.r.get("safetensors")
        if not st:
            return
        self.add("## Parameter count of a remote safetensors file (bytes sent by the loopback Hub)", "",
                 "A 52 MB file served by `tests/hf_server.py`, which counts the body bytes it sends per path; "
                 "three header sizes. *ptmhub header read* is `safetensors_count.read_remote_header`; "
                 "*ptmhub resolve* is the whole `HuggingFaceBackend.resolve` (API answer without a `safetensors` "
                 "field, so the count comes from the header); `huggingface_hub` is "
                 "`HfApi.get_safetensors_metadata`; the last column downloads the whole file.", "",
                 "| header | limit (8 + header + 16 KiB) | ptmhub header read | ptmhub resolve | "
                 "huggingface_hub | whole file |", "|---|---:|---:|---:|---:|---:|")
        ok = True
        for label, v in st.items():
            ok &= v["ptmhub"] <= v["limit"] and v.get("resolve", 0) <= v["limit"]
            resolve = f"{v['resolve']:,} B" if "resolve" in v else f"error: {v.get('resolve_error', '?')[:60]}"
            self.add(f"| {label}, {v['header']:,} B | {v['limit']:,} B | {v['ptmhub']:,} B ({v['requests']} "
                     f"request{'s' if v['requests'] > 1 else ''}) | {resolve} | {v['huggingface_hub']:,} B | "
                     f"{v['full_file']:,} B |")
        worst = max(st.values(), key=lambda v: v["ptmhub"] / v["limit"])
        self.check("remote safetensors count: bytes fetched", f"max {worst['ptmhub']:,} B of a {worst['limit']:,} B "
                   "limit", "<= 8 + header + 16 KiB", ok)
        counts_agree = all(v["parameters"] == v["huggingface_hub_parameters"] for v in st.values())
        self.add("", f"All three readers report the same parameter count: {'yes' if counts_agree else '**no**'}.", "")

    def offline_load(self) -> None:
        ol = self.r.get("offline_load")
        if not ol:
            return
        self.add("## Offline load of a cached model (all-MiniLM-L6-v2 from the HF cache)", "",
                 "Each load is a fresh process with the imports already done (torch, transformers, "
                 "sentence-transformers, ptmhub, and SQLAlchemy's SQLite dialect, which ptmhub imports when it "
                 "first opens a SQLite registry; its import time is given below) and their garbage collected, "
                 "`HF_HUB_OFFLINE=1`, alternating "
                 "ptmhub and the baseline; "
                 "ptmhub's time includes reading the registry record, finding the snapshot in the HF cache "
                 "and recording the use (`touch`).", "",
                 "| path | median | min..max | ratio |", "|---|---:|---:|---:|")
        for lib, v in ol.items():
            ratio = v["ptmhub"]["median"] / v["baseline"]["median"]
            self.add(f"| {v['ptmhub_label']} | {ms(v['ptmhub']['median'])} | {fmt_spread(v['ptmhub'])} | {ratio:.2f} |",
                     f"| baseline: {v['baseline_label']} | {ms(v['baseline']['median'])} | "
                     f"{fmt_spread(v['baseline'])} | 1.00 |")
            self.check(f"offline load ({lib}) / from_pretrained(local_dir)", f"{ratio:.2f} x", "<= 1.05 x",
                       ratio <= TARGETS["load_ratio"])
        over = self.r.get("offline_load_overhead")
        if over:
            self.add("", "ptmhub's own steps around the library call (fresh process, the framework imports done, "
                         f"median of {over[next(iter(over))]['n']}): "
                     + ", ".join(f"{k} {ms(v['median'])}" for k, v in over.items()) + ".")
            missed = [(lib, v) for lib, v in ol.items()
                      if v["ptmhub"]["median"] > TARGETS["load_ratio"] * v["baseline"]["median"]]
            if missed:
                total = sum(v["median"] for k, v in over.items() if not k.startswith(("import", "touch")))
                base = min(v["baseline"]["median"] for _, v in missed)
                touch = next((v["median"] for k, v in over.items() if k.startswith("touch")), 0.0)
                allowance = 0.05 * base
                if total + touch > allowance:
                    why = (f"ptmhub's own steps before the library call take {ms(total)} in a fresh process, "
                           f"and recording the use {ms(touch)} more of CPU: it runs beside the load, but its "
                           "Python work (compiling and running the UPDATE) shares the interpreter lock with "
                           "the load, so only its wait on the disk is hidden. Most of it is first use of "
                           "SQLAlchemy in that process (creating the engine and compiling the statements; the "
                           "same calls in a warm process take under a millisecond).")
                else:
                    why = (f"ptmhub's own steps take {ms(total + touch)} in a fresh process, within it; the rest "
                           "of the measured difference is within the run-to-run spread (min..max above).")
                self.add("", f"**Why the load misses 1.05 x.** The allowance is 5% of a {ms(base)} load, "
                             f"{ms(allowance)}; {why} The model load itself is the library's own call on the "
                             "cached snapshot, the same call the baseline makes; the spread (min..max) shows "
                             "how much one run's ratio can move on this machine.")
        if over:
            self.add("", "What was changed for this target: reading the record and recording the use take one "
                         "statement each fewer (the canonical ID is tried before aliases), and the use "
                         "(`last_used`) is written in a thread beside the library's load: a process's first write "
                         "to a SQLite registry syncs the write-ahead log (an fsync, 5-13 ms on this machine, "
                         "measured with the bare driver: 0.1 ms with `synchronous=OFF`), which was most of "
                         "`ptmhub.load`'s own cost; overlapped, that wait no longer adds to the load. The touch "
                         "figure above is that write measured alone, not overlapped.")
        self.add("")

    def tfhub(self) -> None:
        t = self.r.get("tfhub")
        if not t:
            return
        rate = t["records"] / t["time"]["median"]
        self.add("## Full tfhub.dev catalog import", "",
                 f"`ptmhub sync tfhub --source shared/catalogs/tfhub.dev` ({t['docs']:,} docs) into a fresh SQLite "
                 f"registry, {t['time']['n']} runs, each a fresh process: {t['records']:,} records in "
                 f"**{t['time']['median']:.2f} s** median ({fmt_spread(t['time'], lambda x: f'{x:.2f} s')}), "
                 f"**{rate:,.0f} records/s**.")
        if t.get("parse_only"):
            p = t["parse_only"]["median"]
            self.add(f"Baseline, the same import into a store that drops the records (parse and mapping alone): "
                     f"{p:.2f} s; the registry writes are the other {max(0.0, t['time']['median'] - p):.2f} s.")
        self.check("tfhub.dev catalog import", f"{t['time']['median']:.2f} s, {rate:,.0f} records/s", "(report)", None)
        self.add("")

    def errors(self) -> None:
        errs = self.r.get("errors")
        if errs:
            self.add("## Benchmarks that failed in this run", "")
            for key, msg in errs.items():
                self.add(f"- `{key}`: {msg.splitlines()[0][:300]}")
            self.add("")

    # -- the page -----------------------------------------------------------------------------
    def render(self, svg_name: str | None) -> str:
        self.startup()
        self.search()
        self.ingest()
        self.scaling(svg_name)
        self.safetensors()
        self.offline_load()
        self.tfhub()
        self.errors()
        m = self.r["machine"]
        la, lb = self.r.get("load_before"), self.r.get("load_after")
        head = [
            "# Benchmarks", "",
            f"Generated by `make bench` (`python -m bench{' --quick' if self.r['quick'] else ''}`, "
            f"{self.r['seconds'] / 60:.1f} min) on {self.r['started']}. Regenerate with `make bench`; the raw "
            "figures are in `benchmarks.json` beside this page.", "",
            f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']:.0f} GiB RAM, {m['os']}, Python {m['python']}, "
            f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}."
            + (f" Load average before / after the run: {la[0]:.1f} / {lb[0]:.1f} (other work on the machine "
               "slows wall times; CPU times are given where that matters)." if la and lb else ""), "",
            "Each figure is the median of repeated runs with its spread (min..max) and, where there is one, its "
            "ratio to a baseline measured in the same run. Targets are those of issue 9; a missed target is "
            "explained under its table, from a profile.", "",
        ]
        if self.r["quick"]:
            head += ["> **Smoke run** (`--quick`): tiny registries and few repeats. These figures check that the "
                     "harness works; they are not the benchmark. Run `make bench` for the real page.", ""]
        head += ["## Summary", "", "| figure | measured | target | verdict |", "|---|---|---|---|"]
        head += [f"| {f} | {m_} | {t} | {v} |" for f, m_, t, v in self.summary]
        return "\n".join(head + [""] + self.lines).rstrip() + "\n"


def write(results: dict[str, Any], out: Path) -> None:
    svg = scaling_svg(results)
    svg_name = None
    if svg:
        svg_path = out.with_name(out.stem + "-scaling.svg")
        svg_path.write_text(svg)
        svg_name = svg_path.name
    text = Report(results).render(svg_name)
    out.write_text(_keep_sections(text, out.read_text() if out.exists() else ""))


def _keep_sections(new: str, old: str) -> str:
    """Sections measured by their own scripts (``python -m bench.quality``) are kept as they
    were: the harness does not run them, and a report without them would drop their figures."""
    from .quality import BEGIN, END

    start = old.find(QUALITY_HEADING)
    if start < 0 or BEGIN not in old[start:]:
        return new
    end = old.index(END, start) + len(END)
    return new.rstrip("\n") + "\n\n" + old[start:end] + "\n"


QUALITY_HEADING = "## Quality queries"


# -- the plot ---------------------------------------------------------------------------------------
def scaling_svg(results: dict[str, Any]) -> str | None:
    """Two panels (search latency, ingest rate) against registry size, log-log, as plain SVG."""
    ing = {_n(k): v for k, v in results.get("ingest", {}).get("sizes", {}).items()}
    se = {int(k.split("-")[1]): v for k, v in results.get("search", {}).items()}
    sizes = sorted(set(ing) | set(se))
    if len(sizes) < 2:
        return None
    series_left = [
        ("ptmhub p95", "#d62728", [(n, se[n]["ptmhub"]["p95"] * 1000) for n in sizes if n in se]),
        ("ptmhub p50", "#1f77b4", [(n, se[n]["ptmhub"]["median"] * 1000) for n in sizes if n in se]),
        ("bare SQL p50", "#7f7f7f", [(n, se[n]["bare_sql"]["median"] * 1000) for n in sizes if n in se]),
    ]
    series_right = [("store rate", "#2ca02c", [(n, ing[n]["rate"]) for n in sizes if n in ing]),
                    ("end to end", "#9467bd", [(n, ing[n]["end_to_end_rate"]) for n in sizes if n in ing])]
    W, H = 820, 330
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="11">', f'<rect width="{W}" height="{H}" fill="white"/>']
    parts += _panel(20, "Search latency (ms), log scale", series_left, sizes, target=50.0, target_label="50 ms target")
    parts += _panel(420, "Ingest rate (records/s), log scale", series_right, sizes, target=50_000.0,
                    target_label="50,000/s target")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(x0: float, title: str, series, sizes: list[int], *, target: float, target_label: str) -> list[str]:
    w, h, top, left, bottom = 380, 230, 40, 55, 50
    values = [y for _, _, pts in series for _, y in pts if y > 0] + [target]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if hi == lo:
        hi += 1
    xl, xh = math.log10(min(sizes)), math.log10(max(sizes))

    def px(n: float) -> float:
        return x0 + left + (math.log10(n) - xl) / (xh - xl) * (w - left - 10)

    def py(y: float) -> float:
        return top + h - (math.log10(y) - lo) / (hi - lo) * h

    out = [f'<text x="{x0 + left}" y="{top - 18}" font-size="13" font-weight="bold">{title}</text>',
           f'<rect x="{x0 + left}" y="{top}" width="{w - left - 10}" height="{h}" fill="none" stroke="#999"/>']
    for e in range(lo, hi + 1):
        y = py(10 ** e)
        label = f"{10 ** e:,.0f}" if e >= 0 else f"{10 ** e:g}"
        out.append(f'<line x1="{x0 + left}" x2="{x0 + w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 + left - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for n in sizes:
        out.append(f'<text x="{px(n):.1f}" y="{top + h + 15}" text-anchor="middle">{_count(n)}</text>')
    out.append(f'<text x="{x0 + left + (w - left) / 2:.0f}" y="{top + h + 32}" text-anchor="middle">models in the '
               'registry</text>')
    ty = py(target)
    out.append(f'<line x1="{x0 + left}" x2="{x0 + w - 10}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#000" '
               'stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x0 + w - 14}" y="{ty - 4:.1f}" text-anchor="end">{target_label}</text>')
    for i, (label, color, pts) in enumerate(series):
        if not pts:
            continue
        path = " ".join(f"{px(n):.1f},{py(y):.1f}" for n, y in pts if y > 0)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(n):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>' for n, y in pts if y > 0]
        ly = top + 14 + 14 * i
        out.append(f'<rect x="{x0 + left + 8}" y="{ly - 8}" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{x0 + left + 22}" y="{ly - 4}">{label}</text>')
    return out
