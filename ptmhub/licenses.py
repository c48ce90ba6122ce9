"""License normalization and commercial-use groups (documented in docs/licenses.md).

``normalize`` maps a hub's own words to a lowercase SPDX-style id; ``category`` puts an id in one
of ``permissive``, ``copyleft``, ``non-commercial``, ``restricted`` (use-based restrictions such
as OpenRAIL or Llama terms) or ``unknown``. Search groups: ``permissive`` is the permissive
category; ``commercial-ok`` is permissive + copyleft (licenses that never forbid commercial use;
copyleft adds share-alike duties); ``non-commercial`` and ``copyleft`` are their categories.
"""

from __future__ import annotations

import re

__all__ = ["normalize", "category", "GROUPS", "ids_in_group", "CATEGORIES"]

PERMISSIVE = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "bsd", "isc",
    "cc0-1.0", "cc-by-4.0", "cc-by-3.0", "cc-by-2.0", "cc-by-2.5", "unlicense", "zlib", "wtfpl",
    "bsl-1.0", "afl-3.0", "artistic-2.0", "ecl-2.0", "ncsa", "postgresql", "pddl", "odc-by",
    "apple-ascl", "c-uda", "cdla-permissive-1.0", "cdla-permissive-2.0", "ms-pl", "mit-0", "0bsd",
    "etalab-2.0", "ofl-1.1", "lppl-1.3c", "intel-research", "apache-1.1", "python-2.0",
})
COPYLEFT = frozenset({
    "gpl-2.0", "gpl-3.0", "gpl", "lgpl-2.0", "lgpl-2.1", "lgpl-3.0", "lgpl-lr", "agpl-3.0",
    "mpl-2.0", "epl-1.0", "epl-2.0", "eupl-1.1", "eupl-1.2", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-sa-2.0", "gfdl", "osl-3.0", "odbl", "cdla-sharing-1.0",
})
NON_COMMERCIAL = frozenset({
    "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cc-by-nd-4.0", "deepfloyd-if-license",
    "fair-noncommercial-research-license",
})
RESTRICTED = frozenset({
    "openrail", "openrail++", "creativeml-openrail-m", "bigscience-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
    "afl", "health-ai-developer-foundations",
})
CATEGORIES = ("permissive", "copyleft", "non-commercial", "restricted", "unknown")
GROUPS = {
    "permissive": ("permissive",),
    "commercial-ok": ("permissive", "copyleft"),
    "copyleft": ("copyleft",),
    "non-commercial": ("non-commercial",),
    "restricted": ("restricted",),
}

_ALIASES = {
    "apache 2.0": "apache-2.0", "apache2": "apache-2.0", "apache-2": "apache-2.0",
    "apache license 2.0": "apache-2.0", "apache license, version 2.0": "apache-2.0",
    "apache": "apache-2.0", "apache license": "apache-2.0", "apache-2.0 license": "apache-2.0",
    "mit license": "mit", "bsd 3-clause": "bsd-3-clause", "bsd-3": "bsd-3-clause", "bsd3": "bsd-3-clause",
    "bsd 2-clause": "bsd-2-clause", "cc by 4.0": "cc-by-4.0", "cc-by 4.0": "cc-by-4.0",
    "cc-by-nc 4.0": "cc-by-nc-4.0", "cc by-nc 4.0": "cc-by-nc-4.0", "cc by-nc-sa 4.0": "cc-by-nc-sa-4.0",
    "gplv3": "gpl-3.0", "gplv2": "gpl-2.0", "gpl-3": "gpl-3.0", "agpl-3": "agpl-3.0", "agplv3": "agpl-3.0",
    "cc0": "cc0-1.0", "public domain": "cc0-1.0",
}


def normalize(raw: str | None) -> str | None:
    """Lowercase SPDX-style id for a license string, or None when there is nothing to normalize.

    Unknown values are kept (lowercased, spaces to dashes) rather than dropped: the raw text is
    stored beside them in ``license_raw``.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text or text.lower() in ("none", "null", "unknown", "n/a", "-"):
        return None
    low = text.lower()
    low = low.removeprefix("license:")
    if low in _ALIASES:
        return _ALIASES[low]
    low = re.sub(r"\s+", "-", low)
    return _ALIASES.get(low, low)


def category(license_id: str | None) -> str:
    if not license_id:
        return "unknown"
    if license_id in PERMISSIVE:
        return "permissive"
    if license_id in COPYLEFT:
        return "copyleft"
    if license_id in NON_COMMERCIAL or "-nc" in license_id or "noncommercial" in license_id:
        return "non-commercial"
    if license_id in RESTRICTED or "rail" in license_id or license_id.startswith("llama"):
        return "restricted"
    return "unknown"


def ids_in_group(group: str) -> frozenset[str]:
    """Known license ids in a search group (``permissive``, ``commercial-ok``, ...)."""
    sets = {"permissive": PERMISSIVE, "copyleft": COPYLEFT, "non-commercial": NON_COMMERCIAL, "restricted": RESTRICTED}
    out: set[str] = set()
    for cat in GROUPS[group]:
        out |= sets[cat]
    return frozenset(out)
