"""Several heads on one backbone (``load_for_finetune(ID, heads={...})``) and the two-phase
schedule (``ptmhub.finetune.two_phase``): on the real all-MiniLM-L6-v2, a tiny BERT, timm models
built without pretrained weights and torchvision modules. Expected counts are computed here from
the modules themselves (or from the single-head path on the same model), never taken from the
code under test; training steps check that exactly the trainable parameters move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptmhub import settings
from ptmhub.errors import UsageError
from ptmhub.finetune import FinetuneBundle, load_for_finetune, two_phase
from ptmhub.finetune.heads import HeadSpec, normalize_heads, parse_head_option
from ptmhub.finetune.strategies import suggested_learning_rate

torch = pytest.importorskip("torch")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PTMHUB_OFFLINE", "1")
    settings.reload()


def n_params(*modules) -> int:
    return sum({id(p): p.numel() for m in modules for p in m.parameters()}.values())


def trainable_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def head_sizes(model) -> int:
    return n_params(*model.heads.values())


def check_step(model, forward, targets: dict, *, lr: float = 1e-3) -> None:
    """One backward pass: a gradient on every trainable parameter and on no frozen one, a nonzero
    one on the heads and (when it trains) on the body; one Adam step: what had a nonzero gradient
    moves, nothing frozen does. (Some trainable parameters get an exact zero gradient: timm zero-
    initialises each residual branch's last BatchNorm, which blocks the branch's gradient.)"""
    model.eval()  # no dropout: the step is deterministic
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    out = forward(model)
    assert set(out) == set(targets)
    loss = sum(torch.nn.functional.cross_entropy(out[name], y) for name, y in targets.items())
    model.zero_grad(set_to_none=True)
    loss.backward()
    nonzero = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient reached {name}"
            if p.grad.abs().sum() > 0:
                nonzero.add(name)
        else:
            assert p.grad is None, f"a gradient reached the frozen {name}"
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n in trainable if n.startswith("heads.")} <= nonzero
    if any(not n.startswith("heads.") for n in trainable):
        assert any(not n.startswith("heads.") for n in nonzero), "no nonzero gradient reached the body"
    torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr).step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert nonzero <= moved <= trainable


# -- the heads argument (pure) --------------------------------------------------------------------
def test_normalize_heads_forms():
    specs = normalize_heads({"sentiment": 2, "topic": {"labels": ["a", "b", "c"]}, "x": {"num_labels": 4}})
    assert specs == (HeadSpec("sentiment", 2, ("LABEL_0", "LABEL_1")), HeadSpec("topic", 3, ("a", "b", "c")),
                     HeadSpec("x", 4, ("LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3")))
    assert [s.name for s in normalize_heads([("b", 1), ("a", 2)])] == ["b", "a"]  # order kept
    assert parse_head_option("topic=4") == ("topic", 4)


@pytest.mark.parametrize(("heads", "match"), [
    ({}, "empty"),
    ([], "empty"),
    ({"a": 0}, "positive integer"),
    ({"a": -2}, "positive integer"),
    ({"a": True}, "positive integer"),
    ({"a": 2.0}, "positive integer"),
    ({"a": "2"}, "positive integer"),
    ([("a", 2), ("a", 3)], "given twice"),
    ({"": 2}, "bad head name"),
    ({"a.b": 2}, "bad head name"),
    ({"items": 2}, "reserved"),
    ({"a": {"num_labels": 2, "labels": ["x"]}}, "1 labels given"),
    ({"a": {"labels": ["x", "x"]}}, "unique"),
    ({"a": {"size": 2}}, "unknown key"),
    ({"a": {}}, "num_labels or labels"),
    ("a=2", "dict"),
    ([("a", 2, 3)], "pairs"),
])
def test_normalize_heads_refuses(heads, match):
    with pytest.raises(UsageError, match=match):
        normalize_heads(heads)


@pytest.mark.parametrize("text", ["a", "a=two", "=x"])
def test_parse_head_option_refuses(text):
    with pytest.raises(UsageError, match="--head"):
        parse_head_option(text)


def test_load_for_finetune_refuses_before_loading(tmp_path):
    # each fails on its arguments: the folder does not even hold a model
    with pytest.raises(UsageError, match="not both"):
        load_for_finetune(tmp_path, num_labels=2, heads={"a": 2})
    with pytest.raises(UsageError, match="not both"):
        load_for_finetune(tmp_path, heads={"a": 2}, labels=["x", "y"])
    with pytest.raises(UsageError, match="num_labels .* or heads"):
        load_for_finetune(tmp_path)
    with pytest.raises(UsageError, match="empty"):
        load_for_finetune(tmp_path, heads={})


def test_tensorflow_folders_are_refused_with_one_line(tmp_path, offline):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UsageError, match="heads= needs a PyTorch model") as info:
        load_for_finetune(tmp_path, heads={"a": 2, "b": 3})
    assert "\n" not in str(info.value)


# -- the real all-MiniLM-L6-v2 -------------------------------------------------------------------

SENTENCES = ["The soup was not bad at all.", "I hated the service.", "Great food!", "Nobody could call it pleasant."]


@pytest.mark.parametrize("strategy", ["feature_extraction", "partial", "full"])
def test_minilm_two_heads(minilm_dir, offline, strategy):
    torch.manual_seed(0)
    wanted = {"sentiment": 2, "form": {"labels": ["plain", "negation", "contrast"]}}
    bundle = load_for_finetune(minilm_dir, heads=wanted, strategy=strategy)
    model = bundle.model
    bert = model.backbone.body[0].auto_model
    assert n_params(bert) == 22_713_216  # the published all-MiniLM-L6-v2, shared once
    heads = 384 * 2 + 2 + 384 * 3 + 3
    assert head_sizes(model) == heads
    expected = {"feature_extraction": heads,
                "partial": heads + n_params(*bert.encoder.layer[-2:]),  # default: 2 of 6 layers
                "full": n_params(model) - n_params(bert.pooler)}[strategy]  # the unused pooler stays frozen
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert bundle.total_parameters == 22_713_216 + heads
    assert bundle.num_labels is None and bundle.head == "heads.sentiment, heads.form"
    plan = bundle.plan()
    assert plan["heads"] == [
        {"name": "sentiment", "num_labels": 2, "labels": ["LABEL_0", "LABEL_1"], "parameters": 770},
        {"name": "form", "num_labels": 3, "labels": ["plain", "negation", "contrast"], "parameters": 1155}]
    json.dumps(plan)
    features = bundle.preprocess(SENTENCES)
    out = model(features)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"sentiment": (4, 2), "form": (4, 3)}
    assert tuple(model.features(features).shape) == (4, 384)
    # the same body trains as in the single-head path
    single = load_for_finetune(minilm_dir, num_labels=2, strategy=strategy)
    assert bundle.trainable_parameters - heads == single.trainable_parameters - (384 * 2 + 2)
    del single
    check_step(model, lambda m: m(features), {"sentiment": torch.tensor([1, 0, 1, 0]),
                                              "form": torch.tensor([1, 0, 0, 1])})


def test_a_multi_head_bundle_is_not_saved_half(tiny_bert_dir, offline, tmp_path):
    """save() has no one-framework format for several heads: one line, and nothing written."""
    bundle = load_for_finetune(tiny_bert_dir, heads={"a": 2, "b": 3})
    with pytest.raises(UsageError, match="several heads") as info:
        bundle.save(tmp_path / "out")
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


# -- a tiny BERT (transformers) ----------------------------------------------------------------------
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "good", "bad", "not", "very", "a", "plot"]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32, initializer_range=0.5)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("strategy", ["partial", "full"])
def test_tiny_bert_heads_on_the_pooler(tiny_bert_dir, offline, strategy):
    bundle = load_for_finetune(tiny_bert_dir, heads={"a": 2, "b": 3}, strategy=strategy, unfreeze_last=1)
    model = bundle.model
    base = model.backbone.model
    assert type(base).__name__ == "BertModel"
    heads = 16 * 2 + 2 + 16 * 3 + 3
    expected = {"partial": heads + n_params(base.encoder.layer[-1], base.pooler), "full": n_params(model)}[strategy]
    assert bundle.trainable_parameters == expected == trainable_count(model)
    assert bundle.adapter == "transformers" and bundle.task == "text-classification"
    single = load_for_finetune(tiny_bert_dir, num_labels=2, strategy=strategy, unfreeze_last=1)
    assert bundle.trainable_parameters - heads == single.trainable_parameters - (16 * 2 + 2)
    enc = bundle.preprocess(["the film was good", "a very bad plot", "the plot"], padding=True, return_tensors="pt")
    out = model(enc)
    assert tuple(out["a"].shape) == (3, 2) and tuple(out["b"].shape) == (3, 3)
    # the features are BERT's own pooler_output
    model.eval()
    assert torch.allclose(model.features(enc), base(**enc).pooler_output)
    check_step(model, lambda m: m(**enc), {"a": torch.tensor([1, 0, 1]), "b": torch.tensor([2, 0, 1])})


def test_conv_feature_maps_are_pooled(tmp_path, offline):
    """HF ResNet returns pooler_output (its global average pool); the features are exactly that."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1])
    transformers.ResNetModel(config).save_pretrained(tmp_path)
    bundle = load_for_finetune(tmp_path, heads={"a": 3, "b": 2}, strategy="feature_extraction")
    model = bundle.model
    assert bundle.task == "image-classification" and model.feature_dim == 16
    pixels = torch.rand(2, 3, 32, 32)
    model.eval()
    out = model(pixel_values=pixels)
    assert tuple(out["a"].shape) == (2, 3) and tuple(out["b"].shape) == (2, 2)
    hidden = model.backbone.model(pixel_values=pixels).last_hidden_state
    assert torch.allclose(model.features(pixel_values=pixels), hidden.mean((2, 3)), atol=1e-6)


