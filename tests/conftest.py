"""What every test may need: whether servers a test needs must be there (CI) or may be
missing (a laptop). The database and service fixtures are in integration/conftest.py."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get(
    "ADUAN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("ADUAN_TEST_REQUIRE_SERVICES") == "1"


def need_service(what: str, why: str) -> None:
    """Skip a test whose server is missing, or fail it when CI says servers must be there."""
    message = f"{what} is not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (ADUAN_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)
