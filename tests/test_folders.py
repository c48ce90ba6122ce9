"""One folder detector (ptmhub.folders) and one loader (ptmhub.loaders) for every caller.

Before, five checks of "what library is in this folder" disagreed: a timm folder registered
with ``ptmhub add`` was recorded as timm by the cache code but could not be loaded (the
``local:`` loader knew only transformers, sentence-transformers and SavedModels), and a
``hf:timm/...`` snapshot was handed to transformers.
"""

from __future__ import annotations

import json

import pytest

from ptmhub import api, folders
from ptmhub.errors import UntrustedRepoError, UsageError

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")


@pytest.fixture(scope="module")
def timm_folder(tmp_path_factory):
    """A real timm model saved the way timm saves for the Hub (config.json + model.safetensors)."""
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_resnet.r160_in1k", pretrained=False, num_classes=3).eval()
    folder = tmp_path_factory.mktemp("timm") / "my-timm-model"
    save_for_hf(model, folder, safe_serialization=True)
    return folder, model


@pytest.mark.parametrize("files, library", [
    ({"modules.json": "[]", "config.json": '{"model_type": "bert"}'}, "sentence-transformers"),
    ({"sentence_bert_config.json": "{}"}, "sentence-transformers"),
    ({"saved_model.pb": ""}, "tensorflow"),
    ({"model_index.json": "{}"}, "diffusers"),
    ({"config.json": '{"model_type": "bert"}'}, "transformers"),
    ({"config.json": '{"architecture": "resnet50", "num_classes": 10}'}, "timm"),
    ({"config.json": '{"architecture": "resnet50", "pretrained_cfg": {}}'}, "timm"),
    ({"config.json": '{"architecture": "resnet50"}'}, None),   # not enough to tell
    ({"config.json": "[1, 2]"}, None),
    ({"config.json": "{not json"}, None),
    ({"config.json": "[" * 100_000}, None),                       # too deep for the parser: no library
    ({"README.md": "# hi"}, None),
])
def test_detect(tmp_path, files, library):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert folders.detect(tmp_path).library == library
    assert folders.detect(tmp_path, names=list(files)).library == library


def test_detect_a_missing_folder_is_no_library(tmp_path):
    assert folders.detect(tmp_path / "nope").library is None


def test_a_timm_folder_added_loads_and_fine_tunes(timm_folder, sqlite_store):
    folder, original = timm_folder
    record = api.add(str(folder), store=sqlite_store)
    assert record.id == "local:my-timm-model" and record.library == "timm" and record.framework == "pytorch"
    # the safetensors header counts every stored tensor (BatchNorm statistics too), as the Hub does
    assert record.parameters == sum(t.numel() for t in original.state_dict().values())
    loaded = api.load(record.id, store=sqlite_store)
    assert type(loaded.model).__name__ == type(original).__name__ and loaded.framework == "pytorch"
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(x), original(x), atol=1e-5)  # the saved weights, not random
    assert loaded.preprocess is not None  # timm's own eval transform
    bundle = api.load_for_finetune(record.id, num_labels=5, train_size=100, store=sqlite_store)
    assert bundle.model(x).shape == (1, 5)
    direct = api.load_for_finetune(str(folder), num_labels=5, train_size=100)
    assert direct.trainable_parameters == bundle.trainable_parameters > 0


def test_a_folder_with_no_known_library_is_one_line(tmp_path, sqlite_store):
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "x"}))
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(UsageError, match="holds no model ptmhub recognises") as err:
        api.add(str(tmp_path), store=sqlite_store)
    assert "\n" not in str(err.value) and sqlite_store.count() == 0


def test_custom_code_is_refused_by_the_one_loader(tmp_path):
    from ptmhub.loaders import load_folder

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x", "auto_map": {"AutoModel": "m.M"}}))
    with pytest.raises(UntrustedRepoError, match="auto_map"):
        load_folder(tmp_path, label="local:x")


def test_the_library_the_hub_names_wins_when_the_files_support_it(tmp_path):
    """A sentence-transformers repo is a transformers one too: the hub's library_name decides."""
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert folders.detect(tmp_path).library == "sentence-transformers"
    assert folders.detect(tmp_path, prefer="transformers").library == "transformers"
    assert folders.detect(tmp_path, prefer="timm").library == "sentence-transformers"  # no timm config: ignored
