"""Every endpoint of the served OpenAPI schema is exercised by the API tests.

Named so that it runs after the other API test files (pytest runs files in name order); it
fails when run on its own, which is the point: add a test when you add a route.
"""

from tests.api.conftest import EXERCISED


def test_every_endpoint_is_exercised(api):
    """Runs last (tests/api/test_zz_coverage.py): every route was called by some API test."""
    spec = api.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    missing = routes - EXERCISED
    assert not missing, f"untested endpoints: {sorted(missing)}"
