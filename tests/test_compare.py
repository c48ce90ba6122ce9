"""ptmhub.comparison: the architecture normalizer, compare() rows and sources, same_as() across hubs,
and the `ptmhub compare` command (table, --json, --csv, --html, --same-as)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptmhub import licenses
from ptmhub.comparison import (COMMERCIAL_USE, ROWS, architecture_of, compare, compare_records,
                               normalize_architecture, relative_difference, same_as)
from ptmhub.errors import NotInRegistryError, UsageError
from ptmhub.records import ModelRecord

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "registry.db.example"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- the normalizer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, key, variant", [
    # ResNet-50 as torchvision, timm, TF Hub, HF, NVIDIA and the semi-supervised repo write it
    ("resnet50", "resnet-50", None),
    ("resnet-50", "resnet-50", None),
    ("resnet_v2_50", "resnet-50", "v2"),
    ("resnet-v2-50", "resnet-50", "v2"),
    ("resnetv2_50", "resnet-50", "v2"),
    ("resnet50.a1_in1k", "resnet-50", None),
    ("microsoft/resnet-50", "resnet-50", None),
    ("nvidia_resnet50", "resnet-50", "nvidia"),
    ("resnet50_swsl", "resnet-50", "swsl"),
    ("quantized_resnet50", "resnet-50", "quantized"),
    ("google/imagenet/resnet_v2_50/classification/5", "resnet-50", "v2"),
    ("resnet101", "resnet-101", None),
    # BERT base on HF and TF Hub
    ("bert-base-uncased", "bert-base", "uncased"),
    ("hf:google-bert/bert-base-uncased", "bert-base", "uncased"),
    ("bert_en_uncased_L-12_H-768_A-12", "bert-base", "uncased"),
    ("tensorflow/bert_en_cased_L-12_H-768_A-12/4", "bert-base", "cased"),
    ("bert_en_wwm_uncased_L-24_H-1024_A-16", "bert-large", "wwm-uncased"),
    ("bert-large-cased", "bert-large", "cased"),
    ("bert_multi_cased_L-12_H-768_A-12", "bert-base-multilingual", "cased"),
    ("bert-base-multilingual-cased", "bert-base-multilingual", "multilingual-cased"),
    ("small_bert/bert_en_uncased_L-4_H-512_A-8", "bert-l4-h512", "uncased"),
    ("distilbert-base-uncased", "distilbert-base", "uncased"),
    ("roberta-base", "roberta-base", None),
    ("roberta.large", "roberta-large", None),
    ("xlm-roberta-base", "xlm-roberta-base", None),
    ("albert_en_base", "albert-base", None),
    ("gpt2", "gpt2", None),
    ("t5-small", "t5-small", None),
    # MobileNet: TF Hub width/resolution names, timm, torchvision
    ("mobilenet_v2_100_224", "mobilenet-v2", "224"),
    ("mobilenet_v2", "mobilenet-v2", None),
    ("mobilenetv2_100", "mobilenet-v2", None),
    ("mobilenet-v2", "mobilenet-v2", None),
    ("mobilenet_v2_035_224", "mobilenet-v2-0.35", "224"),
    ("mobilenet_v3_large_100_224", "mobilenet-v3-large", "224"),
    ("mobilenetv3_large_100", "mobilenet-v3-large", None),
    ("mobilenet_v3_small_075_224", "mobilenet-v3-small-0.75", "224"),
    # EfficientNet, Inception, ViT, Swin, ConvNeXt, VGG, DenseNet
    ("efficientnet_b0", "efficientnet-b0", None),
    ("tf_efficientnet_b0", "efficientnet-b0", "tf"),
    ("tensorflow/efficientnet/b0/classification/1", "efficientnet-b0", None),
    ("efficientnet_v2_imagenet1k_b0", "efficientnet-v2-b0", "imagenet1k"),
    ("efficientnet_v2_s", "efficientnet-v2-s", None),
    ("inception_v3", "inception-v3", None),
    ("googlenet", "inception-v1", "googlenet"),
    ("vit_b_16", "vit-b-16", None),
    ("vit_base_patch16_224", "vit-b-16", "224"),
    ("google/vit-base-patch16-224-in21k", "vit-b-16", "224-in21k"),
    ("vit_l_32", "vit-l-32", None),
    ("deit_small_patch16_224", "deit-s-16", "224"),
    ("swin_t", "swin-t", None),
    ("swin_tiny_patch4_window7_224", "swin-t", "window7-224"),
    ("convnext_tiny", "convnext-tiny", None),
    ("vgg16_bn", "vgg-16-bn", None),
    ("densenet121", "densenet-121", None),
    ("squeezenet1_1", "squeezenet-1.1", None),
    ("wide_resnet50_2", "wide-resnet-50-2", None),
    ("resnext50_32x4d", "resnext-50-32x4d", None),
])
def test_normalize_architecture(text, key, variant):
    arch = normalize_architecture(text)
    assert arch is not None, text
    assert (arch.key, arch.variant) == (key, variant)
    assert arch.known


@pytest.mark.parametrize("text", [
    "resnet50d",            # timm's deep-stem ResNet: another network
    "resnet50_gn",
    "resnet50_ibn_a",
    "bert_en_uncased_preprocess",  # a preprocessing model, not BERT
    "bert",                 # a family without a size
    "transformer",
    "yamnet",
    "", None,
])
def test_normalize_architecture_rejects(text):
    assert normalize_architecture(text) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalize_architecture_total(text):
    """Any string (hub-supplied names are untrusted): None or a lowercase key, never an exception."""
    arch = normalize_architecture(text)
    assert arch is None or (arch.key == arch.key.lower() and arch.key and arch.known)
    record = ModelRecord(id="hf:x/y", platform="huggingface", name=text or "y", architecture=text, tags=(text,))
    arch = architecture_of(record)
    assert arch is None or arch.key


def test_different_networks_never_share_a_key():
    keys = {normalize_architecture(t).key for t in
            ("resnet50", "wide_resnet50_2", "resnext50_32x4d", "resnet101", "mobilenet_v2_035_224",
             "mobilenet_v2", "bert-base-uncased", "bert-large-uncased", "distilbert-base-uncased",
             "efficientnet_b0", "efficientnet_v2_imagenet1k_b0", "vit_b_16", "vit_b_32", "deit_base_patch16_224")}
    assert len(keys) == 14


# -- records shaped like the importers' -------------------------------------------------------------

def _rec(id: str, **kw) -> ModelRecord:
    platform = {"hf": "huggingface", "tfhub": "tfhub", "torchhub": "torchhub", "kaggle": "kaggle"}[id.split(":")[0]]
    name = kw.pop("name", id.split("/")[-1])
    return ModelRecord(id=id, platform=platform, name=name, **kw)


HF_BERT = _rec("hf:google-bert/bert-base-uncased", name="bert-base-uncased", owner="google-bert", task="fill-mask",
               parameters=110_106_428, parameters_source="api",
               parameters_note="safetensors.total from the Hub API, equal to its per-dtype sum (F32)",
               license="apache-2.0", license_raw="apache-2.0",
               license_source="huggingface: model card metadata (cardData.license)", framework="pytorch",
               library="transformers", format="safetensors", fine_tunable=True, downloads=72_376_843, likes=2065,
               architecture="bert", revision="86b5e0934494bd15c9632b12f734a8a67f723594",
               source_url="https://huggingface.co/google-bert/bert-base-uncased", aliases=("hf:bert-base-uncased",))
HF_DISTILBERT = _rec("hf:distilbert/distilbert-base-uncased", owner="distilbert", task="fill-mask",
                     parameters=66_985_530, parameters_source="api", license="apache-2.0",
                     license_source="huggingface: model card metadata (cardData.license)", framework="pytorch",
                     library="transformers", format="safetensors", downloads=11_000_000, likes=700,
                     architecture="distilbert", revision="12040accade4e8a0f71eabdb258fecc2e7e948be")
HF_GPL = _rec("hf:someone/bert-base-gpl", task="fill-mask", parameters=110_000_000, parameters_source="api",
              license="gpl-3.0", license_source="huggingface: model card metadata (cardData.license)",
              library="transformers", downloads=10)
TFHUB_BERT = _rec("tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4", name="bert_en_uncased_L-12_H-768_A-12",
                  owner="tensorflow", task="feature-extraction", framework="tensorflow", library="tensorflow-hub",
                  format="saved_model_2", fine_tunable=True, architecture="transformer", version="4",
                  tags=("module", "saved_model_2", "text-embedding", "transformer"),
                  extra={"doc_path": "tensorflow/models/bert_en_uncased_L-12_H-768_A-12/4.md"})
TFHUB_BERT_PRE = _rec("tfhub:tensorflow/bert_en_uncased_preprocess/3", name="bert_en_uncased_preprocess",
                      task="text-preprocessing", library="tensorflow-hub",
                      extra={"doc_path": "tensorflow/models/bert_en_uncased_preprocess/3.md"})
TORCHHUB_HF_MODEL = _rec("torchhub:huggingface/pytorch-transformers/model", name="model", owner="huggingface",
                         framework="pytorch", format="hubconf", tags=("nlp",),
                         extra={"catalog": "pytorch/hub", "doc": "huggingface_pytorch-transformers.md",
                                "example": "torch.hub.load('huggingface/pytorch-transformers', 'model', "
                                           "'bert-base-uncased')"})
TORCHHUB_HF_TOKENIZER = _rec("torchhub:huggingface/pytorch-transformers/tokenizer", name="tokenizer",
                             framework="pytorch", extra={"catalog": "pytorch/hub", "example":
                             "torch.hub.load('huggingface/pytorch-transformers', 'tokenizer', 'bert-base-uncased')"})
TV_RESNET50 = _rec("torchhub:pytorch/vision/resnet50", name="resnet50", owner="pytorch", task="image-classification",
                   parameters=25_557_032, parameters_source="catalog",
                   parameters_note="torchvision weights meta num_params of ResNet50_Weights.IMAGENET1K_V2 (DEFAULT)",
                   license="bsd-3-clause", license_raw="BSD-3-Clause",
                   license_source="code: torchvision's BSD-3-Clause; torchvision publishes no license for these weights",
                   framework="pytorch", library="torchvision", format="hubconf", fine_tunable=True,
                   architecture="resnet", revision="v0.10.0", size_bytes=102_540_247,
                   extra={"torchvision_version": "0.29.1", "catalog": "pytorch/hub"})
TV_WIDE = _rec("torchhub:pytorch/vision/wide_resnet50_2", name="wide_resnet50_2", task="image-classification",
               parameters=68_883_240, parameters_source="catalog", library="torchvision", architecture="resnet",
               extra={"torchvision_version": "0.29.1"})
TIMM_RESNET50 = [_rec(f"hf:timm/resnet50.{tag}", name=f"resnet50.{tag}", owner="timm", task="image-classification",
                      license="apache-2.0", license_source="timm pretrained cfg", framework="pytorch", library="timm",
                      fine_tunable=True, architecture="resnet50",
                      extra={"timm": {"architecture": "resnet50", "tag": tag, "timm_version": "1.0.31"}})
                 for tag in ("a1_in1k", "a2_in1k", "tv_in1k")]
TIMM_RESNET50D = _rec("hf:timm/resnet50d.ra2_in1k", name="resnet50d.ra2_in1k", owner="timm", library="timm",
                      task="image-classification", architecture="resnet50d", extra={"timm": {"timm_version": "1.0.31"}})
TFHUB_RESNET = [_rec(f"tfhub:google/imagenet/resnet_v2_50/{kind}/5", name=f"imagenet/resnet_v2_50/{kind}",
                     owner="google", task=task, framework="tensorflow", library="tensorflow-hub",
                     format="saved_model_2", fine_tunable=True, architecture="resnet-v2-50", version="5",
                     tags=("module", "resnet-v2-50"), extra={"doc_path": f"google/models/imagenet/resnet_v2_50/{kind}/5.md"})
                for kind, task in (("classification", "image-classification"),
                                   ("feature_vector", "image-feature-extraction"))]
TFHUB_MOVENET = _rec("tfhub:google/movenet/singlepose/lightning/4", name="movenet/singlepose/lightning",
                     task="keypoint-detection", architecture="mobilenet-v2", library="tensorflow-hub",
                     tags=("module", "mobilenet-v2"))
TFHUB_MOBILENET = _rec("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
                       name="imagenet/mobilenet_v2_100_224/classification", task="image-classification",
                       architecture="mobilenet-v2", library="tensorflow-hub", version="5")
TV_MOBILENET = _rec("torchhub:pytorch/vision/mobilenet_v2", name="mobilenet_v2", task="image-classification",
                    parameters=3_504_872, parameters_source="catalog", library="torchvision",
                    extra={"torchvision_version": "0.29.1"})
IMPOSTOR = _rec("hf:someone/resnet-50", name="resnet-50", task="image-classification", parameters=11_689_512,
                parameters_source="api", library="transformers", downloads=5)
PLACEHOLDER = _rec("hf:roberta-base", parameters_note="no recorded source for this model in the example build; "
                                                    "run 'ptmhub resolve'")

ALL = [HF_BERT, HF_DISTILBERT, HF_GPL, TFHUB_BERT, TFHUB_BERT_PRE, TORCHHUB_HF_MODEL, TORCHHUB_HF_TOKENIZER,
       TV_RESNET50, TV_WIDE, *TIMM_RESNET50, TIMM_RESNET50D, *TFHUB_RESNET, TFHUB_MOVENET, TFHUB_MOBILENET,
       TV_MOBILENET, IMPOSTOR, PLACEHOLDER]


@pytest.fixture
def reg(store):
    store.upsert(ALL)
    return store


def test_architecture_of_records():
    assert architecture_of(TIMM_RESNET50[0]).evidence == "timm model name 'resnet50.a1_in1k'"
    assert architecture_of(TFHUB_RESNET[0]).key == "resnet-50"
    # TF Hub's own architecture field when the name says nothing
    arch = architecture_of(TFHUB_MOVENET)
    assert arch.key == "mobilenet-v2" and arch.evidence == "architecture 'mobilenet-v2'"
    # a torch.hub loader entrypoint: the model its doc's example loads
    arch = architecture_of(TORCHHUB_HF_MODEL)
    assert arch.key == "bert-base" and "example loads 'bert-base-uncased'" in arch.evidence
    # ... but a tokenizer entrypoint is not a model
    assert not architecture_of(TORCHHUB_HF_TOKENIZER).known
    # no known family: a slug, matching only itself
    slug = architecture_of(_rec("tfhub:google/yamnet/1", name="yamnet"))
    assert (slug.key, slug.known) == ("yamnet", False)


# -- compare -----------------------------------------------------------------------------------------

def test_compare_rows_values_and_sources(reg):
    c = compare(["hf:bert-base-uncased", "hf:distilbert/distilbert-base-uncased", "hf:roberta-base"], store=reg)
    assert c.ids == ("hf:google-bert/bert-base-uncased", "hf:distilbert/distilbert-base-uncased", "hf:roberta-base")
    assert [r.field for r in c.rows] == [name for name, _, _ in ROWS]
    params = c.row("parameters")
    assert params.values == (110_106_428, 66_985_530, None)
    assert params.display[:2] == ("110M (110,106,428)", "67M (66,985,530)")
    assert params.sources[0] == "api: safetensors.total from the Hub API, equal to its per-dtype sum (F32)"
    assert params.sources[2].startswith("unknown: no recorded source") and params.differs and params.unknown
    lic = c.row("license")
    assert lic.values == ("apache-2.0", "apache-2.0", None) and not lic.differs and lic.unknown
    assert lic.sources[0] == "huggingface: model card metadata (cardData.license)"
    use = c.row("commercial_use")
    assert use.values == ("permissive", "permissive", None) and not use.differs
    assert use.display[0] == "permissive: allowed, with attribution" and use.display[2] == "unknown: ask the authors"
    assert c.row("architecture").values == ("bert-base", "distilbert-base", "roberta-base")
    assert c.row("downloads").sources[0] == "Hugging Face Hub API (model info), last 30 days"
    assert c.row("version").display[0] == "commit 86b5e0934494"
    assert c.row("cached").values == (False, False, False) and not c.row("cached").differs
    assert {r.field for r in c.differing} >= {"parameters", "architecture", "downloads", "likes", "version"}
    assert "license" not in {r.field for r in c.differing}


def test_compare_commercial_use_follows_license_categories(reg):
    c = compare(["hf:google-bert/bert-base-uncased", "hf:someone/bert-base-gpl", "torchhub:pytorch/vision/resnet50"],
                store=reg)
    use = c.row("commercial_use")
    assert use.values == ("permissive", "copyleft", "permissive") and use.differs
    assert use.display[1] == f"copyleft: {COMMERCIAL_USE['copyleft']}"
    # torchvision's license is its code's: the verdict says so
    assert use.display[2].endswith("(code license; weights may differ)")
    for cat in licenses.CATEGORIES:
        assert cat in COMMERCIAL_USE


def test_compare_unpublished_values_say_so(reg):
    c = compare(["tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4", "torchhub:pytorch/vision/resnet50"], store=reg)
    assert c.row("downloads").sources == ("not published by TF Hub (tfhub.dev)", "not published by PyTorch Hub")
    assert c.row("version").display == ("version 4", "ref v0.10.0")
    assert c.row("task").sources[0] == "tfhub.dev catalog doc tensorflow/models/bert_en_uncased_L-12_H-768_A-12/4.md"
    assert "derived by ptmhub" in c.row("task").sources[1]
    assert c.row("size_bytes").display[1] == "97.8 MB (102,540,247 bytes)"
    assert c.origins == ("tfhub.dev catalog doc tensorflow/models/bert_en_uncased_L-12_H-768_A-12/4.md",
                         "torchvision 0.29.1 weights meta")


def test_compare_cache_state(reg, tmp_path):
    reg.set_cache_state("hf:google-bert/bert-base-uncased", cached=True, cache_path=str(tmp_path / "snap"),
                        cache_size_bytes=440_473_133)
    c = compare(["hf:bert-base-uncased", "hf:distilbert/distilbert-base-uncased"], store=reg)
    assert c.row("cached").values == (True, False) and c.row("cached").differs
    disk = c.row("cache_size_bytes")
    assert disk.values == (440_473_133, None) and disk.display[0] == "420.1 MB (440,473,133 bytes)"
    assert disk.sources == (f"local cache scan of {tmp_path / 'snap'}", "not cached")


def test_compare_dedupes_aliases_and_validates(reg):
    c = compare(["hf:bert-base-uncased", "hf:google-bert/bert-base-uncased"], store=reg)
    assert c.ids == ("hf:google-bert/bert-base-uncased",) and not c.differing
    with pytest.raises(UsageError):
        compare([], store=reg)
    with pytest.raises(UsageError):
        compare_records([])
    with pytest.raises(NotInRegistryError):
        compare(["hf:nobody/nothing"], store=reg, offline=True)


def test_compare_json_and_csv_shapes(reg):
    c = compare(["hf:bert-base-uncased", "torchhub:pytorch/vision/resnet50"], store=reg)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["models"] == list(c.ids) and len(data["rows"]) == len(ROWS)
    assert set(data["rows"][0]) == {"field", "label", "differs", "unknown", "values", "display", "sources"}
    rows = c.csv_rows()
    assert rows[0] == ["field", "label", "differs", *c.ids, *(f"{i} source" for i in c.ids)]
    assert rows[5][:5] == ["parameters", "Parameters", "yes", 110_106_428, 25_557_032]


def test_public_api_compare_stays_callable(reg):
    """``ptmhub.compare`` is the API function even after the comparison module is imported."""
    import ptmhub
    import ptmhub.comparison  # noqa: F401

    c = ptmhub.compare(["hf:bert-base-uncased"], store=reg)
    assert c.ids == ("hf:google-bert/bert-base-uncased",)
    assert callable(ptmhub.compare)


# -- same_as -----------------------------------------------------------------------------------------

def test_same_as_bert_base_across_three_hubs(reg):
    s = same_as("hf:bert-base-uncased", store=reg, offline=True)
    assert s.architecture.key == "bert-base"
    ids = [m.record.id for m in s.matches]
    assert ids[:2] == ["tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
                       "torchhub:huggingface/pytorch-transformers/model"]
    assert "hf:someone/bert-base-gpl" in ids  # same size, same architecture, another license
    assert "tfhub:tensorflow/bert_en_uncased_preprocess/3" not in ids
    assert "torchhub:huggingface/pytorch-transformers/tokenizer" not in ids
    assert "hf:distilbert/distilbert-base-uncased" not in ids
    assert {r.platform for r in s.comparison.records} == {"huggingface", "tfhub", "torchhub"}
    assert s.comparison.ids[0] == "hf:google-bert/bert-base-uncased"


def test_same_as_resnet50_torchvision_timm_tfhub(reg):
    s = same_as("torchhub:pytorch/vision/resnet50", store=reg, offline=True)
    ids = [m.record.id for m in s.matches]
    # the best of every other source first, then the rest
    assert set(ids[:2]) == {"hf:timm/resnet50.a1_in1k", "tfhub:google/imagenet/resnet_v2_50/classification/5"}
    assert set(ids) == {*(r.id for r in TIMM_RESNET50), *(r.id for r in TFHUB_RESNET)}
    assert "torchhub:pytorch/vision/wide_resnet50_2" not in ids and "hf:timm/resnet50d.ra2_in1k" not in ids
    # a "resnet-50" with a ResNet-18's parameter count is rejected, with the reason
    rejected = {m.record.id: m.reason for m in s.rejected}
    assert rejected["hf:someone/resnet-50"].startswith("parameters differ by 54.3% (> 10%) from the target's count")
    # the comparison: target + best per (platform, library)
    assert s.comparison.ids == ("torchhub:pytorch/vision/resnet50", "hf:timm/resnet50.a1_in1k",
                                "tfhub:google/imagenet/resnet_v2_50/classification/5")
    assert s.comparison.row("architecture").values == ("resnet-50",) * 3
    # a looser tolerance admits it
    loose = same_as("torchhub:pytorch/vision/resnet50", store=reg, tolerance=0.6)
    assert "hf:someone/resnet-50" in [m.record.id for m in loose.matches]


def test_same_as_from_timm_and_tfhub(reg):
    s = same_as("hf:timm/resnet50.a2_in1k", store=reg)
    ids = [m.record.id for m in s.matches]
    assert "torchhub:pytorch/vision/resnet50" in ids[:3] and "hf:timm/resnet50.a1_in1k" in ids
    s = same_as("tfhub:google/imagenet/resnet_v2_50/feature_vector/5", store=reg)
    assert set(s.comparison.ids[1:]) == {"torchhub:pytorch/vision/resnet50", "hf:timm/resnet50.a1_in1k"}
    # the target's count is unknown: the candidates' median (torchvision's 25.6M vs the impostor's
    # 11.7M -> the upper of the two) is the reference, and the impostor is still rejected
    assert s.reference_parameters == 25_557_032 and s.reference_source.startswith("the median of 2")
    assert [m.record.id for m in s.rejected] == ["hf:someone/resnet-50"]


def test_same_as_backbone_field_is_not_equivalence(reg):
    s = same_as("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5", store=reg)
    assert [m.record.id for m in s.matches] == ["torchhub:pytorch/vision/mobilenet_v2"]
    assert [m.record.id for m in s.rejected] == ["tfhub:google/movenet/singlepose/lightning/4"]
    assert s.rejected[0].reason == ("keypoint-detection model built on mobilenet-v2 (architecture 'mobilenet-v2'); "
                                    "the target is image-classification")
    # the same holds for a name segment: PoseNet's handle names its ResNet-50 backbone
    posenet = _rec("tfhub:tensorflow/posenet/resnet50/float/1", name="posenet/resnet50/float",
                   task="keypoint-detection", library="tfjs")
    reg.upsert([posenet])
    s = same_as("torchhub:pytorch/vision/resnet50", store=reg)
    assert posenet.id in [m.record.id for m in s.rejected]
    assert posenet.id not in [m.record.id for m in s.matches]


def test_same_as_limits_and_errors(reg):
    s = same_as("torchhub:pytorch/vision/resnet50", store=reg, limit=2)
    assert len(s.matches) == 2 and s.more == 3
    with pytest.raises(UsageError):
        same_as("torchhub:pytorch/vision/resnet50", store=reg, tolerance=1.5)
    with pytest.raises(NotInRegistryError):
        same_as("hf:nobody/nothing", store=reg, offline=True)


def test_relative_difference():
    assert relative_difference(100, 100) == 0.0
    assert relative_difference(100, 90) == pytest.approx(0.1)
    assert relative_difference(None, 5) is None


def test_same_as_on_a_large_platform_uses_full_text_search(sqlite_store, monkeypatch):
    """Past SCAN_ALL_BELOW records a platform is searched by the family's word, not scanned."""
    from ptmhub import comparison

    filler = [_rec(f"hf:org/model-{i}", task="fill-mask", library="transformers") for i in range(30)]
    sqlite_store.upsert([*filler, HF_BERT, TFHUB_BERT, HF_GPL])
    monkeypatch.setattr(comparison, "SCAN_ALL_BELOW", 10)
    s = same_as("tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4", store=sqlite_store)
    assert [m.record.id for m in s.matches] == ["hf:google-bert/bert-base-uncased", "hf:someone/bert-base-gpl"]
    assert s.scanned < 10  # tfhub scanned (1) + the hf records whose words start with "bert"


