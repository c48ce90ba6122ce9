"""The one HTTP layer for what ptmhub fetches itself (huggingface_hub speaks for the HF API).

Every request: a timeout, bounded retries with exponential backoff on connection errors, 5xx
and 429 (honouring ``Retry-After`` and ``RateLimit`` headers within a total wait budget), an
offline guard that refuses before any socket is opened, and one :func:`raise_for_status` that
turns responses into typed errors. Tokens are sent only to the host they belong to and never
appear in an error message.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin, urlsplit

from . import settings
from .errors import (
    AuthError,
    GatedModelError,
    HubServerError,
    LimitExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    NetworkError,
    OfflineError,
    RateLimitedError,
)

if TYPE_CHECKING:
    import requests

__all__ = ["session", "request", "get_json", "raise_for_status", "retry_after_seconds", "stream_to_file",
           "check_online", "redact", "origin", "same_origin", "host_of", "parse_link_header", "next_link",
           "read_capped", "iter_json_array"]

USER_AGENT = "ptmhub"
RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_JSON_BYTES = 64 * 1024 * 1024
_session: requests.Session | None = None


def session() -> requests.Session:
    global _session
    if _session is None:
        import requests

        s = requests.Session()
        s.headers["User-Agent"] = f"{USER_AGENT}/{_version()}"
        s.max_redirects = 10
        _session = s
    return _session


def _version() -> str:
    from . import __version__

    return __version__


def check_online(what: str, *, model_id: str | None = None) -> None:
    """Raise :class:`OfflineError` when offline mode is on (before any socket is opened)."""
    if settings.get().offline:
        hint = f"run 'ptmhub pull {model_id}' while online" if model_id else "unset PTMHUB_OFFLINE / drop --offline"
        raise OfflineError(f"offline mode is on and {what} needs the network", hint=hint, model_id=model_id)


def redact(text: str) -> str:
    """Remove anything that looks like a token from text shown to users."""
    text = re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+", r"\1***", text)


def retry_after_seconds(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds to wait before the next try: ``Retry-After``, then ``RateLimit`` ``t=``, then backoff."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    # IETF draft RateLimit header as the Hub sends it: '"api";r=0;t=55'
    rl = headers.get("RateLimit") or headers.get("ratelimit")
    if rl:
        m = re.search(r"\bt=(\d+)", rl)
        if m:
            return float(m.group(1))
    reset = headers.get("RateLimit-Reset") or headers.get("X-RateLimit-Reset")
    if reset and reset.isdigit():
        value_f = float(reset)
        return value_f if value_f < 10**9 else max(0.0, value_f - time.time())
    return min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


def raise_for_status(response: requests.Response, *, model_id: str | None = None, what: str = "the request") -> None:
    """Turn an error response into a typed, one-line :class:`PtmhubError`."""
    code = response.status_code
    if code < 400:
        return
    where = redact(response.url.split("?")[0])
    server_msg = response.headers.get("X-Error-Message") or ""
    subject = model_id or where
    if code == 401:
        raise AuthError(f"{subject}: the hub wants you to log in (401)",
                        hint="set HF_TOKEN or run 'hf auth login'; for private repos the token needs read access",
                        model_id=model_id)
    if code == 403:
        if "gated" in server_msg.lower() or response.headers.get("X-Error-Code") == "GatedRepo":
            raise GatedModelError(f"{subject} is gated and your account has not been granted access (403)",
                                  hint="accept the model's terms on its page, then use a token of that account",
                                  model_id=model_id)
        raise AuthError(f"{subject}: access refused (403)", hint="check that your token may read this repository",
                        model_id=model_id)
    if code in (404, 410):
        raise ModelNotFoundError(f"{subject} was not found on the hub ({code})",
                                 hint="check the ID, or find models with 'ptmhub search'", model_id=model_id)
    if code == 429:
        raise RateLimitedError(f"the hub kept rate-limiting {what} (429)",
                               hint="wait a few minutes and retry; a token raises the limit", model_id=model_id)
    if code >= 500:
        raise HubServerError(f"the hub failed {what} with HTTP {code} after retries",
                             hint="the hub may be down; retry later", model_id=model_id)
    raise NetworkError(f"{what} got HTTP {code} from {where}", model_id=model_id)


def request(method: str, url: str, *, model_id: str | None = None, what: str = "the request",
            headers: Mapping[str, str] | None = None, stream: bool = False, allow_status: tuple[int, ...] = (),
            allow_redirects: bool = True, timeout: float | None = None, **kwargs: Any) -> requests.Response:
    """One HTTP request with offline guard, timeout, bounded retries and typed errors.

    Raises:
        OfflineError: offline mode is on.
        NetworkError: connection failures, timeouts, 5xx or 429 beyond the retry budget.
        AuthError, ModelNotFoundError: 401/403, 404/410 (unless in ``allow_status``).
    """
    import requests

    check_online(what, model_id=model_id)
    cfg = settings.get()
    waited = 0.0
    last_exc: Exception | None = None
    for attempt in range(cfg.max_retries + 1):
        try:
            response = session().request(method, url, headers=dict(headers or {}), stream=stream,
                                         allow_redirects=allow_redirects,
                                         timeout=timeout or cfg.http_timeout, **kwargs)
        except requests.TooManyRedirects:
            raise NetworkError(f"{what}: too many redirects from {redact(url)}", model_id=model_id) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            last_exc = exc
            delay = min(30.0, 0.25 * 2**attempt)
            if attempt == cfg.max_retries or waited + delay > cfg.max_wait:
                break
            time.sleep(delay)
            waited += delay
            continue
        if response.status_code in RETRY_STATUS and response.status_code not in allow_status:
            delay = retry_after_seconds(response.headers, attempt)
            if attempt < cfg.max_retries and waited + delay <= cfg.max_wait:
                response.close()
                time.sleep(delay)
                waited += delay
                continue
        if response.status_code not in allow_status:
            raise_for_status(response, model_id=model_id, what=what)
        return response
    kind = type(last_exc).__name__ if last_exc else "error"
    raise NetworkError(f"{what} failed: could not reach {redact(url.split('?')[0])} ({kind}) after {cfg.max_retries + 1} tries",
                       hint="check your connection, or use --offline with cached models", model_id=model_id)


def get_json(url: str, *, max_bytes: int = MAX_JSON_BYTES, **kwargs: Any) -> Any:
    """GET a JSON body, refusing bodies over ``max_bytes`` and malformed JSON."""
    import json

    response = request("GET", url, stream=True, **kwargs)
    chunks = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise MalformedResponseError(f"the answer from {redact(url)} is larger than {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise MalformedResponseError(f"the hub answered {redact(url)} with malformed JSON ({exc.__class__.__name__})",
                                     model_id=kwargs.get("model_id")) from None


def iter_body(response: requests.Response, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Stream a body, failing loudly when it ends before its announced Content-Length."""
    import requests

    expected = response.headers.get("Content-Length")
    got = 0
    try:
        for chunk in response.iter_content(chunk_size):
            got += len(chunk)
            yield chunk
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise NetworkError(f"the download from {redact(response.url)} broke off after {got} bytes ({type(exc).__name__})") from None
    if expected and expected.isdigit() and got != int(expected) and "Content-Encoding" not in response.headers:
        raise NetworkError(f"the download from {redact(response.url)} ended after {got} of {expected} bytes")


