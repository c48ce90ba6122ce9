"""Environment variables and paths: the only module that reads ``os.environ``.

Settings are read once and cached; :func:`reload` re-reads them (tests, and ``--offline`` /
``--db`` from the CLI, which go through :func:`override`).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["Settings", "get", "reload", "override", "set_offline_env"]

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


def _number(name: str, default: float, kind: type = float, *, zero_ok: bool = False) -> Any:
    """A numeric variable; a value that is not a positive number is a one-line usage error."""
    value = os.environ.get(name)
    if not value:
        return kind(default)
    try:
        number = kind(value.strip().replace("_", ""))
    except ValueError:
        number = -1
    if not (number >= 0 if zero_ok else number > 0) or number == float("inf"):
        from .errors import UsageError

        raise UsageError(f"{name}={value!r} is not a positive {'whole ' if kind is int else ''}number",
                         hint=f"unset {name} or set it to e.g. {kind(default)}")
    return number


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    # ``home`` and the default ``database_url`` are computed on first use (properties below):
    # finding the user data dir imports platformdirs, which a command given --db never needs.
    home_env: Path | None      # PTMHUB_HOME
    database_url_env: str | None  # PTMHUB_DATABASE_URL (or --db)
    offline: bool              # PTMHUB_OFFLINE (also true when HF_HUB_OFFLINE is set)
    tfhub_endpoint: str        # PTMHUB_TFHUB_ENDPOINT, default https://tfhub.dev
    github_endpoint: str       # PTMHUB_GITHUB_ENDPOINT, default https://github.com
    hf_endpoint: str           # HF_ENDPOINT (huggingface_hub reads it too)
    hf_token: str | None       # HF_TOKEN; never stored, logged or printed
    hf_home: Path              # HF_HOME
    hf_hub_cache: Path         # HF_HUB_CACHE
    torch_home: Path           # TORCH_HOME
    tfhub_cache_dir: Path      # TFHUB_CACHE_DIR
    kagglehub_cache: Path      # KAGGLEHUB_CACHE
    modelscope_cache: Path     # MODELSCOPE_CACHE (the modelscope client reads it too)
    modelscope_endpoint: str   # MODELSCOPE_ENDPOINT or MODELSCOPE_DOMAIN (the client's), default https://www.modelscope.cn
    modelscope_token: str | None  # MODELSCOPE_API_TOKEN; sent only to modelscope_endpoint, never stored or shown
    http_timeout: float        # PTMHUB_HTTP_TIMEOUT (seconds per request)
    max_retries: int           # PTMHUB_MAX_RETRIES
    max_wait: float            # PTMHUB_MAX_WAIT: total seconds we sleep for backoff per call
    # Resource limits (docs/reliability.md, "Limits"): every one can be raised by its variable.
    max_page_bytes: int        # PTMHUB_MAX_PAGE_BYTES: one listing page's body (HF sync)
    max_page_items: int        # PTMHUB_MAX_PAGE_ITEMS: items accepted in one listing page
    max_archive_bytes: int     # PTMHUB_MAX_ARCHIVE_BYTES: total bytes an archive may extract to
    max_archive_ratio: float   # PTMHUB_MAX_ARCHIVE_RATIO: extracted bytes / archive bytes
    max_archive_files: int     # PTMHUB_MAX_ARCHIVE_FILES: entries in one archive
    max_remote_header_bytes: int  # PTMHUB_MAX_REMOTE_HEADER_BYTES: safetensors header bytes per repo count
    max_remote_requests: int   # PTMHUB_MAX_REMOTE_REQUESTS: HTTP requests per remote parameter count
    max_hubconf_bytes: int     # PTMHUB_MAX_HUBCONF_BYTES: an untrusted hubconf.py read for static listing

    @cached_property
    def home(self) -> Path:
        """PTMHUB_HOME, default: the user data dir."""
        if self.home_env is not None:
            return self.home_env
        from platformdirs import user_data_dir

        return Path(user_data_dir("ptmhub", appauthor=False))

    @property
    def database_url(self) -> str:
        """PTMHUB_DATABASE_URL or --db, default: sqlite:///<home>/registry.db."""
        return self.database_url_env or f"sqlite:///{self.home / 'registry.db'}"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        hf_home = _path("HF_HOME", cache_home / "huggingface")
        hf_hub_cache = _path("HF_HUB_CACHE", _path("HUGGINGFACE_HUB_CACHE", hf_home / "hub"))
        torch_home = _path("TORCH_HOME", cache_home / "torch")  # torch.hub's own default
        # tensorflow_hub's default is <tmp>/tfhub_modules
        tfhub_cache = _path("TFHUB_CACHE_DIR", Path(tempfile.gettempdir()) / "tfhub_modules")
        return cls(
            home_env=Path(env["PTMHUB_HOME"]).expanduser() if env.get("PTMHUB_HOME") else None,
            database_url_env=env.get("PTMHUB_DATABASE_URL") or None,
            offline=_flag("PTMHUB_OFFLINE") or _flag("HF_HUB_OFFLINE"),
            tfhub_endpoint=(env.get("PTMHUB_TFHUB_ENDPOINT") or "https://tfhub.dev").rstrip("/"),
            github_endpoint=(env.get("PTMHUB_GITHUB_ENDPOINT") or "https://github.com").rstrip("/"),
            hf_endpoint=(env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
            hf_token=env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
            hf_home=hf_home,
            hf_hub_cache=hf_hub_cache,
            torch_home=torch_home,
            tfhub_cache_dir=tfhub_cache,
            kagglehub_cache=_path("KAGGLEHUB_CACHE", cache_home / "kagglehub"),
            modelscope_cache=_path("MODELSCOPE_CACHE", cache_home / "modelscope"),
            modelscope_endpoint=_modelscope_endpoint(env.get("MODELSCOPE_ENDPOINT") or env.get("MODELSCOPE_DOMAIN")),
            modelscope_token=env.get("MODELSCOPE_API_TOKEN") or None,
            http_timeout=_number("PTMHUB_HTTP_TIMEOUT", 10.0),
            max_retries=_number("PTMHUB_MAX_RETRIES", 4, int, zero_ok=True),
            max_wait=_number("PTMHUB_MAX_WAIT", 60.0),
            max_page_bytes=_int("PTMHUB_MAX_PAGE_BYTES", 16 * 1024 * 1024),
            max_page_items=_int("PTMHUB_MAX_PAGE_ITEMS", 10_000),
            max_archive_bytes=_int("PTMHUB_MAX_ARCHIVE_BYTES", 64 * 1024**3),
            max_archive_ratio=_number("PTMHUB_MAX_ARCHIVE_RATIO", 200.0),
            max_archive_files=_int("PTMHUB_MAX_ARCHIVE_FILES", 20_000),
            max_remote_header_bytes=_int("PTMHUB_MAX_REMOTE_HEADER_BYTES", 64 * 1024 * 1024),
            max_remote_requests=_int("PTMHUB_MAX_REMOTE_REQUESTS", 256),
            max_hubconf_bytes=_int("PTMHUB_MAX_HUBCONF_BYTES", 1024 * 1024),
        )


_current: Settings | None = None


def get() -> Settings:
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def reload() -> Settings:
    global _current
    _current = None
    return get()


def override(**changes: object) -> Settings:
    """Replace some settings for this process (the CLI's ``--db`` and ``--offline``)."""
    global _current
    if "database_url" in changes:
        changes["database_url_env"] = changes.pop("database_url")
    _current = replace(get(), **changes)  # type: ignore[arg-type]
    if changes.get("offline"):
        set_offline_env()
    return _current


def database_url_from(value: str) -> str:
    """``--db`` takes a URL or a path to a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def set_offline_env() -> None:
    """Turn on the native libraries' own offline switches, before they are imported."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    os.environ["PTMHUB_OFFLINE"] = "1"


def _modelscope_endpoint(domain: str | None) -> str:
    """MODELSCOPE_ENDPOINT / MODELSCOPE_DOMAIN is a host (``www.modelscope.cn``) or a URL; ptmhub takes both."""
    domain = (domain or "www.modelscope.cn").strip().rstrip("/")
    return domain if "://" in domain else f"https://{domain}"


def setdefault_env(name: str, value: str) -> None:
    """Set an env var a native library reads (e.g. TF_USE_LEGACY_KERAS) unless the user did."""
    os.environ.setdefault(name, value)