# -- the CLI -----------------------------------------------------------------------------------------

def run(args, capsys):
    from ptmhub.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture
def db(tmp_path):
    from ptmhub.registry import open_store

    path = tmp_path / "reg.db"
    open_store(f"sqlite:///{path}").upsert(ALL)
    return str(path)


def test_cli_compare_table(db, capsys):
    code, out, err = run(["--db", db, "compare", "hf:bert-base-uncased", "hf:distilbert/distilbert-base-uncased"],
                         capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "hf:google-bert/bert-base-uncased" in lines[0] and "hf:distilbert/distilbert-base-uncased" in lines[0]
    param_line = next(line for line in lines if "Parameters" in line)
    assert param_line.startswith("≠") and "110M (110,106,428)" in param_line and "67M (66,985,530)" in param_line
    license_line = next(line for line in lines if line.strip().startswith("License"))
    assert not license_line.startswith("≠")
    assert "where the values come from:" in out
    assert "parameters: api: safetensors.total from the Hub API" in out
    code, out, _ = run(["--db", db, "compare", "hf:bert-base-uncased", "--no-sources"], capsys)
    assert code == 0 and "where the values come from" not in out


def test_cli_compare_json_csv_html(db, capsys, tmp_path):
    code, out, _ = run(["--db", db, "compare", "hf:bert-base-uncased", "torchhub:pytorch/vision/resnet50", "--json"],
                       capsys)
    data = json.loads(out)
    assert code == 0 and data["models"] == ["hf:google-bert/bert-base-uncased", "torchhub:pytorch/vision/resnet50"]
    assert "parameters" in data["differing"]
    code, out, _ = run(["--db", db, "compare", "hf:bert-base-uncased", "torchhub:pytorch/vision/resnet50", "--csv"],
                       capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][:3] == ["field", "label", "differs"] and len(rows) == len(ROWS) + 1
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    code, out, err = run(["--db", db, "compare", "hf:bert-base-uncased", "torchhub:pytorch/vision/resnet50",
                          "--html", str(page)], capsys)
    assert code == 0 and out == "" and err.startswith(f"wrote {page}")
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "comparison-table" in text and "<svg" in text
    assert [p.name for p in page.parent.iterdir()] == ["report.html"]  # no .partial left behind


def test_cli_compare_same_as(db, capsys):
    code, out, err = run(["--db", db, "compare", "--same-as", "torchhub:pytorch/vision/resnet50"], capsys)
    assert code == 0, err
    assert out.startswith("same architecture as torchhub:pytorch/vision/resnet50: resnet-50")
    assert "tfhub:google/imagenet/resnet_v2_50/classification/5" in out and "hf:timm/resnet50.a1_in1k" in out
    assert "not the same: hf:someone/resnet-50: parameters differ" in out
    code, out, _ = run(["--db", db, "compare", "--same-as", "hf:bert-base-uncased", "--json"], capsys)
    data = json.loads(out)
    assert data["architecture"]["key"] == "bert-base" and data["comparison"]["models"][0] == HF_BERT.id


@pytest.mark.parametrize("args, message", [
    (["compare"], "nothing to compare"),
    (["compare", "hf:a/b", "--same-as", "hf:c/d"], "not both"),
    (["compare", "hf:a/b", "--json", "--csv"], "choose one of"),
    (["compare", "hf:a/b", "--tolerance", "2"], "--tolerance"),
    (["compare", "not a valid id!!"], "error:"),
])
def test_cli_compare_usage_errors(db, capsys, args, message):
    code, out, err = run(["--db", db, *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_compare_offline_miss(db, capsys):
    code, _, err = run(["--db", db, "--offline", "compare", "hf:nobody/nothing"], capsys)
    assert code == 3 and err.startswith("error: hf:nobody/nothing is not in the registry")


# -- the example registry (the "done when") ---------------------------------------------------

@pytest.fixture
def example(tmp_path):
    if not EXAMPLE.exists():
        reason = f"{EXAMPLE.name} is not built (make example-registry)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    copy = tmp_path / "example.db"
    shutil.copy(EXAMPLE, copy)  # never touch the committed file
    return str(copy)


def test_example_registry_compare(example, capsys):
    code, out, err = run(["--db", example, "--offline", "compare", "hf:bert-base-uncased",
                          "hf:distilbert-base-uncased", "hf:roberta-base", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    rows = {r["field"]: r for r in data["rows"]}
    assert data["models"][0] == "hf:google-bert/bert-base-uncased"
    assert rows["parameters"]["values"][0] == 110_106_428 and rows["parameters"]["sources"][0].startswith("api")
    assert rows["license"]["values"][0] == "apache-2.0"
    assert rows["commercial_use"]["values"][0] == "permissive"
    assert rows["architecture"]["values"] == ["bert-base", "distilbert-base", "roberta-base"]
    assert all(s for r in data["rows"] for s in r["sources"])  # every value says where it came from


def test_example_registry_same_as_resnet50(example):
    import ptmhub

    s = ptmhub.same_as("torchhub:pytorch/vision/resnet50", store=f"sqlite:///{example}", offline=True)  # a URL: the API opens it
    sources = {(r.platform, r.library) for r in s.comparison.records}
    assert {("torchhub", "torchvision"), ("huggingface", "timm"), ("tfhub", "tensorflow-hub")} <= sources
    s = same_as("hf:bert-base-uncased", store=ptmhub.open_store(f"sqlite:///{example}"), offline=True)
    assert {r.platform for r in s.comparison.records} == {"huggingface", "tfhub", "torchhub"}
