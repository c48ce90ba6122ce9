"""compare, platforms: models side by side, cross-hub equivalents, the platform matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .output import echo_json

if TYPE_CHECKING:
    from ..comparison import Comparison, SameAs
    from ..platforms import PlatformMatrix


def _one_format(as_json: bool, as_csv: bool, html_path: str | None) -> None:
    if sum((bool(as_json), bool(as_csv), bool(html_path))) > 1:
        raise UsageError("choose one of --json, --csv and --html")


def _write_html(path: str, text: str) -> None:
    from ..report import write_html

    target = write_html(path, text)
    click.echo(f"wrote {target} ({len(text.encode()):,} bytes)", err=True)


def print_comparison(comparison: Comparison, *, sources: bool = True) -> None:
    """The comparison as a rich table (differing rows marked ≠ and highlighted), then the sources."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .output import _console

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("FIELD", style="bold", no_wrap=True)
    for mid in comparison.ids:
        table.add_column(Text(mid), overflow="fold")
    for row in comparison.rows:
        table.add_row("≠" if row.differs else "", row.label, *(Text(v) for v in row.display),
                      style="bold yellow" if row.differs else None)
    console = _console()
    console.print(table)
    differing = [r.label.lower() for r in comparison.differing]
    console.print(f"≠ the models differ: {', '.join(differing)}" if differing else "the models agree on every known value",
                  highlight=False)
    if not sources:
        return
    console.print("\nwhere the values come from:", highlight=False)
    for i, record in enumerate(comparison.records):
        console.print(Text(f"  {record.id}", style="bold"))
        groups: dict[str, list[str]] = {}
        for row in comparison.rows:
            if row.field == "platform":
                continue
            groups.setdefault(row.sources[i], []).append(row.label.lower())
        for source, labels in groups.items():
            console.print(Text(f"    {', '.join(labels)}: {source}"), soft_wrap=True)


def print_same_as(same: SameAs, *, sources: bool = True) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..records import human_count
    from .output import _console

    console = _console()
    arch = same.architecture
    reference = (f"parameter counts within {same.tolerance:.0%} of {same.reference_source} "
                 f"({human_count(same.reference_parameters)})" if same.reference_parameters is not None
                 else "no parameter count known to check sizes against")
    console.print(Text(f"same architecture as {same.target.id}: {arch.key}"
                       + (f" ({arch.variant})" if arch.variant else "") + f", read from {arch.evidence}"))
    console.print(Text(f"{reference}; {same.scanned:,} records scanned"))
    if not same.matches:
        console.print("no equivalent in the registry (sync more catalogs: 'ptmhub sync ...')", highlight=False)
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in ("ID", "LIBRARY", "ARCHITECTURE", "PARAMS", "DIFF", "EVIDENCE"):
            table.add_column(name, justify="right" if name in ("PARAMS", "DIFF") else "left",
                             overflow="fold", no_wrap=name in ("ID", "ARCHITECTURE"))
        for m in same.matches:
            r = m.record
            table.add_row(*(Text(v) for v in (
                r.id, r.library or r.framework or "-",
                m.architecture.key + (f" ({m.architecture.variant})" if m.architecture.variant else ""),
                human_count(r.parameters), "-" if m.difference is None else f"{m.difference:.1%}",
                m.architecture.evidence)))
        console.print(table)
        if same.more:
            console.print(f"... and {same.more} more (use --limit)", highlight=False)
    for m in same.rejected:
        console.print(Text(f"not the same: {m.record.id}: {m.reason}"))
    console.print("")
    print_comparison(same.comparison, sources=sources)


@click.command()
@click.argument("model_ids", nargs=-1, metavar="[ID]...")
@click.option("--same-as", "same_as_id", metavar="ID",
              help="Find the same architecture on the other hubs and compare the best match of each.")