def stream_to_file(response: requests.Response, dest: Any, *, progress: Any = None, digest: Any = None) -> int:
    """Write a streamed body to an open binary file (updating ``digest``, a hashlib object, as it
    goes); returns the byte count."""
    total = 0
    for chunk in iter_body(response):
        dest.write(chunk)
        if digest is not None:
            digest.update(chunk)
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total


# -- origins: where a token may go ------------------------------------------------------------------
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LINK_URL_CHARS = 16 * 1024  # a real Hub cursor link is a few hundred characters


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL (default port filled in); None when it has none.

    Never raises: a URL that cannot be parsed (``http://[::1``, port ``99999``) has no origin.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base`` (the only place a token may go)."""
    mine = origin(url)
    return mine is not None and mine == origin(base)


def host_of(url: str) -> str:
    """``host[:port]`` of a URL for messages: never the user info, the path or the query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "an unparsable address"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


# -- Link headers (RFC 8288) -------------------------------------------------------------------------
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
_BAD_URI_CHARS = re.compile(r"[\x00-\x20\x7f]")  # "<" and ">" cannot occur: ">" ends the URI


def _malformed_link(value: str, why: str) -> MalformedResponseError:
    shown = redact(value[:80]) + ("..." if len(value) > 80 else "")
    return MalformedResponseError(f"the hub sent a malformed Link header ({why}): {shown!r}",
                                  hint="retry later; if it persists, check the endpoint address")


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Parse a ``Link`` header into ``[(uri-reference, {param: value})]``, in order.

    Strict where a lenient parser would guess: every link-value is ``<URI>`` followed by
    ``; name[=value]`` parameters (token or quoted-string values), separated by commas. Parameter
    names are lowercased; ``rel`` keeps its value (a space-separated list).

    Raises:
        MalformedResponseError: anything else (one line, the value shortened and redacted).
    """
    links: list[tuple[str, dict[str, str]]] = []
    n, i = len(value), 0
    while True:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            return links
        if value[i] != "<":
            raise _malformed_link(value, f"expected '<' at character {i}")
        end = value.find(">", i + 1)
        if end < 0:
            raise _malformed_link(value, "a '<' without its '>'")
        uri = value[i + 1:end]
        if _BAD_URI_CHARS.search(uri):
            raise _malformed_link(value, "a link with spaces or control characters in it")
        params: dict[str, str] = {}
        i = end + 1
        while True:
            i = _OWS.match(value, i).end()  # type: ignore[union-attr]
            if i >= n or value[i] == ",":
                break
            if value[i] != ";":
                raise _malformed_link(value, f"expected ';' or ',' at character {i}")
            i = _OWS.match(value, i + 1).end()  # type: ignore[union-attr]
            m = _TOKEN.match(value, i)
            if not m:
                raise _malformed_link(value, f"a parameter without a name at character {i}")
            name, i = m.group().lower(), m.end()
            i = _OWS.match(value, i).end()  # type: ignore[union-attr]
            param = ""
            if i < n and value[i] == "=":
                i = _OWS.match(value, i + 1).end()  # type: ignore[union-attr]
                if i < n and value[i] == '"':
                    i += 1
                    chars = []
                    while i < n and value[i] != '"':
                        if value[i] == "\\" and i + 1 < n:
                            i += 1
                        chars.append(value[i])
                        i += 1
                    if i >= n:
                        raise _malformed_link(value, "an unterminated quoted string")
                    param, i = "".join(chars), i + 1
                else:
                    m = _TOKEN.match(value, i)
                    if not m:
                        raise _malformed_link(value, f"a parameter without a value at character {i}")
                    param, i = m.group(), m.end()
            params.setdefault(name, param)  # RFC 8288: only the first occurrence counts
        links.append((uri, params))


def next_link(value: str | None, *, base: str) -> str | None:
    """The absolute ``rel="next"`` URL of a ``Link`` header, or None when there is none.

    ``base`` is the URL the header came with (the response's final URL, after redirects). The
    result is a syntactically sound http(s) URL with a host and no user info; whether it may
    receive a token is the caller's decision (:func:`same_origin`).

    Raises:
        MalformedResponseError: a malformed header, two different next links, or a next link
            that is not a usable http(s) URL.
    """
    if not value:
        return None
    found: str | None = None
    for uri, params in parse_link_header(value):
        if "next" not in params.get("rel", "").lower().split():
            continue
        if found is not None and uri != found:
            raise _malformed_link(value, "two different next-page links")
        found = uri
    if found is None:
        return None
    if len(found) > MAX_LINK_URL_CHARS:
        raise _malformed_link(value, f"a next-page link longer than {MAX_LINK_URL_CHARS} characters")
    try:
        # RFC 3986: a reference with a scheme is absolute (urljoin would read "http:///x" as relative);
        # the fragment never reaches the server, so it cannot tell two cursors apart
        url = urldefrag(found if urlsplit(found).scheme else urljoin(base, found))[0]
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise _malformed_link(value, "a next-page link that is not a valid URL") from None
    if origin(url) is None:
        raise _malformed_link(value, "a next-page link that is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _malformed_link(value, "a next-page link with credentials in it")
    return url


# -- bounded bodies -----------------------------------------------------------------------------------
def read_capped(response: requests.Response, *, max_bytes: int, what: str, variable: str) -> bytes:
    """The whole body, refused as soon as it passes ``max_bytes`` (announced or actually sent).

    A ``Content-Length`` over the cap is refused before a byte is read; otherwise the body is
    streamed and counted (after decompression, so a gzip bomb stops at the cap too).

    Raises:
        LimitExceededError: the body is larger than ``max_bytes`` (names ``variable``).
        NetworkError: the body broke off or ended short of its ``Content-Length``.
    """
    def too_large() -> LimitExceededError:
        response.close()
        return LimitExceededError(f"{what} from {host_of(response.url)} is larger than the {max_bytes:,}-byte "
                                  f"limit ({variable})", hint=f"raise {variable} if this endpoint really sends so much")

    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and "Content-Encoding" not in response.headers and int(announced) > max_bytes:
        raise too_large()
    body = bytearray()
    for chunk in iter_body(response, 65536):
        if len(body) + len(chunk) > max_bytes:
            raise too_large()
        body += chunk
    return bytes(body)


_JSON_WS = re.compile(r"[ \t\n\r]*")


def iter_json_array(data: bytes | str, *, what: str) -> Iterator[Any]:
    """The items of a top-level JSON array, decoded one at a time.

    A caller that stops early (an item cap) never turns the rest of the body into Python
    objects. The whole array is checked: trailing data or a broken item is an error when reached.

    Raises:
        MalformedResponseError: not JSON, not an array, or nested too deep to decode.
    """
    import json

    def malformed(why: str) -> MalformedResponseError:
        return MalformedResponseError(f"the hub answered {what} with {why}",
                                      hint="retry later; if it persists, check the endpoint address")

    if isinstance(data, bytes):
        try:
            text = data.decode(json.detect_encoding(data))
        except (UnicodeDecodeError, LookupError):
            raise malformed("malformed JSON (not UTF-8)") from None
    else:
        text = data
    decoder = json.JSONDecoder()
    i = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    if text[i:i + 1] != "[":
        raise malformed("something other than a JSON list")
    i = _JSON_WS.match(text, i + 1).end()  # type: ignore[union-attr]
    if text[i:i + 1] != "]":
        while True:
            try:
                item, i = decoder.raw_decode(text, i)
            except ValueError:
                raise malformed("malformed JSON") from None
            except RecursionError:
                raise malformed("JSON nested too deeply") from None
            yield item
            i = _JSON_WS.match(text, i).end()  # type: ignore[union-attr]
            sep = text[i:i + 1]
            if sep == "]":
                break
            if sep != ",":
                raise malformed("malformed JSON")
            i = _JSON_WS.match(text, i + 1).end()  # type: ignore[union-attr]
    if _JSON_WS.match(text, i + 1).end() != len(text):  # type: ignore[union-attr]
        raise malformed("malformed JSON (data after the list)")
