"""resolve, show, search, ls."""

from __future__ import annotations

import click

from ..errors import UsageError
from .output import (count_option, echo_json, figure_column, format_options, json_option, parse_count, print_record,
                     print_records)


@click.command()
@click.argument("model_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--trust", is_flag=True, help="torch.hub only: allow running the repository's hubconf.py.")
@json_option
def resolve(model_ids: tuple[str, ...], trust: bool, as_json: bool) -> None:
    """Ask each model's hub about it and store the answer in the registry."""
    from .. import api
    from ..ids import parse

    ids = [parse(m) for m in model_ids]  # reject bad input before any network call
    records = [api.resolve(m, trust=trust) for m in ids]
    if as_json:
        from .output import echo_json

        echo_json(records[0].to_dict() if len(records) == 1 else [r.to_dict() for r in records])
    else:
        print_records(records)


@click.command()
@click.argument("model_id", metavar="ID")
@json_option
def show(model_id: str, as_json: bool) -> None:
    """Show everything the registry knows about a model (asks its hub on a miss when online)."""
    from .. import api

    print_record(api.show(model_id), as_json=as_json)


def _search_options(f):
    f = count_option("--offset", default=0, help="Skip the first N models.")(f)
    f = count_option("--limit", "-n", default=20, help="At most N models; 0 for all.")(f)
    f = click.option("--accuracy-on", metavar="DATASET[:METRIC]",
                     help="The figure --sort accuracy orders by (default: the first --min-accuracy, else the one "
                          "most matches publish), e.g. imagenet-1k:acc@1.")(f)
    f = click.option("--min-accuracy", "min_accuracy", multiple=True, metavar="DATASET[:METRIC]=V",
                     help="Only models publishing at least V on DATASET (accuracy unless METRIC; at most V for "
                          "error metrics such as wer), e.g. imagenet-1k:acc@1=80. Repeatable.")(f)
    f = click.option("--sort", type=click.Choice(["relevance", "downloads", "likes", "parameters", "name", "recent",
                                                  "accuracy"]),
                     default=None, help="Order (default: relevance with words, downloads without); accuracy: "
                                        "best published figure first (see --accuracy-on).")(f)
    f = click.option("--cached/--not-cached", default=None, help="Only models in (or not in) the local caches.")(f)
    f = click.option("--fine-tunable/--not-fine-tunable", default=None)(f)
    f = click.option("--max-params", metavar="N", help="At most N parameters (110M, 1.5B, 25557032).")(f)
    f = click.option("--min-params", metavar="N", help="At least N parameters.")(f)
    f = click.option("--include-unknown", is_flag=True,
                     help="With --min/--max-params: also models whose size no source gives (PARAMS '-').")(f)
    f = click.option("--framework", "--library", "framework", metavar="NAME",
                     help="pytorch, tensorflow, transformers, timm, ...")(f)
    f = click.option("--platform", "-p", metavar="NAME", help="huggingface|tfhub|kaggle|torchhub (or hf).")(f)
    f = click.option("--license", "-l", "license_", metavar="ID|GROUP",
                     help="A license id (apache-2.0) or group: permissive, commercial-ok, copyleft, "
                          "non-commercial, restricted, none.")(f)
    f = click.option("--task", "-t", metavar="TASK", help="e.g. text-classification, image-classification.")(f)
    return f


#: what to run to fill an empty registry (printed by search and ls when it has no model at all)
FILL_COMMANDS = (
    ("ptmhub sync torchvision", "torchvision's weights, exact parameter counts (needs ptmhub[torch])"),
    ("ptmhub sync timm", "timm's pretrained models (needs ptmhub[torch])"),
    ("ptmhub sync hf --limit 10000", "the 10,000 most downloaded Hugging Face models (needs ptmhub[hf])"),
    ("ptmhub sync tfhub --source PATH|URL", "the tfhub.dev catalog, from a checkout or archive of it"),
    ("ptmhub resolve ID...", "single models from any hub"),
)


def _shown(store) -> str:  # noqa: ANN001
    from ..platforms import shown_url

    return shown_url(store.url)


def _empty_registry_help(store) -> str:  # noqa: ANN001
    lines = [f"the registry {_shown(store)} is empty; fill it with:"]
    lines += [f"  {command:<38} # {what}" for command, what in FILL_COMMANDS]
    lines.append("or search the bundled example: ptmhub --db registry.db.example search ...")
    return "\n".join(lines)


