"""pull, load, trust, entrypoints: commands that reach a hub or its cache."""

from __future__ import annotations

import click

from .output import echo_json, json_option


trust_option = click.option("--trust", is_flag=True,
                            help="torch.hub only: run this repository's hubconf.py even though it is not in the trust list.")


@click.command()
@click.argument("model_id", metavar="ID")
@trust_option
@json_option
def pull(model_id: str, trust: bool, as_json: bool) -> None:
    """Download a model into its hub's own cache (HF_HOME, TORCH_HOME, TFHUB_CACHE_DIR, KAGGLEHUB_CACHE)."""
    from .. import api
    from ..ids import parse

    from .progress import Interrupted, Progress

    mid = parse(model_id)
    progress = Progress(f"pull {mid}", unit="bytes", enabled=None if not as_json else False)
    try:
        with progress:
            result = api.pull(mid, trust=trust, progress=progress)
    except KeyboardInterrupt:
        # the hubs' libraries download to temporary names: nothing looks complete, nothing is marked cached
        raise Interrupted(f"interrupted: {progress.amount()} downloaded, {mid} is not marked cached; "
                          "run the same command again to finish") from None
    if as_json:
        echo_json({**result.record.to_dict(), "path": result.path, "bytes_downloaded": result.bytes_downloaded})
        return
    click.echo(f"{result.record.id}: cached at {result.path} ({result.bytes_downloaded:,} bytes downloaded)")


@click.command()
@click.argument("model_id", metavar="ID")
@trust_option
@json_option
def load(model_id: str, trust: bool, as_json: bool) -> None:
    """Load a model from the native cache (works offline) and describe what was loaded."""
    from .. import api

    loaded = api.load(model_id, trust=trust)
    info = {"id": str(model_id), "framework": loaded.framework, "model": type(loaded.model).__name__,
            "preprocess": type(loaded.preprocess).__name__ if loaded.preprocess is not None else None}
    if as_json:
        echo_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value if value is not None else '-'}")


@click.group()
def trust() -> None:
    """Manage which torch.hub repositories' code ptmhub may run."""


@trust.command(name="add")
@click.argument("repo", metavar="OWNER/REPO")
def trust_add(repo: str) -> None:
    """Trust OWNER/REPO (or every repository of OWNER/*): its hubconf.py may be imported."""
    from .. import api

    click.echo(f"trusted {api.trust(repo)}")


@trust.command(name="rm")
@click.argument("repo", metavar="OWNER/REPO")
def trust_rm(repo: str) -> None:
    """Stop trusting OWNER/REPO."""
    from .. import api

    removed = api.untrust(repo)
    click.echo(f"no longer trusted: {removed}")


@trust.command(name="ls")
@json_option
def trust_ls(as_json: bool) -> None:
    """List trusted repositories (the registry's list plus torch.hub's own trusted owners)."""
    from .. import api

    rows = api.trusted()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['repo']}\t{row['source']}")


@click.command()
@click.argument("repo", metavar="OWNER/REPO[:REF]")
@trust_option
@json_option
def entrypoints(repo: str, trust: bool, as_json: bool) -> None:
    """List a torch.hub repository's entrypoints (read statically, without running it, unless trusted)."""
    from .. import api

    rows = api.entrypoints(repo, trust=trust)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        first = (row.get("doc") or "").strip().splitlines()
        click.echo(f"{row['name']}\t{first[0] if first else ''}")


COMMANDS = [pull, load, trust, entrypoints]
