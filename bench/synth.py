"""A realistic synthetic Hugging Face catalog: N models with the shapes of the Hub's public
listing, deterministic from a seed and streamed (generators), so a million models never sit
in memory at once.

Two views of the same models (same seed -> same facts):

- :func:`list_items` yields what ``GET /api/models?expand=...`` returns, item by item (the
  input of ``ptmhub sync hf``);
- :func:`generate` yields the :class:`~ptmhub.records.ModelRecord` the Hugging Face backend
  makes of such an item (the input of ``Store.upsert``), built directly so that generating a
  million of them stays cheap.

Distributions (chosen to look like the Hub's listing; none is fitted to private data):

- owners: Zipf over n/5 owners (rank r has weight ~ r^-0.8): the top owner holds ~2% of the
  models, about half the owners hold one; the first ranks carry well-known organisation names;
- tasks: the pipeline-tag mix of the Hub, led by text-generation, ~8% without a task;
- licenses: ~45% none, then apache-2.0, mit, the openrail family, cc-by-nc, llama/gemma
  terms, "other";
- tags: Hub-style (library, format, model type, task, ``license:``, ``dataset:``, ``arxiv:``,
  ``base_model:``, ``region:us``, ...), 3 to ~25 per model;
- parameters: known for ~70% (a safetensors total); log10 drawn from a mix of a normal around
  2*10^8 and a uniform over 10^4..10^11;
- downloads: long tail (10% zero, the rest log-normal: median ~5, a few in the millions);
  likes ~ downloads^0.6 times a uniform, mostly zero.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from ptmhub.records import ModelRecord

FAMOUS_OWNERS = ["google", "facebook", "microsoft", "TheBloke", "sentence-transformers", "Qwen", "meta-llama",
                 "mistralai", "openai", "stabilityai", "bigscience", "EleutherAI", "nvidia", "timm", "intfloat",
                 "BAAI", "unsloth", "mlx-community", "Helsinki-NLP", "huggingface", "allenai", "tiiuae",
                 "deepseek-ai", "microsoft-research", "apple", "amazon", "ibm-granite", "Salesforce", "laion",
                 "distilbert"]
TASKS = [("text-generation", 22), ("text-classification", 10), ("feature-extraction", 5), ("fill-mask", 4),
         ("token-classification", 5), ("text2text-generation", 4), ("image-classification", 6),
         ("automatic-speech-recognition", 4), ("sentence-similarity", 4), ("question-answering", 3),
         ("text-to-image", 6), ("image-segmentation", 1), ("object-detection", 2), ("translation", 2),
         ("summarization", 1), ("reinforcement-learning", 6), ("image-text-to-text", 3), ("text-to-speech", 1),
         ("audio-classification", 1), (None, 8)]
LICENSES = [(None, 45), ("apache-2.0", 20), ("mit", 10), ("openrail", 3), ("creativeml-openrail-m", 3),
            ("cc-by-nc-4.0", 3), ("cc-by-4.0", 2), ("llama2", 2), ("llama3", 1.5), ("gemma", 1), ("other", 4),
            ("gpl-3.0", 1), ("afl-3.0", 1), ("bsd-3-clause", 0.5), ("cc-by-sa-4.0", 1), ("cc-by-nc-sa-4.0", 1)]
LIBRARIES = [("transformers", 45), ("diffusers", 7), ("sentence-transformers", 5), ("timm", 3), ("peft", 10),
             ("gguf", 5), ("ml-agents", 2), ("stable-baselines3", 3), ("keras", 1), (None, 19)]
# model types, weighted roughly like the Hub (llama and its kin dominate recent uploads)
ARCHS = [("llama", 12), ("bert", 8), ("mistral", 6), ("qwen2", 8), ("gpt2", 5), ("t5", 4), ("roberta", 4),
         ("whisper", 3), ("vit", 3), ("clip", 2), ("distilbert", 4), ("deberta-v2", 2), ("xlm-roberta", 2),
         ("gemma", 3), ("phi3", 2), ("bart", 2), ("wav2vec2", 2), ("resnet", 1), ("convnext", 1),
         ("stable-diffusion", 4), ("mpnet", 2), ("electra", 1), ("falcon", 1), ("mixtral", 1), ("opt", 1),
         ("gpt_neox", 1), ("swin", 1), ("segformer", 1), ("detr", 1), ("yolos", 1)]
SIZES = ["tiny", "mini", "small", "base", "medium", "large", "xl", "xxl", "7b", "13b", "1.5b", "0.5b", "3b", "8b",
         "70b", "125m", "350m", "1b", "2b", "v2", "v3"]
SUFFIXES = ["finetuned", "instruct", "chat", "uncased", "cased", "lora", "gguf", "awq", "gptq", "4bit", "8bit",
            "merged", "dpo", "sft", "ner", "squad", "imdb", "sst2", "emotion", "sentiment", "multilingual", "en",
            "de", "fr", "zh", "ja", "ko", "ru", "es", "ar", "code", "math", "medical", "legal", "summarize", "qa",
            "embed", "rerank", "vision", "audio", "asr", "tts", "distilled", "quantized", "test", "demo", "exp",
            "ppo", "dqn", "lunarlander", "cartpole", "pokemon", "anime", "realistic", "portrait"]
DATASETS = ["imdb", "glue", "squad", "wikitext", "common_voice", "librispeech_asr", "cnn_dailymail", "conll2003",
            "emotion", "xsum", "imagenet-1k", "cifar10", "mnist", "openwebtext", "c4", "the_pile", "alpaca",
            "ultrachat_200k", "dolly", "oasst1", "mc4", "wmt16", "samsum", "yelp_review_full", "ag_news"]
LANGS = [("en", 60), ("zh", 6), ("fr", 4), ("de", 4), ("es", 4), ("ja", 3), ("ru", 3), ("ko", 2), ("ar", 2),
         ("multilingual", 3), ("vi", 1), ("id", 1), ("hi", 1), ("pt", 2), ("it", 2), ("tr", 1), ("pl", 1)]
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
SPAN_SECONDS = 6 * 365 * 86400


def _table(pairs: list[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    values = [p[0] for p in pairs]
    return values, list(accumulate(p[-1] for p in pairs))


_TASKS, _LICENSES, _ARCHS, _LANGS, _LIBS = (_table(t) for t in (TASKS, LICENSES, ARCHS, LANGS, LIBRARIES))
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(i: int) -> str:
    out = ""
    while True:
        i, r = divmod(i, 36)
        out = _B36[r] + out
        if not i:
            return out


_OWNER_PREFIXES = ["user", "lab", "ai", "dev", "team", "nlp", "ml", "research", "studio", "hf"]


def _owner(rank: int) -> str:
    if rank <= len(FAMOUS_OWNERS):
        return FAMOUS_OWNERS[rank - 1]
    h = hashlib.blake2s(rank.to_bytes(8, "little"), digest_size=4).digest()
    return f"{_OWNER_PREFIXES[h[0] % len(_OWNER_PREFIXES)]}-{h[1:].hex()}{_b36(rank)}"


ZIPF_S = 0.8  # owner rank exponent: the top owner holds ~2% of 1M models, ~half the owners hold one


def _zipf_rank(u: float, n_owners: int) -> int:
    """Inverse of the continuous Zipf CDF over ranks 1..n_owners (exponent ZIPF_S)."""
    a = 1.0 - ZIPF_S
    return min(n_owners, int(((n_owners ** a - 1.0) * u + 1.0) ** (1.0 / a)))


class _Model:
    """The facts of one synthetic model (both views are made from these)."""

    __slots__ = ("owner", "name", "task", "license", "library", "arch", "parameters", "downloads",
                 "likes", "tags", "languages", "datasets", "modified", "created", "sha", "gated", "base_model")


def _models(n: int, seed: int) -> Iterator[_Model]:
    rng = random.Random(seed)
    rand, choices, gauss, randint = rng.random, rng.choices, rng.gauss, rng.randint
    n_owners = max(len(FAMOUS_OWNERS) + 10, n // 5)
    for i in range(n):
        m = _Model()
        m.owner = _owner(_zipf_rank(rand(), n_owners))
        m.arch = choices(_ARCHS[0], cum_weights=_ARCHS[1])[0]
        words = [m.arch.replace("_", "-"), SIZES[int(rand() * len(SIZES))]]
        for _ in range(int(rand() * 3)):
            words.append(SUFFIXES[int(rand() * len(SUFFIXES))])
        words.append(_b36(i))  # names are unique per owner on the Hub; this keeps ids unique
        m.name = "-".join(words)
        m.task = choices(_TASKS[0], cum_weights=_TASKS[1])[0]
        m.license = choices(_LICENSES[0], cum_weights=_LICENSES[1])[0]
        m.library = choices(_LIBS[0], cum_weights=_LIBS[1])[0]
        if rand() < 0.7:
            exp = gauss(8.3, 1.1) if rand() < 0.6 else 4 + 7 * rand()
            m.parameters = int(10 ** min(11.2, max(4.0, exp)))
        else:
            m.parameters = None
        m.downloads = 0 if rand() < 0.1 else int(math.exp(gauss(1.6, 2.6)))
        m.likes = int(m.downloads ** 0.6 * rand()) if rand() < 0.4 else 0
        m.languages = tuple(dict.fromkeys(choices(_LANGS[0], cum_weights=_LANGS[1], k=int(rand() * 3))))
        m.datasets = tuple(dict.fromkeys(DATASETS[int(rand() * len(DATASETS))] for _ in range(int(rand() * 2.5))))
        m.base_model = None
        if rand() < 0.3 and i > 0:
            m.base_model = f"{_owner(1 + int(rand() * 30))}/{m.arch}-{SIZES[int(rand() * len(SIZES))]}"
        tags = [t for t in (m.library, "safetensors" if m.parameters else None, m.arch, m.task) if t]
        tags += m.languages
        tags += [f"dataset:{d}" for d in m.datasets]
        tags += [f"arxiv:{1800 + randint(0, 699)}.{randint(0, 19999):05d}" for _ in range(int(rand() * rand() * 4))]
        if m.license:
            tags.append(f"license:{m.license}")
        if m.base_model:
            tags.append(f"base_model:{m.base_model}")
        for tag, p in (("endpoints_compatible", 0.4), ("autotrain_compatible", 0.3), ("generated_from_trainer", 0.25),
                       ("tensorboard", 0.1), ("text-generation-inference", 0.15 if m.task == "text-generation" else 0),
                       ("conversational", 0.3 if m.task == "text-generation" else 0)):
            if rand() < p:
                tags.append(tag)
        tags.append("region:us")
        m.tags = tuple(dict.fromkeys(tags))
        m.created = EPOCH + dt.timedelta(seconds=int(SPAN_SECONDS * (i + rand()) / max(1, n)))
        m.modified = m.created + dt.timedelta(seconds=int(rand() * 3e7))
        m.sha = hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()
        m.gated = False if rand() > 0.01 else ("auto" if rand() < 0.5 else "manual")
        yield m


def generate(n: int, seed: int = 1) -> Iterator[ModelRecord]:
    """N model records as the Hugging Face backend makes them from a list page (sync)."""
    # the backend's own rules for framework and format, so both views stay the same records
    from ptmhub.hubs.huggingface import framework_of, format_of

    for m in _models(n, seed):
        known = m.parameters is not None
        framework = framework_of(m.library, m.tags)
        yield ModelRecord(
            id=f"hf:{m.owner}/{m.name}", platform="huggingface", name=m.name, owner=m.owner, task=m.task,
            parameters=m.parameters, parameters_source="api" if known else None,
            parameters_note=("safetensors.total from the Hub API, equal to its per-dtype sum (BF16)" if known
                             else "the Hub API publishes no safetensors parameter count"),
            license=m.license, license_raw=m.license,
            license_source="huggingface: model card metadata (cardData.license)" if m.license else None,
            framework=framework, library=m.library, format=format_of((), m.tags),
            fine_tunable=True if m.library in ("transformers", "timm", "sentence-transformers")
            and framework == "pytorch" else None,
            downloads=m.downloads, likes=m.likes, tags=m.tags, datasets=m.datasets, languages=m.languages,
            architecture=None,  # a list page has no config.model_type (resolve fills it in)
            revision=m.sha, source_url=f"https://huggingface.co/{m.owner}/{m.name}",
            gated=bool(m.gated), last_modified=m.modified,
        )


def list_items(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """N items of ``GET /api/models?expand=...`` (the Hub's JSON), for the same models as :func:`generate`."""
    for i, m in enumerate(_models(n, seed)):
        repo = f"{m.owner}/{m.name}"
        card: dict[str, Any] = {}
        if m.license:
            card["license"] = m.license
        if m.languages:
            card["language"] = list(m.languages)
        if m.datasets:
            card["datasets"] = list(m.datasets)
        if m.base_model:
            card["base_model"] = m.base_model
        item: dict[str, Any] = {
            "_id": hashlib.md5(repo.encode()).hexdigest()[:24], "id": repo, "author": m.owner, "sha": m.sha,
            "lastModified": m.modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "createdAt": m.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "private": False, "gated": m.gated,
            "disabled": False, "downloads": m.downloads, "likes": m.likes, "tags": list(m.tags),
            "trendingScore": int(m.likes ** 0.5), "modelId": repo,
        }
        if m.task:
            item["pipeline_tag"] = m.task
        if m.library:
            item["library_name"] = m.library
        if card:
            item["cardData"] = card
        if m.parameters is not None:
            item["safetensors"] = {"parameters": {"BF16": m.parameters}, "total": m.parameters}
        yield item
