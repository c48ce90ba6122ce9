"""recommend: which model for task X, license Y, under N parameters, across all hubs, and what next.

One ranked list from the registry, every rank with its evidence, and a fine-tuning plan for the
top picks. How a candidate scores (each part in [0, 1], docs/recommend.md):

=============  ======  ===================================================================
part           weight  what it measures
=============  ======  ===================================================================
quality        0.45    the task's benchmark figure (the one most candidates publish, or
                       ``accuracy_on``), as a percentile among the candidates that publish
                       it; 0 when the model publishes none
efficiency     0.20    accuracy per parameter: the percentile of the figure divided by
                       log10(parameters) among candidates with both; a smaller model of the
                       same accuracy scores higher
popularity     0.20    downloads as a percentile within the model's own hub (hubs count
                       over different windows, so they are never compared directly)
license        0.15    the commercial-use verdict: permissive 1, copyleft 0.6, restricted
                       0.3, unknown 0.2, non-commercial 0
=============  ======  ===================================================================

A candidate on the accuracy-against-size Pareto front (no other candidate is at least as
accurate and at most as large, one of them strictly) gets 0.05 more. Candidates that cannot be
fine-tuned (quantized weights) are left out. Missing evidence never counts as good: it scores 0
for its part and is said in the evidence.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import licenses
from .comparison import COMMERCIAL_USE
from .errors import UsageError
from .records import human_count

if TYPE_CHECKING:
    from .records import Evaluation, ModelRecord
    from .registry.store import Store

__all__ = ["Pick", "Recommendation", "recommend", "pareto_front", "WEIGHTS", "LICENSE_SCORES", "MAX_CANDIDATES"]

WEIGHTS = {"quality": 0.45, "efficiency": 0.20, "popularity": 0.20, "license": 0.15}
PARETO_BONUS = 0.05
LICENSE_SCORES = {"permissive": 1.0, "copyleft": 0.6, "restricted": 0.3, "unknown": 0.2, "non-commercial": 0.0}
#: at most this many registry matches are scored (the best published figures first, then the
#: most downloaded): a bounded read whatever the registry's size
MAX_CANDIDATES = 5000


@dataclass
class Pick:
    """One ranked candidate and why it ranks there."""

    rank: int
    record: ModelRecord
    score: float
    parts: dict[str, float]                      # quality, efficiency, popularity, license (0-1 each)
    figure: Evaluation | None                    # the benchmark figure it was ranked by
    pareto: bool
    license_category: str
    evidence: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None           # the fine-tuning plan (top picks only)

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {"rank": self.rank, "id": r.id, "platform": r.platform, "task": r.task, "library": r.library,
                "parameters": r.parameters, "gflops": r.gflops, "license": r.license,
                "license_category": self.license_category, "downloads": r.downloads, "cached": r.cached,
                "score": round(self.score, 4), "parts": {k: round(v, 4) for k, v in self.parts.items()},
                "figure": self.figure.to_dict() if self.figure is not None else None, "pareto": self.pareto,
                "evidence": list(self.evidence), "plan": self.plan}


@dataclass
class Recommendation:
    task: str
    criteria: dict[str, Any]
    basis: tuple[str, str] | None                # (dataset, metric) the quality part uses
    candidates: int                              # models scored
    matched: int                                 # models the filters matched in the registry
    picks: list[Pick]
    front: list[ModelRecord]                     # the accuracy-size Pareto front (small to large)
    plotted: list[tuple[ModelRecord, Evaluation]]  # every candidate with a figure and a count
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "criteria": self.criteria,
                "basis": {"dataset": self.basis[0], "metric": self.basis[1]} if self.basis else None,
                "candidates": self.candidates, "matched": self.matched, "weights": dict(WEIGHTS),
                "pareto_bonus": PARETO_BONUS, "picks": [p.to_dict() for p in self.picks],
                "pareto_front": [r.id for r in self.front], "notes": list(self.notes)}


# -- the pieces --------------------------------------------------------------------------------------
def _percentiles(values: dict[str, float], *, higher_is_better: bool = True) -> dict[str, float]:
    """Each key's share of the others it beats or ties (0..1; ties share the mean rank)."""
    if not values:
        return {}
    if len(values) == 1:
        return {k: 1.0 for k in values}
    sign = 1 if higher_is_better else -1
    ordered = sorted(sign * v for v in values.values())
    n = len(ordered)
    out = {}
    for key, v in values.items():
        below = bisect.bisect_left(ordered, sign * v)
        ties = bisect.bisect_right(ordered, sign * v) - below - 1
        out[key] = (below + ties / 2) / (n - 1)
    return out


def pareto_front(points: Sequence[tuple[str, float, float]], *, higher_is_better: bool = True) -> list[str]:
    """Keys of ``(key, size, figure)`` points no other point dominates (at most as large and at
    least as good, one strictly), from the smallest up."""
    sign = 1 if higher_is_better else -1
    ordered = sorted(points, key=lambda p: (p[1], -sign * p[2]))
    front, best = [], -math.inf
    for key, _size, figure in ordered:
        if sign * figure > best:
            front.append(key)
            best = sign * figure
    return front


