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
                             "gated", "last_modified"}),
    )
