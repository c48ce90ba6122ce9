"""load_for_finetune: for a tiny model of every framework and for the real all-MiniLM-L6-v2, one
call gives a trainable model whose trainable-parameter count matches the strategy exactly (the
expected counts are computed here from the modules themselves, not by the code under test), a
training step lowers the loss and leaves frozen weights untouched, and nothing opens a socket."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.errors import NotCachedError, UsageError
from ptmhub.api import load_for_finetune  # the API opens the default registry for hub IDs
from ptmhub.finetune import FinetuneBundle, folder_kind
from ptmhub.finetune.strategies import THRESHOLDS, choose, default_unfreeze_last, suggested_learning_rate

torch = pytest.importorskip("torch")


# -- helpers -----------------------------------------------------------------------------------
class SocketOpened(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Stricter than conftest's loopback guard: no TCP/UDP connect and no name lookup at all."""

    def refuse(*args, **kwargs):
        raise SocketOpened(f"a socket was opened: {args[1:]!r}")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()
    yield


def n_params(*modules) -> int:
    seen: dict[int, int] = {}
    for m in modules:
        for p in (m.parameters() if hasattr(m, "parameters") else [m]):
            seen[id(p)] = p.numel()
    return sum(seen.values())


def trainable_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_torch_step(bundle: FinetuneBundle, forward, labels, *, steps: int = 5, lr: float = 1e-3,
                     loss_fn=None) -> None:
    """A few optimiser steps on one batch lower the loss; frozen parameters do not move."""
    model = bundle.model
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable, "nothing to train"
    optimizer = torch.optim.Adam(trainable, lr=lr)
    # eval mode: no dropout, so the loss falls because of the steps and not by luck (gradients
    # flow the same; requires_grad decides what moves)
    model.eval()
    first = None
    for _ in range(steps):
        loss = loss_fn(forward(model), labels)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        last = loss_fn(forward(model), labels).item()
    assert last < first, f"loss did not fall: {first} -> {last}"
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), f"frozen parameter {name} changed"


# -- strategies (pure) -------------------------------------------------------------------------
TEXT, DEFAULT = THRESHOLDS["text"], THRESHOLDS["default"]


@pytest.mark.parametrize(("strategy", "train_size", "modality", "expected"), [
    ("auto", None, "default", "feature_extraction"),
    ("auto", 0, "text", "feature_extraction"),
    ("auto", DEFAULT["partial"] - 1, "default", "feature_extraction"),
    ("auto", DEFAULT["partial"], "default", "partial"),
    ("auto", DEFAULT["full"] - 1, "default", "partial"),
    ("auto", DEFAULT["full"], "default", "full"),
    ("auto", TEXT["partial"] - 1, "text", "feature_extraction"),
    ("auto", TEXT["partial"], "text", "partial"),
    ("auto", TEXT["full"] - 1, "text", "partial"),
    ("auto", TEXT["full"], "text", "full"),
    ("auto", 10**7, "default", "full"),
    ("full", 10, "default", "full"),
    ("feature-extraction", 10**6, "text", "feature_extraction"),
    ("Partial", None, "default", "partial"),
])
def test_choose(strategy, train_size, modality, expected):
    choice = choose(strategy, train_size=train_size, modality=modality)
    assert choice.strategy == expected
    assert choice.reason
    if strategy == "auto" and train_size is not None:
        assert f"{train_size:,}" in choice.reason and modality in choice.reason


def test_thresholds_are_ordered():
    for bounds in THRESHOLDS.values():
        assert 0 < bounds["partial"] < bounds["full"]