def test_mean_pooling_without_a_pooler(tmp_path, offline):
    transformers = pytest.importorskip("transformers")
    config = transformers.DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                           max_position_embeddings=32)
    transformers.DistilBertModel(config).save_pretrained(tmp_path)
    bundle = load_for_finetune(tmp_path, heads={"a": 2}, strategy="feature_extraction")
    model = bundle.model
    assert bundle.trainable_parameters == 16 * 2 + 2
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    model.eval()
    hidden = model.backbone.model(input_ids=ids, attention_mask=mask).last_hidden_state
    expected = torch.stack([hidden[0, :3].mean(0), hidden[1, :2].mean(0)])  # padding left out
    assert torch.allclose(model.features(input_ids=ids, attention_mask=mask), expected, atol=1e-6)


# -- timm and torchvision --------------------------------------------------------------------------
def test_timm_resnet_heads(offline):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    bundle = load_for_finetune(timm.create_model("resnet18", pretrained=False), heads={"a": 2, "b": 5},
                               strategy="partial")
    model = bundle.model
    net = model.backbone.model
    assert isinstance(net.get_classifier(), torch.nn.Identity)  # reset_classifier(0)
    blocks = [*net.layer1, *net.layer2, *net.layer3, *net.layer4]
    heads = 512 * 2 + 2 + 512 * 5 + 5
    assert bundle.blocks == 8 and bundle.adapter == "timm"
    assert bundle.trainable_parameters == heads + n_params(*blocks[-2:]) == trainable_count(model)
    images = torch.rand(2, 3, 32, 32)
    out = model(images)
    assert tuple(out["a"].shape) == (2, 2) and tuple(out["b"].shape) == (2, 5)
    check_step(model, lambda m: m(images), {"a": torch.tensor([0, 1]), "b": torch.tensor([4, 2])})


