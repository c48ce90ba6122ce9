"""Import the pytorch/hub model docs: one record per torch.hub entrypoint the docs call.

A doc is YAML front matter (title, summary, tags, github-id, accelerator, ...) followed by
markdown whose code calls ``torch.hub.load('<owner>/<repo>[:ref]', '<entrypoint>', ...)``.
The docs carry no license, task or parameter count; those come from the code (torchvision's
weights meta, a repository's ``LICENSE``, a meta-device build) and are filled by other sources.

What the parser copes with, all seen in the real docs:

* curly quotes (``“cuda-optional”`` in front matter, ``‘...’`` in code);
* calls spread over several lines, with keyword arguments (``repo_or_dir=``, ``model=``),
  ``**{...}`` and comments between the arguments;
* an entrypoint held in a variable (``model_name = 'x3d_s'`` ... ``torch.hub.load(repo, model_name)``);
* variants given in comments: commented-out calls (``# model = torch.hub.load(..., 'resnet34')``),
  commented-out assignments (``#model_type = "DPT_Hybrid"``) and lists of names next to the
  assignment (``# proxyless_gpu, proxyless_mobile are also available``);
* broken code fences (a ```` ```bash ```` block that never closes), so calls are found in the
  whole body rather than only inside well-formed fences.
"""

from __future__ import annotations

import ast
import bisect
import datetime as dt
import io
import re
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError, InvalidIdError, UsageError
from ..hubs.base import SyncReport
from ..hubs.torchhub import MAX_AST_DEPTH, ast_depth_exceeds
from ..records import ModelRecord

if TYPE_CHECKING:
    from ..registry.store import Store

__all__ = ["HubCall", "HubDoc", "parse_doc", "iter_docs", "records_for", "sync",
           "SOURCE_NAME"]

SOURCE_NAME = "torchhub"
MAX_DOC_BYTES = 2 * 1024 * 1024
MAX_CALL_CHARS = 4000
#: How deep a call's expression may nest (``x=a+a+...``): deeper ones are reported, not parsed further.
MAX_CALL_DEPTH = MAX_AST_DEPTH
_CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_CALL = re.compile(r"\btorch\s*\.\s*hub\s*\.\s*load\s*\(")
_NAME_TOKEN = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")


@dataclass(frozen=True)
class HubCall:
    """One ``torch.hub.load`` call (or a variant named next to one) found in a doc."""

    repo: str                       # OWNER/REPO as written in the call
    ref: str | None                 # the ``:ref`` part, if any
    entrypoint: str
    found: str                      # "call", "commented call", "variable", "commented variable", "comment"
    example: str                    # the call's source text, whitespace collapsed
    kwargs: tuple[tuple[str, str], ...] = ()   # literal keyword arguments, as source text


