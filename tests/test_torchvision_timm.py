"""The torchvision and timm catalogs, read from the installed libraries (no network)."""

from __future__ import annotations

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("timm")

from torchvision.models import get_model_weights, list_models  # noqa: E402

from ptmhub.catalogs import pytorch_hub, timm as timm_catalog  # noqa: E402
from ptmhub.hubs.torchhub import torchvision as tv  # noqa: E402
from ptmhub.errors import ModelNotFoundError  # noqa: E402
from ptmhub import models  # noqa: E402
from ptmhub.hubs.torchhub import TorchHubBackend  # noqa: E402
from ptmhub.ids import parse  # noqa: E402


@pytest.fixture
def tv_store(store):
    report = tv.sync(store)
    return store, report


# -- torchvision ---------------------------------------------------------------------------------
def test_torchvision_sync_counts(tv_store):
    store, report = tv_store
    assert report.records == len(list_models()) == store.count(platform="torchhub")
    assert report.problems == []
    assert report.counts["weights"] == sum(len(list(get_model_weights(m))) for m in list_models())
    assert store.count(platform="torchhub", framework="torchvision") == report.records


def test_resnet50_facts(tv_store):
    store, _ = tv_store
    rec = store.get("torchhub:pytorch/vision/resnet50")
    assert rec.parameters == 25_557_032 and rec.parameters_source == "catalog"
    assert "ResNet50_Weights.IMAGENET1K_V2 (DEFAULT)" in rec.parameters_note
    assert rec.task == "image-classification"
    assert rec.library == "torchvision" and rec.framework == "pytorch" and rec.fine_tunable is True
    assert rec.extra["default_variant"] == "IMAGENET1K_V2"
    assert sorted(rec.extra["variants"]) == ["IMAGENET1K_V1", "IMAGENET1K_V2"]
    v1, v2 = rec.extra["variants"]["IMAGENET1K_V1"], rec.extra["variants"]["IMAGENET1K_V2"]
    assert v1["num_params"] == v2["num_params"] == 25_557_032
    assert v1["metrics"] == {"ImageNet-1K": {"acc@1": 76.13, "acc@5": 92.862}}
    assert v2["metrics"]["ImageNet-1K"]["acc@1"] == 80.858
    assert v1["url"].endswith("/resnet50-0676ba61.pth") and v1["num_categories"] == 1000
    assert v2["file_size_mib"] == 97.79 and rec.size_bytes == round(97.79 * 1024 * 1024)
    assert rec.extra["num_categories"] == 1000 and rec.datasets == ("ImageNet-1K",)
    assert rec.extra["recipe"].startswith("https://github.com/pytorch/vision/")
    # torchvision's code license, said to be the code's: the weights have none published
    assert rec.license == "bsd-3-clause"
    assert rec.license_source.startswith("code:") and "no license for these weights" in rec.license_source


def test_weights_license_when_torchvision_gives_one(tv_store):
    store, _ = tv_store
    # only SWAG weights: DEFAULT is a SWAG variant, whose meta carries the SWAG license URL
    big = store.get("torchhub:pytorch/vision/regnet_y_128gf")
    assert big.license == "cc-by-nc-4.0" and big.license_source.startswith("weights:")
    assert big.license_raw == "https://github.com/facebookresearch/SWAG/blob/main/LICENSE"
    vit = store.get("torchhub:pytorch/vision/vit_b_16")
    assert vit.license == "bsd-3-clause"  # DEFAULT is IMAGENET1K_V1, no weights license
    assert vit.extra["variants"]["IMAGENET1K_SWAG_E2E_V1"]["license"] == "cc-by-nc-4.0"
    assert "license" not in vit.extra["variants"]["IMAGENET1K_V1"]
    assert store.count(platform="torchhub", license="non-commercial") == 2


def test_metrics_without_a_number_are_stored_as_null(tv_store):
    store, _ = tv_store  # vgg16's feature-extractor weights publish acc@1 = NaN, which JSON cannot hold
    features = store.get("torchhub:pytorch/vision/vgg16").extra["variants"]["IMAGENET1K_FEATURES"]
    assert features["metrics"] == {"ImageNet-1K": {"acc@1": None, "acc@5": None}}


@pytest.mark.parametrize(("model", "task"), [
    ("fasterrcnn_resnet50_fpn", "object-detection"),
    ("keypointrcnn_resnet50_fpn", "keypoint-detection"),
    ("deeplabv3_resnet50", "image-segmentation"),
    ("r3d_18", "video-classification"),
    ("raft_large", "optical-flow"),
    ("quantized_resnet50", "image-classification"),
    ("mobilenet_v2", "image-classification"),
])
def test_tasks_from_the_builder_module(model, task):
    rec = tv.record_for(model)
    assert rec.task == task
    if model.startswith("quantized_"):
        assert "quantized" in rec.tags and rec.fine_tunable is False


