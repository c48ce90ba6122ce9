"""export onnx: a torch / transformers model to one ONNX file, checked in onnxruntime."""

from __future__ import annotations

import click

from .output import echo_json, json_option

#: the API's default (ptmhub.export.DEFAULT_ATOL), repeated so --help imports no framework
DEFAULT_ATOL = 1e-4


@click.group(name="export")
def export_group() -> None:
    """Export a model to another format."""


@export_group.command(name="onnx")
@click.argument("model_id", metavar="ID|PATH")
@click.option("-o", "--output", default=None, metavar="OUT.onnx",
              help="The file to write, or a folder for NAME.onnx (default: NAME.onnx here).")
@click.option("--opset", type=click.IntRange(min=7), default=None, metavar="N",
              help="ONNX opset (default: the exporter's, 20 with torch 2.14; below 18 converted).")
@click.option("--atol", type=click.FloatRange(min=0), default=DEFAULT_ATOL, show_default=True, metavar="X",
              help="Largest absolute difference from torch accepted on any output.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--trust", is_flag=True, help="torch.hub only: allow running the repository's hubconf.py.")
@json_option
def export_onnx(model_id: str, output: str | None, opset: int | None, atol: float, force: bool, trust: bool,
                as_json: bool) -> None:
    """Export a cached model or a model folder (transformers, sentence-transformers, timm,
    torchvision) to ONNX with dynamic batch (and sequence) axes, run it in onnxruntime on two
    input shapes and write it only if every output is within --atol of torch's. Downloads
    nothing; TensorFlow models are refused."""
    from .. import api

    report = api.export_onnx(model_id, output, opset=opset, atol=atol, force=force, trust=trust)
    if as_json:
        echo_json(report.to_dict())
        return
    from ..records import human_bytes

    def shape(spec) -> str:
        return f"{spec.name} [{', '.join(str(d) for d in spec.shape)}] {spec.dtype}"

    click.echo(f"wrote {report.output}")
    rows = [
        ("source", f"{report.source} ({report.kind}, {report.model_class})"),
        ("opset", report.opset),
        ("size", f"{human_bytes(report.file_size_bytes)} ({report.file_size_bytes:,} bytes)"),
        *(("input", shape(s)) for s in report.inputs),
        *(("output", shape(s)) for s in report.outputs),
        *(("max abs diff", f"{name} {diff:.3g} (atol {report.atol:g})")
          for name, diff in report.max_abs_diff.items()),
        ("checked on", "; ".join(", ".join(f"{n} {list(s)}" for n, s in c.input_shapes.items())
                                 for c in report.checks)),
        ("seconds", f"export {report.export_seconds:.1f}, onnxruntime check {report.check_seconds:.1f}"),
    ]
    for key, value in rows:
        click.echo(f"{key + ':':<14}{value}")


COMMANDS = [export_group]