def test_the_docs_state_the_thresholds_in_use():
    """docs/finetune.md's thresholds table and its opening example say what the code does."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "finetune.md").read_text()
    for modality, row in (("text", "| text ("), ("default", "| default (")):
        low, high = THRESHOLDS[modality]["partial"], THRESHOLDS[modality]["full"]
        line = next(line for line in doc.splitlines() if line.startswith(row))
        assert f"| n < {low:,} | {low:,} <= n < {high:,} | n >= {high:,} |" in line, line
    low, high = TEXT["partial"], TEXT["full"]
    assert f"(auto: {low:,} <= 200 < {high:,} with the text thresholds)" in doc
    assert choose("auto", train_size=200, modality="text").strategy == "partial"


def test_choose_rejects_bad_input():
    with pytest.raises(UsageError, match="unknown strategy"):
        choose("half")
    with pytest.raises(UsageError):
        choose("auto", train_size=-1)
    with pytest.raises(UsageError, match="modality"):
        choose("auto", train_size=5, modality="smell")


@pytest.mark.parametrize(("blocks", "expected"), [(0, 0), (1, 1), (3, 1), (4, 1), (5, 2), (6, 2), (8, 2), (12, 3),
                                                  (24, 6)])
def test_default_unfreeze_last(blocks, expected):
    assert default_unfreeze_last(blocks) == expected


def test_learning_rates_are_ordered():
    for family in ("transformer", "sentence-embedding", "convnet", "other"):
        fe, partial, full = (suggested_learning_rate(s, family) for s in ("feature_extraction", "partial", "full"))
        assert fe > partial >= full > 0


# -- a tiny BERT from a config saved to a folder -------------------------------------------------
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "good", "bad", "not", "very", "a", "plot"]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32,
                                     initializer_range=0.5)  # large, so that a random tiny body tells inputs apart
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})
    assert tokenizer("the film was good")["input_ids"] == [2, 5, 6, 7, 8, 3]
    tokenizer.save_pretrained(folder)
    return folder


def _bert_batch(bundle):
    enc = bundle.preprocess(["the film was good", "the film was not good", "a very bad plot", "the plot was good"],
                            padding=True, return_tensors="pt")
    return enc, torch.tensor([1, 0, 0, 1])


@pytest.mark.parametrize(("strategy", "unfreeze_last"), [("feature_extraction", None), ("partial", None),
                                                         ("partial", 2), ("partial", 99), ("full", None)])
def test_tiny_bert_sequence_classification(tiny_bert_dir, no_network, strategy, unfreeze_last):
    bundle = load_for_finetune(tiny_bert_dir, num_labels=2, strategy=strategy, unfreeze_last=unfreeze_last,
                               labels=["neg", "pos"])
    model = bundle.model
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "neg", 1: "pos"} and model.config.label2id == {"neg": 0, "pos": 1}
    head = 16 * 2 + 2
    layers = model.bert.encoder.layer
    n = {None: 1, 2: 2, 99: 3}[unfreeze_last]  # default: ceil(3 / 4) = 1
    expected = {"feature_extraction": head,
                "partial": head + n_params(*layers[3 - n:]) + n_params(model.bert.pooler),
                "full": n_params(model)}[strategy]
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert bundle.total_parameters == n_params(model)
    assert bundle.strategy == strategy and bundle.head == "classifier" and bundle.framework == "pytorch"
    assert bundle.blocks == 3 and bundle.adapter == "transformers"
    assert any("newly initialised" in note and "classifier" in note for note in bundle.notes)
    enc, labels = _bert_batch(bundle)
    check_torch_step(bundle, lambda m: m(**enc).logits, labels)


def test_tiny_bert_token_classification(tiny_bert_dir, no_network):
    bundle = load_for_finetune(str(tiny_bert_dir), num_labels=5, task="ner", strategy="partial", unfreeze_last=1)
    model = bundle.model
    assert type(model).__name__ == "BertForTokenClassification" and bundle.task == "token-classification"
    # token classification has no pooler: the last layer and the classifier
    assert bundle.trainable_parameters == 16 * 5 + 5 + n_params(model.bert.encoder.layer[-1])
    assert any("pooler" in note for note in bundle.notes)  # the checkpoint's unused pooler is reported
    enc = bundle.preprocess(["the film was good", "a bad plot"], padding=True, return_tensors="pt")
    labels = torch.randint(0, 5, enc["input_ids"].shape, generator=torch.Generator().manual_seed(0))
    check_torch_step(bundle, lambda m: m(**enc).logits.reshape(-1, 5), labels.reshape(-1))


def test_mismatched_head_is_reinitialised(tiny_bert_dir, tmp_path, no_network):
    first = load_for_finetune(tiny_bert_dir, num_labels=3, strategy="full")
    first.model.save_pretrained(tmp_path / "three")
    again = load_for_finetune(tmp_path / "three", num_labels=5, strategy="feature_extraction")
    assert again.trainable_parameters == 16 * 5 + 5
    assert any("re-initialised" in note and "(3, 16) -> (5, 16)" in note for note in again.notes)
    same = load_for_finetune(tmp_path / "three", num_labels=3, strategy="feature_extraction")
    assert any("was kept" in note for note in same.notes)


def test_tiny_vit_image_classification(tmp_path, no_network):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=4,
                                    num_attention_heads=2, intermediate_size=32)
    transformers.ViTModel(config).save_pretrained(tmp_path)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    bundle = load_for_finetune(tmp_path, num_labels=3, strategy="partial")  # task from model_type: image
    model = bundle.model
    assert type(model).__name__ == "ViTForImageClassification" and bundle.task == "image-classification"
    # default: ceil(4 / 4) = 1 layer, plus what follows the layers in the body (the final layernorm)
    layers = model.vit.encoder.layer if hasattr(model.vit, "encoder") else model.vit.layers  # transformers 4 / 5
    assert len(layers) == 4
    expected = 16 * 3 + 3 + n_params(layers[-1]) + n_params(model.vit.layernorm)
    assert bundle.trainable_parameters == expected
    assert any("vit.layernorm" in note for note in bundle.notes)
    images = torch.rand(4, 3, 32, 32)
    pixels = bundle.preprocess(list(images), return_tensors="pt", do_rescale=False)["pixel_values"]
    check_torch_step(bundle, lambda m: m(pixel_values=pixels).logits, torch.tensor([0, 1, 2, 0]))


def test_distilbert_layers_are_found(tmp_path, no_network):
    transformers = pytest.importorskip("transformers")
    config = transformers.DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                           max_position_embeddings=32)
    transformers.DistilBertModel(config).save_pretrained(tmp_path)
    bundle = load_for_finetune(tmp_path, num_labels=2, strategy="partial", unfreeze_last=1)
    model = bundle.model
    # DistilBERT's head is pre_classifier + classifier, both outside the body
    head = n_params(model.pre_classifier, model.classifier)
    assert bundle.trainable_parameters == head + n_params(model.distilbert.transformer.layer[-1])
    assert set(bundle.head.split(", ")) == {"pre_classifier", "classifier"}


def test_from_a_loaded_base_model(tiny_bert_dir, no_network):
    transformers = pytest.importorskip("transformers")
    base = transformers.AutoModel.from_pretrained(tiny_bert_dir, local_files_only=True)
    bundle = load_for_finetune(base, num_labels=4, strategy="feature_extraction")
    assert type(bundle.model).__name__ == "BertForSequenceClassification"
    assert bundle.trainable_parameters == 16 * 4 + 4
    assert torch.equal(bundle.model.bert.embeddings.word_embeddings.weight, base.embeddings.word_embeddings.weight)


def _hf_cache_copy(folder: Path, repo_id: str) -> Path:
    """Lay a model folder out as huggingface_hub's cache does (refs/main -> snapshots/<sha>)."""
    import shutil

    cache = settings.get().hf_hub_cache
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    sha = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(folder, repo / "snapshots" / sha)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    return repo / "snapshots" / sha


