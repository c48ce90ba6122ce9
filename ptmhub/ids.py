"""Model IDs: the only place that parses or formats them.

Canonical forms (``str(ModelId)`` gives them back, ``parse(str(m)) == m``):

=========  ====================================================  ==========================
platform   canonical form                                        registry key (``.key``)
=========  ====================================================  ==========================
huggingface ``hf:OWNER/NAME[@REVISION]`` or ``hf:NAME[@REVISION]``  without ``@REVISION``
tfhub      ``tfhub:PUBLISHER/NAME.../VERSION``                   the whole handle
kaggle     ``kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]``  the whole handle
torchhub   ``torchhub:OWNER/REPO[:REF]/ENTRYPOINT[#WEIGHTS]``    without ``:REF`` and ``#WEIGHTS``
local      ``local:NAME`` or ``local:OWNER/NAME``                 the whole ID
=========  ====================================================  ==========================

``local:`` names a model folder registered with ``ptmhub add PATH`` (a user's fine-tuned model,
or one shipped inside a Python package). It is not a hub: :data:`PLATFORMS` lists the four hubs,
:data:`PREFIXES` also has ``local``. Local IDs always carry their prefix (no bare form).

URLs accepted: ``https://huggingface.co/OWNER/NAME[/tree/REV]`` (and ``hf.co``),
``https://tfhub.dev/PUBLISHER/...VERSION[?tf-hub-format=...]``,
``https://www.kaggle.com/models/OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]`` and the long form
``.../models/OWNER/MODEL/frameworks/FW/variations/VAR[/versions/N]``.

Bare IDs (no prefix) follow these rules, in order (see docs/ids.md):

1. ``OWNER/REPO:REF/ENTRYPOINT`` (a ``:`` inside) is torchhub;
2. one or two segments (``NAME``, ``OWNER/NAME``, optional ``@REV``) are Hugging Face;
3. three segments not ending in a number are torchhub ``OWNER/REPO/ENTRYPOINT``;
4. five segments whose third is a Kaggle framework and whose last is a number are Kaggle;
5. three or more segments ending in a number are a TF Hub handle;
6. anything else is rejected, naming the forms it could have meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import AmbiguousIdError, InvalidIdError

__all__ = ["ModelId", "parse", "PREFIXES", "PLATFORMS", "REPO_HUBS", "MAX_ID_LENGTH", "KAGGLE_FRAMEWORKS"]

MAX_ID_LENGTH = 512
#: Hubs whose models are repositories named ``PREFIX:OWNER/NAME[@REVISION]`` (branch, tag or commit),
#: parsed and printed the same way: prefix -> (platform, the model's web page with ``{path}``).
#: One line per hub; Hugging Face has its own rules (legacy IDs without an owner, HF_ENDPOINT).
REPO_HUBS: dict[str, tuple[str, str]] = {
    "ms": ("modelscope", "https://modelscope.cn/models/{path}"),
}
_REPO_PLATFORMS = {platform: (prefix, page) for prefix, (platform, page) in REPO_HUBS.items()}
PLATFORMS = ("huggingface", "tfhub", "kaggle", "torchhub", *_REPO_PLATFORMS)
PREFIXES = {"hf": "huggingface", "tfhub": "tfhub", "kaggle": "kaggle", "torchhub": "torchhub",
            **{prefix: platform for prefix, (platform, _page) in REPO_HUBS.items()}, "local": "local"}
_PREFIX_OF = {v: k for k, v in PREFIXES.items()}
# Kaggle Models' framework slugs as they appear in handles (compared case-insensitively).
KAGGLE_FRAMEWORKS = frozenset(
    f.lower()
    for f in (
        "tensorFlow1", "tensorFlow2", "tfLite", "tfJs", "coral", "pyTorch", "jax", "flax",
        "keras", "transformers", "gguf", "onnx", "scikitLearn", "other", "mxnet", "triton",
    )
)

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9._\-/]+$")
_VERSION = re.compile(r"^[0-9]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HF_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
_TFHUB_HOSTS = {"tfhub.dev", "www.tfhub.dev"}
_KAGGLE_HOSTS = {"kaggle.com", "www.kaggle.com"}


@dataclass(frozen=True, order=True)
class ModelId:
    """A parsed model ID.

    Attributes:
        platform: ``huggingface``, ``tfhub``, ``kaggle``, ``torchhub`` or ``local``.
        path: the hub's own path: ``OWNER/NAME`` (HF), the handle without version (TF Hub),
            ``OWNER/MODEL/FRAMEWORK/VARIATION`` (Kaggle), ``OWNER/REPO`` (torchhub), the name (local).
        version: TF Hub / Kaggle version number, as a string.
        revision: HF revision (branch, tag, commit) or torchhub git ref.
        entrypoint: torchhub entrypoint (function in ``hubconf.py``).
        variant: torchhub weights variant (e.g. ``IMAGENET1K_V2``).
    """

    platform: str
    path: str
    version: str | None = None
    revision: str | None = None
    entrypoint: str | None = None
    variant: str | None = None

    # -- views -----------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return _PREFIX_OF[self.platform]

    @property
    def owner(self) -> str | None:
        parts = self.path.split("/")
        return parts[0] if len(parts) > 1 else None

    @property
    def name(self) -> str:
        """Human name: HF repo name, TF Hub handle tail, torchhub entrypoint, Kaggle model."""
        parts = self.path.split("/")
        if self.platform == "torchhub":
            return self.entrypoint or parts[-1]
        if self.platform == "kaggle":
            return "/".join(parts[1:])
        if self.platform == "tfhub":
            return "/".join(parts[1:])
        return parts[-1]

    @property
    def key(self) -> str:
        """The registry key: canonical form without HF revision / torchhub ref and weights."""
        if self.platform == "huggingface":
            return f"hf:{self.path}"
        if self.platform == "torchhub":
            return f"torchhub:{self.path}/{self.entrypoint}"
        return f"{self.prefix}:{self.handle}"

    @property
    def handle(self) -> str:
        """The string the hub's own library takes (repo id, TF Hub/Kaggle handle, torch.hub repo)."""
        if self.platform == "torchhub":
            return self.path + (f":{self.revision}" if self.revision else "")
        if self.version is not None:
            return f"{self.path}/{self.version}"
        return self.path

    @property
    def repo(self) -> str:
        """``OWNER/REPO`` for torchhub, the repo id for HF, the path elsewhere."""
        return self.path

    def with_(self, **changes: str | None) -> ModelId:
        data = {f: getattr(self, f) for f in ("platform", "path", "version", "revision", "entrypoint", "variant")}
        data.update(changes)
        return ModelId(**data)

    def __str__(self) -> str:
        if self.platform == "huggingface" or self.platform in _REPO_PLATFORMS:
            return f"{self.prefix}:{self.path}" + (f"@{self.revision}" if self.revision else "")
        if self.platform == "torchhub":
            ref = f":{self.revision}" if self.revision else ""
            variant = f"#{self.variant}" if self.variant else ""
            return f"torchhub:{self.path}{ref}/{self.entrypoint}{variant}"
        return f"{self.prefix}:{self.handle}"

    def url(self) -> str:
        """The model's public web page ("" for a local model: it has none); for Hugging Face, on the
        configured endpoint (``HF_ENDPOINT``)."""
        if self.platform == "local":
            return ""
        if self.platform == "huggingface":
            from . import settings  # the configured endpoint (HF_ENDPOINT): a mirror's page, not huggingface.co

            return f"{settings.get().hf_endpoint}/{self.path}" + (f"/tree/{self.revision}" if self.revision else "")
        if self.platform in _REPO_PLATFORMS:
            return _REPO_PLATFORMS[self.platform][1].format(path=self.path) + (
                f"/tree/{self.revision}" if self.revision else "")
        if self.platform == "tfhub":
            return f"https://tfhub.dev/{self.handle}"
        if self.platform == "kaggle":
            owner, model, framework, variation = self.path.split("/")
            url = f"https://www.kaggle.com/models/{owner}/{model}/{framework}/{variation}"
            return url + (f"/{self.version}" if self.version else "")
        return f"https://github.com/{self.path}" + (f"/tree/{self.revision}" if self.revision else "")


