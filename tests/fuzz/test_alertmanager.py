"""Fuzzing `POST /api/v1/alerts/alertmanager` through the real app, on PostgreSQL.

Payloads shaped like Alertmanager's (version 4) with hostile labels, annotations, fingerprints and
group keys (quotes, `$(...)`, newlines, NUL, lone UTF-16 surrogates, very long values); the same
payloads with a field replaced by any JSON value; any JSON at all; and bodies that are not JSON.
The endpoint must never answer 500; every answer is JSON; a 4xx names the field at fault; a 200
says what became of each alert. PostgreSQL, because it refuses what SQLite takes (NUL in text,
values longer than their column), which is where the 500s were (#9).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from handrail.limits import InputLimits
from support.api_app import api_app, bearer
from support.engine import postgres_database
from support.fuzzing import fuzz_settings, hostile_text

PATH = "/api/v1/alerts/alertmanager"
RUNBOOK = """\
id: pool-exhausted
name: Pool Exhausted
description: the alert opens an incident
severity: P2
service: payments
triggers:
  - {type: alert, alertName: PoolExhausted, labels: {service: "=~pay.*", env: "!=test"}}
diagnostics:
  - {id: pool, name: Pool, description: d, type: shell_command, config: {command: "true"}, interpret: {healthy: "true"}}
decisionTree:
  - {otherwise: true, then: [page], description: people look}
remediations:
  - {id: page, name: Page, description: page someone, type: escalate}
