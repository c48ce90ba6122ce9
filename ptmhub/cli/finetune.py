"""finetune-plan: what load_for_finetune would build, without training it."""

from __future__ import annotations

import click

from .output import echo_json, json_option

# the library accepts feature-extraction too (strategies.normalize), so the command does as well
STRATEGY_CHOICES = ("auto", "feature_extraction", "feature-extraction", "partial", "full")


def _shape(text: str | None) -> tuple[int | None, ...] | None:
    if text is None:
        return None
    from ..errors import UsageError

    text = text.strip().strip("()")
    if not text:
        return ()
    try:
        return tuple(None if p.strip() in ("none", "None", "?") else int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"cannot read {text!r} as a shape", hint="e.g. --input-shape 224,224,3") from None


@click.command(name="finetune-plan")
@click.argument("model_id", metavar="ID|PATH")
@click.option("--num-labels", type=click.IntRange(min=1), default=None, help="Outputs of the new head.")
@click.option("--head", "heads", multiple=True, metavar="NAME=N",
              help="Several heads on one shared backbone instead of --num-labels (repeat: --head a=2 --head b=3).")
@click.option("--task", default=None, metavar="TASK",
              help="text-classification, token-classification, image-classification, audio-classification "
                   "(transformers; default: from the model).")
@click.option("--train-size", type=click.IntRange(min=0), default=None, metavar="N",
              help="Labelled training examples: --strategy auto chooses by it.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), default="auto", show_default=True)
@click.option("--unfreeze-last", type=click.IntRange(min=0), default=None, metavar="N",
              help="Blocks 'partial' unfreezes (default: a quarter of them, rounded up).")
@click.option("--input-shape", default=None, metavar="D,D,...",
              help="TF Hub only, when the SavedModel does not say: the input shape without the batch axis.")
@click.option("--trust", is_flag=True, help="torch.hub only: allow running the repository's hubconf.py.")
@json_option
def finetune_plan(model_id: str, num_labels: int | None, heads: tuple[str, ...], task: str | None,
                  train_size: int | None, strategy: str, unfreeze_last: int | None, input_shape: str | None,
                  trust: bool, as_json: bool) -> None:
    """Print the fine-tuning plan for a cached model or a local model folder: the new head, the
    strategy (and why), blocks unfrozen, trainable/frozen parameters and the suggested learning
    rate. Builds the model in memory to count exactly; trains nothing and downloads nothing."""
    from .. import api
    from ..errors import UsageError
    from ..finetune.heads import parse_head_option

    if heads and num_labels is not None:
        raise UsageError("give --num-labels or --head, not both")
    if not heads and num_labels is None:
        raise UsageError("finetune-plan needs --num-labels K (one head) or --head NAME=N (several)")
    kwargs: dict = {}
    shape = _shape(input_shape)
    if shape is not None:
        kwargs["input_shape"] = shape
    bundle = api.load_for_finetune(model_id, num_labels=num_labels,
                                   heads=[parse_head_option(h) for h in heads] if heads else None, task=task,
                                   strategy=strategy, train_size=train_size, unfreeze_last=unfreeze_last, trust=trust,
                                   **kwargs)
    plan = bundle.plan()
    plan["model_id"] = plan["model_id"] or model_id
    if as_json:
        echo_json(plan)
        return
    _print_plan(plan)


def _print_plan(plan: dict) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .output import _console

    total = plan["total_parameters"] or 1
    strategy = plan["strategy"]
    if plan["requested_strategy"] != strategy:
        strategy += f" (asked: {plan['requested_strategy']})"
    blocks = "-" if plan["blocks"] is None else f"{plan['unfrozen_blocks']} of {plan['blocks']} unfrozen"
    rows = [
        ("model", plan["model_id"]),
        ("adapter", f"{plan['adapter']} ({plan['framework']}, {plan['model_class']})"),
        ("task", plan["task"] or "-"),
        ("strategy", strategy),
        *([("head", f"{plan['head']} -> {plan['num_labels']} labels")] if not plan.get("heads") else
          [(f"head {h['name']}", f"{h['num_labels']} labels, {h['parameters']:,} parameters") for h in plan["heads"]]),
        ("blocks", blocks),
        ("trainable", f"{plan['trainable_parameters']:,} ({plan['trainable_parameters'] / total:.2%})"),
        ("frozen", f"{plan['frozen_parameters']:,}"),
        ("total", f"{plan['total_parameters']:,}"),
        ("learning rate", f"{plan['suggested_learning_rate']:g}"),
    ]
    table = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console = _console()
    console.print(table)
    console.print("notes:", highlight=False)
    for note in plan["notes"]:
        console.print(Text(f"  - {note}"), soft_wrap=True)


COMMANDS = [finetune_plan]