# -- parsing ---------------------------------------------------------------------------------
def _fail(raw: str, problem: str, hint: str | None = None) -> InvalidIdError:
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    return InvalidIdError(f"invalid model ID {shown!r}: {problem}", hint=hint)


def _check_text(raw: str) -> None:
    if not raw or not raw.strip():
        raise _fail(raw, "it is empty", "give an ID such as hf:bert-base-uncased")
    if len(raw) > MAX_ID_LENGTH:
        raise _fail(raw, f"it is {len(raw)} characters long; at most {MAX_ID_LENGTH} are allowed")
    if _CONTROL.search(raw):
        raise _fail(raw.encode("unicode_escape").decode(), "it contains a control character")
    if "\\" in raw:
        raise _fail(raw, "it contains a backslash; IDs use '/' between parts")
    if raw != raw.strip() or any(c.isspace() for c in raw):
        raise _fail(raw, "it contains whitespace")


def _segments(raw: str, body: str, *, what: str) -> list[str]:
    if body.startswith("/"):
        raise _fail(raw, "it looks like an absolute path", "IDs name hub models, not files; use 'ptmhub add PATH' for a local folder")
    parts = body.split("/")
    for part in parts:
        if part == "":
            raise _fail(raw, f"the {what} has an empty part ('//' or a leading/trailing '/')")
        if part in (".", ".."):
            raise _fail(raw, f"the {what} contains a '{part}' part")
        if not _SEGMENT.match(part):
            bad = sorted({c for c in part if not (c.isalnum() and c.isascii()) and c not in "._-"})
            what_bad = f"the character(s) {' '.join(map(repr, bad))}" if bad else f"a part starting with {part[0]!r}"
            raise _fail(raw, f"the {what} has {what_bad} in {part!r}", "parts use letters, digits, '.', '_' and '-'")
        if len(part) > 128:
            raise _fail(raw, f"the part {part[:20]!r}... is longer than 128 characters")
    return parts


