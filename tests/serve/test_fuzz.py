"""Fuzz the API from its own OpenAPI schema (schemathesis strategies driven by
hypothesis), valid and invalid inputs alike, against a real `grassroots serve`:
no response is a 5xx and none takes longer than CALL_TIMEOUT. Bounded: EXAMPLES
per operation and mode, derandomised, so it runs in well under a minute.

(schemathesis's own pytest plugin does not run under this pytest; its
strategies are used directly, one hypothesis run per operation and mode.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.serve.conftest import running_server

EXAMPLES = 15  # per API operation and mode
CALL_TIMEOUT = 10  # seconds: a slower answer is a hang
# Operations whose inputs are all unconstrained strings (or none): nothing invalid to generate.
NO_INVALID_INPUT = {"/api/info", "/api/sample/{key}", "/api/image/{key}"}


@pytest.fixture(scope="module")
def api_schema(scored_release):
    with running_server(scored_release.dataset) as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def test_the_schema_lists_every_operation(api_schema):
    paths = {op.ok().path for op in api_schema.get_all_operations()}
    assert paths == {"/api/info", "/api/search", "/api/search/image", "/api/search/vector", "/api/similar/{key}",
                     "/api/sample/{key}", "/api/image/{key}", "/api/find", "/api/optout"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_input_makes_the_server_fail_or_hang(api_schema, mode):
    seen: dict[str, set[int]] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(timeout=CALL_TIMEOUT)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                response.text[:300])
            seen.setdefault(operation.label, set()).add(response.status_code)

        try:
            check()
        except Unsatisfiable:  # nothing invalid to send to an operation without inputs
            assert mode is GenerationMode.NEGATIVE and operation.path in NO_INVALID_INPUT, operation.path
    print({k: sorted(v) for k, v in seen.items()})
    assert len(seen) >= (9 if mode is GenerationMode.POSITIVE else 9 - len(NO_INVALID_INPUT))
    if mode is GenerationMode.NEGATIVE:  # invalid input was generated, and refused
        assert any(code in (400, 404, 413, 422) for codes in seen.values() for code in codes)
