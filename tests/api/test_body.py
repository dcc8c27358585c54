"""Request bodies (api/body.py): bounded per route as they arrive, the token before the body, JSON without a 500."""

from __future__ import annotations

import asyncio
import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handrail.api.auth import digest
from support.alertmanager import ServeProcess
from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ALERTS = "/api/v1/alerts/alertmanager"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("body"), runbooks=EXAMPLES) as client:
        yield client


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"}


def error(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    found: dict[str, Any] = answer.json()["error"]
    return found


def test_an_alert_with_a_20_mib_label_is_refused_413_naming_the_body(client: TestClient) -> None:
    alert = {"status": "firing", "labels": {"alertname": "PoolExhausted", "pod": "p" * (20 * MIB)}}
    answer = client.post(
        ALERTS, content=json.dumps({"status": "firing", "alerts": [alert]}), headers=auth("alertmanager")
    )
    found = error(answer, 413)
    assert (found["code"], found["field"]) == ("too_large", "body")
    assert "api.limits.alertBodyBytes" in found["message"]
    assert answer.headers["connection"] == "close"


def test_a_chunked_body_growing_past_the_limit_is_refused_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known as it arrives
        yield b'{"runbookId": "x", "context": {"labels": {"a": "'
        for _ in range(3):
            yield b"a" * MIB
        yield b'"}}}'

    found = error(client.post("/api/v1/incidents", content=chunks(), headers=auth("responder")), 413)
    assert found["field"] == "body"
    assert "api.limits.bodyBytes" in found["message"]


def test_a_console_form_past_the_limit_is_refused_413(client: TestClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/login", content=b"token=" + b"a" * (2 * MIB), headers=form, follow_redirects=False)
    assert error(answer, 413)["field"] == "body"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param("[" * 1500 + '"\\ud800"' + "]" * 1500, "nested", id="1500-arrays-and-a-lone-surrogate"),
        pytest.param("[" * 5000 + "]" * 5000, "nested", id="5000-arrays"),
        pytest.param('{"a":' * 40 + "1" + "}" * 40, "jsonDepth", id="past-json-depth"),
        pytest.param('{"status": "firing", "alerts": [], "x": ' + "9" * 5000 + "}", "number", id="5000-digit-number"),
    ],
)
def test_json_no_route_can_take_is_a_422_naming_the_body(client: TestClient, body: str, says: str) -> None:
    found = error(client.post(ALERTS, content=body, headers=auth("alertmanager")), 422)
    assert found["field"] == "body"
    assert says in found["message"]


def test_lone_surrogates_in_a_json_body_are_still_read_as_u_fffd(client: TestClient) -> None:
    labels = '{"alertname": "Nothing\\ud800", "x": "\\udfff"}'
    body = '{"status": "firing", "alerts": [{"status": "firing", "labels": ' + labels + "}]}"
    answer = client.post(ALERTS, content=body, headers=auth("alertmanager"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["unknown"] == 1


def test_a_body_without_a_token_is_refused_401_before_a_byte_of_it_is_read(client: TestClient) -> None:
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"[" * MIB, "more_body": read < 10}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ALERTS,
        "raw_path": ALERTS.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 401
    assert read == 0


def _stream(port: int, headers: dict[str, str], most: int) -> tuple[int, bytes]:
    """POST `[[[...` chunked to the webhook until the server answers or `most` bytes went; (bytes sent, answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = (
        f"POST {ALERTS} HTTP/1.1\r\nHost: handrail\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
    )
    sock.sendall((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    chunk = 64 * 1024
    frame = f"{chunk:x}\r\n".encode() + b"[" * chunk + b"\r\n"
    sent, pending = 0, b""
    sock.setblocking(False)
    while sent < most:
        readable, writable, _ = select.select([sock], [sock], [], 20)
        if readable or not writable:
            break
        pending = pending or frame
        try:
            written = sock.send(pending)
        except (BrokenPipeError, ConnectionResetError):
            break
        pending, sent = pending[written:], sent + written
    if sent >= most:
        sock.setblocking(True)
        sock.sendall(pending + b"0\r\n\r\n")
    sock.settimeout(60)
    answer = b""
    try:
        while part := sock.recv(65536):
            answer += part
    except ConnectionResetError:  # the server closed with our bytes unread: its answer came first
        pass
    sock.close()
    return sent, answer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("served")
    (root / "runbooks").mkdir()
    config = root / "handrail.yaml"
    config.write_text(
        f"runbooks: runbooks\ndatabase: 'sqlite:///{root / 'h.db'}'\napi:\n  limits: {{alertBodyBytes: 65536}}\n"
        f"  tokens:\n    - {{name: am, role: alertmanager, sha256: {digest(TOKENS['alertmanager'])}}}\n"
    )
    with ServeProcess(config, engine=False) as serve:
        yield serve


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Authorization": f"Bearer {TOKENS['alertmanager']}"}, b" 413 ", id="over-the-limit"),
        pytest.param({}, b" 401 ", id="no-token"),
    ],
)
def test_a_served_app_answers_and_stops_reading_a_body_it_refuses(
    served: ServeProcess, headers: dict[str, str], status: bytes
) -> None:
    most = 48 * MIB
    sent, answer = _stream(served.port, headers, most)
    assert status in answer.split(b"\r\n", 1)[0], answer[:300]
    assert b'"field":"body"' in answer or status == b" 401 "
    # the server read the limit (64 KiB) and what the kernel's socket buffers hold (a few MiB), not the body
    assert sent < most // 2, sent
