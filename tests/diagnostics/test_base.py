"""`HttpConnection`: what the HTTP probes share."""

from __future__ import annotations

from handrail.diagnostics.base import HttpConnection


def test_http_connection_secrets_name_every_credential_a_server_might_echo_for_loki_and_prometheus_alike() -> None:
    connection = HttpConnection.model_validate(
        {
            "url": "https://user:url-password-1234@loki.example.com",
            "bearerToken": "bearer-token-5678",
            "headers": {"X-Scope-OrgID": "tenant", "X-Api-Key": "header-key-9012"},
        }
    )
    secrets = connection.secrets()
    assert {"bearer-token-5678", "header-key-9012", "user:url-password-1234"} <= set(secrets)
    assert "tenant" not in secrets
