"""sync: import whole catalogs into the registry."""

from __future__ import annotations

import time

import click

from .output import echo_json


@click.group()
def sync() -> None:
    """Import a whole catalog into the registry (idempotent; safe to re-run)."""


def _run(source: str, as_json: bool, /, total: int | None = None, **options) -> None:
    """Run one sync with a progress bar (a terminal, no --json); Ctrl-C says what was kept."""
    from .. import api
    from .progress import Interrupted, Progress

    start = time.perf_counter()
    progress = Progress(f"sync {source}", total=total, enabled=None if not as_json else False)
    try:
        with progress:
            report = api.sync(source, progress=progress, **options)
    except KeyboardInterrupt:
        # every record reported through progress is committed: the registry keeps them
        raise Interrupted(f"interrupted: {progress.amount()} kept; run the same command again to finish") from None
    if as_json:
        echo_json(report.to_dict())
        return
    secs = report.seconds or (time.perf_counter() - start)
    rate = f" ({report.records / secs:,.0f}/s)" if secs > 0 and report.records else ""
    click.echo(f"{source}: {report.records:,} records in {secs:.2f}s{rate}, {report.skipped:,} skipped")
    for key, value in sorted(report.counts.items()):
        click.echo(f"  {key}: {value:,}")
    for key, values in sorted(report.unknown_values.items()):
        click.echo(f"  values not in the {key} vocabulary: {', '.join(sorted(values)[:20])}"
                   + (" ..." if len(values) > 20 else ""))
    for where, why in report.problems[:50]:
        click.echo(f"  skipped {where}: {why}", err=True)
    if len(report.problems) > 50:
        click.echo(f"  ... and {len(report.problems) - 50} more problems (use --json for all)", err=True)


_json = click.option("--json", "as_json", is_flag=True, help="Print the sync report as JSON.")
_source = click.option("--source", required=True, metavar="PATH|URL",
                       help="A checkout or archive (.tar.gz/.zip) of the catalog repository, or its URL.")


@sync.command(name="hf")
@click.option("--search", metavar="Q", help="Only models matching Q.")
@click.option("--author", metavar="A", help="Only models of this user or organization.")
@click.option("--task", metavar="T", help="Only this pipeline tag.")
@click.option("--library", metavar="L", help="Only this library (transformers, timm, ...).")
@click.option("--sort", type=click.Choice(["downloads", "likes", "trending", "created", "modified"]),
              default="downloads", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N models.")
@_json
def sync_hf(search, author, task, library, sort, limit, as_json) -> None:
    """Page through the Hugging Face model list (resumable after an interruption)."""
    total = None
    if limit is not None:
        from .. import api

        state = api.get_store().sync_state("hf")
        if not state or state.get("done"):  # a fresh sync: --limit is the total (a resumed one counts on)
            total = limit
    _run("hf", as_json, total, search=search, author=author, task=task, library=library, sort=sort, limit=limit)


@sync.command(name="tfhub")
@_source
@_json
def sync_tfhub(source, as_json) -> None:
    """Import the tfhub.dev catalog docs (Modules, Lite/Tfjs/Coral variants, Collections)."""
    _run("tfhub", as_json, source=source)


@sync.command(name="torchhub")
@_source
@_json
def sync_torchhub(source, as_json) -> None:
    """Import the pytorch/hub model docs (one record per entrypoint)."""
    _run("torchhub", as_json, source=source)


@sync.command(name="torchvision")
@_json
def sync_torchvision(as_json) -> None:
    """Import the installed torchvision's weights metadata (exact parameter counts)."""
    _run("torchvision", as_json)


@sync.command(name="timm")
@click.option("--no-counts", is_flag=True,
              help="Skip the parameter counts (each pretrained model built on the meta device; kept for the "
                   "next sync, so only the first one takes minutes).")
@click.option("--workers", type=click.IntRange(1, 64), metavar="N",
              help="Processes that build the models for the counts (default: one per core).")
@_json
def sync_timm(no_counts, workers, as_json) -> None:
    """Import the installed timm's pretrained configs (recorded under their hf: ids), with each
    model's parameter count."""
    _run("timm", as_json, count=not no_counts, workers=workers)


COMMANDS = [sync]
