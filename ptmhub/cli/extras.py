"""Which ``pip install 'ptmhub[EXTRA]'`` brings a module: the CLI turns an ImportError that
escapes a command into one line naming the extra (``make run`` installs the core only).

Kept free of imports beyond the standard library: it runs when something failed to import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import click

from ..errors import MissingDependencyError

#: top-level module -> (extra, the library a user knows it by). A dependency of a hub library
#: (httpx2 comes with huggingface_hub) is reported as that library when it is missing too.
MODULE_EXTRAS: dict[str, tuple[str, str]] = {
    "huggingface_hub": ("hf", "huggingface_hub"),
    "httpx2": ("hf", "huggingface_hub"),
    "httpcore2": ("hf", "huggingface_hub"),
    "hf_xet": ("hf", "huggingface_hub"),
    "safetensors": ("hf", "safetensors"),
    "torch": ("torch", "torch"),
    "torchvision": ("torch", "torchvision"),
    "timm": ("torch", "timm"),
    "tensorflow": ("tf", "tensorflow"),
    "tf_keras": ("tf", "tf_keras"),
    "keras": ("tf", "tensorflow"),
    "tensorflow_hub": ("tf", "tensorflow_hub"),
    "kagglehub": ("tf", "kagglehub"),
    "kagglesdk": ("tf", "kagglehub"),
    "transformers": ("transformers", "transformers"),
    "tokenizers": ("transformers", "transformers"),
    "psycopg": ("postgres", "psycopg"),
    "psycopg_binary": ("postgres", "psycopg"),
    "sentence_transformers": ("st", "sentence_transformers"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "onnxscript": ("onnx", "onnxscript"),
    "onnx_ir": ("onnx", "onnxscript"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_dependency(exc: ImportError, command: str) -> MissingDependencyError:
    """The :class:`MissingDependencyError` for an ImportError raised while ``command`` ran.

    A module no extra is known for (numpy, which several bring; a broken install) still gets one
    line, naming the ``all`` extra.
    """
    name = (exc.name or "").split(".")[0]
    if not name:  # "cannot import name X" without a module name: take it from the message
        text = str(exc)
        name = text.split("'")[1].split(".")[0] if text.count("'") >= 2 else text
    extra, library = MODULE_EXTRAS.get(name, ("all", name))
    package = library if library != name and not _installed(library) else name
    return MissingDependencyError(package, extra, purpose=command)


def command_path(argv: Sequence[str], group: click.Group) -> str:
    """``ptmhub sync timm`` from the arguments (options and their values skipped)."""
    words = ["ptmhub"]
    command: click.Command = group
    args = list(argv)
    i = 0
    while i < len(args) and isinstance(command, click.Group):
        arg = args[i]
        i += 1
        if arg.startswith("-"):
            opt = next((p for p in command.params if isinstance(p, click.Option) and arg.split("=")[0] in p.opts),
                       None)
            if opt is not None and not opt.is_flag and "=" not in arg:
                i += 1  # its value
            continue
        sub = command.commands.get(arg)
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)
