"""The served OpenAPI schema, fuzzed by schemathesis: generated requests to every operation, as
an agency supervisor (the widest searching role), never cause a server error, and every
documented response conforms to its schema and content type."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from fieldid.api import create_app
from tests.api.conftest import auth

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_no_server_errors_and_conformant_responses(service, keys):
    service.rate_limiter.per_minute = 10_000  # generated requests are not an officer's pace
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service.settings, service=service))
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) > 40
    headers = auth(keys["a"]["supervisor"])
    strategy = st.one_of([op.as_strategy() for op in operations])

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=strategy)
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
