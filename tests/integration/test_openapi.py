"""The OpenAPI document says what the service does: Schemathesis generates requests from it
for every documented operation, sends them over HTTP to the real app served by uvicorn, and
checks every answer against the document (status, content type, body), and that none is a
5xx. The generated calls file real complaints in this test's database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config.settings import Settings

schemathesis: Any = pytest.importorskip("schemathesis", reason="pip install -e '.[test]'")

EXAMPLES = 40  # per operation: enough to reach every documented refusal, quick enough


@pytest.fixture
def backend() -> str:
    return "sqlite"  # about the HTTP contract, not storage


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Hundreds of examples from one address: the per-IP limit would answer most of them.
    return settings.model_copy(update={"web_posts_per_ip": "off"})


def _check_every_operation(base_url: str) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.specs.openapi import checks

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def conforms(case: Any) -> None:
            case.call_and_validate(
                base_url=base_url,
                checks=[
                    schemathesis.checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )

        conforms()


async def test_every_answer_conforms_to_the_openapi_document(base_url: str) -> None:
    await asyncio.to_thread(_check_every_operation, base_url)
