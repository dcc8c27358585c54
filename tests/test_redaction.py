"""handrail.redaction: registered secrets, and configured URLs that hold one, never come back out of text."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from handrail import redaction
from handrail.redaction import (
    MIN_SECRET_LENGTH,
    password_forms,
    redact,
    register_secrets,
    register_urls,
    url_origin,
    url_secrets,
)


def _secret() -> str:
    return "t0k-" + uuid.uuid4().hex  # each test its own: registrations last for the process


def test_redact_replaces_a_registered_secret_wherever_it_appears() -> None:
    secret = _secret()
    register_secrets([secret])
    assert redact(f"401: token {secret} refused; again {secret}") == "401: token *** refused; again ***"


def test_redact_replaces_the_percent_encoded_form_of_a_secret() -> None:
    secret = _secret() + "/+="
    register_secrets([secret])
    assert redact(
        "no route for /hook/t0k-" + secret[4:].replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    ) == ("no route for /hook/***")


def test_redact_shows_a_configured_url_that_holds_a_secret_as_its_origin() -> None:
    secret = _secret()
    url = f"https://hooks.example.com:8443/hook/{secret}?v=1"
    register_secrets([secret])
    register_urls([url])
    assert redact(f"POST {url} failed") == "POST https://hooks.example.com:8443 failed"
    assert redact(f"no route /hook/{secret}") == "no route /hook/***"


def test_redact_shows_a_secret_that_is_a_url_as_its_origin() -> None:
    url = f"https://user:{_secret()}@db.internal/payments"
    register_secrets([url])
    assert redact(f"cannot reach {url}") == "cannot reach https://db.internal"


def test_redact_leaves_values_shorter_than_the_minimum_alone() -> None:
    register_secrets(["x" * (MIN_SECRET_LENGTH - 1)])
    assert redact("x" * (MIN_SECRET_LENGTH - 1)) == "x" * (MIN_SECRET_LENGTH - 1)


def test_redact_replaces_extra_secrets_given_by_the_caller() -> None:
    assert redact("Bearer abc and abcdef", ["abc", "abcdef"]) == "Bearer *** and ***"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        pytest.param("https://u:p@h.example:8443/a?b#c", "https://h.example:8443", id="everything"),
        pytest.param("http://h/", "http://h", id="no-port"),
        pytest.param("http://[::1]:9090/x", "http://[::1]:9090", id="ipv6"),
        pytest.param("not a url", "[redacted URL]", id="not-a-url"),
        pytest.param("http://h:99999/", "[redacted URL]", id="bad-port"),
    ],
)
def test_url_origin_keeps_only_scheme_host_and_port(url: str, origin: str) -> None:
    assert url_origin(url) == origin


def test_redact_shows_extra_secrets_as_the_callers_replacement() -> None:
    token = _secret()
    assert redact(f"Bearer {token}", [token], replacement="[redacted]") == "Bearer [redacted]"


def test_url_secrets_finds_the_password_in_every_form_a_url_holds_it() -> None:
    secrets = url_secrets("redis://:p%40ss%2Fword-long@cache:6379/0?password=q%20uery-secret")
    assert {"p%40ss%2Fword-long", "p@ss/word-long", "q uery-secret"} <= set(secrets)
    assert password_forms(None) == []


def test_no_module_but_redaction_replaces_secrets_itself() -> None:
    """The drifted copies (#14): every `_redact` is gone and nothing else loops `.replace(secret, ...)`."""
    source = Path(redaction.__file__).parent
    strays = [
        f"{path.relative_to(source)}:{number}: {line.strip()}"
        for path in sorted(source.rglob("*.py"))
        if path.name != "redaction.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"def _redact\b|\.replace\(secret\b", line)
    ]
    assert not strays, "\n".join(strays)


def test_a_secret_the_caller_names_is_shown_as_the_caller_asks_even_when_the_settings_registered_it() -> None:
    # the order of tests once decided it: a Slack token some earlier settings had registered came out as `***`
    token = f"xoxb-{uuid.uuid4().hex}"
    register_secrets([token])
    assert redact(f"invalid_auth for Bearer {token}", [token], replacement="[redacted]") == (
        "invalid_auth for Bearer [redacted]"
    )
