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

Issue #14 merges the other `_redact`s into this one; for now each of them ends by calling `redact`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "redact", "register_secrets", "register_urls", "url_origin"]

MIN_SECRET_LENGTH = 8
"""Shorter values are not searched for: a `${PORT}` of `8080` or a `${DB_NAME}` of `test` would blank ordinary
words in every message, and a secret that short is no secret."""
REDACTED = "***"

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


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every registered secret (and `extra` ones) replaced; URLs holding one by their origin.

    Longest first, whichever list it is in: `Bearer <token>` goes whole before the token inside it does.
    """
    replacements = _ordered
    extra = [secret for secret in extra if secret]
    if extra:
        replacements = tuple(
            sorted((*_ordered, *((s, REDACTED) for s in extra)), key=lambda r: len(r[0]), reverse=True)
        )
    for secret, replacement in replacements:
        if secret in text:
            text = text.replace(secret, replacement)
    return text
