"""When an agency's answer is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Agencies answer within `days` calendar days of receipt."""

    days: int = 2

    def due_at(self, received_at: datetime) -> datetime:
        return received_at + timedelta(days=self.days)
