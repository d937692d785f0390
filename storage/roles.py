"""Officer roles, in a module of their own so that `aduan --help` can offer them as choices
without importing SQLAlchemy (`storage.models` holds the column that stores them)."""

from __future__ import annotations

from enum import StrEnum


class OfficerRole(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
