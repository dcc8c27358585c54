"""Answers through a response URL: Slack's documented message, and never anywhere but Slack's hooks host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from handrail.errors import NotifyError
from handrail.notify.slack_replies import SlackReplies, check_response_url, ephemeral
from support.servers import HttpServer, Route
from support.slack import HooksTransport, SlackServer


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/actions/T0/1/x",
        "https://hooks.slack.com/commands/T0/2/y",
        "https://hooks.slack.com:443/actions/T0/1/x",
    ],
)
def test_slacks_response_urls_are_taken(url: str) -> None:
    assert check_response_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://hooks.slack.com/actions/1", id="plain-http"),
        pytest.param("https://hooks.slack.com.evil.example/actions/1", id="lookalike"),
        pytest.param("https://evil.example/hooks.slack.com/actions/1", id="host-in-path"),
        pytest.param("https://hooks.slack.com@evil.example/actions/1", id="userinfo-trick"),
        pytest.param("https://user:pw@hooks.slack.com/actions/1", id="userinfo"),
        pytest.param("https://hooks.slack.com:8443/actions/1", id="other-port"),
        pytest.param("https://127.0.0.1/actions/1", id="loopback"),
        pytest.param("https://169.254.169.254/latest/meta-data", id="metadata"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("", id="empty"),
        pytest.param("https://[::1", id="not-a-url"),
    ],
)
def test_every_other_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValueError, match=r"response_url (must be https://hooks\.slack\.com/|is not a URL)") as caught:
        check_response_url(url)
    assert url == "" or url not in str(caught.value)


async def test_a_reply_reaches_slack_as_an_ephemeral_message_that_keeps_the_original(slack: SlackServer) -> None:
    replies = SlackReplies(transport=HooksTransport(slack.api_url))

    await replies.send("https://hooks.slack.com/actions/T0/1/x", ephemeral("fix approved by alice"))

    assert slack.responses == [
        {"response_type": "ephemeral", "replace_original": False, "text": "fix approved by alice"}
    ]
    [call] = slack.calls
    assert call.path == "/actions/T0/1/x"
    assert call.headers["Content-Type"] == "application/json"


async def test_a_foreign_url_is_never_requested() -> None:
    with HttpServer({"/steal": Route()}) as elsewhere:
        transport = HooksTransport(elsewhere.url())
        replies = SlackReplies(transport=transport)
        with pytest.raises(NotifyError, match="response_url refused") as caught:
            await replies.send(elsewhere.url("/steal"), ephemeral("hello"))
        assert elsewhere.requests == []
        assert transport.urls == []  # refused before any connection was asked for
    assert "127.0.0.1" not in str(caught.value)


async def test_slacks_refusal_is_a_notify_error_that_does_not_show_the_url(slack: SlackServer) -> None:
    replies = SlackReplies(transport=HooksTransport(slack.api_url))
    url = "https://hooks.slack.com/actions/T0/1/s3cret-part"

    with pytest.raises(NotifyError, match="HTTP 400") as caught:
        await replies.send(url, {"response_type": "shout", "text": "x"})

    assert "s3cret-part" not in str(caught.value)
    assert slack.responses == []


async def test_an_unreachable_slack_is_a_notify_error() -> None:
    with HttpServer() as server:
        port = server.port
    replies = SlackReplies(timeout=2, transport=HooksTransport(f"http://127.0.0.1:{port}/"))
    with pytest.raises(NotifyError, match="slack response_url: ConnectError"):
        await replies.send("https://hooks.slack.com/actions/T0/1/x", ephemeral("x"))


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlackReplies(timeout=0)
