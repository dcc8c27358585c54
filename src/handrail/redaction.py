"""Secrets out of text: every configured secret, and every configured URL that holds one.

Servers answer errors with text of their own, and many echo the request back: its URL (a webhook's
secret path, a token in a query), its headers, its credentials. So text from outside is redacted
where it becomes an error (the notifiers, the probes), and everything is redacted again where it is
recorded (the store's text columns and JSON, the assessment's error messages), so one place that
forgets cannot leak.

What is secret is known once, when the settings load (`settings.load_settings` registers it): every
value `handrail.yaml` read from `${ENV}` and every `SecretStr`. A configured URL that holds one is
shown only as its origin (`https://hooks.example.com:8443`); the secret itself, anywhere else (a
path echoed alone, percent-encoded), as `***`. Values shorter than `MIN_SECRET_LENGTH` are not
replaced: they would garble every message and protect nothing.

This is the one mechanism (#14): a notifier, a probe, `sql.py` or `flush_cache` that knows secrets of
its own (a connection's password, a header's token) passes them to `redact` as `extra`, found with the
helpers here (`password_forms`, `url_secrets`, `SECRET_HEADER`), and never replaces text itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SECRET_HEADER",
    "password_forms",
    "redact",
    "register_secrets",
    "register_urls",
    "url_origin",
    "url_secrets",
]

MIN_SECRET_LENGTH = 8
"""Shorter values are not searched for: a `${PORT}` of `8080` or a `${DB_NAME}` of `test` would blank ordinary
words in every message, and a secret that short is no secret."""
REDACTED = "***"
SECRET_HEADER = re.compile(r"auth|token|key|secret|cookie|session|password|signature", re.IGNORECASE)
"""Names of HTTP headers whose values are secrets (`Authorization`, `X-Api-Key`, `Cookie`, a signature)."""

_lock = threading.Lock()
_replacements: dict[str, str] = {}
_ordered: tuple[tuple[str, str], ...] = ()
"""(text, replacement), longest text first: a URL before the secret inside it."""


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of `url`, without userinfo, path, query or fragment; `[redacted URL]` if unreadable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "[redacted URL]"
    if not parts.scheme or not parts.hostname:
        return "[redacted URL]"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def register_secrets(values: Iterable[str]) -> None:
    """From now on `redact` hides each value; a value that is a URL is shown as its origin.

    For the life of the process: settings load once, and a secret once known stays one.
    """
    global _ordered
    with _lock:
        for value in values:
            if len(value) < MIN_SECRET_LENGTH:
                continue
            if "://" in value:
                _replacements[value] = url_origin(value)
            for form in {value, quote(value, safe=""), quote(value)}:
                _replacements.setdefault(form, REDACTED)
        _ordered = tuple(sorted(_replacements.items(), key=lambda item: len(item[0]), reverse=True))


def register_urls(urls: Iterable[str]) -> None:
    """Each configured URL that holds a secret is shown as its origin (the secret itself: `register_secrets`)."""
    global _ordered
    with _lock:
        for url in urls:
            _replacements[url] = url_origin(url)
        _ordered = tuple(sorted(_replacements.items(), key=lambda item: len(item[0]), reverse=True))


def password_forms(password: str | None) -> list[str]:
    """A password as given, percent-decoded and percent-encoded (as a URL may hold it); none for none."""
    if not password:
        return []
    return list(dict.fromkeys((password, unquote(password), quote(password, safe=""), quote_plus(password))))


def url_secrets(url: str) -> list[str]:
    """The secrets a URL holds: its password and any `password` query parameter, in every form."""
    try:
        parts = urlsplit(url)
        found = [parts.password, *parse_qs(parts.query).get("password", [])]
    except ValueError:
        return [url]  # unreadable: the whole of it is the secret
    return [form for secret in found for form in password_forms(secret)]


def redact(text: str, extra: Iterable[str] = (), *, replacement: str = REDACTED) -> str:
    """`text` with every registered secret and every `extra` one (as `replacement`) replaced; URLs by their origin.

    Longest first, whichever list it is in: `Bearer <token>` goes whole before the token inside it does.
    """
    replacements = _ordered
    extra = [secret for secret in extra if secret]
    if extra:
        # a secret the caller names is shown as the caller asks, even when the settings registered it too
        chosen = {**dict(_ordered), **dict.fromkeys(extra, replacement)}
        replacements = tuple(sorted(chosen.items(), key=lambda r: len(r[0]), reverse=True))
    for secret, replacement in replacements:
        if secret in text:
            text = text.replace(secret, replacement)
    return text