def test_timm_vit_heads_find_the_same_blocks(offline):
    timm = pytest.importorskip("timm")
    make = lambda: timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8)
    bundle = load_for_finetune(make(), heads={"a": 2, "b": 3}, strategy="partial", unfreeze_last=2)
    net = bundle.model.backbone.model
    heads = 192 * 2 + 2 + 192 * 3 + 3
    # the last two of 12 blocks and the final norm after them, as in the single-head path
    assert bundle.blocks == 12
    assert bundle.trainable_parameters == heads + n_params(*net.blocks[-2:], net.norm) == trainable_count(bundle.model)
    single = load_for_finetune(make(), num_labels=2, strategy="partial", unfreeze_last=2)
    assert bundle.trainable_parameters - heads == single.trainable_parameters - (192 * 2 + 2)
    images = torch.rand(2, 3, 32, 32)
    check_step(bundle.model, lambda m: m(images), {"a": torch.tensor([0, 1]), "b": torch.tensor([2, 0])})


def test_torchvision_resnet_heads(offline):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    bundle = load_for_finetune(torchvision.models.resnet18(weights=None), heads={"a": 3, "b": 2},
                               strategy="feature_extraction")
    model = bundle.model
    assert isinstance(model.backbone.model.fc, torch.nn.Identity) and model.feature_dim == 512
    assert bundle.trainable_parameters == 512 * 3 + 3 + 512 * 2 + 2 == trainable_count(model)
    assert bundle.adapter == "torch" and any("BatchNorm" in note for note in bundle.notes)
    from ptmhub.finetune.torch_adapter import train_mode

    train_mode(model)
    assert not model.backbone.model.bn1.training  # frozen BatchNorm keeps its statistics
    images = torch.rand(4, 3, 32, 32)
    check_step(model, lambda m: m(images), {"a": torch.tensor([0, 1, 2, 0]), "b": torch.tensor([1, 0, 1, 0])})