@click.option("--tolerance", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="With --same-as: largest relative difference of parameter counts (when both are known).")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --same-as: at most N matches listed.")
@click.option("--no-sources", is_flag=True, help="Do not print where each value came from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the rows, each value with its source.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one line per field, values then sources.")
@click.option("--html", "html_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report (table, sources, chart) to FILE.")
def compare(model_ids, same_as_id, tolerance, limit, no_sources, as_json, as_csv, html_path) -> None:
    """Compare models side by side: task, parameters, license and commercial use, framework,
    format, sizes, popularity, version, cache state, and where each value came from."""
    from .. import api
    from ..ids import parse

    _one_format(as_json, as_csv, html_path)
    if same_as_id and model_ids:
        raise UsageError("give either IDs to compare or --same-as ID, not both")
    if not same_as_id and not model_ids:
        raise UsageError("nothing to compare", hint="give model IDs, or --same-as ID")
    same = None
    if same_as_id:
        same = api.same_as(same_as_id, tolerance=tolerance, limit=limit)
        comparison = same.comparison
    else:
        for m in model_ids:
            parse(m)  # reject bad input before any lookup
        comparison = api.compare(list(model_ids))
    if as_json:
        echo_json(same.to_dict() if same else comparison.to_dict())
    elif as_csv:
        import csv
        import sys

        csv.writer(sys.stdout).writerows(comparison.csv_rows())
    elif html_path:
        from ..platforms import shown_url
        from ..report import comparison_html

        _write_html(html_path, comparison_html(comparison, same_as=same, database=shown_url(api.get_store().url)))
    elif same:
        print_same_as(same, sources=not no_sources)
    else:
        print_comparison(comparison, sources=not no_sources)


def print_platforms(matrix: PlatformMatrix) -> None:
    from rich import box
    from rich.table import Table

    from rich.text import Text

    from ..platforms import FACETS
    from ..records import human_bytes, human_count
    from .output import _console

    console = _console()
    live = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 title=Text(f"in this registry ({matrix.database})") if matrix.database else None,
                 title_justify="left")
    for name in ("PLATFORM", "MODELS", "TASKS", "LICENSE KNOWN", "PARAMS KNOWN", "MEDIAN PARAMS", "CACHED",
                 "CACHED SIZE", "CACHE FOLDER"):
        live.add_column(name, justify="left" if name in ("PLATFORM", "CACHE FOLDER") else "right", overflow="fold")
    for row in matrix.rows:
        s = row.live
        if s is None:
            live.add_row(f"{row.facts.name} (informational)", *(["-"] * 7), "-", style="dim")
            continue
        pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
        live.add_row(row.facts.name, f"{s.models:,}", f"{s.tasks:,}", pct(s.license_share), pct(s.parameters_share),
                     human_count(s.median_parameters), f"{s.cached:,}", human_bytes(s.cached_bytes) if s.cached else "-",
                     Text(row.cache_dir or "-"))
    console.print(live)
    for rows, heading in ((matrix.supported, "what each hub offers"),
                          (matrix.informational, "informational: platforms ptmhub has no backend for")):
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=heading, title_justify="left",
                      show_lines=True)
        table.add_column("", style="bold", no_wrap=True)
        for row in rows:
            table.add_column(row.facts.name, overflow="fold", ratio=1)
        for key, label in FACETS:
            table.add_row(label, *(Text(getattr(r.facts, key)) for r in rows))
        console.print("")
        console.print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every platform's facts and live figures.")
@click.option("--html", "html_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML page of the matrix to FILE.")
def platforms(as_json, html_path) -> None:
    """The platform matrix: what each hub offers (IDs, versions, metadata, licenses, parameter
    counts, cache, auth, remote code, fine-tuning) and what this registry knows about each."""
    from .. import api

    _one_format(as_json, False, html_path)
    matrix = api.platform_matrix()
    if as_json:
        echo_json(matrix.to_dict())
    elif html_path:
        from ..report import platforms_html

        _write_html(html_path, platforms_html(matrix))
    else:
        print_platforms(matrix)


COMMANDS = [compare, platforms]