def _check_revision(raw: str, rev: str) -> str:
    if not rev:
        raise _fail(raw, "the revision after '@' or ':' is empty")
    if not _REVISION.match(rev) or ".." in rev or rev.startswith("/") or rev.endswith("/") or "//" in rev:
        raise _fail(raw, f"the revision {rev!r} is not a valid branch, tag or commit")
    return rev


def _parse_hf(raw: str, body: str) -> ModelId:
    revision = None
    if "@" in body:
        body, revision = body.split("@", 1)
        revision = _check_revision(raw, revision)
    parts = _segments(raw, body, what="Hugging Face repo id")
    if len(parts) > 2:
        raise _fail(raw, "a Hugging Face repo id has at most two parts (OWNER/NAME)")
    return ModelId("huggingface", "/".join(parts), revision=revision)


def _parse_tfhub(raw: str, body: str) -> ModelId:
    parts = _segments(raw, body, what="TF Hub handle")
    if len(parts) < 3 or not _VERSION.match(parts[-1]):
        raise _fail(raw, "a TF Hub handle is PUBLISHER/NAME.../VERSION and ends in a version number",
                    "e.g. tfhub:google/nnlm-en-dim128/2")
    return ModelId("tfhub", "/".join(parts[:-1]), version=parts[-1])


def _parse_kaggle(raw: str, body: str) -> ModelId:
    parts = _segments(raw, body, what="Kaggle handle")
    if len(parts) not in (4, 5):
        raise _fail(raw, "a Kaggle handle is OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]",
                    "e.g. kaggle:google/mobilenet-v2/tensorFlow2/100-224-classification/2")
    version = None
    if len(parts) == 5:
        if not _VERSION.match(parts[4]):
            raise _fail(raw, f"the Kaggle version {parts[4]!r} is not a number")
        version = parts.pop()
    return ModelId("kaggle", "/".join(parts), version=version)


