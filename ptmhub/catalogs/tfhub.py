"""Importer for the tfhub.dev catalog: the Markdown docs of the tensorflow/tfhub.dev repository.

Every doc starts with ``# <Type> <handle>`` (Type: Module, Placeholder, Lite, Tfjs, Coral,
Collection, Publisher), then a one-paragraph description, then ``<!-- key: value -->`` metadata
lines (``task``, ``dataset``, ``language`` and ``network-architecture`` may repeat). The grammar
follows the repository's own ``tools/validator.py``; the controlled vocabularies are its
``tags/*.yaml``. See docs/hubs/tfhub.md for what becomes of each doc type and field.

Three layers, each usable alone:

* :func:`parse_doc` — one doc (text or path) to a :class:`Doc`; pure, raises :class:`CatalogError`.
* :func:`iter_catalog` — every doc under a checkout, as ``(relative path, Doc | CatalogError)``.
* :func:`build_records` — docs to :class:`ModelRecord` values plus a :class:`SyncReport`;
  :func:`sync` adds the source handling (folder, archive, URL) and the store.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import licenses
from ..errors import CatalogError, InvalidIdError, UsageError
from ..hubs.base import SyncReport
from ..ids import parse as parse_id
from ..records import ModelRecord, summarize
from ..vocab import TASK_TO_PIPELINE

if TYPE_CHECKING:
    from ..registry.store import Store

__all__ = [
    "Doc", "Vocabularies", "DOC_TYPES", "MODEL_TYPES", "VARIANT_TYPES", "parse_doc", "iter_catalog",
    "find_docs_dir", "load_vocabularies", "build_records", "sync", "TASK_TO_PIPELINE", "SOURCE_NAME",
]

SOURCE_NAME = "tfhub"
DOC_TYPES = ("Module", "Placeholder", "Lite", "Tfjs", "Coral", "Collection", "Publisher")
#: Doc types that become model records.
MODEL_TYPES = ("Module", "Placeholder", "Lite", "Tfjs", "Coral")
#: Deployment variants of a parent model, and the URL segment tfhub.dev gave them.
VARIANT_TYPES = {"Lite": "lite-model", "Tfjs": "tfjs-model", "Coral": "coral-model"}
_VARIANT_FORMAT = {"Lite": "tflite", "Tfjs": "tfjs", "Coral": "coral"}
_LIBRARY = {"Module": "tensorflow-hub", "Lite": "tflite", "Coral": "tflite", "Tfjs": "tfjs"}
SAVED_MODEL_FORMATS = ("hub", "saved_model", "saved_model_2")
REPEATED_KEYS = ("dataset", "language", "task", "network-architecture")
#: Metadata keys the validator accepts (anything else is reported as an unknown key).
KNOWN_KEYS = frozenset({
    "asset-path", "parent-model", "format", "fine-tunable", "task", "dataset", "language",
    "network-architecture", "license", "colab", "demo", "interactive-visualizer", "module-type",
})
#: Metadata key -> the tags/*.yaml file holding its controlled vocabulary.
VOCABULARY_FILES = {
    "task": "task.yaml", "dataset": "dataset.yaml", "language": "language.yaml",
    "network-architecture": "network_architecture.yaml", "license": "license.yaml",
    "interactive-visualizer": "interactive_visualizer.yaml",
}


#: What a catalog record says of its size: tfhub.dev publishes none; a pull counts the variables.
NOT_PUBLISHED = ("not published: tfhub.dev gives no parameter count; 'ptmhub pull ID' counts the SavedModel's "
                 "variables from its checkpoint index")

# -- the grammar (tools/validator.py of tensorflow/tfhub.dev) ---------------------------------
_PUBLISHER = r"[a-z\d-]+"
_NAME = r"[\w.-]+(?:/[\w.-]+)*"
_FIRST_LINE = re.compile(
    rf"^# (?P<type>Module|Placeholder|Lite|Tfjs|Coral) "
    rf"(?P<publisher>{_PUBLISHER})/(?P<name>{_NAME})/(?P<version>\d+)\s*$"
    rf"|^# (?P<ctype>Collection) "
    rf"(?P<cpublisher>{_PUBLISHER})/(?P<cname>(?:\w|-|/|&|;|\.)+)/(?P<cversion>\d+)\s*$"
    rf"|^# (?P<ptype>Publisher) (?P<ppublisher>{_PUBLISHER})\s*$"
)
_METADATA = re.compile(r"^<!--(?P<key>[\w\s-]+):(?P<value>.+)-->\s*$")
# tfhub.dev model page URLs inside a collection's text (the validator's own pattern)
_MODEL_URL = re.compile(
    rf"https://tfhub\.dev/(?P<publisher>{_PUBLISHER})/(?:(?P<prefix>tfjs|lite|coral)-model/)?(?P<name>{_NAME})")


@dataclass(frozen=True)
class Doc:
    """One parsed tfhub.dev doc.

    Attributes:
        type: Module, Placeholder, Lite, Tfjs, Coral, Collection or Publisher.
        publisher: the handle's first part.
        name: the handle between publisher and version (None for publishers).
        version: the handle's version (None for publishers).
        description: the description paragraph (lines after the first, joined).
        metadata: every ``<!-- key: value -->`` line, key -> values in order, duplicates dropped.
        path: where the doc was read from, relative to ``assets/docs`` when known.
        links: tfhub.dev model URLs in the text (what a collection lists), in order.
    """

    type: str
    publisher: str
    name: str | None
    version: str | None
    description: str
    metadata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    path: str | None = None
    links: tuple[str, ...] = ()

    @property
    def handle(self) -> str:
        """The handle as written on the first line."""
        if self.type == "Publisher":
            return self.publisher
        return f"{self.publisher}/{self.name}/{self.version}"

    @property
    def url_path(self) -> str:
        """The model's path on tfhub.dev (variants live under ``<publisher>/<kind>-model/``)."""
        if self.type in VARIANT_TYPES:
            return f"{self.publisher}/{VARIANT_TYPES[self.type]}/{self.name}/{self.version}"
        return self.handle

    @property
    def key(self) -> str:
        """The registry key of the model record this doc becomes (``tfhub:<url path>``)."""
        return f"tfhub:{self.url_path}"

    def first(self, key: str) -> str | None:
        values = self.metadata.get(key)
        return values[0] if values else None


