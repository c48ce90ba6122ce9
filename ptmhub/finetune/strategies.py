"""Freeze strategies, the ``auto`` thresholds and the suggested learning rates.

This module imports no framework: the CLI and the docs read it directly. The numbers, and the
measurements and papers behind them, are in docs/finetune.md; each constant says which part.

Strategies (the seeds' transfer-learning recipe: keep the pretrained body, add a new head,
freeze according to how much labelled data there is):

``feature_extraction``
    Freeze the whole body; train only the new head. Cheapest and the most stable with little
    data (nothing pretrained can be damaged by a few noisy gradients).
``partial``
    Also unfreeze the last N blocks (encoder layers, residual blocks, ...) and whatever follows
    them in the body (final norm, pooler). N comes from ``unfreeze_last`` or
    :func:`default_unfreeze_last` (a quarter of the blocks, rounded up).
``full``
    Train every parameter, with a low learning rate.
``auto``
    Pick one of the three from ``train_size`` by :data:`THRESHOLDS`, and say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError

__all__ = [
    "STRATEGIES", "THRESHOLDS", "MODALITIES", "LEARNING_RATES", "FAMILIES", "Choice", "choose", "default_unfreeze_last",
    "suggested_learning_rate", "check_strategy", "modality_of",
]

#: The strategies a caller may ask for (``auto`` resolves to one of the other three).
STRATEGIES = ("feature_extraction", "partial", "full", "auto")

#: ``auto``: labelled training examples below ``partial`` -> feature_extraction; below ``full``
#: -> partial; from ``full`` on -> full. ``text``: text classification heads (transformers
#: sequence / token classification, sentence-transformers), measured on the worked example;
#: ``default``: everything else (images, audio, TF Hub), from the literature. Why these numbers:
#: docs/finetune.md#thresholds.
THRESHOLDS: dict[str, dict[str, int]] = {
    "text": {"partial": 100, "full": 300},
    "default": {"partial": 1_000, "full": 10_000},
}
MODALITIES = tuple(THRESHOLDS)

#: Model families whose learning rates differ. ``transformer``: BERT-like encoders and ViTs
#: fine-tuned as token/sequence models; ``sentence-embedding``: a linear head on a
#: unit-normalised sentence embedding (sentence-transformers); ``convnet``: CNNs and other
#: image backbones from torchvision / timm / TF Hub; ``other``: anything else.
FAMILIES = ("transformer", "sentence-embedding", "convnet", "other")

#: Suggested peak learning rates for AdamW (Adam for Keras), batch size 16-32, linear decay or
#: constant. Sources and measurements: docs/finetune.md#learning-rates.
LEARNING_RATES: dict[str, dict[str, float]] = {
    # Devlin et al. 2019 grid {5e-5, 3e-5, 2e-5} for full fine-tuning; a head alone is a linear
    # probe (1e-3, the Adam default); with most of the body frozen a larger step is stable (the
    # measured MiniLM optimum was 3e-4; 1e-4 stays between that and the BERT grid).
    "transformer": {"feature_extraction": 1e-3, "partial": 1e-4, "full": 2e-5},
    # Measured on the worked example (all-MiniLM-L6-v2, 320 examples, 120 steps of 16): the best
    # of each strategy's grid. A probe on unit-norm embeddings needs a large step; 1e-3 for
    # partial won one seed and diverged on the other, 3e-4 was stable.
    "sentence-embedding": {"feature_extraction": 1e-1, "partial": 3e-4, "full": 2e-5},
    # PyTorch's transfer-learning tutorial (SGD 1e-3, momentum 0.9 ~ Adam 1e-4 for the body) and
    # the Keras transfer-learning guide (Adam 1e-3 for the new head, much lower for the body).
    "convnet": {"feature_extraction": 1e-3, "partial": 1e-4, "full": 1e-4},
    "other": {"feature_extraction": 1e-3, "partial": 1e-4, "full": 5e-5},
}


@dataclass(frozen=True)
class Choice:
    """A resolved strategy and the sentence that explains it."""

    strategy: str          # feature_extraction | partial | full
    requested: str         # what the caller asked for (may be "auto")
    reason: str            # one sentence, for notes and the CLI


def check_strategy(strategy: str) -> str:
    """Normalise a strategy name (``feature-extraction`` and ``feature_extraction`` both work).

    Raises:
        UsageError: an unknown strategy.
    """
    name = (strategy or "").strip().lower().replace("-", "_")
    aliases = {"fe": "feature_extraction", "features": "feature_extraction", "frozen": "feature_extraction",
               "head": "feature_extraction", "linear_probe": "feature_extraction", "fine_tune": "full",
               "finetune": "full", "all": "full"}
    name = aliases.get(name, name)
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}", hint="one of " + ", ".join(STRATEGIES))
    return name


def choose(strategy: str = "auto", *, train_size: int | None = None, modality: str = "default") -> Choice:
    """Resolve ``strategy``; ``auto`` goes by ``train_size`` and ``THRESHOLDS[modality]``.

    Raises:
        UsageError: an unknown strategy or modality, or a negative ``train_size``.
    """
    requested = check_strategy(strategy)
    if train_size is not None and (isinstance(train_size, bool) or train_size < 0):
        raise UsageError(f"train_size must be zero or more, not {train_size!r}")
    if modality not in THRESHOLDS:
        raise UsageError(f"unknown modality {modality!r}", hint="one of " + ", ".join(THRESHOLDS))
    if requested != "auto":
        return Choice(requested, requested, f"{requested} as requested")
    low, high = THRESHOLDS[modality]["partial"], THRESHOLDS[modality]["full"]
    where = f"{modality} thresholds {low:,} / {high:,}"
    if train_size is None:
        return Choice("feature_extraction", "auto",
                      "auto without train_size: assumed a small data set, so feature_extraction "
                      "(pass train_size to choose by data size)")
    if train_size < low:
        return Choice("feature_extraction", "auto",
                      f"auto: {train_size:,} labelled examples < {low:,} ({where}), so feature_extraction "
                      "(too little data to move the body without overfitting it)")
    if train_size < high:
        return Choice("partial", "auto",
                      f"auto: {low:,} <= {train_size:,} labelled examples < {high:,} ({where}), so partial "
                      "(enough data to adapt the top blocks, not yet the whole body)")
    return Choice("full", "auto",
                  f"auto: {train_size:,} labelled examples >= {high:,} ({where}), so full fine-tuning")


def default_unfreeze_last(num_blocks: int) -> int:
    """How many of the last blocks ``partial`` unfreezes by default: a quarter, rounded up
    (3 of BERT-base's 12 layers, 2 of MiniLM-L6's 6, 2 of ResNet-18's 8 basic blocks).

    Lee et al. 2019 ("What would Elsa do? Freezing layers during transformer fine-tuning")
    recover about 90% of full fine-tuning's quality by training only the last quarter of layers.
    """
    if num_blocks <= 0:
        return 0
    return max(1, math.ceil(num_blocks / 4))


def suggested_learning_rate(strategy: str, family: str = "other") -> float:
    """The peak learning rate for ``strategy`` on a model of ``family`` (see
    :data:`LEARNING_RATES`)."""
    table = LEARNING_RATES.get(family, LEARNING_RATES["other"])
    return table[check_strategy(strategy) if strategy != "auto" else "feature_extraction"]


def modality_of(task: str | None) -> str:
    """The :data:`THRESHOLDS` row for a record's task: ``text`` for text tasks (classification,
    tokens, sentence embeddings, fill-mask), ``default`` for everything else."""
    task = task or ""
    return "text" if task.startswith(("text", "token", "sentence", "fill-mask", "feature-extraction")) else "default"