def _run_search(words, task, license_, platform, framework, min_params, max_params, include_unknown, fine_tunable,
                cached, sort, min_accuracy, accuracy_on, limit, offset, as_json, as_csv, default_sort):
    from .. import api
    from ..registry.store import SearchQuery

    q = " ".join(words) or None
    kwargs = dict(task=task, license=license_, platform=platform, framework=framework,
                  min_parameters=parse_count(min_params, "--min-params"),
                  max_parameters=parse_count(max_params, "--max-params"), include_unknown=include_unknown,
                  fine_tunable=fine_tunable, cached=cached, min_accuracy=tuple(min_accuracy), accuracy_on=accuracy_on)
    sort = sort or ("accuracy" if min_accuracy or accuracy_on else default_sort if q is None else "relevance")
    everything = limit == 0
    if everything:
        limit = 2**62  # --limit 0: all of them (a LIMIT the database takes, never reached)
    store = api.get_store()
    basis = None
    if sort == "accuracy" or min_accuracy:  # the figure shown (and sorted by), chosen once
        basis = store.accuracy_basis(SearchQuery(q=q, sort=sort, **kwargs))
        kwargs["accuracy_on"] = basis
    try:
        records = api.search(q, sort=sort, limit=limit, offset=offset, **kwargs)
    except UsageError as exc:
        # "unknown task ... no model in the registry has it": on an empty registry, say how to fill it
        if "in the registry" not in exc.message or store.count(SearchQuery()) != 0:
            raise
        fill = ", ".join(f"'{command}'" for command, _ in FILL_COMMANDS[:4])
        raise UsageError(exc.message, hint=f"the registry {_shown(store)} is empty: fill it with {fill}") from None
    total = None
    query = SearchQuery(q=q, sort=sort, **kwargs)
    if len(records) == limit or (not records and offset):
        total = store.count(query)  # only when the page may not be all there is
    columns = []
    if basis is not None:
        columns.append(figure_column(basis))
        if sort == "accuracy" and not (as_json or as_csv):
            matches = total if total is not None else offset + len(records)  # no total: this page is the last
            click.echo(f"sorted by {basis[0]} {basis[1]}: {store.evaluated(query, basis):,} of "
                       f"{matches:,} matches publish it (the rest follow by downloads)", err=True)
    elif sort == "accuracy" and not (as_json or as_csv):
        click.echo("no match publishes a quality figure: sorted by downloads", err=True)
    print_records(records, as_json=as_json, as_csv=as_csv, total=total, offset=offset, columns=columns)
    if not records and not offset and store.count(SearchQuery()) == 0:
        click.echo(_empty_registry_help(store), err=True)


@click.command()
@click.argument("words", nargs=-1, metavar="[WORDS]...")
@_search_options
@format_options
def search(words, task, license_, platform, framework, min_params, max_params, include_unknown, fine_tunable, cached,
           sort, min_accuracy, accuracy_on, limit, offset, as_json, as_csv) -> None:
    """Search the registry: full-text WORDS (prefix-matched on id, name, summary, tags) plus filters."""
    _run_search(words, task, license_, platform, framework, min_params, max_params, include_unknown, fine_tunable,
                cached, sort, min_accuracy, accuracy_on, limit, offset, as_json, as_csv, default_sort="downloads")


@click.command(name="ls")
@_search_options
@format_options
def ls(task, license_, platform, framework, min_params, max_params, include_unknown, fine_tunable, cached,
       sort, min_accuracy, accuracy_on, limit, offset, as_json, as_csv) -> None:
    """List models in the registry (by name), with the same filters as search."""
    _run_search((), task, license_, platform, framework, min_params, max_params, include_unknown, fine_tunable,
                cached, sort, min_accuracy, accuracy_on, limit, offset, as_json, as_csv, default_sort="name")


@click.command()
@click.argument("model_id", metavar="ID")
@json_option
def lineage(model_id: str, as_json: bool) -> None:
    """Where a model comes from (HF base_model, timm fine-tune tags, TF Hub variants' parents), what
    in the registry was made from it, and license conflicts along the way."""
    from .. import api
    from ..records import human_count

    found = api.lineage(model_id)
    if as_json:
        echo_json(found.to_dict())
        return
    m = found.model
    click.echo(f"{m.id}  {m.license or 'license unknown'}  {human_count(m.parameters)}")
    for title, links, other in (("derives from", found.ancestors, "parent"), ("derived models", found.descendants,
                                                                               "child")):
        click.echo(f"{title}:" if links else f"{title}: none recorded")
        for link in links:
            who = getattr(link, other)
            lic = link.record.license if link.record is not None and link.record.license else "?"
            where = "" if link.record is not None else "  (not in the registry)"
            click.echo(f"  {'  ' * (link.depth - 1)}{who}  [{link.relation}]  {lic}  - {link.evidence}{where}")
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)


COMMANDS = [resolve, show, search, ls, lineage]
