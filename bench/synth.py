"""A realistic synthetic catalog: N model records with real-world shapes, deterministic from a
seed and streamed (a generator), so a million records never sit in memory at once.

Distributions (chosen to look like the Hugging Face Hub's public listing):
- owners: Zipf-like (a few organisations own many models, a long tail owns one or two);
- tasks: a pipeline-tag mix led by text-generation, text-classification, feature-extraction;
- licenses: apache-2.0 and mit dominate, then openrail/cc-by-nc/llama terms, ~35% unknown;
- tags: 2..12 per model from a 400-word vocabulary plus architecture and language tags;
- parameters: log-uniform over 10^4..10^11, missing for ~30% (as on the Hub);
- downloads: log-normal long tail (most models have a handful, a few have millions); likes ~ downloads^0.6.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from ptmhub.records import ModelRecord

TASKS = [("text-generation", 24), ("text-classification", 11), ("feature-extraction", 7), ("fill-mask", 5),
         ("token-classification", 5), ("text2text-generation", 5), ("image-classification", 6),
         ("automatic-speech-recognition", 4), ("sentence-similarity", 4), ("question-answering", 3),
         ("text-to-image", 6), ("image-segmentation", 2), ("object-detection", 2), ("translation", 3),
         ("summarization", 2), ("reinforcement-learning", 4), (None, 7)]
LICENSES = [("apache-2.0", 22), ("mit", 15), ("openrail", 4), ("creativeml-openrail-m", 3), ("cc-by-nc-4.0", 4),
            ("llama2", 2), ("llama3", 2), ("gpl-3.0", 1), ("cc-by-4.0", 3), ("bsd-3-clause", 1), ("other", 3),
            (None, 38)]
LIBRARIES = [("transformers", 45), ("diffusers", 8), ("sentence-transformers", 6), ("timm", 4), ("peft", 10),
             ("gguf", 6), ("ml-agents", 2), ("stable-baselines3", 3), (None, 16)]
ARCHS = ["bert", "roberta", "gpt2", "llama", "mistral", "t5", "vit", "resnet", "whisper", "clip", "qwen2", "phi",
         "gemma", "deberta", "distilbert", "electra", "bart", "convnext", "stable-diffusion", "wav2vec2"]
WORDS = [f"{a}{b}" for a in ("neo", "tiny", "base", "large", "fast", "deep", "open", "mini", "mega", "smart",
                              "multi", "cross", "fine", "zero", "hyper", "micro", "quant", "auto", "lite", "pro")
         for b in ("net", "former", "lm", "coder", "vision", "speech", "chat", "embed", "sum", "qa",
                   "ner", "seg", "det", "gen", "tune", "rank", "tag", "mix", "flow", "bot")]
LANGS = ["en", "zh", "fr", "de", "es", "ja", "ru", "ko", "ar", "multilingual"]


def _weighted(rng: random.Random, table):
    values, weights = zip(*table)
    return rng.choices(values, weights)[0]


def generate(n: int, seed: int = 1) -> Iterator[ModelRecord]:
    rng = random.Random(seed)
    n_owners = max(10, n // 8)
    for i in range(n):
        owner_rank = min(n_owners, int(rng.paretovariate(1.1)))
        owner = f"org{owner_rank:06d}"
        arch = rng.choice(ARCHS)
        name = f"{arch}-{rng.choice(WORDS)}-{i:07d}"
        task = _weighted(rng, TASKS)
        lic = _weighted(rng, LICENSES)
        params = int(10 ** rng.uniform(4, 11)) if rng.random() > 0.3 else None
        downloads = int(math.exp(rng.gauss(2.0, 3.0))) if rng.random() > 0.05 else 0
        tags = sorted({arch, *rng.sample(WORDS, rng.randint(2, 12)), rng.choice(LANGS)})
        yield ModelRecord(
            id=f"hf:{owner}/{name}", platform="huggingface", name=name, owner=owner, task=task,
            parameters=params, parameters_source="api" if params else None, license=lic,
            license_raw=lic, library=_weighted(rng, LIBRARIES), framework="pytorch", downloads=downloads,
            likes=int(downloads ** 0.6 * rng.random()), tags=tuple(tags), languages=(rng.choice(LANGS),),
            architecture=arch,
        )
