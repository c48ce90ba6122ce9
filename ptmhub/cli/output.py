"""Output helpers shared by every command: ``--json`` / ``--csv`` and aligned rich tables."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..records import human_bytes, human_count

if TYPE_CHECKING:
    from ..records import ModelRecord


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (an object for one model, an array for a listing).")(f)


def format_options(f: Callable) -> Callable:
    f = click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")(f)
    return json_option(f)


#: the largest count, limit or offset the registry stores or takes (a signed 64-bit integer)
MAX_INT = 2**63 - 1


def parse_count(text: str | None, option: str = "--max-params") -> int | None:
    """'110M' -> 110000000, '1.5B' -> 1500000000, '25557032' -> 25557032.

    Raises:
        UsageError: not a plain non-negative number with an optional k/M/B/T suffix (so no
            ``1e30``, ``-5``, ``nan``), or beyond what the registry can store (2^63 - 1).
    """
    if text is None:
        return None
    from decimal import Decimal

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMbBtT]?)\s*", text.replace(",", "").replace("_", ""))
    if not m or len(m.group(1)) > 40:
        raise UsageError(f"cannot read {text[:60]!r} as a parameter count for {option}",
                         hint="use a number like 110M, 1.5B or 25557032")
    scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}[m.group(2).lower()]
    value = int(Decimal(m.group(1)) * scale)  # exact: '99999999999999999' stays itself
    if value > MAX_INT:
        raise UsageError(f"{option} {text.strip()} is beyond the largest parameter count the registry stores",
                         hint=f"use at most {MAX_INT:,}")
    return value


def count_option(*names: str, default: int, help: str) -> Callable:  # noqa: A002
    """``--limit``/``--offset``: a whole number from 0 to 2^63 - 1 (the database's integer)."""
    return click.option(*names, type=click.IntRange(0, MAX_INT), default=default, show_default=True, help=help)


def shown_range(offset: int, shown: int, total: int) -> str:
    """'showing 20 of 2,730; --limit 0 for all' (or '21-40 of ...' past the first page)."""
    what = f"{shown:,}" if offset == 0 else f"{offset + 1:,}-{offset + shown:,}"
    return f"showing {what} of {total:,}; --limit 0 for all"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _console():
    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


LIST_COLUMNS: Sequence[tuple[str, Callable[[ModelRecord], str]]] = (
    ("ID", lambda r: r.id),
    ("TASK", lambda r: r.task or "-"),
    ("PARAMS", lambda r: human_count(r.parameters)),
    ("LICENSE", lambda r: r.license or "-"),
    ("LIBRARY", lambda r: r.library or r.framework or "-"),
    ("DOWNLOADS", lambda r: f"{r.downloads:,}" if r.downloads is not None else "-"),
    ("CACHED", lambda r: "yes" if r.cached else ""),
)


def figure_column(basis: tuple[str, str]) -> tuple[str, Callable[[ModelRecord], str]]:
    """A listing column with each model's published ``basis`` figure (dataset, metric)."""
    from ..quality import metric_key

    dataset, metric = basis
    short = {"accuracy": "ACC", "top5-accuracy": "ACC@5"}.get(metric_key(metric), metric.upper()[:12])

    def value(r: ModelRecord) -> str:
        found = r.evaluation(dataset, metric)
        return f"{found.value:.2f}".rstrip("0").rstrip(".") if found is not None else "-"

    return short, value


def print_records(records: Sequence[ModelRecord], *, as_json: bool = False, as_csv: bool = False,
                  total: int | None = None, offset: int = 0,
                  columns: Sequence[tuple[str, Callable[[ModelRecord], str]]] = ()) -> None:
    """A listing as a table (with a footer when ``total`` is more than shown), JSON or CSV (the
    same count on stderr, so a pipe's data stays clean but nothing is cut silently). ``columns``
    are shown after PARAMS (the figure a listing is sorted or filtered by)."""
    truncated = total is not None and total > offset + len(records)
    if as_json:
        echo_json([r.to_dict() for r in records])
    elif as_csv:
        import csv

        from ..records import FIELDS

        writer = csv.writer(sys.stdout)
        writer.writerow(FIELDS)
        for r in records:
            d = r.to_dict()
            writer.writerow([json.dumps(d[f]) if isinstance(d[f], (list, dict)) else ("" if d[f] is None else d[f])
                             for f in FIELDS])
    elif not records:
        click.echo("no models found", err=True)
    else:
        shown = [*LIST_COLUMNS[:3], *columns, *LIST_COLUMNS[3:]]
        rows = [[fn(r) for _, fn in shown] for r in records]
        right = {"PARAMS", "DOWNLOADS", *(name for name, _ in columns)}
        click.echo(render_table([name for name, _ in shown], rows, right=right))
    if truncated and (records or offset == 0):
        sys.stdout.flush()
        click.echo(shown_range(offset, len(records), total), err=True)
    elif total is not None and not records and offset:
        click.echo(f"--offset {offset:,} is past the last of {total:,} models", err=True)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[str] = frozenset()) -> str:
    """An aligned plain-text table (header, rule, rows). Listings use this rather than rich: it
    is what a search prints, and importing rich would cost a tenth of the start-up."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).rjust(w) if h in right else str(c).ljust(w) for c, w, h in zip(cells, widths, header)]
        return "   ".join(parts).rstrip()

    return "\n".join([line(header), "-" * len(line(["-" * w for w in widths])), *(line(r) for r in rows)])


def _fmt(value: Any) -> str:
    if value is None or value == () or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def print_record(record: ModelRecord, *, as_json: bool = False) -> None:
    if as_json:
        echo_json(record.to_dict())
        return
    from rich.table import Table
    from rich import box

    table = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    d = record.to_dict()
    for key, value in d.items():
        if key in ("extra",):
            continue
        if key == "evaluations":
            lines = evaluation_lines(record)
            for i, line in enumerate(lines or ["-"]):
                table.add_row(key if i == 0 else "", line)
            continue
        shown = _fmt(value)
        if key == "parameters" and value is not None:
            shown = f"{human_count(value)} ({value:,})"
        elif key in ("size_bytes", "cache_size_bytes") and value is not None:
            shown = f"{human_bytes(value)} ({value:,} bytes)"
        elif key == "gflops" and value is not None:
            shown = f"{value:g} GFLOPs (one forward pass)"
        table.add_row(key, shown)
    for key, value in (record.extra or {}).items():
        text = _fmt(value)
        table.add_row(f"extra.{key}", text if len(text) <= 160 else text[:157] + "...")
    _console().print(table)


def evaluation_lines(record: ModelRecord, *, limit: int = 12) -> list[str]:
    """``imagenet-1k  accuracy  80.858  (acc@1 on ImageNet-1K; torchvision weights meta ...)``."""
    lines = []
    for e in record.evaluations[:limit]:
        published = " on ".join(p for p in (e.metric_name, e.dataset_name) if p)
        where = "; ".join(p for p in (published, e.split and f"split {e.split}", e.source,
                                      "verified by the Hub" if e.verified else None) if p)
        lines.append(f"{e.dataset}  {e.metric}  {e.value:g}" + (f"  ({where})" if where else ""))
    if len(record.evaluations) > limit:
        lines.append(f"... {len(record.evaluations) - limit} more (--json shows all)")
    return lines


def print_kv(rows: Iterable[tuple[str, Any]]) -> None:
    for key, value in rows:
        click.echo(f"{key}: {_fmt(value)}")