def test_hf_id_from_the_cache(tiny_bert_dir, no_network):
    snapshot = _hf_cache_copy(tiny_bert_dir, "tiny/bert")
    bundle = load_for_finetune("hf:tiny/bert", num_labels=2, strategy="auto", train_size=TEXT["partial"])
    assert bundle.strategy == "partial" and bundle.requested_strategy == "auto"
    assert bundle.model_id == "hf:tiny/bert"
    assert any("auto:" in note for note in bundle.notes)
    model = bundle.model
    assert bundle.trainable_parameters == 34 + n_params(model.bert.encoder.layer[-1], model.bert.pooler)
    assert snapshot.is_dir()


def test_hf_id_not_cached(no_network):
    with pytest.raises(NotCachedError, match="ptmhub pull hf:nobody/nothing"):
        load_for_finetune("hf:nobody/nothing", num_labels=2)


def test_public_api_and_bad_arguments(tiny_bert_dir, tmp_path, no_network):
    import ptmhub

    bundle = ptmhub.load_for_finetune(tiny_bert_dir, num_labels=2, strategy="feature_extraction")
    assert bundle.trainable_parameters == 34
    plan = bundle.plan()
    assert plan["frozen_parameters"] == plan["total_parameters"] - 34
    json.dumps(plan)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(UsageError):
            load_for_finetune(tiny_bert_dir, num_labels=bad)
    with pytest.raises(UsageError, match="unknown strategy"):
        load_for_finetune(tiny_bert_dir, num_labels=2, strategy="some")
    with pytest.raises(UsageError, match="unfreeze_last"):
        load_for_finetune(tiny_bert_dir, num_labels=2, strategy="partial", unfreeze_last=-1)
    with pytest.raises(UsageError, match="no fine-tuning head"):
        load_for_finetune(tiny_bert_dir, num_labels=2, task="translation")
    with pytest.raises(UsageError, match="holds no model"):
        load_for_finetune(tmp_path, num_labels=2)
    with pytest.raises(UsageError, match="labels"):
        load_for_finetune(tiny_bert_dir, num_labels=3, labels=["a", "b"])
    with pytest.raises(UsageError, match="cannot fine-tune"):
        load_for_finetune(object(), num_labels=2)


