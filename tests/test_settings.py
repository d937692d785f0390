"""Settings are validated at start-up, with errors that name the variable."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./data/aduan.db"
    assert (settings.port, settings.timezone) == (8000, "Asia/Jakarta")


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
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert complaint in str(caught.value)