def _family(record: ModelRecord) -> str:
    """The learning-rate family of docs/finetune.md#learning-rates."""
    library, task = record.library or "", record.task or ""
    if library == "sentence-transformers" or task == "sentence-similarity":
        return "sentence-embedding"
    if library in ("timm", "torchvision") or (task.startswith(("image", "object", "video")) and library != "transformers"):
        return "convnet"
    if library == "transformers" or task.startswith(("text", "token", "fill", "question", "feature")):
        return "transformer"
    return "other"


def _plan(record: ModelRecord, *, train_size: int | None, num_labels: int | None) -> dict[str, Any]:
    from .finetune.strategies import choose, modality_of, suggested_learning_rate

    choice = choose("auto", train_size=train_size, modality=modality_of(record.task))
    family = _family(record)
    lr = suggested_learning_rate(choice.strategy, family)
    labels = num_labels or 2
    args = f"num_labels={labels}" + (f", train_size={train_size}" if train_size is not None else "")
    steps = [] if record.cached else [f"ptmhub pull {record.id}"]
    steps.append(f"ptmhub finetune-plan {record.id} --num-labels {labels}"
                 + (f" --train-size {train_size}" if train_size is not None else ""))
    steps.append(f"bundle = ptmhub.load_for_finetune({record.id!r}, {args})")
    return {"strategy": choice.strategy, "why": choice.reason, "family": family, "learning_rate": lr,
            "steps": steps}


def _popularity(records: Sequence[ModelRecord]) -> dict[str, float]:
    by_hub: dict[str, dict[str, float]] = {}
    for r in records:
        if r.downloads is not None and r.downloads >= 0:
            by_hub.setdefault(r.platform, {})[r.id] = math.log10(r.downloads + 1)
    out: dict[str, float] = {}
    for values in by_hub.values():
        out.update(_percentiles(values))
    return out