def _parse_torchhub(raw: str, body: str) -> ModelId:
    variant = None
    if "#" in body:
        body, variant = body.split("#", 1)
        if not variant or not _SEGMENT.match(variant):
            raise _fail(raw, f"the weights variant {variant!r} after '#' is not valid")
    revision = None
    head, sep, entrypoint = body.rpartition("/")
    if not sep:
        raise _fail(raw, "a torchhub ID is OWNER/REPO[:REF]/ENTRYPOINT", "e.g. torchhub:pytorch/vision/resnet50")
    if ":" in head:
        head, revision = head.split(":", 1)
        revision = _check_revision(raw, revision)
    parts = _segments(raw, head, what="torchhub repository")
    if len(parts) != 2:
        raise _fail(raw, "a torchhub ID is OWNER/REPO[:REF]/ENTRYPOINT (the repository has two parts)",
                    "e.g. torchhub:pytorch/vision:v0.10.0/resnet18")
    # torch.hub looks entrypoints up with getattr, so hubconf files that fill globals() use
    # dotted names too (fairseq's 'transformer.wmt19.en-de.single_model').
    if not entrypoint or not re.match(r"^[A-Za-z_][A-Za-z0-9_.\-]*$", entrypoint):
        raise _fail(raw, f"the entrypoint {entrypoint!r} is not a Python function name")
    return ModelId("torchhub", "/".join(parts), revision=revision, entrypoint=entrypoint, variant=variant)


def _parse_local(raw: str, body: str) -> ModelId:
    if "@" in body or "#" in body or ":" in body:
        raise _fail(raw, "a local ID is local:NAME or local:OWNER/NAME (no revision, ref or variant)",
                    "register a folder under a name with 'ptmhub add PATH --id local:NAME'")
    parts = _segments(raw, body, what="local name")
    if len(parts) > 2:
        raise _fail(raw, "a local ID has at most two parts (local:NAME or local:OWNER/NAME)")
    return ModelId("local", "/".join(parts))


def _repo_parser(platform: str):  # noqa: ANN202 - a parser like the others
    prefix = _REPO_PLATFORMS[platform][0]

    def parse_repo(raw: str, body: str) -> ModelId:
        revision = None
        if "@" in body:
            body, revision = body.split("@", 1)
            revision = _check_revision(raw, revision)
        parts = _segments(raw, body, what=f"{prefix}: repository id")
        if len(parts) != 2:
            raise _fail(raw, f"a {prefix}: ID is {prefix}:OWNER/NAME[@REVISION]")
        return ModelId(platform, "/".join(parts), revision=revision)

    return parse_repo


_PARSERS = {"huggingface": _parse_hf, "tfhub": _parse_tfhub, "kaggle": _parse_kaggle, "torchhub": _parse_torchhub,
            "local": _parse_local, **{platform: _repo_parser(platform) for platform in _REPO_PLATFORMS}}