def _fail(path: str | None, problem: str) -> CatalogError:
    where = f"{path}: " if path else ""
    return CatalogError(f"{where}{problem}", hint="see the doc format in docs/hubs/tfhub.md")


def parse_doc(source: str | os.PathLike[str], *, path: str | None = None) -> Doc:
    """Parse one tfhub.dev doc.

    Args:
        source: the doc's text, or a path to it (a ``Path``, or a string naming an existing
            ``.md`` file).
        path: the name to report in errors and keep in :attr:`Doc.path` (default: the path read).

    Raises:
        CatalogError: the first line is not ``# <Type> <handle>``, the description is missing, or
            a line of the metadata block is neither blank nor metadata.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                          and source.endswith(".md") and os.path.isfile(source)):
        path = path or os.fspath(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(path, f"is not UTF-8 text ({exc.reason})") from None
    else:
        text = str(source)
    lines = text.replace("\r\n", "\n").split("\n")
    first = lines[0].replace("&zwnj;", "").lstrip("\ufeff")
    m = _FIRST_LINE.match(first)
    if not m:
        shown = first if len(first) <= 80 else first[:77] + "..."
        raise _fail(path, f"the first line {shown!r} is not '# <Type> <handle>' "
                          f"with Type one of {', '.join(DOC_TYPES)}")
    if m.group("type"):
        doc_type, publisher, name, version = m.group("type", "publisher", "name", "version")
    elif m.group("ctype"):
        doc_type, publisher, name, version = m.group("ctype", "cpublisher", "cname", "cversion")
    else:
        doc_type, publisher, name, version = "Publisher", m.group("ppublisher"), None, None

    # description: the paragraph after the first line (one blank line allowed before it)
    i = 1
    if i < len(lines) and not lines[i].strip():
        i += 1
    description: list[str] = []
    while i < len(lines) and lines[i].strip() and not lines[i].startswith("<!--"):
        description.append(lines[i].strip())
        i += 1
    if not description:
        raise _fail(path, "the second line must be a short description of the model")

    # metadata block: blank lines, metadata lines and a publisher icon until the first heading
    metadata: dict[str, list[str]] = {}

    def add(key: str, value: str) -> None:
        values = metadata.setdefault(key, [])
        if value not in values:
            values.append(value)

    while i < len(lines) and not lines[i].startswith("#"):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("[![Icon URL]]"):
            continue
        mm = _METADATA.match(line.strip())
        if mm:
            add(mm.group("key").strip(), mm.group("value").strip())
            continue
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise _fail(path, f"line {i}: {shown!r} is neither metadata ('<!-- key: value -->') nor blank")

    # the body: metadata lines outside code blocks count too; collect tfhub.dev model links
    links: list[str] = []
    in_code = False
    for line in lines[i:]:
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        mm = _METADATA.match(line.strip())
        if mm:
            add(mm.group("key").strip(), mm.group("value").strip())
        if doc_type == "Collection" and "tfhub.dev/" in line:
            links.extend(u.group(0) for u in _MODEL_URL.finditer(line))
    return Doc(type=doc_type, publisher=publisher, name=name, version=version,
               description=" ".join(description),
               metadata={k: tuple(v) for k, v in metadata.items()}, path=path, links=tuple(links))


# -- the checkout -----------------------------------------------------------------------------
def find_docs_dir(root: str | os.PathLike[str]) -> Path:
    """The ``assets/docs`` folder of a tfhub.dev checkout (or of the single folder inside an
    extracted archive, or ``root`` itself when it holds the publisher folders).

    Raises:
        CatalogError: no docs folder under ``root``.
    """
    root = Path(root)
    candidates = [root / "assets" / "docs", root / "docs"]
    candidates += [sub / "assets" / "docs" for sub in sorted(root.iterdir()) if sub.is_dir()] if root.is_dir() else []
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if root.is_dir() and root.name == "docs":
        return root
    raise CatalogError(f"{root} has no assets/docs folder",
                       hint="point --source at a checkout or archive of the tensorflow/tfhub.dev repository")


def iter_catalog(root: str | os.PathLike[str]) -> Iterator[tuple[str, Doc | CatalogError]]:
    """Every ``*.md`` doc under the checkout's ``assets/docs``, sorted by path, parsed.

    Yields ``(path relative to assets/docs, Doc)``, or ``(path, CatalogError)`` for a doc that
    cannot be parsed, so that one bad file never stops an import.
    """
    docs_dir = find_docs_dir(root)
    paths = []
    for dirpath, dirnames, filenames in os.walk(docs_dir):
        dirnames.sort()
        paths.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".md"))
    for full in sorted(paths):
        rel = os.path.relpath(full, docs_dir).replace(os.sep, "/")
        try:
            yield rel, parse_doc(Path(full), path=rel)
        except CatalogError as exc:
            yield rel, exc
        except OSError as exc:
            yield rel, _fail(rel, f"cannot be read ({exc.strerror or exc})")


@dataclass
class Vocabularies:
    """The controlled vocabularies of ``tags/*.yaml``: key -> allowed ids (empty: not checked)."""

    values: dict[str, frozenset[str]] = field(default_factory=dict)
    colab_domain: str | None = None

    def unknown(self, key: str, value: str) -> bool:
        allowed = self.values.get(key)
        return bool(allowed) and value not in allowed


def load_vocabularies(root: str | os.PathLike[str]) -> Vocabularies:
    """Read ``tags/*.yaml`` next to ``assets/`` (missing files: that key is not checked)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs_dir = find_docs_dir(root)
    tags_dir = docs_dir.parent.parent / "tags"
    vocab = Vocabularies()
    for key, filename in VOCABULARY_FILES.items():
        path = tags_dir / filename
        if not path.is_file():
            continue
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        vocab.values[key] = frozenset(str(item["id"]) for item in data.get("values") or () if "id" in item)
    colab = tags_dir / "colab.yaml"
    if colab.is_file():
        vocab.colab_domain = (yaml.load(colab.read_text(encoding="utf-8"), Loader=loader) or {}).get("required_domain")
    return vocab


# -- docs -> records --------------------------------------------------------------------------

def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.strip().lower())


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


class _Builder:
    """Turns parsed docs into records; collects the report's counts, unknown values, problems."""

    def __init__(self, vocab: Vocabularies, report: SyncReport):
        self.vocab = vocab
        self.report = report
        self.unknown: dict[str, set[str]] = defaultdict(set)
        self.models: dict[str, Doc] = {}             # record key -> doc
        self.by_handle: dict[str, list[Doc]] = defaultdict(list)  # versionless url path -> docs
        self.collections: list[Doc] = []
        self.publishers: dict[str, str] = {}

    # validation -------------------------------------------------------------------------
    def check(self, doc: Doc) -> None:
        for key, values in doc.metadata.items():
            if key not in KNOWN_KEYS:
                self.unknown["metadata-key"].add(key)
                continue
            for value in values:
                if self.vocab.unknown(key, value):
                    self.unknown[key].add(value)
        fmt = doc.first("format")
        if fmt is not None and fmt not in SAVED_MODEL_FORMATS:
            self.unknown["format"].add(fmt)
        ft = doc.first("fine-tunable")
        if ft is not None and _bool(ft) is None:
            self.unknown["fine-tunable"].add(ft)
        if self.vocab.colab_domain:
            for url in doc.metadata.get("colab", ()):
                if not re.match(rf"^https://{re.escape(self.vocab.colab_domain)}/", url):
                    self.unknown["colab"].add(url)

    def add(self, doc: Doc) -> None:
        self.report.counts[doc.type] = self.report.counts.get(doc.type, 0) + 1
        self.check(doc)
        if doc.type == "Publisher":
            self.publishers[doc.publisher] = doc.description
            return
        if doc.type == "Collection":
            self.collections.append(doc)
            return
        try:
            parse_id(doc.key)
        except InvalidIdError as exc:
            self.problem(doc, f"handle {doc.url_path!r} is not a valid TF Hub ID ({exc.message})")
            return
        if doc.key in self.models:
            self.problem(doc, f"{doc.key} is also documented in {self.models[doc.key].path}; the first doc is kept")
            return
        self.models[doc.key] = doc
        self.by_handle[doc.url_path.rsplit("/", 1)[0]].append(doc)

    def problem(self, doc: Doc | None, reason: str, path: str | None = None) -> None:
        self.report.problems.append((path or (doc.path if doc else "?") or "?", reason))
        self.report.skipped += 1

    # linking ----------------------------------------------------------------------------
    def _latest(self, versionless: str) -> Doc | None:
        docs = self.by_handle.get(versionless)
        return max(docs, key=lambda d: int(d.version or 0)) if docs else None

    def parent_of(self, doc: Doc) -> tuple[str | None, str | None]:
        """(parent record key, raw value). An unversioned parent means its latest version."""
        raw = doc.first("parent-model")
        if not raw:
            return None, None
        handle = raw.strip().removeprefix("https://tfhub.dev/").strip("/")
        if f"tfhub:{handle}" in self.models:
            return f"tfhub:{handle}", raw
        latest = self._latest(handle)
        if latest is not None and latest.type not in VARIANT_TYPES:
            return latest.key, raw
        return None, raw

    def members_of(self, collection: Doc) -> list[str]:
        keys: list[str] = []
        for url in collection.links:
            m = _MODEL_URL.match(url)
            if not m:
                continue
            prefix = f"{m.group('prefix')}-model/" if m.group("prefix") else ""
            path = f"{m.group('publisher')}/{prefix}{m.group('name')}".rstrip("/")
            if f"tfhub:{path}" in self.models:
                keys.append(f"tfhub:{path}")
            else:  # an unversioned link lists every version
                keys.extend(d.key for d in sorted(self.by_handle.get(path, ()), key=lambda d: int(d.version or 0)))
        return _ordered(keys)

    # records ----------------------------------------------------------------------------
    def records(self) -> list[ModelRecord]:
        parents: dict[str, str] = {}
        variants: dict[str, list[str]] = defaultdict(list)
        orphans = 0
        for key, doc in self.models.items():
            if doc.type in VARIANT_TYPES:
                parent, raw = self.parent_of(doc)
                if parent:
                    parents[key] = parent
                    variants[parent].append(key)
                else:
                    orphans += 1
        memberships: dict[str, list[str]] = defaultdict(list)
        empty_collections = 0
        for collection in self.collections:
            members = self.members_of(collection)
            if not members:
                empty_collections += 1
            for key in members:
                memberships[key].append(collection.handle)
        self.report.counts["variants_linked"] = len(parents)
        self.report.counts["variants_without_parent"] = orphans
        self.report.counts["collection_memberships"] = sum(len(v) for v in memberships.values())
        self.report.counts["collections_without_members"] = empty_collections

        out = []
        for key, doc in self.models.items():
            parent_doc = self.models.get(parents.get(key, ""))
            out.append(self.record(doc, parent_doc=parent_doc, parent_key=parents.get(key),
                                   variants=variants.get(key, []), collections=memberships.get(key, [])))
        return out

    def record(self, doc: Doc, *, parent_doc: Doc | None, parent_key: str | None,
               variants: list[str], collections: list[str]) -> ModelRecord:
        mid = parse_id(doc.key)
        meta = doc.metadata
        inherited: list[str] = []

        def own_or_parent(key: str) -> tuple[str, ...]:
            # a variant is the same network converted for another runtime: what it computes
            # (task, architecture, data, languages) is its parent's unless it says otherwise
            if meta.get(key):
                return meta[key]
            if parent_doc is not None and parent_doc.metadata.get(key):
                inherited.append(key)
                return parent_doc.metadata[key]
            return ()

        tasks = own_or_parent("task")
        architectures = own_or_parent("network-architecture")
        datasets = own_or_parent("dataset")
        languages = own_or_parent("language")
        license_raw = doc.first("license")  # never inherited, never defaulted
        fmt = doc.first("format") if doc.type == "Module" else _VARIANT_FORMAT.get(doc.type)
        extra: dict[str, Any] = {
            "doc_type": doc.type,
            "doc_path": doc.path,
            "metadata": {k: list(v) for k, v in meta.items()},
        }
        if doc.first("asset-path"):
            extra["asset_path"] = doc.first("asset-path")
        if doc.type in VARIANT_TYPES:
            extra["doc_handle"] = doc.handle
            if parent_key:
                extra["parent"] = parent_key
            if doc.first("parent-model") and not parent_key:
                extra["parent_unresolved"] = doc.first("parent-model")
        if variants:
            extra["variants"] = variants
        if collections:
            extra["collections"] = collections
        if inherited:
            extra["inherited_from_parent"] = inherited
        if len(tasks) > 1:
            extra["tasks"] = [TASK_TO_PIPELINE.get(t, t) for t in tasks]
        if len(architectures) > 1:
            extra["architectures"] = list(architectures)
        if doc.publisher in self.publishers:
            extra["publisher_name"] = self.publishers[doc.publisher]
        if doc.type == "Placeholder":
            extra["note"] = "placeholder page: tfhub.dev hosted no SavedModel for this handle"

        tags = _ordered([doc.type.lower(), fmt or "", *tasks, *architectures,
                         *(f"collection:{c.rsplit('/', 1)[0]}" for c in collections)])
        return ModelRecord(
            id=mid.key,
            platform="tfhub",
            name=mid.name,
            owner=doc.publisher,
            task=TASK_TO_PIPELINE.get(tasks[0], tasks[0]) if tasks else None,
            license=licenses.normalize(license_raw),
            license_raw=license_raw,
            license_source="tfhub.dev doc" if license_raw else None,
            framework="tensorflow",
            library=_LIBRARY.get(doc.type),
            format=fmt,
            fine_tunable=_bool(doc.first("fine-tunable")),
            tags=tuple(tags),
            datasets=tuple(datasets),
            languages=tuple(languages),
            architecture=architectures[0] if architectures else None,
            version=mid.version,
            source_url=mid.url(),
            summary=summarize(doc.description),
            parameters_note=NOT_PUBLISHED,
            extra=extra,
        )

    def finish(self) -> None:
        self.report.unknown_values = {k: sorted(v) for k, v in sorted(self.unknown.items())}


def build_records(docs: Iterable[tuple[str, Doc | CatalogError]], vocab: Vocabularies | None = None, *,
                  source: str = "") -> tuple[list[ModelRecord], SyncReport, dict[str, Any]]:
    """Records for the model docs, the report, and the groupings kept outside records.

    Returns:
        ``(records, report, info)`` where ``info`` has ``collections`` (handle -> description,
        task, members) and ``publishers`` (id -> display name).
    """
    report = SyncReport(source=source)
    builder = _Builder(vocab or Vocabularies(), report)
    malformed = 0
    for path, doc in docs:
        if isinstance(doc, CatalogError):
            report.problems.append((path, doc.message))
            report.skipped += 1
            malformed += 1
            continue
        builder.add(doc)
    records = builder.records()
    builder.finish()
    report.counts["malformed"] = malformed
    info = {
        "collections": {
            c.handle: {"summary": summarize(c.description), "task": list(c.metadata.get("task", ())),
                       "members": builder.members_of(c), "doc_path": c.path}
            for c in builder.collections
        },
        "publishers": dict(sorted(builder.publishers.items())),
    }
    return records, report, info


# -- sources ----------------------------------------------------------------------------------
def _wanted(rel: str) -> bool:
    # a repository archive holds code and images too: only the docs and vocabularies are read
    return (rel.endswith(".md") and "/assets/docs/" in f"/{rel}") or (rel.endswith(".yaml") and "/tags/" in f"/{rel}")


def _extract(archive: Path, dest: Path) -> None:
    from ..archive import safe_extract_tar, safe_extract_zip

    name = archive.name.lower()
    if name.endswith(".zip") or (not name.endswith((".tar.gz", ".tgz", ".tar")) and _is_zip(archive)):
        safe_extract_zip(archive, dest, include=_wanted)
    else:
        safe_extract_tar(archive, dest, include=_wanted)


def _is_zip(path: Path) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _download(url: str, dest_dir: Path) -> Path:
    from urllib.parse import urlsplit

    from .. import http, settings
    from ..errors import LimitExceededError

    name = Path(urlsplit(url).path).name or "catalog.tar.gz"
    target = dest_dir / name
    # extraction stops at PTMHUB_MAX_ARCHIVE_BYTES and an archive is no larger than its contents
    # (give or take headers): a bigger body is refused while it arrives, before it fills the disk
    limit = settings.get().max_archive_bytes
    received = [0]

    def count(n: int) -> None:
        received[0] += n
        if received[0] > limit:
            raise LimitExceededError(f"the catalog download is larger than {limit:,} bytes (max_archive_bytes)",
                                     hint="raise PTMHUB_MAX_ARCHIVE_BYTES if the URL is right")

    response = http.request("GET", url, stream=True, what="the catalog download")
    with response, open(target, "wb") as out:
        http.stream_to_file(response, out, progress=count)
    return target


class _Source:
    """A folder to read, made from a folder, an archive or a URL (temporary files cleaned up)."""

    def __init__(self, source: str):
        self.source = source
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        src = self.source
        is_url = bool(re.match(r"^https?://", src, re.I))
        path = Path(src).expanduser()
        if not is_url and path.is_dir():
            return path
        if is_url or path.is_file():
            self._tmp = tempfile.TemporaryDirectory(prefix="ptmhub-tfhub-")
            work = Path(self._tmp.name)
            try:
                _extract(_download(src, work) if is_url else path, work / "tree")
            except BaseException:
                self._tmp.cleanup()
                raise
            return work / "tree"
        raise UsageError(f"the catalog source {src!r} is neither a folder, an archive nor an http(s) URL",
                         hint="give a checkout or a .tar.gz/.zip of the tensorflow/tfhub.dev repository")

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def sync(store: Store, *, source: str, progress: Callable[[int], None] | None = None,
         batch_size: int = 1000) -> SyncReport:
    """Import the tfhub.dev catalog into the registry.

    Args:
        store: the registry.
        source: a checkout of tensorflow/tfhub.dev, a ``.tar.gz``/``.zip`` of it, or an http(s)
            URL of such an archive.
        progress: called with the number of records after each database write.
        batch_size: records per database write.

    Returns:
        The report: ``records`` upserted, ``counts`` per doc type (and links made),
        ``problems`` (doc path, reason) for each doc skipped, ``unknown_values`` per
        metadata key for values outside ``tags/*.yaml``.

    Raises:
        UsageError: the source is not a folder, archive or URL.
        CatalogError: the source has no ``assets/docs`` folder.
        UnsafeArchiveError, CorruptArchiveError: the archive is refused or unreadable.
        LimitExceededError: the archive (or its download) is over a ``PTMHUB_MAX_ARCHIVE_*`` limit.
        NetworkError, OfflineError: the URL cannot be downloaded.
    """
    if not source:
        raise UsageError("'ptmhub sync tfhub' needs --source",
                         hint="a checkout, archive or archive URL of the tensorflow/tfhub.dev repository")
    start = time.perf_counter()
    with _Source(str(source)) as root:
        vocab = load_vocabularies(root)
        records, report, info = build_records(iter_catalog(root), vocab, source=str(source))
    for i in range(0, len(records), batch_size):
        written = store.upsert(records[i:i + batch_size], batch_size=batch_size)
        report.records += written
        if progress is not None:
            progress(written)
    report.seconds = time.perf_counter() - start
    store.save_sync_state(SOURCE_NAME, origin=str(source), records=report.records, counts=report.counts,
                          problems=len(report.problems), collections=info["collections"],
                          publishers=info["publishers"], seconds=round(report.seconds, 3), done=True)
    return report
