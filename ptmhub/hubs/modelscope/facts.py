"""ModelScope's row of the platform matrix (``ptmhub platforms``)."""

from __future__ import annotations

from ..base import PlatformFacts

MODELSCOPE = PlatformFacts(
        name="modelscope", color="#624aff", title="ModelScope", supported=True,
        id_scheme="ms:OWNER/NAME[@REVISION] (the ModelScope model id, e.g. ms:Qwen/Qwen2.5-0.5B-Instruct)",
        versioning="git: branches and tags are revisions; pin one with @REVISION (default master)",
        frameworks="mostly PyTorch: transformers, sentence-transformers and ModelScope's own pipelines; "
                   "also TensorFlow, ONNX, PaddlePaddle",
        metadata="API: tasks, license, tags, frameworks, model type, downloads, stars, last update, "
                 "description, and a file list with each file's size and sha256",
        license_info="a License field per model (free text such as 'Apache License 2.0'); optional",
        parameter_counts="not published; ptmhub sums safetensors headers with HTTP range reads",
        offline_cache="modelscope client cache: models/OWNER--NAME/snapshots/REVISION (1.38+; older clients "
                      "wrote models/OWNER/NAME with .msc/.mdl pickles); offline with local_files_only=True",
        cache_env="MODELSCOPE_CACHE (default ~/.cache/modelscope)",
        auth="public models: none; an access token (MODELSCOPE_API_TOKEN for the client) for private models",
        remote_code="repos may ship code: ModelScope pipelines and transformers' trust_remote_code run it; "
                    "pickled .bin weights can run code when unpickled (safetensors cannot)",
        fine_tuning="transformers checkpoints are trainable as is; ModelScope's own trainers and ms-swift for "
                    "its pipelines; no fine-tunable flag",
        publishes=frozenset({"task", "license", "framework", "downloads", "likes", "tags", "architecture",
                             "revision", "size_bytes", "summary", "last_modified"}),
        extra_keys={
            "ref": "the branch or tag the record describes (master unless the ID names one)",
            "tasks": "every task ModelScope names (Tasks), in its own words",
            "frameworks": "the frameworks ModelScope names (Frameworks)",
            "libraries": "the libraries ModelScope names (Libraries)",
            "files": "the repo's files with sizes and sha256 (at most 2,000)",
            "files_truncated": "how many files there were when files holds only the first 2,000",
            "listing_may_be_truncated": "true when the file list reached the 3,000 entries ModelScope returns at most",
            "hub_revision": "the revision the model-info answer names (Revision)",
            "chinese_name": "the model's Chinese display name (ChineseName)",
            "created_at": "when the model was created (CreatedTime)",
            "latest_commit_date": "when the newest listed file was last committed",
            "header_bytes_fetched": "bytes of safetensors headers read with HTTP Range to count parameters",
            "pull_files": "the files ptmhub pulled",
            "cache_layout": "which client layout the cached copy is in (snapshots, or a legacy one)",
        },
    )