escalation: {primary: "#payments", escalateAfterMinutes: 30}
"""
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udbff"])
texts = hostile_text() | LONE_SURROGATES


def _mostly(usual: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`usual` three times in four (`a | b` would weigh every branch inside `b` like `a`)."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda pick: other if pick == 0 else usual)


matching = st.fixed_dictionaries(  # mostly alerts the runbook takes, so incidents open, join and resolve
    {
        "alertname": _mostly(st.just("PoolExhausted"), texts),
        "service": _mostly(st.builds("pay-{}".format, hostile_text().filter(lambda t: "\n" not in t)), texts),
    },
    optional={"env": texts, "pod": texts},
)
labels = st.tuples(matching, st.dictionaries(texts, texts, max_size=3)).map(lambda pair: {**pair[1], **pair[0]})
alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": labels | st.builds(lambda s: {"alertname": "PoolExhausted", "service": s}, texts),
    },
    optional={
        "annotations": st.dictionaries(texts, texts, max_size=3),
        "fingerprint": texts,
        "startsAt": texts,
        "generatorURL": texts,
    },
)
payloads = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]), "alerts": st.lists(alerts, max_size=4)},
    optional={
        "version": st.just("4") | texts,
        "groupKey": texts,
        "truncatedAlerts": st.integers(),
        "receiver": texts,
        "groupLabels": st.dictionaries(texts, texts, max_size=2),
        "commonLabels": st.dictionaries(texts, texts, max_size=2),
        "externalURL": texts,
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)


@st.composite
def damaged_payloads(draw: Any) -> Any:
    """A well-formed payload with one field, anywhere in it, replaced by any JSON value."""
    payload: Any = draw(payloads)
    container = payload
    while True:
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        if not keys:
            return draw(json_values)
        key = draw(st.sampled_from(keys))
        if isinstance(container[key], dict | list) and container[key] and draw(st.booleans()):
            container = container[key]
            continue
        container[key] = draw(json_values)
        return payload


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("alertmanager-fuzz")
    (root / "runbooks").mkdir()
    (root / "runbooks" / "pool.yaml").write_text(RUNBOOK)
    with postgres_database() as url, api_app(root, runbooks=root / "runbooks", database=url) as (app, _):
        yield TestClient(app, raise_server_exceptions=False)


def post(client: TestClient, body: bytes, content_type: str = "application/json") -> Any:
    """POST the body as Alertmanager would; check the answer is never a 500 and always JSON."""
    answer = client.post(PATH, content=body, headers={**bearer("alertmanager"), "Content-Type": content_type})
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    data = answer.json()
    if answer.status_code >= 400:
        error = data["error"]
        assert error["code"]
        assert error["message"]
        assert isinstance(error.get("field"), str), data  # names the field at fault ("body" for the body)
        assert error["field"]
        assert "Traceback" not in answer.text
    else:
        assert answer.status_code == 200
        assert set(data) == {"opened", "joined", "resolved", "refused", "unknown"}
    return answer


@fuzz_settings(120)
@given(payloads)
def test_well_formed_payloads_with_hostile_values_are_taken(client: TestClient, payload: dict[str, Any]) -> None:
    answer = post(client, json.dumps(payload).encode())  # lone surrogates go out as `\ud800` escapes
    refused = _over_a_limit(payload)
    if refused is not None:  # the documented limits (docs/security.md) on a well-formed payload
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == refused
        return
    assert answer.status_code == 200, answer.text
    taken = answer.json()
    firing = [alert["labels"] for alert in payload["alerts"] if alert["status"] == "firing"]
    assert len(taken["opened"]) + len(taken["joined"]) == sum(1 for labels in firing if _matches(labels))
    assert taken["unknown"] == sum(1 for labels in firing if not _matches(labels))


def _over_a_limit(payload: dict[str, Any]) -> str | None:
    """The field the API must name for a payload past a limit (default `api.limits`), or None when it is within."""
    limits = InputLimits()
    too_long = [i for i, alert in enumerate(payload["alerts"]) if len(alert.get("fingerprint", "")) > 256]
    if too_long:  # the model's own limit, checked while the body is validated: first
        return f"alerts.{too_long[0]}.fingerprint"
    for index, alert in enumerate(payload["alerts"]):
        for kind, most in (("labels", limits.label_chars), ("annotations", limits.annotation_chars)):
            pairs = alert.get(kind, {})
            if len(pairs) > limits.labels or any(len(name) > limits.key_chars for name in pairs):
                return f"alerts.{index}.{kind}"
            over = [name for name, value in pairs.items() if len(value) > most]
            if over:
                return f"alerts.{index}.{kind}.{over[0]}"
    return None


def _matches(labels: dict[str, str]) -> bool:
    """The runbook's trigger by Alertmanager's matcher semantics: `=~` anchored, `.` not across a newline."""
    return (
        labels.get("alertname") == "PoolExhausted"
        and re.fullmatch("pay.*", labels.get("service", "")) is not None
        and labels.get("env") != "test"
    )


@fuzz_settings(120)
@given(damaged_payloads() | json_values)
def test_damaged_or_arbitrary_json_gets_a_json_answer_never_a_500(client: TestClient, body: Any) -> None:
    post(client, json.dumps(body).encode())


@fuzz_settings(40)
@given(
    st.binary(max_size=100), st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
)
def test_bodies_that_are_not_json_get_a_json_answer_naming_the_body(
    client: TestClient, body: bytes, content_type: str
) -> None:
    answer = post(client, body, content_type)
    if content_type != "application/json":
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "body"


def test_a_long_label_set_still_dedupes_and_resolves(client: TestClient) -> None:
    labels = {"alertname": "PoolExhausted", "service": "payments", "pod": "p" * 3000}  # a key past its column
    firing = {"status": "firing", "alerts": [{"status": "firing", "labels": labels}]}
    opened = post(client, json.dumps(firing).encode()).json()["opened"]
    again = post(client, json.dumps(firing).encode()).json()
    resolved = {"status": "resolved", "alerts": [{"status": "resolved", "labels": labels}]}
    assert again["joined"] == opened
    assert len(opened) == 1
    assert post(client, json.dumps(resolved).encode()).json()["resolved"] == opened


nesting = st.tuples(
    st.integers(min_value=1, max_value=3000),
    st.sampled_from(["[", '{"a":', '{"status": "firing", "alerts": [{"labels": {"x": ']),
    st.sampled_from(['"\\ud800"', "1", '"x"', "9" * 5000, "-" + "1" * 4400, "1e999999"]),
)


@fuzz_settings(40)
@given(nesting)
def test_json_nested_or_numbered_past_what_a_decoder_takes_gets_a_4xx_naming_the_body(
    client: TestClient, shape: tuple[int, str, str]
) -> None:
    depth, opener, leaf = shape
    closer = {"[": "]", '{"a":': "}"}.get(opener, "}}]}")
    answer = post(client, (opener * depth + leaf + closer * depth).encode())  # unbalanced for the last opener: fine
    assert answer.status_code in (200, 422)