# -- torchvision ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "unfreeze_last"), [("feature_extraction", None), ("partial", None),
                                                         ("partial", 3), ("full", None)])
def test_torchvision_resnet18(no_network, strategy, unfreeze_last):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    bundle = load_for_finetune(torchvision.models.resnet18(weights=None), num_labels=3, strategy=strategy,
                               unfreeze_last=unfreeze_last)
    model = bundle.model
    fc = 512 * 3 + 3
    blocks = [*model.layer1, *model.layer2, *model.layer3, *model.layer4]  # 8 BasicBlocks
    n = unfreeze_last or 2  # default: ceil(8 / 4)
    expected = {"feature_extraction": fc, "partial": fc + n_params(*blocks[8 - n:]), "full": n_params(model)}[strategy]
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert bundle.head == "fc" and model.fc.out_features == 3 and bundle.adapter == "torch"
    assert bundle.blocks == 8
    images = torch.rand(4, 3, 32, 32)
    from ptmhub.finetune.torch_adapter import train_mode

    train_mode(model)
    if strategy == "feature_extraction":
        assert not model.bn1.training  # frozen BatchNorm keeps its statistics
    check_torch_step(bundle, lambda m: m(images), torch.tensor([0, 1, 2, 0]))


def test_torchvision_mobilenet_v3(no_network):
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.mobilenet_v3_small(weights=None)
    features = list(model.features)  # stem conv, 11 inverted residuals, last conv: 13 blocks
    bundle = load_for_finetune(model, num_labels=4, strategy="partial", unfreeze_last=2)
    assert bundle.head == "classifier.3" and bundle.blocks == 13
    new_head = 1024 * 4 + 4
    # the last two feature blocks, the classifier's hidden Linear that follows them, the new output layer
    assert bundle.trainable_parameters == n_params(*features[-2:]) + n_params(model.classifier[0]) + new_head
    fe = load_for_finetune(torchvision.models.mobilenet_v3_small(weights=None), num_labels=4,
                           strategy="feature_extraction")
    assert fe.trainable_parameters == new_head


def test_auto_uses_the_thresholds_of_the_modality(tiny_bert_dir, no_network):
    torchvision = pytest.importorskip("torchvision")
    size = DEFAULT["partial"]  # enough for full fine-tuning of a text model, only partial for an image model
    assert TEXT["full"] <= size < DEFAULT["full"]
    text = load_for_finetune(tiny_bert_dir, num_labels=2, train_size=size)
    image = load_for_finetune(torchvision.models.resnet18(weights=None), num_labels=2, train_size=size)
    assert (text.strategy, image.strategy) == ("full", "partial")
    assert "text thresholds" in text.notes[0] and "default thresholds" in image.notes[0]