# -- the call -----------------------------------------------------------------------------------------
def recommend(task: str, *, store: Store, license: str | None = None, max_parameters: int | None = None,
              max_gflops: float | None = None, framework: str | None = None, platform: str | None = None,
              train_size: int | None = None, num_labels: int | None = None, accuracy_on: Any = None,
              include_unknown: bool = False, limit: int = 10, plans: int = 3) -> Recommendation:
    """The registry's best candidates for ``task`` under the constraints, ranked with evidence.

    Args:
        task: the task (``image-classification``, ``text-classification``, ...; TF Hub's own
            task names are accepted, as in search).
        license: a license id or group (``permissive``, ``commercial-ok``, ...): a filter.
        max_parameters / max_gflops: budgets; a model whose size (compute) is unknown is left out
            unless ``include_unknown``.
        framework / platform: filters, as in search.
        train_size / num_labels: the labelled data, for the fine-tuning plan (strategy and
            learning rate by docs/finetune.md's thresholds).
        accuracy_on: ``"DATASET:METRIC"`` the quality part ranks by (default: the figure most
            candidates publish, accuracy first).
        limit: picks returned; plans: how many of the top picks get a fine-tuning plan.

    Raises:
        UsageError: no task, a bad budget, an unknown task or license (with the close values).
    """
    from .quality import higher_is_better
    from .registry.store import SearchQuery

    if not task or not str(task).strip():
        raise UsageError("recommend needs a task", hint="e.g. --task image-classification")
    for label, value in (("limit", limit), ("plans", plans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{label} must be zero or more, not {value!r}")
    if max_gflops is not None and (isinstance(max_gflops, bool) or not isinstance(max_gflops, (int, float))
                                   or not math.isfinite(max_gflops) or max_gflops < 0):
        raise UsageError(f"--max-gflops must be a number of GFLOPs, not {max_gflops!r}", hint="e.g. --max-gflops 5")
    if train_size is not None and (isinstance(train_size, bool) or train_size < 0):
        raise UsageError(f"train_size must be zero or more, not {train_size!r}")
    base = SearchQuery(task=task, license=license, framework=framework, platform=platform,
                       max_parameters=max_parameters, include_unknown=include_unknown, accuracy_on=accuracy_on,
                       sort="accuracy", limit=MAX_CANDIDATES)
    matched = store.count(base)
    basis = store.accuracy_basis(base)
    found = store.search(base)
    notes: list[str] = []
    if matched > len(found):
        notes.append(f"{matched:,} models match; the {len(found):,} with the best published figures and the most "
                     "downloads were scored")
    candidates = []
    skipped_tuning = skipped_compute = 0
    for r in found:
        if r.fine_tunable is False:
            skipped_tuning += 1
            continue
        if max_gflops is not None and (r.gflops is None and not include_unknown
                                       or r.gflops is not None and r.gflops > max_gflops):
            skipped_compute += 1
            continue
        candidates.append(r)
    if skipped_tuning:
        notes.append(f"{skipped_tuning:,} models that cannot be fine-tuned (quantized weights) were left out")
    if skipped_compute:
        notes.append(f"{skipped_compute:,} models over {max_gflops:g} GFLOPs, or of unknown compute, were left out"
                     + ("" if include_unknown else " (--include-unknown keeps the unknown ones)"))

    higher = higher_is_better(basis[1]) if basis else True
    figures: dict[str, Evaluation] = {}
    if basis is not None:
        for r in candidates:
            e = r.evaluation(*basis)
            if e is not None:
                figures[r.id] = e
    quality = _percentiles({k: e.value for k, e in figures.items()}, higher_is_better=higher)
    sized = {r.id: r for r in candidates if r.id in figures and r.parameters}
    per_size = {k: (figures[k].value if higher else -figures[k].value) / math.log10(max(r.parameters, 10))
                for k, r in sized.items()}
    efficiency = _percentiles(per_size)
    front_ids = pareto_front([(k, float(r.parameters), figures[k].value) for k, r in sized.items()],
                             higher_is_better=higher)
    on_front = set(front_ids)
    popularity = _popularity(candidates)

    picks = []
    for r in candidates:
        category = licenses.category(r.license)
        parts = {"quality": quality.get(r.id, 0.0), "efficiency": efficiency.get(r.id, 0.0),
                 "popularity": popularity.get(r.id, 0.0), "license": LICENSE_SCORES[category]}
        score = sum(WEIGHTS[k] * v for k, v in parts.items()) + (PARETO_BONUS if r.id in on_front else 0.0)
        picks.append(Pick(0, r, score, parts, figures.get(r.id), r.id in on_front, category))
    picks.sort(key=lambda p: (-p.score, -(p.record.downloads or 0), p.record.id))
    picks = picks[:limit]
    for i, p in enumerate(picks, 1):
        p.rank = i
        p.evidence = _evidence(p, basis, len(figures), len(sized))
        if i <= plans:
            p.plan = _plan(p.record, train_size=train_size, num_labels=num_labels)
    if basis is None and candidates:
        notes.append("no candidate publishes a quality figure for this task: ranked by efficiency, popularity and "
                     "license only")
    elif len(figures) < len(candidates):
        notes.append(f"{len(figures):,} of {len(candidates):,} candidates publish {basis[1]} on {basis[0]}; the "
                     "others score 0 for quality (unknown is not good)")
        if not figures and base.accuracy_on is not None:
            from dataclasses import replace

            usual = store.accuracy_basis(replace(base, accuracy_on=None))
            if usual is not None:
                notes.append(f"the candidates publish {usual[1]} on {usual[0]} most: --accuracy-on "
                             f"{usual[0]}:{usual[1]}")
    criteria = {"task": task, "license": license, "max_parameters": max_parameters, "max_gflops": max_gflops,
                "framework": framework, "platform": platform, "train_size": train_size, "num_labels": num_labels,
                "include_unknown": include_unknown}
    plotted = [(r, figures[r.id]) for r in sized.values()]
    front = [sized[k] for k in front_ids]
    return Recommendation(task, {k: v for k, v in criteria.items() if v not in (None, False)}, basis,
                          len(candidates), matched, picks, front, plotted, notes)


def _evidence(p: Pick, basis: tuple[str, str] | None, measured: int, sized: int) -> list[str]:
    r, out = p.record, []
    if p.figure is not None and basis is not None:
        e = p.figure
        where = e.source or "its record"
        out.append(f"{e.metric} {e.value:g} on {e.dataset} ({where}); percentile {p.parts['quality'] * 100:.0f} among the "
                   f"{measured:,} candidates that publish it")
    elif basis is not None:
        out.append(f"publishes no {basis[1]} on {basis[0]}: quality unknown")
    if r.parameters:
        size = f"{human_count(r.parameters)} parameters"
        if p.figure is not None:
            per_m = p.figure.value / (r.parameters / 1e6)
            size += (f", {per_m:.3g} {p.figure.metric} points per million; accuracy per parameter at percentile "
                     f"{p.parts['efficiency'] * 100:.0f} of {sized:,}")
        if p.pareto:
            size += "; on the accuracy-size Pareto front"
        out.append(size)
    else:
        out.append("parameter count unknown" + (f": {r.parameters_note}" if r.parameters_note else ""))
    if r.gflops is not None:
        out.append(f"{r.gflops:g} GFLOPs per forward pass")
    if r.downloads is not None:
        from .platforms import downloads_window, title

        window = downloads_window(r.platform)
        out.append(f"{r.downloads:,} downloads on {title(r.platform)}" + (f" ({window})" if window else "")
                   + f"; percentile {p.parts['popularity'] * 100:.0f} on that hub among the candidates")
    else:
        out.append("no download count published")
    lic = r.license or "none recorded"
    code = " (code license; weights may differ)" if (r.license_source or "").lower().startswith("code:") else ""
    out.append(f"license {lic}: {p.license_category}, commercial use {COMMERCIAL_USE[p.license_category]}{code}")
    return out