@pytest.mark.parametrize(("model", "expected"), [("resnet18", 11_689_512), ("mobilenet_v2", 3_504_872)])
def test_meta_device_counts_equal_torchvision_meta(model, expected):
    meta = get_model_weights(model).DEFAULT.meta["num_params"]
    assert tv.meta_parameter_count(model) == meta == expected  # weights=None
    assert tv.meta_parameter_count(model, "DEFAULT") == meta


def test_meta_device_counts_follow_the_weights_shape():
    # googlenet without weights keeps its two auxiliary heads; its weights drop them
    assert tv.meta_parameter_count("googlenet") == 13_004_888
    assert tv.meta_parameter_count("googlenet", "IMAGENET1K_V1") == 6_624_904
    # ViT-H/14's two weights differ by their position embeddings (518 vs 224 pixels)
    e2e = get_model_weights("vit_h_14").IMAGENET1K_SWAG_E2E_V1.meta["num_params"]
    assert tv.meta_parameter_count("vit_h_14", "IMAGENET1K_SWAG_E2E_V1") == e2e == 633_470_440
    # RegNet computes widths with tensors: the meta device fallback handles it
    assert tv.meta_parameter_count("regnet_x_400mf", "DEFAULT") == 5_495_976
    # quantized builders count through their float weights
    assert tv.meta_parameter_count("quantized_mobilenet_v2", "DEFAULT") == 3_504_872
    # a detection model: the backbone weights are not fetched (the network guard would fail the test)
    assert tv.meta_parameter_count("fasterrcnn_resnet50_fpn", "DEFAULT") == 41_755_286
    with pytest.raises(ModelNotFoundError, match="no weights 'NOPE'"):
        tv.meta_parameter_count("resnet18", "NOPE")


@pytest.mark.slow
def test_every_weights_variant_meta_count_equals_num_params():
    mismatches = []
    for model in list_models():
        for weights in get_model_weights(model):
            counted = tv.meta_parameter_count(model, weights.name)
            if counted != weights.meta["num_params"]:
                mismatches.append((model, weights.name, counted, weights.meta["num_params"]))
    assert mismatches == []


def test_backend_resolve_compares_meta_device_with_catalog(sqlite_store):
    rec = TorchHubBackend().resolve("torchhub:pytorch/vision/resnet50#IMAGENET1K_V1")
    assert rec.id == "torchhub:pytorch/vision/resnet50"
    assert rec.parameters == 25_557_032 and rec.parameters_source == "catalog"
    assert rec.extra["meta_device_parameters"] == 25_557_032
    assert rec.parameters_note.endswith("the meta-device count equals it")
    with pytest.raises(ModelNotFoundError, match="no weights"):
        TorchHubBackend().resolve("torchhub:pytorch/vision/resnet50#IMAGENET9K")


def test_torchvision_and_the_hub_docs_merge(tv_store, shared):
    store, _ = tv_store
    pytorch_hub.sync(store, source=str(shared("catalogs", "pytorch-hub")))
    rec = store.get("torchhub:pytorch/vision/resnet18")
    assert rec.extra["title"] == "ResNet" and sorted(rec.extra["variants"]) == ["IMAGENET1K_V1"]
    assert rec.parameters == 11_689_512 and rec.tags == ("vision", "classification", "scriptable")
    # every pytorch/vision entrypoint of the docs is a torchvision builder: no new ids
    assert store.count(platform="torchhub") == len(list_models()) + 124 - 33
    again = tv.sync(store)  # and the other order keeps the docs' facts too
    assert again.records == len(list_models())
    assert store.get("torchhub:pytorch/vision/resnet18").extra["title"] == "ResNet"


# -- timm ------------------------------------------------------------------------------------------
@pytest.fixture
def timm_store(sqlite_store):
    report = timm_catalog.sync(sqlite_store, count=False)  # the counts: test_timm_counts_on_the_meta_device
    return sqlite_store, report


COUNTED = ["resnet18.a1_in1k", "vit_base_patch16_384.augreg_in21k_ft_in1k", "convnext_atto.d2_in1k",
           "aimv2_1b_patch14_224.apple_pt", "resnet50.a1_in1k", "resnet50.a2_in1k"]