def _parse_url(raw: str) -> ModelId:
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise _fail(raw, f"it is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise _fail(raw, f"URLs must use https, not {parts.scheme!r}")
    host = (parts.hostname or "").lower()
    path = unquote(parts.path).strip("/")
    if host in _HF_HOSTS:
        segs = path.split("/")
        if segs and segs[0] in ("models",):
            segs = segs[1:]
        if segs and segs[0] in ("datasets", "spaces"):
            raise _fail(raw, f"it names a Hugging Face {segs[0][:-1]}, not a model")
        for n in (1, 2):  # OWNER/NAME/tree/REV or legacy NAME/tree/REV
            if len(segs) > n + 1 and segs[n] in ("tree", "blob", "resolve"):
                rest = segs[n + 1:]
                rev = "/".join(rest) if segs[n] == "tree" else rest[0]
                return _parse_hf(raw, "/".join(segs[:n]) + "@" + rev)
        if len(segs) > 2:
            raise _fail(raw, "a Hugging Face model URL is https://huggingface.co/OWNER/NAME[/tree/REVISION]")
        return _parse_hf(raw, "/".join(segs))
    if host in _TFHUB_HOSTS:
        return _parse_tfhub(raw, path)
    if host in _KAGGLE_HOSTS:
        segs = path.split("/")
        if not segs or segs[0] != "models":
            raise _fail(raw, "a Kaggle model URL starts with https://www.kaggle.com/models/")
        segs = segs[1:]
        # long form: OWNER/MODEL/frameworks/FW/variations/VAR[/versions/N]
        if len(segs) >= 6 and segs[2] == "frameworks" and segs[4] == "variations":
            handle = [segs[0], segs[1], segs[3], segs[5]]
            if len(segs) >= 8 and segs[6] == "versions":
                handle.append(segs[7])
            elif len(segs) != 6:
                raise _fail(raw, "unexpected parts after the Kaggle variation")
            return _parse_kaggle(raw, "/".join(handle))
        return _parse_kaggle(raw, "/".join(segs))
    raise _fail(raw, f"the host {host!r} is not a supported hub",
                "URLs from huggingface.co, tfhub.dev and www.kaggle.com/models are understood")


def _parse_bare(raw: str) -> ModelId:
    if raw.startswith("/") or re.match(r"^[A-Za-z]:[/\\]", raw) or raw.startswith("~"):
        raise _fail(raw, "it looks like a file path", "use 'ptmhub add PATH' to register a local model folder")
    body = raw.split("@", 1)[0].split("#", 1)[0]
    if "//" in body or body.endswith("/"):
        raise _fail(raw, "it has an empty part ('//' or a trailing '/')")
    segs = body.split("/")
    if ":" in body:
        return _parse_torchhub(raw, raw)
    if len(segs) <= 2:
        return _parse_hf(raw, raw)
    if "@" in raw or "#" in raw:
        raise _fail(raw, "'@' (revision) belongs to Hugging Face IDs of at most two parts",
                    "write the prefix explicitly: hf:, tfhub:, kaggle: or torchhub:")
    last_is_version = bool(_VERSION.match(segs[-1]))
    if len(segs) == 3 and not last_is_version:
        return _parse_torchhub(raw, raw)
    if len(segs) == 5 and last_is_version and segs[2].lower() in KAGGLE_FRAMEWORKS:
        return _parse_kaggle(raw, raw)
    if last_is_version:
        return _parse_tfhub(raw, raw)
    candidates = [f"tfhub:{raw}/1", f"kaggle:{raw}" if len(segs) == 4 else None]
    candidates = [c for c in candidates if c]
    raise AmbiguousIdError(
        f"cannot tell which hub {raw!r} belongs to: {len(segs)} parts and no version number",
        candidates=candidates,
        hint="write it with a prefix, e.g. " + " or ".join(candidates),
    )


def parse(raw: str | ModelId) -> ModelId:
    """Parse any accepted ID or URL into a :class:`ModelId`.

    Raises:
        InvalidIdError: with a one-line message naming the problem (and the valid prefixes when
            the prefix is unknown). ``AmbiguousIdError`` lists the candidates.
    """
    if isinstance(raw, ModelId):
        return raw
    if not isinstance(raw, str):
        raise InvalidIdError(f"a model ID must be a string, not {type(raw).__name__}")
    _check_text(raw)
    if "://" in raw:
        return _parse_url(raw)
    if re.match(r"^[A-Za-z]:[/\\]", raw):
        raise _fail(raw, "it looks like a file path", "use 'ptmhub add PATH' to register a local model folder")
    m = re.match(r"^([A-Za-z][A-Za-z0-9_-]*):(.*)$", raw)
    if m and "/" not in m.group(1):
        prefix, body = m.group(1).lower(), m.group(2)
        if prefix in PREFIXES:
            if not body:
                raise _fail(raw, f"nothing follows '{prefix}:'")
            return _PARSERS[PREFIXES[prefix]](raw, body)
        if prefix in PLATFORMS:
            return _PARSERS[prefix](raw, body)
        raise _fail(raw, f"unknown prefix {prefix + ':'!r}",
                    "valid prefixes are " + ", ".join(f"{p}:" for p in PREFIXES))
    return _parse_bare(raw)


def key(raw: str | ModelId) -> str:
    """The registry key of an ID (see :attr:`ModelId.key`)."""
    return parse(raw).key