def test_torchvision_mobilenet_heads(offline):
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.mobilenet_v3_small(weights=None)
    features = list(net.features)
    bundle = load_for_finetune(net, heads={"a": 4, "b": 2}, strategy="partial", unfreeze_last=2)
    model = bundle.model
    # the classifier's last Linear (what the single-head path replaces) became Identity: 1024-d
    assert isinstance(net.classifier[3], torch.nn.Identity) and model.feature_dim == 1024
    heads = 1024 * 4 + 4 + 1024 * 2 + 2
    assert bundle.blocks == 13
    assert bundle.trainable_parameters == heads + n_params(*features[-2:], net.classifier[0]) == trainable_count(model)
    out = model(torch.rand(2, 3, 32, 32))
    assert tuple(out["a"].shape) == (2, 4) and tuple(out["b"].shape) == (2, 2)


# -- two phases --------------------------------------------------------------------------------------
def _groups(groups) -> dict:
    return {g["name"]: (g["lr"], sum(p.numel() for p in g["params"])) for g in groups}


@pytest.mark.parametrize("strategy", ["partial", "full"])
def test_two_phase_switches(offline, strategy):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    bundle = load_for_finetune(torchvision.models.resnet18(weights=None), num_labels=3, strategy=strategy)
    model = bundle.model
    mask = {n: p.requires_grad for n, p in model.named_parameters()}  # what the strategy trains
    fc = 512 * 3 + 3
    schedule = two_phase(bundle, head_steps=2)
    head_lr = suggested_learning_rate("feature_extraction", "convnet")
    lr = suggested_learning_rate(strategy, "convnet")
    assert (schedule.head_lr, schedule.lr) == (head_lr, lr) and lr < head_lr
    assert [schedule.phase_at(s) for s in range(4)] == [1, 1, 2, 2]

    groups = schedule.start(1)
    assert _groups(groups) == {"head": (head_lr, fc)}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    images, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    model.eval()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(groups)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {"fc.weight", "fc.bias"}

    groups = schedule.start(2)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == mask
    assert _groups(groups) == {"head": (lr, fc), "body": (lr, bundle.trainable_parameters - fc)}
    assert optimizer_lrs(groups) == [lr, lr]
    plan = bundle.plan()["phases"]
    assert [(p["phase"], p["learning_rate"], p["trainable_parameters"]) for p in plan] == [
        (1, head_lr, fc), (2, lr, bundle.trainable_parameters)]
    model.zero_grad(set_to_none=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(groups)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {n for n, trainable in mask.items() if trainable}


def optimizer_lrs(groups) -> list[float]:
    return [g["lr"] for g in torch.optim.AdamW(groups).param_groups]


def test_two_phase_with_heads_and_explicit_rates(offline):
    torchvision = pytest.importorskip("torchvision")
    bundle = load_for_finetune(torchvision.models.resnet18(weights=None), heads={"a": 2, "b": 3}, strategy="full")
    schedule = two_phase(bundle, head_steps=1, head_lr=3e-3, lr=1e-5, unit="epochs")
    heads = 512 * 2 + 2 + 512 * 3 + 3
    assert _groups(schedule.start(1)) == {"head": (3e-3, heads)}
    assert trainable_count(bundle.model) == heads
    assert _groups(schedule.start(2)) == {"head": (1e-5, heads), "body": (1e-5, n_params(bundle.model) - heads)}
    assert bundle.plan()["phases"][0]["unit"] == "epochs"


def test_two_phase_refuses(offline):
    torchvision = pytest.importorskip("torchvision")
    fe = load_for_finetune(torchvision.models.resnet18(weights=None), num_labels=2, strategy="feature_extraction")
    with pytest.raises(UsageError, match="no second phase"):
        two_phase(fe, head_steps=1)
    full = load_for_finetune(torchvision.models.resnet18(weights=None), num_labels=2, strategy="full")
    for kwargs, match in (({"head_steps": 0}, "head_steps"), ({"head_steps": True}, "head_steps"),
                          ({"head_steps": 1, "lr": 0}, "lr"), ({"head_steps": 1, "head_lr": -1.0}, "head_lr"),
                          ({"head_steps": 1, "unit": "minutes"}, "unit")):
        with pytest.raises(UsageError, match=match):
            two_phase(full, **kwargs)
    with pytest.raises(UsageError, match="phases 1 and 2"):
        two_phase(full, head_steps=1).start(3)
    keras = FinetuneBundle(model=None, preprocess=None, framework="tensorflow", strategy="full",
                           trainable_parameters=1, total_parameters=1, head="classifier", suggested_learning_rate=1e-4)
    with pytest.raises(UsageError, match="PyTorch"):
        two_phase(keras, head_steps=1)


# -- the CLI -----------------------------------------------------------------------------------------
def test_cli_finetune_plan_heads(tiny_bert_dir, offline, capsys):
    from click.testing import CliRunner

    from ptmhub.cli import cli, main

    runner = CliRunner()
    result = runner.invoke(cli, ["finetune-plan", str(tiny_bert_dir), "--head", "a=2", "--head", "b=3",
                                 "--strategy", "feature_extraction", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [(h["name"], h["num_labels"], h["parameters"]) for h in plan["heads"]] == [("a", 2, 34), ("b", 3, 51)]
    assert plan["trainable_parameters"] == 34 + 51 and plan["num_labels"] is None
    assert plan["head"] == "heads.a, heads.b" and plan["model_class"] == "MultiHeadModel"
    text = runner.invoke(cli, ["finetune-plan", str(tiny_bert_dir), "--head", "a=2", "--head", "b=3"])
    assert text.exit_code == 0, text.output
    assert "head a" in text.output and "head b" in text.output and "51 parameters" in text.output
    for args, message in ((["--head", "a=2", "--num-labels", "2"], "not both"), ([], "--num-labels K"),
                          (["--head", "a=2", "--head", "a=3"], "given twice"), (["--head", "a=0"], "positive"),
                          (["--head", "a"], "NAME=N")):
        with pytest.raises(SystemExit) as info:
            main(["finetune-plan", str(tiny_bert_dir), *args])
        err = capsys.readouterr().err
        assert info.value.code == UsageError.exit_code, (args, err)
        assert err.startswith("error: ") and message in err and err.count("\n") <= 2, (args, err)


def test_heads_on_a_hub_id_from_the_cache(tiny_bert_dir, offline):
    """hf: IDs take the same path: the model comes from huggingface_hub's cache layout."""
    import shutil

    from ptmhub.api import load_for_finetune as api_load_for_finetune  # opens the default registry

    repo = settings.get().hf_hub_cache / "models--tiny--bert"
    sha = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_bert_dir, repo / "snapshots" / sha)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    bundle = api_load_for_finetune("hf:tiny/bert", heads={"a": 2, "b": 3}, strategy="feature_extraction")
    assert bundle.model_id == "hf:tiny/bert" and type(bundle.model).__name__ == "MultiHeadModel"
    assert bundle.trainable_parameters == 16 * 2 + 2 + 16 * 3 + 3 == trainable_count(bundle.model)