def test_timm_counts_on_the_meta_device(sqlite_store, tmp_path, monkeypatch):
    import timm
    import torch

    monkeypatch.setenv("PTMHUB_HOME", str(tmp_path / "home"))
    from ptmhub import settings

    settings.reload()
    report = timm_catalog.sync(sqlite_store, names=COUNTED, workers=2)
    assert report.counts["meta_device_built"] == 5  # resnet50's two tags share one build
    assert report.counts["meta_device_cached"] == 0 and not report.problems
    for name in ["resnet18.a1_in1k", "vit_base_patch16_384.augreg_in21k_ft_in1k", "convnext_atto.d2_in1k"]:
        rec = sqlite_store.get(f"hf:timm/{name}")
        real = timm.create_model(name, pretrained=False)  # on the CPU: what the meta device must agree with
        assert rec.parameters == sum(p.numel() for p in real.parameters()), name
        assert rec.parameters_source == "meta-device" and "meta device" in rec.parameters_note
    # a ViT at 384 has more position embeddings than at 224: the tag's own cfg was built
    assert sqlite_store.get("hf:timm/vit_base_patch16_384.augreg_in21k_ft_in1k").parameters == 86_859_496
    with torch.device("meta"):
        backbone = timm.create_model("aimv2_1b_patch14_224.apple_pt", pretrained=False)
    assert sqlite_store.get("hf:timm/aimv2_1b_patch14_224.apple_pt").parameters == sum(
        p.numel() for p in backbone.parameters())
    # the counts are kept: a second sync builds nothing and stores the same
    again = timm_catalog.sync(sqlite_store, names=COUNTED, workers=2)
    assert again.counts["meta_device_built"] == 0 and again.counts["meta_device_cached"] == 5
    assert (tmp_path / "home" / "timm-counts.json").is_file()
    # size filters now find timm models offline
    found = sqlite_store.search(platform="huggingface", max_parameters=15_000_000, q="resnet18")
    assert [r.id for r in found] == ["hf:timm/resnet18.a1_in1k"]


def test_a_timm_model_that_cannot_be_built_is_a_reason(monkeypatch):
    out = timm_catalog.count_on_meta(["no_such_architecture.x"])
    assert out[0][0] == "no_such_architecture.x" and out[0][1] is None and "failed" in out[0][2]


def test_timm_sync(timm_store):
    import timm

    store, report = timm_store
    pretrained = timm.list_pretrained()
    assert len(pretrained) > 1500  # 1,826 in timm 1.0.31
    without_hub = [n for n in pretrained if not timm.models.get_pretrained_cfg(n).hf_hub_id]
    assert report.skipped == len(without_hub)
    assert report.counts["pretrained_tags"] == len(pretrained) - len(without_hub)
    assert report.records == store.count(platform="huggingface") == report.counts["hf_repos"]
    assert store.count(platform="huggingface", framework="timm") == report.records


def test_timm_record_facts(timm_store):
    store, _ = timm_store
    rec = store.get("hf:timm/resnet50.a1_in1k")
    assert rec.platform == "huggingface" and rec.library == "timm" and rec.framework == "pytorch"
    assert rec.task == "image-classification" and rec.architecture == "resnet50"
    assert rec.license == "apache-2.0" and rec.license_source == "timm pretrained cfg"
    assert rec.parameters is None and "no parameter count" in rec.parameters_note
    info = rec.extra["timm"]
    assert info["num_classes"] == 1000 and info["input_size"] == [3, 224, 224]
    assert info["test_input_size"] == [3, 288, 288] and info["model_name"] == "resnet50.a1_in1k"
    # a backbone without a classifier head
    feat = store.get("hf:timm/aimv2_1b_patch14_224.apple_pt")
    assert feat.task == "feature-extraction" and feat.license == "apple-ascl"


def test_timm_searchable_by_license(timm_store):
    store, report = timm_store
    apache = store.count(license="apache-2.0", platform="huggingface")
    assert apache == report.counts["license:apache-2.0"] > 1000
    found = store.search(license="apache-2.0", platform="huggingface", q="resnet50", limit=5)
    assert found and all(r.license == "apache-2.0" and r.library == "timm" for r in found)
    assert store.count(license="non-commercial", platform="huggingface") >= report.counts["license:cc-by-nc-4.0"]
    assert store.count(license="mit", task="feature-extraction") > 0


def test_timm_resync_is_idempotent(timm_store):
    store, report = timm_store
    assert timm_catalog.sync(store, count=False).records == report.records == store.count(platform="huggingface")


def test_resolve_keeps_what_the_catalogs_recorded(sqlite_store, shared):
    pytorch_hub.sync(sqlite_store, source=str(shared("catalogs", "pytorch-hub")))
    rec = models.resolve(parse("torchhub:pytorch/vision/resnet18"), store=sqlite_store)  # the store combines
    assert rec.extra["title"] == "ResNet" and rec.extra["meta_device_parameters"] == 11_689_512
    assert rec.tags == ("vision", "scriptable", "classification")
