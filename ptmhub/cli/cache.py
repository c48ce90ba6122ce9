"""cache scan|ls|verify|rm|prune, and add: the native caches and local model folders."""

from __future__ import annotations

import click

from ..hubs.base import NATIVE_CACHES
from .output import echo_json, json_option, render_table


def _bytes(n: int | None) -> str:
    from ..records import human_bytes

    return human_bytes(n)


def _print_problems(problems, *, limit: int = 50) -> None:  # noqa: ANN001
    if not problems:
        return
    click.echo(f"{len(problems)} problem(s) (these files and folders count as no cached model):", err=True)
    for p in problems[:limit]:
        click.echo(f"  {p}", err=True)
    if len(problems) > limit:
        click.echo(f"  ... and {len(problems) - limit} more (--json lists them all)", err=True)


@click.group(name="cache")
def cache_group() -> None:
    """The native caches (HF_HUB_CACHE, TORCH_HOME/hub, TFHUB_CACHE_DIR, KAGGLEHUB_CACHE) as one."""


@cache_group.command(name="scan")
@click.option("--cache", "caches", multiple=True, type=click.Choice(list(NATIVE_CACHES)),
              help="Only these caches (repeatable; default: all).")
@json_option
def cache_scan(caches: tuple[str, ...], as_json: bool) -> None:
    """Find the models other tools (or ptmhub) downloaded, register them with what their files tell,
    and report incomplete downloads and foreign files."""
    from .. import api, cache

    report = cache.scan(caches=caches or None, store=api.get_store())
    if as_json:
        echo_json(report.to_dict())
        return
    inv = report.inventory
    by_cache: dict[str, list] = {}
    for m in inv.models:
        by_cache.setdefault(m.cache, []).append(m)
    for name, root in inv.roots.items():
        models = by_cache.get(name, [])
        click.echo(f"{name:<10} {len({m.key for m in models}):>4} model(s)  {_bytes(sum(cache.units(models).values())):>10}"
                   f"  {root}")
    if by_cache.get("local"):
        click.echo(f"{'local':<10} {len(by_cache['local']):>4} folder(s)")
    click.echo(f"registered {len(report.registered)}, updated {len(report.updated)}, "
               f"marked not cached {len(report.uncached)} in {report.seconds:.2f} s")
    for key in report.uncached:
        click.echo(f"  no longer cached: {key}")
    _print_problems(report.problems)


@cache_group.command(name="ls")
@json_option
def cache_ls(as_json: bool) -> None:
    """List cached models with their size and last use (largest first)."""
    from .. import api, cache

    rows, inv = cache.ls(store=api.get_store())
    if as_json:
        echo_json({"models": rows, "problems": [p.to_dict() for p in inv.problems]})
        return
    if not rows:
        click.echo("nothing cached", err=True)
    else:
        table = [[r["id"], r["cache"], _bytes(r["size_bytes"]), (r["last_used"] or "-")[:16],
                  (r["last_accessed"] or "-")[:16], "" if r["registered"] else "no"] for r in rows]
        click.echo(render_table(["ID", "CACHE", "SIZE", "LAST USED", "LAST ACCESS", "REGISTERED"], table,
                                right={"SIZE"}))
        click.echo(f"{len(rows)} model(s), {_bytes(sum(r['size_bytes'] for r in rows))}", err=True)
    if inv.problems:
        click.echo(f"{len(inv.problems)} incomplete or foreign item(s): see 'ptmhub cache scan'", err=True)


@cache_group.command(name="verify")
@click.argument("model_id", metavar="[ID]", required=False)
@json_option
def cache_verify(model_id: str | None, as_json: bool) -> None:
    """Check cached files against the hashes their hub published (exit code 7 on a mismatch)."""
    from .. import api, cache
    from ..errors import IntegrityError

    reports = cache.verify(model_id, store=api.get_store())
    if as_json:
        echo_json([r.to_dict() for r in reports])
    else:
        for r in reports:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(r.counts.items()))
            click.echo(f"{'OK ' if r.ok else 'BAD'} {r.model_id}: {counts or 'no files'}")
            for c in r.checks:
                if c.status in ("mismatch", "missing"):
                    click.echo(f"    {c.status}: {c.name} ({c.method}: expected {c.expected}, got {c.actual})")
            if r.note and any(c.status == "unverifiable" for c in r.checks):
                click.echo(f"    note: {r.note}")
    bad = [r for r in reports if not r.ok]
    if bad:
        files = sum(1 for r in bad for c in r.checks if c.status in ("mismatch", "missing"))
        first = bad[0].model_id
        raise IntegrityError(f"{files} cached file(s) of {len(bad)} model(s) failed verification ({first} ...)",
                             hint=f"remove and download again: 'ptmhub cache rm {first}' then 'ptmhub pull {first}'")


@cache_group.command(name="rm")
@click.argument("model_id", metavar="ID")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def cache_rm(model_id: str, dry_run: bool, as_json: bool) -> None:
    """Remove a model from its native cache (the registry keeps its metadata)."""
    from .. import api, cache

    removals = cache.rm(model_id, dry_run=dry_run, store=api.get_store())
    if as_json:
        echo_json([r.to_dict() for r in removals])
        return
    verb = "would remove" if dry_run else "removed"
    for r in removals:
        click.echo(f"{verb} {', '.join(r.model_ids)}: {_bytes(r.size_bytes)} ({r.how})")
        for path in r.paths:
            click.echo(f"    {path}")


@cache_group.command(name="prune")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), metavar="DAYS",
              help="Remove models not used for more than DAYS days.")
@click.option("--max-size", metavar="SIZE", help="Then remove the least recently used until the caches fit in SIZE "
                                                 "(bytes, or 500M, 10G, 1.5T).")
@click.option("--incomplete", is_flag=True, help="Also remove what interrupted downloads left (untouched for an hour).")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def cache_prune(older_than: float | None, max_size: str | None, incomplete: bool, dry_run: bool,
                as_json: bool) -> None:
    """Free space: remove models by age (last use) and/or down to a total size budget."""
    from .. import api, cache

    report = cache.prune(older_than_days=older_than, max_size=max_size, incomplete=incomplete, dry_run=dry_run,
                         store=api.get_store())
    if as_json:
        echo_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for r in report.removed:
        if r.how == "partial download removed":
            click.echo(f"{verb} {', '.join(r.paths)}: {_bytes(r.size_bytes)} ({r.reason})")
            continue
        click.echo(f"{verb} {', '.join(r.model_ids)}: {_bytes(r.size_bytes)}, last used {r.last_used or '-'} "
                   f"({r.reason})")
    click.echo(f"{'would free' if dry_run else 'freed'} {_bytes(report.freed_bytes)}: "
               f"{_bytes(report.total_before)} -> {_bytes(report.total_after)}")


@click.command(name="add")
@click.argument("path", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--id", "model_id", metavar="ID",
              help="local:NAME (default: from the folder's name) or hf:OWNER/NAME[@COMMIT] to copy the folder "
                   "into the Hugging Face cache.")
@json_option
def add(path: str, model_id: str | None, as_json: bool) -> None:
    """Register a local model folder (a fine-tuned model, or one shipped in a Python package)."""
    from .. import api
    from ..records import human_count

    record = api.add(path, model_id=model_id)
    if as_json:
        echo_json(record.to_dict())
        return
    facts = [f"{human_count(record.parameters)} parameters" if record.parameters is not None else None,
             record.library, record.task, record.license]
    click.echo(f"{record.id}: {record.cache_path} ({', '.join(f for f in facts if f)})")


COMMANDS = [cache_group, add]
