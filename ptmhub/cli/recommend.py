"""recommend: ranked cross-hub picks for a task and a budget, with evidence and a fine-tune plan."""

from __future__ import annotations

import math

import click

from ..errors import UsageError
from .output import count_option, echo_json, json_option, parse_count, render_table


def _gflops(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().lower().removesuffix("gflops").strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"cannot read {text[:40]!r} as a GFLOPs budget for --max-gflops", hint="e.g. --max-gflops 5")
    return value


@click.command()
@click.option("--task", "-t", required=True, metavar="TASK", help="e.g. image-classification, text-classification.")
@click.option("--license", "-l", "license_", metavar="ID|GROUP",
              help="A license id or group: permissive, commercial-ok, copyleft, non-commercial, restricted.")
@click.option("--max-params", metavar="N", help="Parameter budget (110M, 1.5B, 25557032).")
@click.option("--max-gflops", metavar="X", help="Compute budget per forward pass, in GFLOPs.")
@click.option("--framework", "--library", "framework", metavar="NAME", help="pytorch, tensorflow, transformers, timm, ...")
@click.option("--platform", "-p", metavar="NAME", help="Only one hub (huggingface|tfhub|kaggle|torchhub|modelscope).")
@click.option("--train-size", type=click.IntRange(min=0), metavar="N",
              help="Labelled training examples: decides the fine-tuning plan's strategy.")
@click.option("--num-labels", type=click.IntRange(min=1), metavar="K", help="Classes of your task (for the plan).")
@click.option("--accuracy-on", metavar="DATASET[:METRIC]",
              help="The figure quality is ranked by (default: the one most candidates publish).")
@click.option("--include-unknown", is_flag=True, help="Keep models whose size or compute is unknown under a budget.")
@count_option("--limit", "-n", default=10, help="Picks to list.")
@count_option("--plans", default=3, help="Top picks that get a fine-tuning plan.")
@click.option("--html", "html_path", metavar="FILE",
              help="Also write a self-contained HTML page: the ranking and the accuracy-size Pareto chart.")
@json_option
def recommend(task, license_, max_params, max_gflops, framework, platform, train_size, num_labels, accuracy_on,
              include_unknown, limit, plans, html_path, as_json) -> None:
    """Rank the registry's models for a task across hubs: published accuracy, accuracy per
    parameter, popularity and license verdict, each rank with its evidence, and a fine-tuning
    plan for the top picks. Reads the registry only."""
    from .. import api

    found = api.recommend(task, license=license_, max_parameters=parse_count(max_params, "--max-params"),
                          max_gflops=_gflops(max_gflops), framework=framework, platform=platform,
                          train_size=train_size, num_labels=num_labels, accuracy_on=accuracy_on,
                          include_unknown=include_unknown, limit=limit, plans=plans)
    if html_path:
        from ..report import recommendation_html, write_html

        text = recommendation_html(found, database=api.get_store().url)
        target = write_html(html_path, text)
        click.echo(f"wrote {target} ({len(text.encode()):,} bytes)", err=True)
    if as_json:
        echo_json(found.to_dict())
        return
    _print(found)


def _print(found) -> None:  # noqa: ANN001 - a Recommendation
    from ..records import human_count

    if not found.picks:
        click.echo(f"no model in the registry fits: {found.matched:,} match the filters", err=True)
        for note in found.notes:
            click.echo(f"note: {note}", err=True)
        return
    figure = f"{found.basis[1]} on {found.basis[0]}" if found.basis else "no published figure"
    click.echo(f"{found.task}: {found.candidates:,} candidates, ranked by {figure}, accuracy per parameter, "
               "popularity and license (docs/recommend.md)")
    rows = []
    for p in found.picks:
        r = p.record
        rows.append([str(p.rank), r.id, human_count(r.parameters),
                     f"{p.figure.value:g}" if p.figure is not None else "-",
                     f"{r.gflops:g}" if r.gflops is not None else "-", r.license or "-",
                     "yes" if p.pareto else "", f"{p.score:.2f}"])
    click.echo(render_table(["#", "ID", "PARAMS", "FIGURE", "GFLOPS", "LICENSE", "PARETO", "SCORE"], rows,
                            right={"#", "PARAMS", "FIGURE", "GFLOPS", "SCORE"}))
    for p in found.picks:
        click.echo(f"\n{p.rank}. {p.record.id}")
        for line in p.evidence:
            click.echo(f"   - {line}")
        if p.plan:
            plan = p.plan
            click.echo(f"   plan: {plan['strategy']} at learning rate {plan['learning_rate']:g} ({plan['why']})")
            for step in plan["steps"]:
                click.echo(f"     $ {step}" if not step.startswith("bundle") else f"     >>> {step}")
    for note in found.notes:
        click.echo(f"note: {note}", err=True)


COMMANDS = [recommend]