@pytest.mark.parametrize(("strategy", "unfreeze_last"), [("feature_extraction", None), ("partial", None),
                                                         ("partial", 1), ("full", None)])
def test_torchhub_id_from_the_torch_cache(no_network, strategy, unfreeze_last):
    torchvision = pytest.importorskip("torchvision")
    from urllib.parse import urlsplit

    weights = torchvision.models.ResNet18_Weights.DEFAULT
    checkpoints = settings.get().torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), checkpoints / Path(urlsplit(weights.url).path).name)
    bundle = load_for_finetune("torchhub:pytorch/vision/resnet18", num_labels=2, strategy=strategy,
                               unfreeze_last=unfreeze_last)
    model = bundle.model
    fc = 512 * 2 + 2
    layer4 = list(model.layer4)  # ResNet-18's last two BasicBlocks: the default quarter of 8
    expected = {"feature_extraction": fc,
                "partial": fc + n_params(*(layer4 if unfreeze_last is None else layer4[-unfreeze_last:])),
                "full": n_params(source) - 512 * 1000 - 1000 + fc}[strategy]  # the source's body and a new fc
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert torch.equal(model.conv1.weight, source.conv1.weight)  # the cached weights were loaded
    assert bundle.preprocess is not None  # the weights' own transforms
    assert bundle.model_id == "torchhub:pytorch/vision/resnet18"
    images = torch.rand(4, 3, 32, 32)
    check_torch_step(bundle, lambda m: m(images), torch.tensor([0, 1, 1, 0]))


# -- timm ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("strategy", "unfreeze_last"), [("feature_extraction", None), ("partial", None),
                                                         ("partial", 3), ("full", None)])
def test_timm_resnet(no_network, strategy, unfreeze_last):
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False)
    bundle = load_for_finetune(model, num_labels=5, strategy=strategy, unfreeze_last=unfreeze_last)
    fc = 512 * 5 + 5
    blocks = [*model.layer1, *model.layer2, *model.layer3, *model.layer4]  # timm's fine groups: 8 BasicBlocks
    n = unfreeze_last or 2  # default: ceil(8 / 4), i.e. layer4
    expected = {"feature_extraction": fc, "partial": fc + n_params(*blocks[8 - n:]), "full": n_params(model)}[strategy]
    assert bundle.blocks == 8 and trainable_count(model) == expected
    assert bundle.trainable_parameters == expected
    assert bundle.adapter == "timm" and bundle.head == "fc" and model.get_classifier().out_features == 5
    assert bundle.preprocess is not None  # timm's transform from the pretrained cfg
    images = torch.rand(2, 3, 32, 32)
    check_torch_step(bundle, lambda m: m(images), torch.tensor([0, 4]))


def test_timm_vit_tiny(no_network):
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8)
    bundle = load_for_finetune(model, num_labels=3, strategy="partial", unfreeze_last=2)
    head = 192 * 3 + 3
    # the last two of 12 blocks, then the final norm that follows them
    assert bundle.blocks == 12
    assert bundle.trainable_parameters == head + n_params(*model.blocks[-2:]) + n_params(model.norm)
    assert trainable_count(model) == bundle.trainable_parameters
    check_torch_step(bundle, lambda m: m(torch.rand(2, 3, 32, 32)), torch.tensor([0, 2]))


def test_timm_hf_id_from_the_cache(tmp_path, no_network):
    timm = pytest.importorskip("timm")
    from timm.models import save_for_hf

    torch.manual_seed(2)
    source = timm.create_model("resnet18", pretrained=False, num_classes=7)
    save_for_hf(source, tmp_path / "tiny", safe_serialization=True)
    assert folder_kind(tmp_path / "tiny") == "timm"
    _hf_cache_copy(tmp_path / "tiny", "timm/resnet18.tiny")
    bundle = load_for_finetune("hf:timm/resnet18.tiny", num_labels=2, strategy="feature_extraction")
    assert bundle.trainable_parameters == 512 * 2 + 2
    assert torch.equal(bundle.model.conv1.weight, source.conv1.weight)
    assert any("7 -> 2" in note for note in bundle.notes)