@dataclass
class HubDoc:
    """A parsed doc: its front matter and the calls found in its body."""

    path: str
    meta: dict[str, Any]
    calls: list[HubCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def github_id(self) -> str | None:
        value = self.meta.get("github-id")
        return str(value) if value else None


# -- front matter ------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """Strip curly/straight quotes that YAML kept as part of a plain scalar (``“cuda-optional”``)."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] in "\u201c\u2018\"'" and text[-1] in "\u201d\u2019\"'":
            text = text[1:-1].strip()
        return text
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def _split_front_matter(text: str, path: str) -> tuple[dict[str, Any], str] | None:
    import yaml

    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        return None
    m = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", text, re.S)
    if not m:
        raise CatalogError(f"{path}: the front matter opened by '---' is never closed")
    try:
        meta = yaml.safe_load(m.group(1))
        if not isinstance(meta, dict):
            raise CatalogError(f"{path}: the front matter is not a mapping of fields")
        return {str(k): _clean(v) for k, v in meta.items()}, text[m.end():]
    except yaml.YAMLError as exc:  # an unhashable key (``? [1]``) is one too: a ConstructorError
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise CatalogError(f"{path}: the front matter is not valid YAML{line}") from None
    except (RecursionError, MemoryError):
        # PyYAML composes (and _clean walks) nested lists and mappings recursively
        raise CatalogError(f"{path}: the front matter nests lists or mappings too deeply to read") from None


# -- calls ---------------------------------------------------------------------------------------
def _uncomment(lines: list[str]) -> tuple[list[str], list[bool]]:
    """Lines with a leading ``#`` removed (so commented-out calls parse), and which ones had it."""
    plain, commented = [], []
    for line in lines:
        m = re.match(r"^(\s*)#+\s?(.*)$", line)
        if m:
            plain.append(m.group(1) + m.group(2))
            commented.append(True)
        else:
            plain.append(line)
            commented.append(False)
    return plain, commented


def _call_extent(text: str, open_paren: int) -> int | None:
    """Index just past the ``)`` matching the ``(`` at ``open_paren``; strings and comments skipped."""
    depth, i, n = 0, open_paren, min(len(text), open_paren + MAX_CALL_CHARS)
    while i < n:
        c = text[i]
        if c in "'\"":
            quote = text[i:i + 3] if text[i:i + 3] in ("'''", '"""') else c
            end = text.find(quote, i + len(quote))
            if end < 0 or (len(quote) == 1 and "\n" in text[i:end]):
                return None
            i = end + len(quote)
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif text.startswith("```", i):
            return None  # ran into the end of the code block
        i += 1
    return None


def _assignments(plain: list[str], commented: list[bool], name: str) -> list[tuple[int, str, bool]]:
    """``(line, value, commented)`` for every ``NAME = 'literal'`` in the doc."""
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*=\s*(['\"])([^'\"\n]+)\1")
    out = []
    for i, line in enumerate(plain):
        m = pattern.match(line)
        if m:
            out.append((i, m.group(2).strip(), commented[i]))
    return out


def _names_near(lines: list[str], commented: list[bool], line_no: int, value: str) -> list[str]:
    """Names listed in the comments next to an assignment that look like siblings of ``value``
    (same first ``_``-separated part): ``proxyless_cpu`` -> ``proxyless_gpu, proxyless_mobile``."""
    prefix = value.split("_", 1)[0]
    if "_" not in value or not prefix:
        return []
    texts = []
    own = lines[line_no]
    if "#" in own:
        texts.append(own.split("#", 1)[1])
    j = line_no + 1
    while j < len(lines) and commented[j]:
        texts.append(lines[j])
        j += 1
    found: list[str] = []
    for text in texts:
        for token in _NAME_TOKEN.findall(text):
            if token.split("_", 1)[0] == prefix and token != value and token not in found:
                found.append(token)
    return found


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _find_calls(body: str, first_line: int = 1) -> tuple[list[HubCall], list[str]]:
    """Calls in ``body``; problems name lines counted from ``first_line`` (the body's line in the doc)."""
    lines = body.translate(_CURLY).splitlines()
    plain, commented = _uncomment(lines)
    text = "\n".join(plain)
    starts = [0]
    for line in plain:
        starts.append(starts[-1] + len(line) + 1)
    calls: list[HubCall] = []
    problems: list[str] = []
    for m in _CALL.finditer(text):
        line_no = bisect.bisect_right(starts, m.start()) - 1
        was_commented = commented[min(line_no, len(commented) - 1)]
        where = f"line {line_no + first_line}"
        end = _call_extent(text, m.end() - 1)
        if end is None:
            problems.append(f"{where}: a torch.hub.load call whose parentheses do not close")
            continue
        source = text[m.start():end]
        try:
            node = ast.parse("_(" + source[source.index("(") + 1:], mode="eval").body
        except SyntaxError:  # null bytes included
            problems.append(f"{where}: a torch.hub.load call that is not valid Python")
            continue
        except (RecursionError, MemoryError):  # CPython's parser on ``-----1`` or ``a+a+...`` deep
            problems.append(f"{where}: a torch.hub.load call nested too deeply to parse")
            continue
        if ast_depth_exceeds(node, MAX_CALL_DEPTH):  # ast.unparse below recurses once per level
            problems.append(f"{where}: a torch.hub.load call nested deeper than {MAX_CALL_DEPTH} levels")
            continue
        assert isinstance(node, ast.Call)
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        repo_node = kw.get("repo_or_dir") or kw.get("github") or (node.args[0] if node.args else None)
        model_node = kw.get("model") or (node.args[1] if len(node.args) > 1 else None)
        if repo_node is None or model_node is None:
            problems.append(f"{where}: a torch.hub.load call without repository and entrypoint")
            continue
        example = " ".join(source.split())
        kwargs = tuple((k.arg, ast.unparse(k.value)) for k in node.keywords
                       if k.arg and k.arg not in ("repo_or_dir", "github", "model"))

        def values(arg: ast.AST, what: str) -> list[tuple[str, str]]:
            lit = _literal(arg)
            if lit is not None:
                return [(lit, "commented call" if was_commented else "call")]
            if isinstance(arg, ast.Name):
                found = []
                assigned = _assignments(plain, commented, arg.id)
                for i, value, com in sorted(assigned, key=lambda a: a[2]):  # active ones first
                    found.append((value, "commented variable" if com else "variable"))
                    if not com:
                        found += [(n, "comment") for n in _names_near(lines, commented, i, value)]
                if found:
                    return found
            problems.append(f"{where}: the {what} {ast.unparse(arg)!r} is not a string the doc assigns")
            return []

        for repo_value, _ in values(repo_node, "repository")[:1]:
            repo, _, ref = repo_value.strip().partition(":")
            for entry, how in values(model_node, "entrypoint"):
                calls.append(HubCall(repo=repo.strip(), ref=ref.strip() or None, entrypoint=entry.strip(),
                                     found=how, example=example, kwargs=kwargs))
    return calls, problems


def parse_doc(text: str, *, path: str = "<doc>") -> HubDoc | None:
    """Parse one doc. Returns None for markdown without front matter (READMEs and the like).

    Raises:
        CatalogError: the front matter is broken.
    """
    split = _split_front_matter(text, path)
    if split is None:
        return None
    meta, body = split
    first_line = text[:len(text) - len(body)].count("\n") + 1
    calls, problems = _find_calls(body, first_line)
    return HubDoc(path=path, meta=meta, calls=calls, problems=problems)


# -- records -------------------------------------------------------------------------------------
def _canonical_repo(repo: str, github_id: str | None) -> str:
    """GitHub names are case-insensitive; prefer the doc's ``github-id`` spelling."""
    if github_id and github_id.lower() == repo.lower():
        return github_id
    return repo


def records_for(doc: HubDoc) -> tuple[list[ModelRecord], list[str]]:
    """One record per distinct (repository, entrypoint) the doc calls, and the problems met."""
    from ..ids import parse

    meta = doc.meta
    tags = tuple(str(t).strip().lower() for t in (meta.get("tags") or []) if str(t).strip())
    title = meta.get("title")
    out: dict[str, ModelRecord] = {}
    problems: list[str] = []
    for call in doc.calls:
        repo = _canonical_repo(call.repo, doc.github_id)
        raw = f"torchhub:{repo}" + (f":{call.ref}" if call.ref else "") + f"/{call.entrypoint}"
        try:
            mid = parse(raw)
        except InvalidIdError as exc:
            problems.append(f"{call.entrypoint!r}: {exc.message}")
            continue
        if mid.key in out:
            continue
        written = f"torchhub:{call.repo}/{call.entrypoint}"
        aliases = (written,) if written != mid.key else ()
        extra = {
            "catalog": "pytorch/hub",
            "doc": Path(doc.path).name,
            "title": title,
            "github_id": doc.github_id,
            "accelerator": meta.get("accelerator"),
            "author": meta.get("author"),
            "category": meta.get("category"),
            "demo_url": meta.get("demo-model-link"),
            "found": call.found,
            "example": call.example[:400],
        }
        if call.ref:
            extra["ref"] = call.ref
        out[mid.key] = ModelRecord(
            id=mid.key,
            platform="torchhub",
            name=mid.entrypoint or call.entrypoint,
            owner=mid.owner,
            summary=meta.get("summary") or title,
            tags=tags,
            framework="pytorch",
            format="hubconf",
            revision=call.ref,
            source_url=meta.get("github-link"),
            parameters_note="the pytorch/hub docs publish no parameter count; "
                            "'ptmhub resolve --trust' counts it on the meta device",
            aliases=aliases,
            extra={k: v for k, v in extra.items() if v is not None},
        )
    return list(out.values()), problems


# -- sources -------------------------------------------------------------------------------------
def _read_limited(data: bytes, name: str) -> str:
    if len(data) > MAX_DOC_BYTES:
        raise CatalogError(f"{name}: larger than {MAX_DOC_BYTES} bytes; not a model doc")
    return data.decode("utf-8", errors="replace")


def _iter_archive(data: bytes, label: str) -> Iterator[tuple[str, str]]:
    """Markdown members of a zip or tar archive, read in memory (nothing is written to disk)."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and info.filename.lower().endswith(".md"):
                    if info.file_size > MAX_DOC_BYTES:
                        continue
                    yield info.filename, _read_limited(zf.read(info), info.filename)
        return
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except tarfile.TarError:
        raise CatalogError(f"{label} is neither a markdown doc, a folder, nor a .zip/.tar.gz archive") from None
    with tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isreg() and member.name.lower().endswith(".md") and member.size <= MAX_DOC_BYTES:
                fh = tar.extractfile(member)
                if fh is not None:
                    yield member.name, _read_limited(fh.read(), member.name)


def iter_docs(source: str | Path) -> Iterator[tuple[str, str]]:
    """``(name, text)`` for every markdown file in a folder, a single ``.md`` file, a ``.zip`` /
    ``.tar.gz`` archive of the pytorch/hub repository, or an http(s) URL of either.

    Raises:
        UsageError: the path does not exist.
        CatalogError: the source is not something we can read docs from.
    """
    text = str(source)
    if text.startswith(("http://", "https://")):
        from .. import http

        response = http.request("GET", text, what="downloading the pytorch/hub docs", stream=True)
        data = b"".join(http.iter_body(response))
        name = text.rstrip("/").rsplit("/", 1)[-1] or "doc.md"
        if name.lower().endswith(".md"):
            yield name, _read_limited(data, name)
        else:
            yield from _iter_archive(data, text)
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise UsageError(f"the catalog source {text!r} does not exist",
                         hint="give a checkout of pytorch/hub, an archive of it, or its URL")
    if path.is_dir():
        for doc in sorted(path.rglob("*.md")):
            rel = doc.relative_to(path)
            if any(part.startswith(".") for part in rel.parts) or not doc.is_file():
                continue
            yield str(rel), _read_limited(doc.read_bytes(), str(rel))
        return
    if path.suffix.lower() == ".md":
        yield path.name, _read_limited(path.read_bytes(), path.name)
        return
    yield from _iter_archive(path.read_bytes(), text)


def _merge_same(a: ModelRecord, b: ModelRecord) -> ModelRecord:
    """Two docs calling the same entrypoint (NVIDIA's utils): keep the first, remember both."""
    docs = list(a.extra.get("docs") or [a.extra.get("doc")])
    if b.extra.get("doc") not in docs:
        docs.append(b.extra.get("doc"))
    tags = tuple(dict.fromkeys(a.tags + b.tags))
    aliases = tuple(dict.fromkeys(a.aliases + b.aliases))
    return a.replace(tags=tags, aliases=aliases, extra={**a.extra, "docs": [d for d in docs if d]})


def sync(store: Store, *, source: str | Path | None = None,
         progress: Callable[[int], None] | None = None) -> SyncReport:
    """Import every model doc under ``source`` into ``store`` (idempotent).

    Raises:
        UsageError: no source was given or it does not exist.
        CatalogError: the source cannot be read.
    """
    if not source:
        raise UsageError("'sync torchhub' needs the pytorch/hub docs",
                         hint="pass --source PATH|URL: a checkout of github.com/pytorch/hub or an archive of it")
    start = time.perf_counter()
    report = SyncReport(source=SOURCE_NAME)
    records: dict[str, ModelRecord] = {}
    docs = not_docs = 0
    repos: set[str] = set()
    for name, text in iter_docs(source):
        try:
            doc = parse_doc(text, path=name)
        except CatalogError as exc:
            report.problems.append((name, exc.message))
            report.skipped += 1
            continue
        if doc is None:
            not_docs += 1
            continue
        docs += 1
        recs, problems = records_for(doc)
        for problem in doc.problems + problems:
            report.problems.append((name, problem))
        if not recs:
            report.problems.append((name, "no torch.hub.load call with a literal repository and entrypoint"))
            report.skipped += 1
            continue
        for rec in recs:
            repos.add(rec.id.rsplit("/", 1)[0].lower())
            records[rec.id] = _merge_same(records[rec.id], rec) if rec.id in records else rec
    report.records = store.upsert(records.values(), combine=True)
    if progress is not None and report.records:
        progress(report.records)
    report.counts = {"docs": docs, "entrypoints": len(records), "repositories": len(repos)}
    if not_docs:
        report.counts["markdown_without_front_matter"] = not_docs
    report.seconds = time.perf_counter() - start
    store.save_sync_state(SOURCE_NAME, location=str(source), docs=docs, records=report.records,
                          done=True, synced_at=dt.datetime.now(dt.timezone.utc).isoformat())
    return report
