"""The ``heads=`` argument of ``load_for_finetune``: several named task heads on one backbone.

This module imports no framework: arguments are checked before any model loads (the CLI's
``--head NAME=N`` options come through here too). The heads themselves are built by
:mod:`ptmhub.finetune.multihead`.

A head is given as ``name: num_labels`` or ``name: {"num_labels": N, "labels": [...]}`` (either
key may be left out when the other says the size).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

__all__ = ["HeadSpec", "HeadsArg", "normalize_heads", "parse_head_option"]

#: What ``heads=`` takes: ``{name: N | {"num_labels": N, "labels": [...]}}`` or ``(name, spec)`` pairs.
HeadsArg = Mapping[str, "int | Mapping[str, Any]"] | Iterable[tuple[str, Any]]

# a head's name becomes a key of an nn.ModuleDict: no dots, and none of the dict's own attributes
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_RESERVED = frozenset({"clear", "items", "keys", "pop", "update", "values", "forward", "training", "train", "eval",
                       "state_dict", "parameters", "modules", "children", "to", "type", "float", "double", "half",
                       "cuda", "cpu", "apply", "zero_grad", "extra_repr"})


@dataclass(frozen=True)
class HeadSpec:
    """One task head: its name, its number of outputs and the label names in id order."""

    name: str
    num_labels: int
    labels: tuple[str, ...]


def _size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"head {name!r}: num_labels must be a positive integer, not {value!r}")
    return value


def _spec(name: Any, value: Any) -> HeadSpec:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"bad head name {name!r}", hint="letters, digits, '_' and '-', starting with a letter or '_'")
    if name in _RESERVED:
        raise UsageError(f"head name {name!r} is reserved (a torch ModuleDict attribute)", hint="pick another name")
    labels: list[str] | None = None
    if isinstance(value, Mapping):
        unknown = set(value) - {"num_labels", "labels"}
        if unknown:
            raise UsageError(f"head {name!r}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                             hint="a head is N or {'num_labels': N, 'labels': [...]}")
        if value.get("labels") is not None:
            labels = [str(x) for x in value["labels"]]
        size = value.get("num_labels", len(labels) if labels is not None else None)
        if size is None:
            raise UsageError(f"head {name!r}: give num_labels or labels")
        size = _size(name, size)
    else:
        size = _size(name, value)
    if labels is not None:
        if len(labels) != size:
            raise UsageError(f"head {name!r}: {len(labels)} labels given for num_labels={size}",
                             hint="give one name per label, in label-id order")
        if len(set(labels)) != len(labels):
            raise UsageError(f"head {name!r}: label names must be unique")
    else:
        labels = [f"LABEL_{i}" for i in range(size)]
    return HeadSpec(name, size, tuple(labels))


def normalize_heads(heads: HeadsArg) -> tuple[HeadSpec, ...]:
    """Check ``heads`` (a mapping, or ``(name, spec)`` pairs) and return one spec per head, in order.

    Raises:
        UsageError: no heads, a bad or duplicate name, or a size that is not a positive integer.
    """
    if isinstance(heads, Mapping):
        pairs = list(heads.items())
    elif isinstance(heads, (str, bytes)) or not isinstance(heads, Iterable):
        raise UsageError(f"heads must be a dict of name -> num_labels, not {type(heads).__name__}",
                         hint="e.g. heads={'sentiment': 2, 'topic': 4}")
    else:
        pairs = []
        for item in heads:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise UsageError(f"heads: expected (name, num_labels) pairs, got {item!r}")
            pairs.append(item)
    if not pairs:
        raise UsageError("heads is empty", hint="give at least one head, e.g. heads={'sentiment': 2}")
    seen: set[str] = set()
    specs = []
    for name, value in pairs:
        if name in seen:
            raise UsageError(f"head {name!r} is given twice", hint="each head needs its own name")
        seen.add(name)
        specs.append(_spec(name, value))
    return tuple(specs)


def parse_head_option(text: str) -> tuple[str, int]:
    """``NAME=N`` (the CLI's ``--head``) -> ``(NAME, N)``; the name and size are checked by
    :func:`normalize_heads`.

    Raises:
        UsageError: no ``=``, or N is not an integer.
    """
    name, sep, size = text.partition("=")
    if not sep:
        raise UsageError(f"cannot read --head {text!r}", hint="write --head NAME=N, e.g. --head sentiment=2")
    try:
        return name.strip(), int(size)
    except ValueError:
        raise UsageError(f"--head {text!r}: {size!r} is not a number of labels",
                         hint="write --head NAME=N, e.g. --head sentiment=2") from None
