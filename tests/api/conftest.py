"""API fixtures: one app over a real service, API keys per role, and a recorder of the routes
exercised so that a test can check every endpoint is tested."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fieldid.api import create_app
from tests.conftest import make_agency

EXERCISED: set[tuple[str, str]] = set()


@pytest.fixture
def api(service):
    app = create_app(service.settings, service=service)

    @app.middleware("http")
    async def record(request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        if route is not None:
            EXERCISED.add((request.method, route.path))
        return response

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def keys(service):
    a = make_agency(service, "agency-a", keys=True)
    b = make_agency(service, "agency-b", keys=True)
    return {"a": a.keys, "b": b.keys}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