# -- TensorFlow Hub --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory) -> tuple[Path, int]:
    """A tiny TF2 SavedModel (8 inputs -> 4 features), and its own trainable-parameter count."""
    from ptmhub.finetune.tf_adapter import import_tf

    tf, tf_keras, _ = import_tf()
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input(shape=(8,))
    x = tf_keras.layers.Dense(16, activation="relu")(inputs)
    x = tf_keras.layers.BatchNormalization()(x)
    # named: Keras numbers unnamed layers per process, so "dense_1" depends on what ran before
    outputs = tf_keras.layers.Dense(4, activation="relu", name="features")(x)
    folder = tmp_path_factory.mktemp("tiny-savedmodel")
    tf.saved_model.save(tf_keras.Model(inputs, outputs), str(folder))
    own = sum(int(tf.size(v)) for v in tf.saved_model.load(str(folder)).trainable_variables)
    assert own == 8 * 16 + 16 + 16 + 16 + 16 * 4 + 4
    return folder, own


def _tf_step(bundle) -> None:
    import numpy as np
    import tf_keras

    model = bundle.model
    # frozen: the body's weights and its BatchNorm statistics (inference mode) stay as published
    before = [w.numpy().copy() for w in model.non_trainable_weights] if bundle.strategy != "full" else []
    body = [w.numpy().copy() for w in model.layers[1].trainable_weights]
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-2),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.integers(0, 3, size=16)
    first = float(model.evaluate(x, y, verbose=0))
    for _ in range(5):
        model.train_on_batch(x, y)
    assert float(model.evaluate(x, y, verbose=0)) < first
    for old, w in zip(before, model.non_trainable_weights):
        assert np.array_equal(old, w.numpy())
    if bundle.strategy == "full":
        assert body and any(not np.array_equal(old, w.numpy())
                            for old, w in zip(body, model.layers[1].trainable_weights))


@pytest.mark.parametrize("strategy", ["feature_extraction", "partial", "full"])
def test_tf_savedmodel(tiny_saved_model, no_network, strategy):
    folder, own = tiny_saved_model
    bundle = load_for_finetune(folder, num_labels=3, strategy=strategy)
    head = 4 * 3 + 3
    applied = "full" if strategy == "full" else "feature_extraction"
    assert bundle.strategy == applied and bundle.framework == "tensorflow" and bundle.head == "classifier"
    assert bundle.trainable_parameters == (head + own if applied == "full" else head)
    assert bundle.total_parameters == head + own + 2 * 16  # plus BatchNorm's moving mean and variance
    if strategy == "partial":
        assert any("partial cannot be honoured" in note for note in bundle.notes)
    assert any("read from the SavedModel signature" in note for note in bundle.notes)
    _tf_step(bundle)


def test_tf1_hub_format_cannot_train(tiny_saved_model, tmp_path, no_network):
    import shutil

    folder, _ = tiny_saved_model
    tf1 = tmp_path / "tf1"
    shutil.copytree(folder, tf1)
    (tf1 / "tfhub_module.pb").write_bytes(b"")  # tensorflow_hub's marker of the TF1 Hub format
    bundle = load_for_finetune(tf1, num_labels=3, strategy="full", tags=["serve"], signature="serving_default",
                               output_key="features", input_shape=(8,))
    assert bundle.strategy == "feature_extraction" and bundle.requested_strategy == "full"
    assert bundle.trainable_parameters == 4 * 3 + 3
    assert any("TF1 Hub format" in note for note in bundle.notes)
    _tf_step(bundle)


@pytest.mark.parametrize("strategy", ["feature_extraction", "partial", "full"])
def test_tfhub_id_from_the_tfhub_cache(tiny_saved_model, no_network, strategy):
    import shutil

    from ptmhub.hubs.tfhub import handle_url, module_dir
    from ptmhub.ids import parse

    folder, own = tiny_saved_model
    mid = parse("tfhub:tiny/features/1")
    shutil.copytree(folder, module_dir(handle_url(mid)))
    bundle = load_for_finetune("tfhub:tiny/features/1", num_labels=3, strategy=strategy, unfreeze_last=1)
    head = 4 * 3 + 3
    assert bundle.trainable_parameters == (own + head if strategy == "full" else head)
    assert bundle.model_id == "tfhub:tiny/features/1"
    if strategy == "partial":  # a KerasLayer trains or freezes as a whole
        assert bundle.strategy == "feature_extraction" and any("cannot be honoured" in n for n in bundle.notes)
    _tf_step(bundle)


