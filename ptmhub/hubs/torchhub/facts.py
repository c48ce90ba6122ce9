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
    )
