"""Security basics of the served API: headers on every response, CORS off unless configured,
unsafe settings refused in production."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from fieldid.api import create_app
from fieldid.config import Settings
from tests.api.conftest import auth


def test_every_api_response_has_security_headers_and_is_not_cached(api, keys):
    for r in (api.get("/v1/health"), api.get("/v1/me", headers=auth(keys["a"]["officer"])), api.get("/v1/me"),
              api.get("/v1/no-such-route")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in api.get("/v1/health").headers  # only in production (TLS)


def test_cors_is_off_by_default_and_exact_when_configured(api, service, tmp_path):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in api.options("/v1/identify", headers=preflight).headers
    settings = service.settings.model_copy(update={"cors_origins": ["https://console.agency.example"]})
    with TestClient(create_app(settings, service=service)) as client:
        ok = client.options("/v1/identify", headers={**preflight, "Origin": "https://console.agency.example"})
        assert ok.headers["access-control-allow-origin"] == "https://console.agency.example"
        assert "access-control-allow-origin" not in client.options("/v1/identify", headers=preflight).headers


def test_production_refuses_unsafe_settings(tmp_path):
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(data_dir=tmp_path, environment="production", cors_origins=["*"])
    with pytest.raises(ValidationError, match="demo"):
        Settings(data_dir=tmp_path, environment="production", demo=True)