# -- the real all-MiniLM-L6-v2 -------------------------------------------------------------------

@pytest.mark.parametrize(("strategy", "unfreeze_last"), [("feature_extraction", None), ("partial", None),
                                                         ("partial", 1), ("partial", 6), ("full", None)])
def test_minilm(minilm_dir, no_network, strategy, unfreeze_last):
    bundle = load_for_finetune(minilm_dir, num_labels=2, strategy=strategy, unfreeze_last=unfreeze_last,
                               offline=True)
    model = bundle.model
    bert = model.body[0].auto_model
    assert type(bert).__name__ == "BertModel" and len(bert.encoder.layer) == 6
    assert n_params(bert) == 22_713_216  # the published all-MiniLM-L6-v2
    head = 384 * 2 + 2
    n = unfreeze_last or 2  # default ceil(6 / 4) = 2 layers
    expected = {"feature_extraction": head,
                "partial": head + n_params(*bert.encoder.layer[6 - n:]),  # the pooler never trains
                "full": n_params(model) - n_params(bert.pooler)}[strategy]  # the unused pooler stays frozen
    if unfreeze_last == 6:  # every layer: all but the embeddings (and the pooler)
        assert expected == n_params(model) - n_params(bert.embeddings, bert.pooler)
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert bundle.total_parameters == 22_713_216 + head
    assert bundle.adapter == "sentence-transformers" and bundle.head == "head"
    features = bundle.preprocess(["The soup was not bad at all.", "I hated the service.", "Great food!",
                                  "Nobody could call the room pleasant."])
    check_torch_step(bundle, lambda m: m(features), torch.tensor([1, 0, 1, 0]), steps=2)


def test_minilm_as_a_hub_id(minilm_dir, no_network):
    _hf_cache_copy(minilm_dir, "sentence-transformers/all-MiniLM-L6-v2")
    bundle = load_for_finetune("hf:sentence-transformers/all-MiniLM-L6-v2", num_labels=3,
                               strategy="auto", train_size=TEXT["partial"] - 1)
    assert bundle.strategy == "feature_extraction" and bundle.trainable_parameters == 384 * 3 + 3
    assert bundle.suggested_learning_rate == suggested_learning_rate("feature_extraction", "sentence-embedding")


# -- the CLI ---------------------------------------------------------------------------------------
def test_cli_finetune_plan(tiny_bert_dir, no_network):
    from click.testing import CliRunner

    from ptmhub.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["finetune-plan", str(tiny_bert_dir), "--num-labels", "2",
                                 "--train-size", str(TEXT["partial"]), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["strategy"] == "partial" and plan["requested_strategy"] == "auto"
    assert plan["trainable_parameters"] + plan["frozen_parameters"] == plan["total_parameters"]
    assert plan["head"] == "classifier" and plan["suggested_learning_rate"] > 0
    text = runner.invoke(cli, ["finetune-plan", str(tiny_bert_dir), "--num-labels", "2", "--strategy",
                               "feature_extraction"])
    assert text.exit_code == 0, text.output
    assert "34" in text.output and "classifier" in text.output and "feature_extraction" in text.output
    bad = runner.invoke(cli, ["finetune-plan", str(tiny_bert_dir), "--num-labels", "2", "--strategy", "most"])
    assert bad.exit_code != 0


def test_cli_finetune_plan_errors_exit_codes(tiny_bert_dir, no_network):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "ptmhub", "finetune-plan", "hf:nobody/nothing", "--num-labels", "2"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == NotCachedError.exit_code, run.stderr
    assert run.stderr.startswith("error: ") and "ptmhub pull" in run.stderr
    assert math.isfinite(NotCachedError.exit_code)
