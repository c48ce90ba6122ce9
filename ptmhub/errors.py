"""Every exception ptmhub raises on purpose.

Each one subclasses :class:`PtmhubError` *and* a builtin, so callers can keep writing
``except FileNotFoundError`` or ``except PermissionError``. A message is one line that says what
was wrong; ``hint`` says how to fix it. The CLI prints ``str(error)`` and exits with
``error.exit_code``; nothing else is shown, never a traceback.
"""

from __future__ import annotations


class PtmhubError(Exception):
    """Base class of every error ptmhub raises deliberately."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, model_id: str | None = None):
        message = " ".join(str(message).split())  # one line, always
        super().__init__(message)
        self.message = message
        self.hint = " ".join(hint.split()) if hint else None
        self.model_id = model_id

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(PtmhubError, ValueError):
    """An argument or option that cannot work as given."""

    exit_code = 2


class InvalidIdError(UsageError):
    """A model ID or URL that no rule can parse."""


class AmbiguousIdError(InvalidIdError):
    """A bare ID that could name models on more than one hub."""

    def __init__(self, message: str, *, candidates: list[str], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.candidates = candidates


class UnknownPlatformError(UsageError):
    """A platform or sync source name that ptmhub does not know."""


class ModelNotFoundError(PtmhubError, LookupError):
    """The hub (or the registry, offline) has no such model."""

    exit_code = 3


class NotInRegistryError(ModelNotFoundError):
    """The registry has no record for the ID and we may not ask the hub."""


class AuthError(PtmhubError, PermissionError):
    """The hub wants credentials we do not have (401), or refused ours (403)."""

    exit_code = 4


class GatedModelError(AuthError):
    """A gated model whose terms the user has not accepted."""


class UntrustedRepoError(PtmhubError, PermissionError):
    """A torch.hub repository whose code we will not run without explicit trust."""

    exit_code = 4


class NetworkError(PtmhubError, ConnectionError):
    """The hub could not be reached or kept failing after bounded retries."""

    exit_code = 5


class RateLimitedError(NetworkError):
    """The hub kept answering 429 for longer than we are willing to wait."""


class HubServerError(NetworkError):
    """The hub answered 5xx after bounded retries."""


class OfflineError(PtmhubError, ConnectionError):
    """Offline mode is on and the answer needs the network."""

    exit_code = 6


class NotCachedError(OfflineError, FileNotFoundError):
    """The model's files are not in the native cache."""


class MalformedResponseError(PtmhubError, ValueError):
    """A hub answered with a body we cannot interpret (bad JSON, wrong shape, too large)."""

    exit_code = 5


class CatalogError(PtmhubError, ValueError):
    """A catalog document or source that cannot be imported."""


class UnsafeArchiveError(PtmhubError, ValueError):
    """An archive with absolute paths, ``..``, or links escaping its target."""

    exit_code = 7


class CorruptArchiveError(PtmhubError, ValueError):
    """An archive that cannot be read to its end (truncated download, wrong format)."""

    exit_code = 7


class LimitExceededError(PtmhubError, ValueError):
    """Input (an archive, a page, a header, a hubconf) beyond one of ptmhub's resource limits.

    The message names the limit and the ``PTMHUB_*`` variable that raises it.
    """

    exit_code = 7


class IntegrityError(PtmhubError, ValueError):
    """A file whose hash or size differs from what the hub published."""

    exit_code = 7


class DatabaseError(PtmhubError, RuntimeError):
    """The registry database cannot be opened or used."""

    exit_code = 8


class SchemaOutdatedError(DatabaseError):
    """The registry's schema is older (or newer) than this ptmhub."""


class MissingDependencyError(PtmhubError, ImportError):
    """An optional framework (torch, tensorflow, transformers, ...) is not installed."""

    exit_code = 9

    def __init__(self, package: str, extra: str, *, purpose: str):
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed",
            hint=f"pip install 'ptmhub[{extra}]'",
        )
        self.package = package


class ExportError(PtmhubError, RuntimeError):
    """A model the exporter could not turn into a file (``ptmhub export onnx``): an operator or
    control flow it cannot translate, a model too large for one file."""

    exit_code = 10


class ParityError(ExportError):
    """An exported model whose outputs, run in onnxruntime, differ from the framework's by more
    than the tolerance. Nothing is written."""


class RepoDependencyError(PtmhubError, ImportError):
    """A torch.hub repository whose ``dependencies`` (or imports) are not installed."""

    exit_code = 9
