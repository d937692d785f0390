"""Settings are validated at start-up, with errors that name the variable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./data/aduan.db"
    assert (settings.port, settings.timezone) == (8000, "Asia/Jakarta")
    assert settings.public_base_url == "http://127.0.0.1:8000"


def test_the_public_address_follows_the_listening_one_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADUAN_PORT", "8011")
    monkeypatch.setenv("ADUAN_HOST", "0.0.0.0")
    assert load_settings(_env_file=None).public_base_url == "http://127.0.0.1:8011"
    monkeypatch.setenv("ADUAN_PUBLIC_BASE_URL", "https://aduan.example.go.id")
    assert load_settings(_env_file=None).public_base_url == "https://aduan.example.go.id"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("ADUAN_PORT", "eighty", "ADUAN_PORT: Input should be a valid integer"),
        ("ADUAN_PORT", "70000", "ADUAN_PORT: Input should be less than or equal to 65535"),
        (
            "ADUAN_TIMEZONE",
            "Mars/Olympus",
            "ADUAN_TIMEZONE: Value error, unknown time zone 'Mars/Olympus'",
        ),
        (
            "ADUAN_DATABASE_URL",
            "mysql://x",
            "ADUAN_DATABASE_URL: Value error, must start with sqlite",
        ),
        (
            "ADUAN_SENDER_RATE_LIMIT",
            "20 per jam",
            "ADUAN_SENDER_RATE_LIMIT: Value error, '20 per jam': give a number of messages per "
            "minute, hour or day, e.g. 20/hour, or off",
        ),
        (
            "ADUAN_SENDER_RATE_LIMIT",
            "0/hour",
            "ADUAN_SENDER_RATE_LIMIT: Value error, '0/hour'",
        ),
        (
            "ADUAN_SMS_MESSAGES_PER_SECOND",
            "0",
            "ADUAN_SMS_MESSAGES_PER_SECOND: Input should be greater than 0",
        ),
        (
            "ADUAN_TELEGRAM_MESSAGES_PER_SECOND",
            "fast",
            "ADUAN_TELEGRAM_MESSAGES_PER_SECOND: Input should be a valid number",
        ),
        (
            "ADUAN_TELEGRAM_GROUP_MESSAGES_PER_MINUTE",
            "inf",
            "ADUAN_TELEGRAM_GROUP_MESSAGES_PER_MINUTE: Input should be a finite number",
        ),
        (
            "ADUAN_METRICS_TOKEN",
            "short",
            "ADUAN_METRICS_TOKEN: Value should have at least 16 items",  # characters
        ),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("20/hour", (20, timedelta(hours=1))),
        (" 5 / Minute ", (5, timedelta(minutes=1))),
        ("300/day", (300, timedelta(days=1))),
        ("off", None),
    ],
)
def test_sender_rate_limit(
    monkeypatch: pytest.MonkeyPatch, value: str, parsed: tuple[int, timedelta] | None
) -> None:
    monkeypatch.setenv("ADUAN_SENDER_RATE_LIMIT", value)
    assert load_settings(_env_file=None).sender_rate == parsed


def test_the_metrics_token_is_a_secret_the_logs_leave_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADUAN_METRICS_TOKEN", "metrics-token-0123456789")
    settings = load_settings(_env_file=None)
    assert "metrics-token-0123456789" in settings.secret_values()
    assert "metrics-token-0123456789" not in repr(settings)


def test_a_database_password_is_left_out_as_written_and_as_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ADUAN_DATABASE_URL", "postgresql+asyncpg://aduan:pg-%22sandi%22%40kota@db.example/aduan"
    )
    secrets = load_settings(_env_file=None).secret_values()
    assert {"pg-%22sandi%22%40kota", 'pg-"sandi"@kota'} <= set(secrets)
