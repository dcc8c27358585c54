"""Fuzzing Slack's two routes through the real app: any headers, any body, signed or not.

The timestamp header is any text (digits of any length included: 5,000 of them were a 500 before
#13), the signature any text, the body any bytes or a signed form whose `payload` is any JSON,
nested as deep as a decoder can go or deeper. The routes must never answer 5xx, always in JSON,
and refuse (401) anything that is not signed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from support.api import api_client
from support.fuzzing import fuzz_settings, hostile_text

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
SECRET = "fuzz-signing-secret-0123456789"
SLACK = (
    f"notifiers:\n  slack:\n    botToken: xoxb-fuzz\n    signingSecret: {SECRET}\n"
    "    users: {U0FUZZ1: approver-user}\n"
)
ROUTES = st.sampled_from(["/api/v1/slack/interactions", "/api/v1/slack/commands"])
digits = st.integers(min_value=0, max_value=6000).map(lambda n: "1" * n) | st.text("0123456789", max_size=30)
timestamps = digits | hostile_text() | st.builds(lambda: str(int(time.time())))
nested = st.tuples(st.integers(min_value=0, max_value=3000), st.sampled_from(["[", '{"a":']), hostile_text()).map(
    lambda t: t[1] * t[0] + f'"{t[2]}"' + ("]" if t[1] == "[" else "}") * t[0]
)
payloads = nested | st.builds(lambda n: '{"type": "block_actions", "n": ' + "9" * n + "}", st.integers(0, 6000))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("slack-fuzz"), runbooks=EXAMPLES, extra=SLACK) as client:
        yield TestClient(client.app, raise_server_exceptions=False)


def post(client: TestClient, route: str, body: bytes, headers: dict[str, Any]) -> Any:
    answer = client.post(route, content=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert "Traceback" not in answer.text
    return answer


@fuzz_settings(60)
@given(ROUTES, timestamps, hostile_text(), st.binary(max_size=200))
def test_any_headers_and_body_unsigned_get_a_401_never_a_500(
    client: TestClient, route: str, timestamp: str, signature: str, body: bytes
) -> None:
    def header(value: str) -> bytes:  # any text as UTF-8, less what cannot be in a header line at all
        return value.encode("utf-8", "replace").translate(None, b"\r\n\x00")

    headers = {"X-Slack-Request-Timestamp": header(timestamp), "X-Slack-Signature": header(signature)}
    answer = post(client, route, body, headers)
    assert answer.status_code == 401


@fuzz_settings(60)
@given(ROUTES, payloads, st.sampled_from(["payload", "text", "command"]))
def test_a_signed_body_slack_would_never_send_gets_a_4xx_never_a_500(
    client: TestClient, route: str, payload: str, field: str
) -> None:
    body = urlencode({field: payload, "user_id": "U0FUZZ1", "channel_id": "C", "response_url": "https://x"}).encode()
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    post(client, route, body, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
