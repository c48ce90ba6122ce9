"""The Hugging Face Hub's row of the platform matrix (``ptmhub platforms``)."""

from __future__ import annotations

from ..base import PlatformFacts

HUGGINGFACE = PlatformFacts(
    name="huggingface", color="#e0a100", downloads_window="last 30 days", title="Hugging Face Hub", supported=True,
    id_scheme="hf:OWNER/NAME[@REVISION] (the repo id); legacy ids without an owner "
              "(bert-base-uncased) redirect to the namespaced repo",
    versioning="git: every commit, branch and tag is a revision; pin one with @REVISION (default main)",
    frameworks="any: PyTorch, TensorFlow, JAX/Flax, ONNX, GGUF, Core ML, ...; the library tag names "
               "the loader (transformers, diffusers, timm, sentence-transformers, ...)",
    metadata="API: pipeline tag (task), library, tags, model-card YAML (license, datasets, language, "
             "base_model), downloads (last 30 days), likes, last modified, files, safetensors counts",
    license_info="model-card `license:` (SPDX-style id, or `other` with license_name/license_link); "
                 "optional, so some repos state none",
    parameter_counts="published for safetensors repos (`safetensors.total`, per dtype); ptmhub can also "
                     "sum safetensors headers with HTTP range reads",
    offline_cache="huggingface_hub cache: blobs + one snapshot folder per revision; offline with HF_HUB_OFFLINE=1",
    cache_env="HF_HUB_CACHE (default $HF_HOME/hub = ~/.cache/huggingface/hub)",
    auth="optional token (HF_TOKEN); needed for private repos and for gated models once their terms are accepted",
    remote_code="repos may ship modeling code; transformers runs it only with trust_remote_code=True; "
                "pickled .bin weights can run code when unpickled (safetensors cannot)",
    fine_tuning="the checkpoint is trainable as is: transformers Trainer, PEFT/LoRA; no fine-tunable flag",
    publishes=frozenset({"task", "parameters", "license", "framework", "library", "format", "downloads",
                         "likes", "tags", "datasets", "languages", "architecture", "revision", "size_bytes",
                         "gated", "last_modified", "evaluations"}),
    extra_keys={
        "files": "the repo's files with sizes (at most 2,000)",
        "files_count": "how many files the repo has",
        "files_truncated": "true when files lists only the first 2,000",
        "created_at": "when the repo was created",
        "auto_model": "the transformers Auto class the Hub names (transformersInfo)",
        "processor": "the preprocessor class the Hub names (transformersInfo)",
        "pipeline_class": "the diffusers pipeline class (model_index.json)",
        "base_model_relation": "how it derives from base_model (finetune, adapter, quantized, merge)",
        "license_name": "the license's name when the card says license: other",
        "license_link": "where that license is, when the card says license: other",
        "gated_mode": "how access is granted to a gated repo (auto, manual)",
        "private": "true for a private repo",
        "disabled": "true when the Hub disabled the repo",
        "trending_score": "the Hub's trending score at the last sync",
        "used_storage_bytes": "bytes the repo takes on the Hub (all revisions)",
        "facts_from": "where the record's facts came from, when not the Hub's API",
        "timm": "the timm pretrained cfgs of this repo (model names, license, input size, ...)",
        "cache_revisions": "the revisions of the repo in the HF cache (commit, refs, size)",
        "pull_files": "the files 'ptmhub pull' fetched",
        "pull_size_bytes": "their size",
        "adopted_from": "the folder 'ptmhub add --id hf:...' copied into the HF cache",
        "revision_note": "what an adopted snapshot's name is (the commit given, or a hash of the files)",
        "hub_revision": "the Hub's commit when it differs from the one recorded",
        "latest_commit_date": "the date of the commit recorded",
        "listing_may_be_truncated": "true when the Hub's file list may be incomplete",
    },
)
