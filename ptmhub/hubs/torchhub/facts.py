"""PyTorch Hub's row of the platform matrix (``ptmhub platforms``)."""

from __future__ import annotations

from ..base import PlatformFacts

TORCHHUB = PlatformFacts(
    name="torchhub", color="#c0392b", title="PyTorch Hub", supported=True,
    id_scheme="torchhub:OWNER/REPO[:REF]/ENTRYPOINT[#WEIGHTS] (a GitHub repo with a hubconf.py, and a "
              "function in it)",
    versioning="the repo's git ref (branch, tag or commit; default branch otherwise); torchvision "
                "weights enums (IMAGENET1K_V2, ...)",
    frameworks="PyTorch",
    metadata="hubconf.py entrypoints, docstrings, dependencies; the pytorch/hub docs (title, summary, "
             "category, tags) of featured repos; no task, license, downloads",
    license_info="none from the hub: the repo's LICENSE covers its code, not necessarily the weights",
    parameter_counts="not published (torchvision's weights meta has num_params); ptmhub builds trusted "
                     "models on the meta device to count them",
    offline_cache="torch.hub cache: repos in hub/OWNER_REPO_REF, weights in hub/checkpoints",
    cache_env="TORCH_HOME (default ~/.cache/torch; torch.hub uses $TORCH_HOME/hub)",
    auth="none for public repos; GITHUB_TOKEN raises GitHub's API rate limit (torch.hub reads it)",
    remote_code="hubconf.py is arbitrary Python run at load: torch.hub asks (trust_repo, trusted_list); "
                "ptmhub never imports an untrusted repo (reads it with ast in a quarantine)",
    fine_tuning="entrypoints return an nn.Module: replace the head and train",
    publishes=frozenset({"revision", "tags", "summary", "framework"}),
    extra_keys={
        "ref": "the git ref the record describes",
        "commit": "the commit that ref named when fetched",
        "entrypoints": "the repository's entrypoints",
        "dependencies": "hubconf.py's dependencies list",
        "trusted": "why the repository was trusted (registry, --trust, torch.hub's lists), if it was",
        "listing": "how the entrypoints were read: hubconf (imported, trusted) or ast (static)",
        "hubconf_sha256": "the sha256 of hubconf.py when fetched (cache verify compares it)",
        "meta_device_parameters": "the count from building the model on the meta device",
        "checkpoints": "the checkpoint files of the entrypoint in TORCH_HOME/hub/checkpoints",
        "cache_dir": "the repository folder in TORCH_HOME/hub",
        "cached_variants": "the torchvision weights variants found in the cache",
        "builder": "the torchvision builder function",
        "weights_enum": "its torchvision weights enum",
        "default_variant": "the weights variant DEFAULT names",
        "variants": "every weights variant with its metrics, size and recipe",
        "variant": "the weights variant the record was resolved for",
        "torchvision_version": "the installed torchvision the facts were read from",
        "metrics": "the default variant's accuracy metrics (acc@1, acc@5, ...)",
        "gflops": "the default variant's GFLOPS",
        "file_size_mib": "the default variant's checkpoint size (MiB)",
        "num_categories": "how many classes the default variant predicts",
        "recipe": "the training recipe of the default variant",
        "params": "parameters of the default variant as torchvision's meta says",
        "catalog": "the catalog the record came from (pytorch/hub)",
        "doc": "the pytorch/hub doc file",
        "docs": "every pytorch/hub doc calling the same entrypoint",
        "title": "the doc's title",
        "category": "the doc's category",
        "author": "the doc's author",
        "github_id": "the repository as the doc names it",
        "accelerator": "the doc's accelerator field",
        "demo_url": "the doc's demo link",
        "example": "the doc's example torch.hub.load call",
        "found": "where in the doc the entrypoint was found",
    },
)
