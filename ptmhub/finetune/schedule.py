"""A two-phase schedule for your own training loop: the head first, then the body at a lower rate.

Phase 1 trains only the new head(s) with the body frozen, at the head's learning rate (the
``feature_extraction`` rate of the model's family); phase 2 unfreezes what the bundle's strategy
unfroze (``partial``: the top blocks; ``full``: everything) and trains it all at the strategy's
own, lower learning rate. The idea is Howard & Ruder's (2018) gradual unfreezing in two steps,
and Kumar et al.'s (2022) LP-FT (linear probing, then fine-tuning): a random head's first large
gradients do not reach the pretrained body.

::

    bundle = ptmhub.load_for_finetune(folder, num_labels=2, strategy="full")
    schedule = two_phase(bundle, head_steps=40)
    optimizer = torch.optim.AdamW(schedule.start(1))       # body frozen, head at schedule.head_lr
    ...                                                    # 40 steps
    optimizer = torch.optim.AdamW(schedule.start(2))       # body unfrozen, everything at schedule.lr

``start(phase)`` sets ``requires_grad`` and returns torch.optim parameter groups (each with its
``lr`` and a ``name``: ``head`` or ``body``). PyTorch only: a TensorFlow bundle is refused (a
``hub.KerasLayer`` trains or freezes as a whole: set ``layer.trainable`` and recompile yourself).

This module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .strategies import suggested_learning_rate

__all__ = ["TwoPhase", "two_phase"]


@dataclass
class TwoPhase:
    """The two phases of a bundle's training (made by :func:`two_phase`)."""

    model: Any
    head_steps: int            # phase 1's length, in the caller's unit (steps or epochs)
    head_lr: float             # phase 1: the head(s)
    lr: float                  # phase 2: the head(s) and the unfrozen body
    strategy: str              # what phase 2 unfreezes (the bundle's strategy)
    unit: str = "steps"
    head_parameters: int = 0
    trainable_parameters: int = 0  # phase 2
    _head: list[Any] = field(default_factory=list, repr=False)
    _body: list[Any] = field(default_factory=list, repr=False)  # trainable in phase 2

    def phase_at(self, step: int) -> int:
        """1 for the first ``head_steps`` steps (or epochs), then 2."""
        return 1 if step < self.head_steps else 2

    def start(self, phase: int) -> list[dict[str, Any]]:
        """Set ``requires_grad`` for ``phase`` (1 or 2) and return its parameter groups.

        Raises:
            UsageError: a phase other than 1 or 2.
        """
        if phase not in (1, 2):
            raise UsageError(f"a two-phase schedule has phases 1 and 2, not {phase!r}")
        head_ids = {id(p) for p in self._head}
        body_ids = {id(p) for p in self._body} if phase == 2 else set()
        for p in self.model.parameters():
            p.requires_grad = id(p) in head_ids or id(p) in body_ids
        if phase == 1:
            return [{"params": list(self._head), "lr": self.head_lr, "name": "head"}]
        return [{"params": list(self._head), "lr": self.lr, "name": "head"},
                {"params": list(self._body), "lr": self.lr, "name": "body"}]

    def plan(self) -> list[dict[str, Any]]:
        """The phases as plain data (``bundle.plan()["phases"]``)."""
        return [{"phase": 1, "trains": "head", "trainable_parameters": self.head_parameters,
                 "learning_rate": self.head_lr, "length": self.head_steps, "unit": self.unit},
                {"phase": 2, "trains": f"head and body ({self.strategy})",
                 "trainable_parameters": self.trainable_parameters, "learning_rate": self.lr, "length": None,
                 "unit": self.unit}]


def two_phase(bundle: Any, *, head_steps: int, head_lr: float | None = None, lr: float | None = None,
              unit: str = "steps") -> TwoPhase:
    """A two-phase schedule for ``bundle`` (a PyTorch :class:`~ptmhub.finetune.FinetuneBundle`, as
    ``load_for_finetune`` returned it: its ``requires_grad`` flags say what phase 2 trains). The
    bundle's ``plan()`` reports the phases from then on.

    Args:
        head_steps: phase 1's length (steps, or epochs with ``unit="epochs"``); phase 2 is the rest.
        head_lr: phase 1's learning rate (default: the ``feature_extraction`` rate of the
            model's family, docs/finetune.md#learning-rates).
        lr: phase 2's learning rate (default: the bundle's ``suggested_learning_rate``, the
            strategy's own rate, lower than the head's).

    Raises:
        UsageError: a TensorFlow bundle, a ``feature_extraction`` bundle (nothing to unfreeze),
            a bad length or learning rate, or a head that cannot be found in the model.
    """
    if bundle.framework != "pytorch":
        raise UsageError("two_phase works on PyTorch models",
                         hint="Keras: train with the hub.KerasLayer's trainable=False, then set it True and "
                              "recompile with a lower learning rate")
    if bundle.strategy == "feature_extraction":
        raise UsageError("a feature_extraction bundle has no second phase: its body never trains",
                         hint="load it with strategy='partial' or 'full'")
    if isinstance(head_steps, bool) or not isinstance(head_steps, int) or head_steps < 1:
        raise UsageError(f"head_steps must be a positive integer, not {head_steps!r}")
    if unit not in ("steps", "epochs"):
        raise UsageError(f"unit must be 'steps' or 'epochs', not {unit!r}")
    head_lr = suggested_learning_rate("feature_extraction", bundle.family) if head_lr is None else head_lr
    lr = bundle.suggested_learning_rate if lr is None else lr
    for name, value in (("head_lr", head_lr), ("lr", lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise UsageError(f"{name} must be a positive number, not {value!r}")
    model = bundle.model
    head: list[Any] = []
    for name in bundle.head.split(", "):
        try:
            head.extend(model.get_submodule(name).parameters())
        except AttributeError:
            raise UsageError(f"cannot find the head {name!r} in {type(model).__name__}") from None
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    schedule = TwoPhase(model=model, head_steps=head_steps, head_lr=float(head_lr), lr=float(lr),
                        strategy=bundle.strategy, unit=unit, head_parameters=sum(p.numel() for p in head),
                        trainable_parameters=sum(p.numel() for p in head) + sum(p.numel() for p in body),
                        _head=head, _body=body)
    bundle.phases = schedule.plan()
    return schedule
