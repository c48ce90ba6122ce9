"""TF Hub's and Kaggle Models' rows of the platform matrix (``ptmhub platforms``)."""

from __future__ import annotations

from ..base import PlatformFacts

TFHUB = PlatformFacts(
    name="tfhub", color="#e8710a", title="TF Hub (tfhub.dev)", supported=True,
    status="archived 2024-03-18: tfhub.dev handles redirect to Kaggle Models (downloads still work)",
    id_scheme="tfhub:PUBLISHER/NAME.../VERSION (the tfhub.dev handle); Lite/TF.js/Coral variants under "
              "lite-model/, tfjs-model/, coral-model/",
    versioning="an integer version ends every handle; each version is a separate, immutable model",
    frameworks="TensorFlow: TF2 SavedModel, TF1 Hub format; TF Lite, TF.js and Coral variants",
    metadata="catalog docs (markdown): task, dataset, language, network architecture, fine-tunable, "
             "format, description; no API, no downloads or likes",
    license_info="optional `license` line, on a minority of docs (320 of the 2,730 model docs)",
    parameter_counts="not published; ptmhub counts a pulled SavedModel's variables (checkpoint index)",
    offline_cache="tensorflow_hub cache: one folder per SHA-1 of the handle URL, written by rename",
    cache_env="TFHUB_CACHE_DIR (default <tmp>/tfhub_modules)",
    auth="none: public downloads",
    remote_code="no Python runs: a SavedModel is a TensorFlow graph, but TensorFlow's security policy "
                "treats models as programs (ops can read and write files): load trusted ones only",
    fine_tuning="docs marked fine-tunable: hub.KerasLayer(trainable=True) in a Keras 2 (tf_keras) model",
    publishes=frozenset({"task", "license", "format", "fine_tunable", "datasets", "languages",
                         "architecture", "version", "summary", "size_bytes"}),
    extra_keys={
        "doc_path": "the catalog doc the record was read from (tfhub.dev repository path)",
        "doc_type": "the doc's kind (Module, Placeholder, Lite, Tfjs, Coral)",
        "doc_handle": "the handle the doc itself names",
        "metadata": "the doc's metadata lines (task, dataset, language, network-architecture, ...)",
        "tasks": "every task the doc names, as pipeline tags where one fits",
        "variants": "the Lite, TF.js and Coral variants of the same model",
        "collections": "the collections that list the model",
        "publisher_name": "the publisher's display name",
        "asset_path": "the archive URL the doc names",
        "parent": "the model a Lite/TF.js/Coral variant was made from",
        "parent_unresolved": "a parent handle no doc describes",
        "inherited_from_parent": "the fields copied from the parent model's doc",
        "note": "a note on what the doc lacks",
    },
)

KAGGLE = PlatformFacts(
    name="kaggle", color="#20beff", title="Kaggle Models", supported=True,
    id_scheme="kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION] (the Kaggle Models handle)",
    versioning="integer versions per variation; an unversioned handle means the latest",
    frameworks="per variation: TensorFlow 2, TF Lite, TF.js, PyTorch, JAX, Flax, Keras, Transformers, "
               "GGUF, ONNX, scikit-learn, ...",
    metadata="model-instance API: license, fine-tunable flag, training data, size, overview (model card)",
    license_info="a license name per model variation (API license_name)",
    parameter_counts="not published; ptmhub counts a pulled SavedModel's variables",
    offline_cache="kagglehub cache: models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION with completion "
                  "markers; kagglehub has no offline switch (ptmhub reads the cache itself)",
    cache_env="KAGGLEHUB_CACHE (default ~/.cache/kagglehub)",
    auth="public models: none; KAGGLE_USERNAME/KAGGLE_KEY (or kaggle.json) for private models and for "
         "models whose terms must be accepted first",
    remote_code="kagglehub runs no code; the files are loaded by their framework (SavedModel graphs, "
                "PyTorch pickles): trust the publisher",
    fine_tuning="fine-tunable flag per variation; the framework's own training",
    publishes=frozenset({"license", "fine_tunable", "datasets", "framework", "version", "size_bytes",
                         "summary"}),
    extra_keys={
        "kaggle_url": "the model variation's page on Kaggle",
        "instance_type": "Kaggle's model instance type",
    },
)
